// The dimension-search family's entries of the method registry
// (compressors/registry.cc), in docs/methods.md order.
#include <vector>

#include "compressors/compressor.h"
#include "compressors/dimension/autodim.h"
#include "compressors/dimension/mde.h"
#include "compressors/dimension/mpe.h"
#include "compressors/dimension/optembed.h"
#include "compressors/dimension/sseds.h"
#include "compressors/registry.h"

namespace ecps {

void AddDimensionMethods(std::vector<CompressorInfo>* out) {
  out->push_back({MdeEmbedding::kName, "dimension",
                  "per-field dimensions from a power law of the cardinality (alpha solved for the "
                  "budget), each field's rows projected to d (docs/methods.md 2.20)",
                  MdeEmbedding::Schema(), &MdeEmbedding::Create});
  out->push_back({AutoDimEmbedding::kName, "dimension",
                  "search: every candidate dimension's table, BatchNorm and projection mixed by "
                  "Gumbel-softmax weights over alpha; retrain at each field's argmax dimension "
                  "(docs/methods.md 2.21)",
                  AutoDimEmbedding::Schema(), &AutoDimEmbedding::Create});
  out->push_back({OptEmbedEmbedding::kName, "dimension",
                  "supernet with learned per-field row thresholds and random column masks, "
                  "evolutionary search of per-field dimensions on validation, retrain of the kept "
                  "rows at those dimensions (docs/methods.md 2.22)",
                  OptEmbedEmbedding::Schema(), &OptEmbedEmbedding::Create});
  out->push_back({SsedsEmbedding::kName, "dimension",
                  "pretrain the full table, one-shot saliency |dL/dm| of a mask on every (field, "
                  "dimension) column, keep the most salient columns within the budget, retrain at "
                  "those per-field dimensions with projections (docs/methods.md 2.21b)",
                  SsedsEmbedding::Schema(), &SsedsEmbedding::Create});
  out->push_back({MpeEmbedding::kName, "dimension",
                  "precision search: a softmax over {0, 4, 8, 16, 32} bits per frequency group "
                  "trained with fake quantisation, then each group's precision from it within the "
                  "budget, retrained in u4/u8/fp16/fp32 tables (docs/methods.md 2.21c)",
                  MpeEmbedding::Schema(), &MpeEmbedding::Create});
}

}  // namespace ecps
