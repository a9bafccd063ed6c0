#include "compressors/dynamic/cafe.h"

#include <algorithm>
#include <cmath>

namespace ecps {

namespace dynamic_internal {
namespace {

// Slot columns of a sketch bucket row: kSlots x [key + 1, importance, last
// step, row + 1 (0: none)].
constexpr int kSlots = CafeEmbedding::kSlots, kKey = 0, kScore = 1, kLast = 2, kRow = 3;

// A tracked feature at the end of a step: its importance and its sketch slot.
struct Entry {
  double score;
  uint64_t key;
  uint64_t bucket;
  int slot;
};

class CafeMapping final : public KeyMappingKind {
 public:
  const char* Name() const override { return "cafe"; }
  int KeyWidth(const KeyMappingSpec&) const override { return 4 * kSlots; }
  int RowWidth(const KeyMappingSpec&) const override { return 1; }

  Status Check(const KeyMappingSpec& spec) const override {
    // The slot parameters, then the sketch ratio (absent while sizing).
    if (spec.params.size() != SlotParams::kCount && spec.params.size() != SlotParams::kCount + 1)
      return InvalidArgument(spec.params.size(), " parameters, expected ", SlotParams::kCount + 1);
    const SlotParams p = SlotParams::Decode(spec.params);
    if (!(p.shared_fraction > 0 && p.shared_fraction <= 1))
      return InvalidArgument("shared fraction must be in (0, 1], got ", p.shared_fraction);
    if (!(p.admit >= 0)) return InvalidArgument("admission importance must be >= 0");
    if (!(p.half_life >= 0)) return InvalidArgument("half-life must be >= 0");
    if (!(p.interval >= 1)) return InvalidArgument("interval must be >= 1");
    return OkStatus();
  }

  uint64_t Resolve(const KeyMappingSpec& spec, const KeyPartition& part,
                   uint64_t key) const override {
    const float* b = part.key_state(Bucket(spec, part, key));
    for (int s = 0; s < kSlots; ++s)
      if (b[4 * s + kKey] == static_cast<float>(key + 1) && b[4 * s + kRow] > 0)
        return static_cast<uint64_t>(b[4 * s + kRow]) - 1;
    return SharedRow(spec, part, key);
  }

  void Count(const KeyMappingSpec& spec, KeyPartition* part, uint64_t key, uint32_t /*n*/,
             std::span<const float> grad, int64_t step) const override {
    const SlotParams p = SlotParams::Decode(spec.params);
    // The importance of this push: the L2 norm of the key's summed gradient.
    double sq = 0;
    for (float x : grad) sq += static_cast<double>(x) * x;
    const float grad_norm = static_cast<float>(std::sqrt(sq));
    float* b = part->mutable_key_state(Bucket(spec, *part, key));
    int empty = -1, victim = -1;
    double least = 0;
    for (int s = 0; s < kSlots; ++s) {
      float* e = b + 4 * s;
      if (e[kKey] == static_cast<float>(key + 1)) {
        e[kScore] =
            static_cast<float>(DecayedCount(e[kScore], e[kLast], step, p.half_life) + grad_norm);
        e[kLast] = static_cast<float>(step);
        return;
      }
      if (e[kKey] == 0) {
        if (empty < 0) empty = s;
        continue;
      }
      if (e[kRow] > 0) continue;  // pinned: it holds a row until EndStep
      const double f = DecayedCount(e[kScore], e[kLast], step, p.half_life);
      if (victim < 0 || f < least) {
        victim = s;
        least = f;
      }
    }
    // Space-Saving: a newcomer inherits the least important unpinned slot's
    // importance (an overestimate, never an underestimate, of its own).
    const int s = empty >= 0 ? empty : victim;
    if (s < 0) return;  // every slot holds a row: the newcomer is not tracked
    float* e = b + 4 * s;
    e[kKey] = static_cast<float>(key + 1);
    e[kScore] = static_cast<float>((empty >= 0 ? 0.0 : least) + grad_norm);
    e[kLast] = static_cast<float>(step);
    e[kRow] = 0;
  }

  void EndStep(const KeyMappingSpec& spec, KeyPartition* part, int64_t step) const override {
    const SlotParams p = SlotParams::Decode(spec.params);
    if (step % static_cast<int64_t>(p.interval) != 0) return;
    const uint64_t rows = part->rows();
    const uint64_t shared = SharedRows(p, rows);
    if (shared >= rows) return;
    std::vector<Entry> want, owners;
    for (uint64_t bk = 0; bk < part->keys(); ++bk) {
      const float* b = part->key_state(bk);
      for (int s = 0; s < kSlots; ++s) {
        const float* e = b + 4 * s;
        if (e[kKey] == 0) continue;
        const double f = DecayedCount(e[kScore], e[kLast], step, p.half_life);
        const Entry x{f, static_cast<uint64_t>(e[kKey]) - 1, bk, s};
        if (e[kRow] > 0) {
          owners.push_back(x);
        } else if (f > p.admit) {
          want.push_back(x);
        }
      }
    }
    if (want.empty()) return;
    auto hotter = [](const Entry& a, const Entry& b) {
      return a.score != b.score ? a.score > b.score : a.key < b.key;
    };
    std::sort(want.begin(), want.end(), hotter);
    size_t next = 0;
    for (uint64_t r = shared; r < rows && next < want.size(); ++r)
      if (part->row_state(r)[0] <= 0) Assign(spec, part, want[next++], r);
    if (next == want.size()) return;
    std::sort(owners.begin(), owners.end(),
              [&](const Entry& a, const Entry& b) { return hotter(b, a); });
    for (const Entry& victim : owners) {
      if (next == want.size() || !(victim.score < want[next].score)) break;
      float* e = part->mutable_key_state(victim.bucket) + 4 * victim.slot;
      const uint64_t r = static_cast<uint64_t>(e[kRow]) - 1;
      e[kRow] = 0;  // back to its shared row; its hot row is dropped
      part->mutable_row_state(r)[0] = 0;
      Assign(spec, part, want[next++], r);
    }
  }

  void ForEachTracked(const KeyMappingSpec& spec, const KeyPartition& part, int64_t step,
                      const std::function<void(uint64_t, double, bool)>& fn) const override {
    const SlotParams p = SlotParams::Decode(spec.params);
    for (uint64_t bk = 0; bk < part.keys(); ++bk) {
      const float* b = part.key_state(bk);
      for (int s = 0; s < kSlots; ++s) {
        const float* e = b + 4 * s;
        if (e[kKey] == 0) continue;
        fn(static_cast<uint64_t>(e[kKey]) - 1, DecayedCount(e[kScore], e[kLast], step, p.half_life),
           e[kRow] > 0);
      }
    }
  }

 private:
  static uint64_t Bucket(const KeyMappingSpec& spec, const KeyPartition& part, uint64_t key) {
    const uint64_t n = part.keys();
    return n == 0 ? 0 : KeyHash(spec.seed ^ 0x5ca1ab1e0ddba11ull, part.GlobalKey(key)) % n;
  }
  static uint64_t SharedRow(const KeyMappingSpec& spec, const KeyPartition& part, uint64_t key) {
    const uint64_t shared = SharedRows(SlotParams::Decode(spec.params), part.rows());
    return shared == 0 ? 0 : KeyHash(spec.seed, part.GlobalKey(key)) % shared;
  }
  // The hot feature `e` takes free row `r`, starting from its shared row.
  static void Assign(const KeyMappingSpec& spec, KeyPartition* part, const Entry& e, uint64_t r) {
    part->CopyRow(SharedRow(spec, *part, e.key), r);
    part->mutable_key_state(e.bucket)[4 * e.slot + kRow] = static_cast<float>(r + 1);
    part->mutable_row_state(r)[0] = static_cast<float>(e.key + 1);
  }
};

}  // namespace

const KeyMappingKind* CafeKind() {
  static const CafeMapping k;
  return &k;
}

}  // namespace dynamic_internal

ParamSchema CafeEmbedding::Schema() {
  ParamSchema s;
  s.Float("hot_fraction", 0.5, 1e-6, 1.0, "share of the rows that are hot (exclusive) rows");
  s.Float("sketch_ratio", 2, 0.25, 64,
          "HotSketch entries per hot row (the sketch tracks that many candidates)");
  s.Float("admit_importance", 0, 0, 1e12,
          "decayed gradient-norm importance a feature needs (above) before it may take a hot row");
  s.Float("half_life", 0, 0, 1e15, "half-life of the importance in steps (0: no decay)");
  s.Int("interval", 1, 1, 1000000, "steps between hot-row assignments");
  return s;
}

std::unique_ptr<Compressor> CafeEmbedding::Create() { return std::make_unique<CafeEmbedding>(); }

Status CafeEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  dynamic_internal::SlotParams p;
  p.shared_fraction = std::clamp(1.0 - params.GetFloat("hot_fraction"), 1e-6, 1.0);
  p.admit = params.GetFloat("admit_importance");
  p.half_life = params.GetFloat("half_life");
  p.interval = static_cast<double>(params.GetInt("interval"));
  p.fold = 0;
  sketch_ratio_ = params.GetFloat("sketch_ratio");
  RETURN_IF_ERROR(InitSlots(kName, ctx, p, "cafe"));
  // Buckets per partition from the largest partition's hot rows.
  const uint64_t per_part = (slot_rows() + partitions_ - 1) / partitions_;
  buckets_ = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(sketch_ratio_ * static_cast<double>(per_part) / kSlots)));
  return OkStatus();
}

std::vector<RowTableSpec> CafeEmbedding::Tables() const {
  std::vector<RowTableSpec> t = KeyedSlotMethod::Tables();
  t[1].rows = buckets_ * static_cast<uint64_t>(partitions_);
  t[1].width = 4 * kSlots;
  return t;
}

std::vector<KeyMappingSpec> CafeEmbedding::KeyMappings() const {
  std::vector<KeyMappingSpec> m = KeyedSlotMethod::KeyMappings();
  m[0].keys = space_.total();
  m[0].params.push_back(sketch_ratio_);
  return m;
}

MemoryReport CafeEmbedding::Memory() const {
  MemoryReport r = KeyedSlotMethod::Memory();
  // The sketch replaces the per-feature state: 64 B per bucket.
  r.parameter_bytes = 4 * rows() * static_cast<uint64_t>(space_.dim) +
                      buckets_ * static_cast<uint64_t>(partitions_) * 16 * kSlots + 4 * rows();
  return r;
}

}  // namespace ecps
