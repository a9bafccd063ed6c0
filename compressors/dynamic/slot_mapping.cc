#include "compressors/dynamic/slot_mapping.h"

#include <algorithm>
#include <cmath>

namespace ecps::dynamic_internal {

std::vector<double> SlotParams::Encode() const {
  return {shared_fraction, admit, half_life, ttl ? 1.0 : 0.0, ttl_steps, interval, fold};
}

SlotParams SlotParams::Decode(const std::vector<double>& p) {
  SlotParams s;
  if (p.size() < kCount) return s;
  s.shared_fraction = p[0];
  s.admit = p[1];
  s.half_life = p[2];
  s.ttl = p[3] != 0;
  s.ttl_steps = p[4];
  s.interval = p[5];
  s.fold = p[6];
  return s;
}

uint64_t SharedRows(const SlotParams& p, uint64_t rows) {
  if (rows == 0) return 0;
  const double want = std::round(static_cast<double>(rows) * p.shared_fraction);
  return std::clamp<uint64_t>(static_cast<uint64_t>(want), 1, rows);
}

namespace {

// Key state columns.
constexpr int kSlot = 0, kCount = 1, kLast = 2;

class SlotMapping : public KeyMappingKind {
 public:
  explicit SlotMapping(bool fresh_rows) : fresh_rows_(fresh_rows) {}

  const char* Name() const override { return fresh_rows_ ? "mch" : "adaptemb"; }
  int KeyWidth(const KeyMappingSpec&) const override { return 3; }
  int RowWidth(const KeyMappingSpec&) const override { return 1; }

  Status Check(const KeyMappingSpec& spec) const override {
    if (spec.params.size() != SlotParams::kCount)
      return InvalidArgument(spec.params.size(), " parameters, expected ", SlotParams::kCount);
    const SlotParams p = SlotParams::Decode(spec.params);
    if (!(p.shared_fraction > 0 && p.shared_fraction <= 1))
      return InvalidArgument("shared fraction must be in (0, 1], got ", p.shared_fraction);
    if (!(p.admit > 0)) return InvalidArgument("admission count must be > 0, got ", p.admit);
    if (!(p.half_life >= 0)) return InvalidArgument("half-life must be >= 0, got ", p.half_life);
    if (!(p.interval >= 1)) return InvalidArgument("interval must be >= 1, got ", p.interval);
    if (p.ttl && !(p.ttl_steps >= 1))
      return InvalidArgument("ttl must be >= 1 step, got ", p.ttl_steps);
    if (!(p.fold >= 0 && p.fold <= 1)) return InvalidArgument("fold must be in [0, 1]");
    return OkStatus();
  }

  uint64_t Resolve(const KeyMappingSpec& spec, const KeyPartition& part,
                   uint64_t key) const override {
    const float slot = part.key_state(key)[kSlot];
    if (slot > 0) return static_cast<uint64_t>(slot) - 1;
    return SharedRow(spec, part, key);
  }

  void Count(const KeyMappingSpec& spec, KeyPartition* part, uint64_t key, uint32_t n,
             std::span<const float> /*grad*/, int64_t step) const override {
    const SlotParams p = SlotParams::Decode(spec.params);
    float* st = part->mutable_key_state(key);
    st[kCount] = static_cast<float>(DecayedCount(st[kCount], st[kLast], step, p.half_life) + n);
    st[kLast] = static_cast<float>(step);
  }

  double Frequency(const KeyMappingSpec& spec, const float* st, int64_t step) const {
    const SlotParams p = SlotParams::Decode(spec.params);
    return DecayedCount(st[kCount], st[kLast], step, p.half_life);
  }
  void ForEachTracked(const KeyMappingSpec& spec, const KeyPartition& part, int64_t step,
                      const std::function<void(uint64_t, double, bool)>& fn) const override {
    for (uint64_t k = 0; k < part.keys(); ++k) {
      const float* st = part.key_state(k);
      if (st[kCount] == 0) continue;
      fn(k, Frequency(spec, st, step), st[kSlot] > 0);
    }
  }

  void EndStep(const KeyMappingSpec& spec, KeyPartition* part, int64_t step) const override {
    const SlotParams p = SlotParams::Decode(spec.params);
    if (step % static_cast<int64_t>(p.interval) != 0) return;
    const uint64_t rows = part->rows();
    const uint64_t shared = SharedRows(p, rows);
    if (shared >= rows) return;  // no slots in this partition
    struct Cand {
      double freq;
      uint64_t key;
    };
    // Keys that earned a slot, hottest first (ties: lower key first).
    std::vector<Cand> want;
    for (uint64_t k = 0; k < part->keys(); ++k) {
      const float* st = part->key_state(k);
      if (st[kSlot] > 0 || st[kCount] == 0) continue;
      const double f = Frequency(spec, st, step);
      if (f >= p.admit) want.push_back({f, k});
    }
    // TTL: slots whose owner was not seen for ttl steps are freed first.
    std::vector<uint64_t> free_slots;
    std::vector<Cand> owners;  // LFU victims, coldest first
    for (uint64_t r = shared; r < rows; ++r) {
      const float o = part->row_state(r)[0];
      if (o <= 0) {
        free_slots.push_back(r);
        continue;
      }
      const uint64_t owner = static_cast<uint64_t>(o) - 1;
      const float* st = part->key_state(owner);
      if (p.ttl && static_cast<double>(step) - st[kLast] >= p.ttl_steps) {
        if (!want.empty()) {
          Release(spec, part, owner, r);
          free_slots.push_back(r);
        }
        continue;
      }
      if (!p.ttl) owners.push_back({Frequency(spec, st, step), owner});
    }
    if (want.empty()) return;
    auto hotter = [](const Cand& a, const Cand& b) {
      return a.freq != b.freq ? a.freq > b.freq : a.key < b.key;
    };
    std::sort(want.begin(), want.end(), hotter);
    size_t next = 0;
    for (uint64_t r : free_slots) {
      if (next == want.size()) break;
      Assign(spec, part, want[next++].key, r);
    }
    if (next == want.size() || p.ttl) return;
    // LFU: a candidate takes the coldest owner's slot if the owner is colder.
    std::sort(owners.begin(), owners.end(),
              [&](const Cand& a, const Cand& b) { return hotter(b, a); });
    for (const Cand& victim : owners) {
      if (next == want.size() || !(victim.freq < want[next].freq)) break;
      const uint64_t r = static_cast<uint64_t>(part->key_state(victim.key)[kSlot]) - 1;
      Release(spec, part, victim.key, r);
      Assign(spec, part, want[next++].key, r);
    }
  }

 private:
  uint64_t SharedRow(const KeyMappingSpec& spec, const KeyPartition& part, uint64_t key) const {
    const uint64_t shared = SharedRows(SlotParams::Decode(spec.params), part.rows());
    return shared == 0 ? 0 : KeyHash(spec.seed, part.GlobalKey(key)) % shared;
  }

  // `key` gives up slot `r`.
  void Release(const KeyMappingSpec& spec, KeyPartition* part, uint64_t key, uint64_t r) const {
    if (!fresh_rows_) {
      const SlotParams p = SlotParams::Decode(spec.params);
      if (p.fold > 0) part->BlendRow(r, SharedRow(spec, *part, key), static_cast<float>(p.fold));
    }
    part->mutable_key_state(key)[kSlot] = 0;
    part->mutable_row_state(r)[0] = 0;
  }

  // `key` takes free slot `r`.
  void Assign(const KeyMappingSpec& spec, KeyPartition* part, uint64_t key, uint64_t r) const {
    if (fresh_rows_) {
      part->InitRow(r, part->GlobalKey(key));
    } else {
      part->CopyRow(SharedRow(spec, *part, key), r);
    }
    part->mutable_key_state(key)[kSlot] = static_cast<float>(r + 1);
    part->mutable_row_state(r)[0] = static_cast<float>(key + 1);
  }

  const bool fresh_rows_;
};

}  // namespace

const KeyMappingKind* MchKind() {
  static const SlotMapping k(/*fresh_rows=*/true);
  return &k;
}
const KeyMappingKind* AdaptEmbKind() {
  static const SlotMapping k(/*fresh_rows=*/false);
  return &k;
}

}  // namespace ecps::dynamic_internal
