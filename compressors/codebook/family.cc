// The codebook (vector quantisation) family's entries of the method registry
// (compressors/registry.cc), in docs/methods.md order (§2.11-§2.13).
#include <vector>

#include "compressors/codebook/dpq.h"
#include "compressors/codebook/mgqe.h"
#include "compressors/compressor.h"
#include "compressors/registry.h"

namespace ecps {

void AddCodebookMethods(std::vector<CompressorInfo>* out) {
  out->push_back({DpqEmbedding::kName, "vector quantization",
                  "differentiable product quantisation: a query table trained through K "
                  "codewords per part (straight-through, BatchNorm'd scores), switched after "
                  "training to packed codes + codebook (docs/methods.md 2.11)",
                  DpqEmbedding::Schema(), &DpqEmbedding::Create});
  out->push_back({MgqeEmbedding::kName, "vector quantization",
                  "multi-granular quantised embeddings: DPQ per field, the frequent ids "
                  "choosing among more codewords than the rest; fields kept as fp32 where codes "
                  "cost more (docs/methods.md 2.12)",
                  MgqeEmbedding::Schema(), &MgqeEmbedding::Create});
}

}  // namespace ecps
