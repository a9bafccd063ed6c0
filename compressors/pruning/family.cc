// The pruning family's entries of the method registry
// (compressors/registry.cc), in docs/methods.md order.
#include <vector>

#include "compressors/compressor.h"
#include "compressors/pruning/deeplight.h"
#include "compressors/registry.h"

namespace ecps {

void AddPruningMethods(std::vector<CompressorInfo>* out) {
  out->push_back({DeepLightEmbedding::kName, "pruning",
                  "train the full table, prune it by a global magnitude threshold on a schedule "
                  "(found where the rows are), then store it as CSR/COO (docs/methods.md 2.23)",
                  DeepLightEmbedding::Schema(), &DeepLightEmbedding::Create});
}

}  // namespace ecps
