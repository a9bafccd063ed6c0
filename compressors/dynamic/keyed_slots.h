// The dynamic encodings whose feature->row mapping lives with the rows
// (compressors/key_mapping.h; docs/methods.md §2.14 AdaptEmb `mode=dynamic`,
// §2.14b MCH): one data table E of m rows that plans address by global
// feature id, and the mapping's state as two more tables,
//   K  n x 3 fp32, not trained: per feature [slot + 1, decayed count, last step]
//   O  m x 1 fp32, not trained: per row [owner + 1]
// both zero at the start (every feature on its shared row, every slot free).
// The slot mapping (slot_mapping.h) resolves, counts and reassigns them where
// the rows are: in this process, or on the parameter servers that hold the
// partitions, so no worker keeps a copy of the mapping.
//
// Memory (exact): inference = 4·m·d (E) + 16 B per slot row (the map of the
// features holding a slot, as an open-addressing table at load <= 1/2 of
// (u32 feature, u32 row) pairs: what a served model needs; shared rows are a
// hash of the id). parameter = every stored table: 4·m·d + K and O (12·n +
// 4·m B: the counters and owners, training only). mapping_bytes = the slot
// map.
//
// Thread-safety: as Compressor.
#pragma once

#include <string>
#include <vector>

#include "compressors/compressor.h"
#include "compressors/dynamic/slot_mapping.h"
#include "compressors/internal/method_util.h"

namespace ecps::dynamic_internal {

class KeyedSlotMethod : public method_internal::OneTableMethod {
 public:
  std::vector<RowTableSpec> Tables() const override;
  // rows[0] = global feature ids (keys of E); K and O take no lookups.
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  std::vector<KeyMappingSpec> KeyMappings() const override;
  MemoryReport Memory() const override;
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  uint64_t rows() const { return m_; }
  uint64_t slot_rows() const { return SlotRows(m_); }

 protected:
  // Sizes E for `budget_bytes` of inference memory (the largest m whose
  // Memory() fits; at least one row per partition) and keeps the parameters.
  Status InitSlots(const char* name, const CompressorContext& ctx, const SlotParams& params,
                   const char* kind);
  // Slot rows of a table of m rows over the partitions.
  uint64_t SlotRows(uint64_t m) const;
  uint64_t InferenceBytes(uint64_t m) const;

  std::string name_;
  const char* kind_ = "";
  SlotParams params_;
  int partitions_ = 1;
  uint64_t seed_ = 0;
  double init_bound_ = 0;
  uint64_t m_ = 1;
};

}  // namespace ecps::dynamic_internal
