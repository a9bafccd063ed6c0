// The explicit table of compression methods (style.md rule 3). A new method
// adds one line here, in methods.md order; nothing self-registers, so static
// linking can never drop a method.
#include "compressors/full.h"

namespace ecps {

const std::vector<CompressorInfo>& CompressorRegistry() {
  static const std::vector<CompressorInfo>* const kRegistry = new std::vector<CompressorInfo>{
      {FullEmbedding::kName, "baseline",
       "uncompressed fp32 table, one row per feature (methods.md 2.1)", FullEmbedding::Schema(),
       &FullEmbedding::Create},
  };
  return *kRegistry;
}

}  // namespace ecps
