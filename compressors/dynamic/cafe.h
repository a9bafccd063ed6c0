// CAFE (docs/methods.md §2.14c; Zhang et al., "CAFE: Towards Compact,
// Adaptive, and Fast Embedding for Large-scale Recommendation Models",
// SIGMOD 2024): hot features, found online by a HotSketch of their
// importance (the decayed sum of their gradient norms), own rows of E; the
// rest share hashed rows. The sketch is the only per-feature state and is
// bounded: `sketch_ratio` entries per hot row, in buckets of 4
// (key, importance, last step, row) slots, so training memory does not grow
// with the number of features. A new feature takes the least important slot
// of its bucket that holds no row (Space-Saving: importance = that slot's +
// its own); slots holding rows are pinned until the end of the step, when
// hot rows go to the most important features without one, taken from
// colder owners if none is free. Like every keyed method the sketch and the
// rows live together, on the parameter servers in a cluster.
#pragma once

#include <memory>

#include "compressors/dynamic/keyed_slots.h"

namespace ecps {

class CafeEmbedding final : public dynamic_internal::KeyedSlotMethod {
 public:
  static constexpr char kName[] = "cafe";
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();
  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // {E m x d, K sketch rows x 16, O m x 1}.
  std::vector<RowTableSpec> Tables() const override;
  std::vector<KeyMappingSpec> KeyMappings() const override;
  MemoryReport Memory() const override;

  // Sketch buckets per partition.
  uint64_t buckets_per_partition() const { return buckets_; }
  static constexpr int kSlots = 4;  // per bucket

 private:
  double sketch_ratio_ = 2;
  uint64_t buckets_ = 1;
};

}  // namespace ecps
