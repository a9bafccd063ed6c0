// MCH, managed-collision hashing (docs/methods.md §2.14b): the production
// answer to "hashing at a budget" (TorchRec's managed-collision modules,
// Monolith's collisionless table). Features are remapped into a fixed table
// of m rows: a feature seen fewer than `admit_count` times (decayed with
// `half_life`) shares one of a few fallback rows; once admitted it owns a
// slot; when the table is full the least frequently used owner (`evict=lfu`)
// or the owners not seen for `ttl` steps (`evict=ttl`) give their slots up.
// A slot handed to a new feature is re-initialised and its optimizer state
// reset, so a new feature never inherits a stale row. The mapping and the
// counters live where the rows are (keyed_slots.h).
#pragma once

#include <memory>

#include "compressors/dynamic/keyed_slots.h"

namespace ecps {

class MchEmbedding final : public dynamic_internal::KeyedSlotMethod {
 public:
  static constexpr char kName[] = "mch";
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();
  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
};

}  // namespace ecps
