#include "compressors/hashing/doublehash.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/check.h"

namespace ecps {

using hashing_internal::StateReader;
using hashing_internal::StateWriter;

namespace {

constexpr uint64_t kHashConstantBytes = 4 * sizeof(uint64_t);  // a1, b1, a2, b2
constexpr uint64_t kSlotBytes = 2 * sizeof(uint32_t);
constexpr uint64_t kSlotsPerId = 2;  // load factor 1/2: ~1.5 probes per hit, 2.5 per miss

inline uint64_t SlotOf(uint64_t gid, uint64_t slots) {
  const uint64_t h = (gid + 1) * 0x9E3779B97F4A7C15ull;
  return static_cast<uint64_t>((static_cast<unsigned __int128>(h) * slots) >> 64);
}

}  // namespace

ParamSchema DoubleHashEmbedding::Schema() {
  ParamSchema s;
  s.Float("frequent_fraction", -1.0, -1.0, 1.0,
          "fraction p of each field's ids (top by train count) with an own row; "
          "-1: min(0.1, budget/2); lowered automatically if the budget cannot hold it");
  return s;
}

std::unique_ptr<Compressor> DoubleHashEmbedding::Create() {
  return std::make_unique<DoubleHashEmbedding>();
}

Status DoubleHashEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(hashing_internal::CheckSpace(kName, ctx.space));
  const FeatureSpace& s = ctx.space;
  if (!ctx.train_counts.empty() && ctx.train_counts.size() != s.total())
    return InvalidArgument(kName, ": ", ctx.train_counts.size(), " train counts for ", s.total(),
                           " features");
  space_ = s;
  init_bound_ = hashing_internal::InitBound(s);
  const uint64_t seed = hashing_internal::MethodSeed(ctx.seed, 0xD0B1E4A5);
  h_[0] = hashing_internal::DrawUniversalHash(seed, 0);
  h_[1] = hashing_internal::DrawUniversalHash(seed, 1);

  // Per field: ids seen in train, most frequent first (ties: smaller id).
  const int nf = s.num_fields();
  std::vector<std::vector<uint32_t>> ranked(nf);
  if (!ctx.train_counts.empty()) {
    for (int f = 0; f < nf; ++f) {
      std::vector<uint32_t>& r = ranked[f];
      for (uint64_t x = 0; x < s.cardinalities[f]; ++x)
        if (ctx.train_counts[s.offsets[f] + x] > 0) r.push_back(static_cast<uint32_t>(x));
      const uint32_t* c = ctx.train_counts.data() + s.offsets[f];
      std::stable_sort(r.begin(), r.end(), [c](uint32_t a, uint32_t b) { return c[a] > c[b]; });
    }
  }
  auto frequent_of = [&](double p) {
    uint64_t k = 0;
    for (int f = 0; f < nf; ++f)
      k += std::min<uint64_t>(ranked[f].size(),
                              static_cast<uint64_t>(std::floor(p * s.cardinalities[f])));
    return k;
  };
  const uint64_t row_bytes = 4ull * static_cast<uint64_t>(s.dim);
  const uint64_t budget = hashing_internal::BudgetBytes(s, ctx.budget);
  auto fixed_bytes = [&](uint64_t k) {
    return row_bytes * k + kSlotBytes * kSlotsPerId * k + kHashConstantBytes;
  };
  double p = params.GetFloat("frequent_fraction");
  if (p < 0) p = std::min(0.1, ctx.budget / 2);
  if (fixed_bytes(frequent_of(p)) + row_bytes > budget) {
    // Largest p whose F rows and map leave room for one H row.
    double lo = 0, hi = p;
    for (int it = 0; it < 60; ++it) {
      const double mid = 0.5 * (lo + hi);
      (fixed_bytes(frequent_of(mid)) + row_bytes <= budget ? lo : hi) = mid;
    }
    p = lo;
  }
  p_ = p;
  k_ = frequent_of(p);
  const uint64_t fixed = fixed_bytes(k_);
  m_ = budget > fixed ? std::max<uint64_t>(1, (budget - fixed) / row_bytes) : 1;

  // F rows in global-id order of the chosen ids.
  std::vector<uint32_t> ids;
  ids.reserve(k_);
  for (int f = 0; f < nf; ++f) {
    const uint64_t kf = std::min<uint64_t>(
        ranked[f].size(), static_cast<uint64_t>(std::floor(p * s.cardinalities[f])));
    for (uint64_t i = 0; i < kf; ++i)
      ids.push_back(static_cast<uint32_t>(s.offsets[f] + ranked[f][i]));
  }
  std::sort(ids.begin(), ids.end());
  const uint64_t slots = kSlotsPerId * k_;
  slot_key_.assign(slots, 0);
  slot_row_.assign(slots, 0);
  for (uint64_t r = 0; r < k_; ++r) {
    uint64_t j = SlotOf(ids[r], slots);
    while (slot_key_[j] != 0) j = j + 1 == slots ? 0 : j + 1;
    slot_key_[j] = ids[r] + 1;
    slot_row_[j] = static_cast<uint32_t>(r);
  }
  return OkStatus();
}

uint64_t DoubleHashEmbedding::FrequentRow(uint64_t gid) const {
  const uint64_t slots = slot_key_.size();
  if (slots == 0) return kNoRow;
  const uint32_t want = static_cast<uint32_t>(gid + 1);
  for (uint64_t j = SlotOf(gid, slots);; j = j + 1 == slots ? 0 : j + 1) {
    const uint32_t key = slot_key_[j];
    if (key == want) return slot_row_[j];
    if (key == 0) return kNoRow;
  }
}

std::vector<RowTableSpec> DoubleHashEmbedding::Tables() const {
  std::vector<RowTableSpec> t(2);
  t[0].name = "F";
  t[0].rows = k_;
  t[1].name = "H";
  t[1].rows = m_;
  for (RowTableSpec& x : t) {
    x.width = space_.dim;
    x.init_bound = init_bound_;
  }
  return t;
}

void DoubleHashEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  const int nf = space_.num_fields();
  plan->Reset(n, 2);
  plan->per_key = {1, 2};
  plan->rows[0].resize(n);
  plan->rows[1].resize(2 * static_cast<size_t>(n));
  uint64_t* fr = plan->rows[0].data();
  uint64_t* hr = plan->rows[1].data();
  int field = 0;
  for (int i = 0; i < n; ++i) {
    ECPS_DCHECK(keys[i] < space_.cardinalities[field]);
    const uint64_t gid = space_.offsets[field] + keys[i];
    fr[i] = FrequentRow(gid);
    if (fr[i] == kNoRow) {
      hr[2 * i] = h_[0](gid, m_);
      hr[2 * i + 1] = h_[1](gid, m_);
    } else {
      hr[2 * i] = hr[2 * i + 1] = kNoRow;
    }
    if (++field == nf) field = 0;
  }
}

void DoubleHashEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows,
                                 float* out) const {
  const int d = space_.dim;
  const float* fv = rows.values[0].data();
  const float* hv = rows.values[1].data();
  const uint64_t* fr = plan.rows[0].data();
  for (int i = 0; i < plan.num_keys; ++i, out += d) {
    const float* f = fv + static_cast<size_t>(i) * d;
    const float* h1 = hv + static_cast<size_t>(2 * i) * d;
    const float* h2 = h1 + d;
    if (fr[i] != kNoRow) {
      std::copy(f, f + d, out);
    } else {
      for (int j = 0; j < d; ++j) out[j] = h1[j] + h2[j];
    }
  }
}

void DoubleHashEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                         const float* grad_out, FetchedRows* row_grads) {
  const int d = space_.dim;
  float* gf = row_grads->values[0].data();
  float* gh = row_grads->values[1].data();
  const uint64_t* fr = plan.rows[0].data();
  for (int i = 0; i < plan.num_keys; ++i) {
    const float* g = grad_out + static_cast<size_t>(i) * d;
    float* f = gf + static_cast<size_t>(i) * d;
    float* h1 = gh + static_cast<size_t>(2 * i) * d;
    if (fr[i] != kNoRow) {
      std::copy(g, g + d, f);
      std::fill(h1, h1 + 2 * d, 0.0f);
    } else {
      // Both rows of a rare id receive the same gradient (§2.4 step 3).
      std::fill(f, f + d, 0.0f);
      std::copy(g, g + d, h1);
      std::copy(g, g + d, h1 + d);
    }
  }
}

MemoryReport DoubleHashEmbedding::Memory() const {
  MemoryReport r;
  r.parameter_bytes = 4ull * static_cast<uint64_t>(space_.dim) * (k_ + m_);
  r.auxiliary_bytes = kSlotBytes * slot_key_.size() + kHashConstantBytes;
  r.inference_bytes = r.parameter_bytes + r.auxiliary_bytes;
  return r;
}

std::string DoubleHashEmbedding::SaveState() const {
  StateWriter w(kName, 1);
  w.Pod(p_);
  w.Pod(k_);
  w.Pod(m_);
  w.Pod(h_[0]);
  w.Pod(h_[1]);
  w.Vec(slot_key_);
  w.Vec(slot_row_);
  return w.Finish();
}

Status DoubleHashEmbedding::LoadState(const std::string& blob) {
  StateReader r;
  RETURN_IF_ERROR(r.Open(blob, kName, 1));
  double p = 0;
  uint64_t k = 0, m = 0;
  hashing_internal::UniversalHash h[2];
  std::vector<uint32_t> keys, rows;
  if (!r.Pod(&p) || !r.Pod(&k) || !r.Pod(&m) || !r.Pod(&h[0]) || !r.Pod(&h[1]) || !r.Vec(&keys) ||
      !r.Vec(&rows) || !r.AtEnd() || m == 0 || keys.size() != rows.size() ||
      keys.size() != kSlotsPerId * k)
    return r.Corrupt();
  p_ = p;
  k_ = k;
  m_ = m;
  h_[0] = h[0];
  h_[1] = h[1];
  slot_key_ = std::move(keys);
  slot_row_ = std::move(rows);
  return OkStatus();
}

}  // namespace ecps
