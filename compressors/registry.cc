// The explicit table of compression methods (style.md rule 3). A new method
// adds one line here, in docs/methods.md order; nothing self-registers, so static
// linking can never drop a method.
#include "compressors/registry.h"

#include "compressors/full.h"

namespace ecps {

// Each family lists its members in its own family.cc (compressors/<family>/),
// in docs/methods.md order, so families grow without touching one another.
void AddHashingMethods(std::vector<CompressorInfo>* out);
void AddDeduplicationMethods(std::vector<CompressorInfo>* out);
void AddCodebookMethods(std::vector<CompressorInfo>* out);
void AddQuantizationMethods(std::vector<CompressorInfo>* out);
void AddDimensionMethods(std::vector<CompressorInfo>* out);
void AddDynamicMethods(std::vector<CompressorInfo>* out);
void AddPruningMethods(std::vector<CompressorInfo>* out);

const std::vector<CompressorInfo>& CompressorRegistry() {
  static const std::vector<CompressorInfo>* const kRegistry = [] {
    auto* r = new std::vector<CompressorInfo>{
        {FullEmbedding::kName, "baseline",
         "uncompressed fp32 table, one row per feature (docs/methods.md 2.1)",
         FullEmbedding::Schema(), &FullEmbedding::Create},
    };
    AddHashingMethods(r);
    AddDeduplicationMethods(r);
    AddCodebookMethods(r);
    AddQuantizationMethods(r);
    AddDimensionMethods(r);
    AddDynamicMethods(r);
    AddPruningMethods(r);
    return r;
  }();
  return *kRegistry;
}

}  // namespace ecps
