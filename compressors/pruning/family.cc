// The pruning family's entries of the method registry
// (compressors/registry.cc), in docs/methods.md order.
#include <vector>

#include "compressors/compressor.h"
#include "compressors/pruning/autosrh.h"
#include "compressors/pruning/deeplight.h"
#include "compressors/pruning/ham.h"
#include "compressors/pruning/pep.h"
#include "compressors/registry.h"

namespace ecps {

void AddPruningMethods(std::vector<CompressorInfo>* out) {
  out->push_back({DeepLightEmbedding::kName, "pruning",
                  "train the full table, prune it by a global magnitude threshold on a schedule "
                  "(found where the rows are), then store it as CSR/COO (docs/methods.md 2.23)",
                  DeepLightEmbedding::Schema(), &DeepLightEmbedding::Create});
  out->push_back({PepEmbedding::kName, "pruning",
                  "learned per-element thresholds (soft threshold sign(w)·ReLU(|w| - sigmoid(g))) "
                  "until the prune rate is reached, lottery-ticket retrain under the mask, then "
                  "CSR/COO (docs/methods.md 2.24)",
                  PepEmbedding::Schema(), &PepEmbedding::Create});
  out->push_back({HamEmbedding::kName, "pruning",
                  "pre-train with a soft-orthogonal regulariser, then hard element masks "
                  "(the K largest auxiliary |a|) trained alternately with the weights through a "
                  "straight-through estimator, retrain the kept elements, then CSR/COO "
                  "(docs/methods.md 2.24b)",
                  HamEmbedding::Schema(), &HamEmbedding::Create});
  out->push_back({AutoSrhEmbedding::kName, "pruning",
                  "a scaling alpha per frequency group and dimension searched with the table, "
                  "then E * alpha pruned by a global magnitude threshold into CSR/COO, retrained "
                  "(order=paper) or not (order=authors) (docs/methods.md 2.25)",
                  AutoSrhEmbedding::Schema(), &AutoSrhEmbedding::Create});
}

}  // namespace ecps
