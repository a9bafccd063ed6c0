// The deduplication family's entries of the method registry
// (compressors/registry.cc), in docs/methods.md order.
#include <vector>

#include "compressors/compressor.h"
#include "compressors/dedup/dedup.h"
#include "compressors/registry.h"

namespace ecps {

void AddDeduplicationMethods(std::vector<CompressorInfo>* out) {
  out->push_back({DedupEmbedding::kName, "deduplication",
                  "pre-train the full table, map similar blocks of rows to one (L2LSH), then "
                  "fine-tune (docs/methods.md 2.10)",
                  DedupEmbedding::Schema(), &DedupEmbedding::Create});
}

}  // namespace ecps
