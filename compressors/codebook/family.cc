// The codebook (vector quantisation) family's entries of the method registry
// (compressors/registry.cc), in docs/methods.md order (§2.11-§2.13).
#include <vector>

#include "compressors/codebook/dpq.h"
#include "compressors/compressor.h"
#include "compressors/registry.h"

namespace ecps {

void AddCodebookMethods(std::vector<CompressorInfo>* out) {
  out->push_back({DpqEmbedding::kName, "vector quantization",
                  "differentiable product quantisation: a query table trained through K "
                  "codewords per part (straight-through, BatchNorm'd scores), switched after "
                  "training to packed codes + codebook (docs/methods.md 2.11)",
                  DpqEmbedding::Schema(), &DpqEmbedding::Create});
}

}  // namespace ecps
