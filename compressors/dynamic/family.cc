// The dynamic family's entries of the method registry (compressors/registry.cc)
// and its mapping kinds (compressors/key_mapping.cc), in docs/methods.md order.
#include <vector>

#include "compressors/compressor.h"
#include "compressors/dynamic/adaptemb.h"
#include "compressors/dynamic/cafe.h"
#include "compressors/dynamic/cel.h"
#include "compressors/dynamic/mch.h"
#include "compressors/dynamic/slot_mapping.h"
#include "compressors/registry.h"

namespace ecps {

void AddDynamicMethods(std::vector<CompressorInfo>* out) {
  out->push_back({AdaptEmbedding::kName, "dynamic",
                  "features start on shared hashed rows and are promoted to exclusive rows "
                  "(initialised from the shared row) by their decayed frequency, the coldest "
                  "demoted when the rows run out; the mapping lives with the rows "
                  "(docs/methods.md 2.14)",
                  AdaptEmbedding::Schema(), &AdaptEmbedding::Create});
  out->push_back({CafeEmbedding::kName, "dynamic",
                  "hot features found online by a HotSketch of their gradient-norm importance own "
                  "rows, the rest share hashed rows; the sketch lives with the rows "
                  "(docs/methods.md 2.14c)",
                  CafeEmbedding::Schema(), &CafeEmbedding::Create});
  out->push_back({CelEmbedding::kName, "dynamic",
                  "clustered embedding learning: features share cluster rows, clusters split by "
                  "GPCA (the first principal component of their members' gradients) after 2b "
                  "interactions up to the budget's rows, features reassigned by first-order "
                  "gains; the assignment lives with the rows (docs/methods.md 2.15)",
                  CelEmbedding::Schema(), &CelEmbedding::Create});
  out->push_back({MchEmbedding::kName, "dynamic",
                  "managed-collision hashing: admitted features own slots of a fixed table, "
                  "others share fallback rows, LFU or TTL eviction resets the slot; the mapping "
                  "lives with the rows (docs/methods.md 2.14b)",
                  MchEmbedding::Schema(), &MchEmbedding::Create});
}

void AddDynamicKeyMappingKinds(std::vector<const KeyMappingKind*>* out) {
  out->push_back(dynamic_internal::MchKind());
  out->push_back(dynamic_internal::AdaptEmbKind());
  out->push_back(dynamic_internal::CafeKind());
  out->push_back(dynamic_internal::CelKind());
}

}  // namespace ecps
