#include "compressors/dynamic/keyed_slots.h"

#include <algorithm>

#include "common/blob.h"

namespace ecps::dynamic_internal {

namespace {
constexpr char kStateMagic[9] = "ECPSKSLT";
// Bytes of the map of one slot row in a served model (keyed_slots.h).
constexpr uint64_t kMapBytesPerSlot = 16;
}  // namespace

Status KeyedSlotMethod::InitSlots(const char* name, const CompressorContext& ctx,
                                  const SlotParams& params, const char* kind) {
  RETURN_IF_ERROR(method_internal::CheckSpace(name, ctx.space));
  name_ = name;
  kind_ = kind;
  space_ = ctx.space;
  params_ = params;
  partitions_ = std::max(1, ctx.partitions);
  seed_ = ctx.seed ^ 0x6D63685F6B657973ull;
  init_bound_ = method_internal::InitBound(space_);
  KeyMappingSpec probe;
  probe.kind = kind;
  probe.params = params.Encode();
  RETURN_IF_ERROR(Annotate(FindKeyMappingKind(kind)->Check(probe), name));
  const uint64_t d = static_cast<uint64_t>(space_.dim);
  const uint64_t budget =
      static_cast<uint64_t>(static_cast<double>(method_internal::FullBytes(space_)) * ctx.budget);
  // The largest m that fits: start from the bound without the map and step
  // down (the map is at most 16 B per row, so a few steps of m/8).
  const uint64_t lo = static_cast<uint64_t>(partitions_);
  uint64_t m = std::clamp<uint64_t>(budget / (4 * d), lo, space_.total());
  while (m > lo && InferenceBytes(m) > budget) {
    const uint64_t over = InferenceBytes(m) - budget;
    m -= std::clamp<uint64_t>(over / (4 * d + kMapBytesPerSlot), 1, m - lo);
  }
  m_ = m;
  return OkStatus();
}

uint64_t KeyedSlotMethod::SlotRows(uint64_t m) const {
  uint64_t slots = 0;
  const uint64_t p = static_cast<uint64_t>(partitions_);
  for (uint64_t v = 0; v < p; ++v) {
    const uint64_t rows = m > v ? (m - v + p - 1) / p : 0;
    slots += rows - SharedRows(params_, rows);
  }
  return slots;
}

uint64_t KeyedSlotMethod::InferenceBytes(uint64_t m) const {
  return 4 * m * static_cast<uint64_t>(space_.dim) + kMapBytesPerSlot * SlotRows(m);
}

std::vector<RowTableSpec> KeyedSlotMethod::Tables() const {
  RowTableSpec e;
  e.name = "E";
  e.rows = m_;
  e.width = space_.dim;
  e.init_bound = init_bound_;
  RowTableSpec k;
  k.name = "K";
  k.rows = space_.total();
  k.width = 3;
  k.trainable = false;
  RowTableSpec o;
  o.name = "O";
  o.rows = m_;
  o.width = 1;
  o.trainable = false;
  return {e, k, o};
}

void KeyedSlotMethod::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  OneTableMethod::Encode(keys, plan);  // rows[0] = global ids
  plan->per_key.resize(3, 0);
  plan->rows.resize(3);
  plan->rows[1].clear();
  plan->rows[2].clear();
}

std::vector<KeyMappingSpec> KeyedSlotMethod::KeyMappings() const {
  KeyMappingSpec s;
  s.kind = kind_;
  s.data_table = 0;
  s.key_table = 1;
  s.row_table = 2;
  s.partitions = partitions_;
  s.seed = seed_;
  s.init_bound = init_bound_;
  s.params = params_.Encode();
  s.field_offsets = space_.offsets;  // the statistics per field
  return {s};
}

MemoryReport KeyedSlotMethod::Memory() const {
  MemoryReport r;
  const uint64_t rows = 4 * m_ * static_cast<uint64_t>(space_.dim);
  // Every stored table is a parameter of training (K and O: the counters and
  // owners, 12·n + 4·m B); a served model keeps E and the slot map.
  r.parameter_bytes = rows + 12 * space_.total() + 4 * m_;
  r.mapping_bytes = kMapBytesPerSlot * SlotRows(m_);
  r.inference_bytes = rows + r.mapping_bytes;
  return r;
}

std::string KeyedSlotMethod::SaveState() const {
  BlobWriter w = method_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod(m_);
  w.Pod<int32_t>(partitions_);
  w.Vec(params_.Encode());
  return w.Finish();
}

Status KeyedSlotMethod::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(method_internal::OpenState(blob, kStateMagic, 1, name_, space_, &r));
  uint64_t m = 0;
  int32_t p = 0;
  std::vector<double> params;
  if (!r.Pod(&m) || !r.Pod(&p) || !r.Vec(&params)) return r.Truncated();
  RETURN_IF_ERROR(method_internal::EndState(r));
  RETURN_IF_ERROR(method_internal::CheckSame(name_, "the row count m", m, m_));
  RETURN_IF_ERROR(method_internal::CheckSame(name_, "the partitions (cluster.virtual_shards)", p,
                                             static_cast<int32_t>(partitions_)));
  return method_internal::CheckSame(name_, "the mapping parameters", params, params_.Encode());
}

}  // namespace ecps::dynamic_internal
