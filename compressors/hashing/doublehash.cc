#include "compressors/hashing/doublehash.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/check.h"

namespace ecps {

using hashing_internal::CheckSame;

namespace {

// a1, b1, a2, b2 and the size m_f of the pair's table.
constexpr uint64_t kHashPairBytes = 5 * sizeof(uint64_t);
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
  // The default is the global layout: on generated Criteo-shaped data (2M
  // rows, 10%) per field loses 0.033 test AUC (docs/results.md, "DoubleHash
  // per field"); the paper profile runs ORIG's per-field layout.
  s.Bool("per_field", false,
         "true: one hash table (and hash pair) per field, sized n_f·CR - k_f (ORIG, "
         "docs/methods.md 2.4); false (default): the top ids of every field own rows of one "
         "frequent table and the rest hash their global id into one shared table");
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
  per_field_ = params.GetBool("per_field");
  const int nf = s.num_fields();
  const int groups = per_field_ ? nf : 1;
  // Pair g is streams 2g and 2g + 1 (the global pair: 0 and 1).
  const uint64_t seed = hashing_internal::MethodSeed(ctx.seed, 0xD0B1E4A5);
  h_.resize(2 * static_cast<size_t>(groups));
  for (int j = 0; j < 2 * groups; ++j) h_[j] = hashing_internal::DrawUniversalHash(seed, j);

  // Per field: ids seen in train, most frequent first (ties: smaller id).
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
  auto field_frequent = [&](double p, int f) {
    return std::min<uint64_t>(ranked[f].size(),
                              static_cast<uint64_t>(std::floor(p * s.cardinalities[f])));
  };
  const uint64_t row_bytes = 4ull * static_cast<uint64_t>(s.dim);
  const uint64_t budget = hashing_internal::BudgetBytes(s, ctx.budget);
  const uint64_t constants = kHashPairBytes * static_cast<uint64_t>(groups);
  // F rows, their map and the constants, plus the H rows every layout needs:
  // one per field that has a non-frequent id (one in all with a global H).
  auto required = [&](double p) {
    uint64_t k = 0, need = 0;
    for (int f = 0; f < nf; ++f) {
      const uint64_t kf = field_frequent(p, f);
      k += kf;
      need += kf < s.cardinalities[f] ? 1 : 0;
    }
    if (!per_field_) need = 1;
    return row_bytes * (k + need) + kSlotBytes * kSlotsPerId * k + constants;
  };
  double p = params.GetFloat("frequent_fraction");
  if (p < 0) p = std::min(0.1, ctx.budget / 2);
  if (required(p) > budget) {
    // Largest p whose F rows, map and minimal H rows fit.
    double lo = 0, hi = p;
    for (int it = 0; it < 60; ++it) {
      const double mid = 0.5 * (lo + hi);
      (required(mid) <= budget ? lo : hi) = mid;
    }
    p = lo;
  }
  p_ = p;
  std::vector<uint64_t> kf(nf);
  k_ = 0;
  for (int f = 0; f < nf; ++f) k_ += kf[f] = field_frequent(p, f);
  const uint64_t fixed = row_bytes * k_ + kSlotBytes * kSlotsPerId * k_ + constants;
  const uint64_t rows_left = budget > fixed ? (budget - fixed) / row_bytes : 0;

  size_.assign(groups, 0);
  if (!per_field_) {
    size_[0] = std::max<uint64_t>(1, rows_left);
  } else {
    // §2.4.5 per field: m_f = n_f·CR - k_f, with the budget net of the hash
    // constants split by cardinality and each field's F rows and map taken
    // from its own share.
    const double avail = static_cast<double>(budget) - static_cast<double>(constants);
    std::vector<uint64_t> need(nf), cap(nf);
    uint64_t sum = 0;
    for (int f = 0; f < nf; ++f) {
      const uint64_t n = s.cardinalities[f];
      cap[f] = n - kf[f];
      need[f] = cap[f] > 0 ? 1 : 0;
      const double share = avail * static_cast<double>(n) / static_cast<double>(s.total());
      const double want =
          std::floor((share - static_cast<double>((row_bytes + kSlotBytes * kSlotsPerId) * kf[f])) /
                     static_cast<double>(row_bytes));
      size_[f] = want <= static_cast<double>(need[f])
                     ? need[f]
                     : std::min<uint64_t>(cap[f], static_cast<uint64_t>(want));
      sum += size_[f];
    }
    std::vector<int> by_size(nf);
    std::iota(by_size.begin(), by_size.end(), 0);
    std::stable_sort(by_size.begin(), by_size.end(),
                     [&](int a, int b) { return s.cardinalities[a] > s.cardinalities[b]; });
    if (sum > rows_left) {  // floors of one row: take them back from the largest fields
      uint64_t excess = sum - rows_left;
      for (int f : by_size) {
        const uint64_t take = std::min(excess, size_[f] - need[f]);
        size_[f] -= take;
        excess -= take;
      }
    } else {  // rows the clamped fields could not use: to the largest fields
      uint64_t left = rows_left - sum;
      for (int f : by_size) {
        const uint64_t give = std::min(left, cap[f] - size_[f]);
        size_[f] += give;
        left -= give;
      }
    }
  }
  offset_.assign(groups, 0);
  h_rows_ = 0;
  for (int g = 0; g < groups; ++g) {
    offset_[g] = h_rows_;
    h_rows_ += size_[g];
  }

  // F rows in global-id order of the chosen ids.
  std::vector<uint32_t> ids;
  ids.reserve(k_);
  for (int f = 0; f < nf; ++f)
    for (uint64_t i = 0; i < kf[f]; ++i)
      ids.push_back(static_cast<uint32_t>(s.offsets[f] + ranked[f][i]));
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
  t[1].rows = h_rows_;
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
      // Per field: the field's pair on the local id; global: pair 0 on the global id.
      const int g = per_field_ ? field : 0;
      const uint64_t x = per_field_ ? keys[i] : gid;
      const uint64_t m = size_[g];
      ECPS_DCHECK(m > 0);
      hr[2 * i] = offset_[g] + h_[2 * g](x, m);
      hr[2 * i + 1] = offset_[g] + h_[2 * g + 1](x, m);
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
  r.parameter_bytes = 4ull * static_cast<uint64_t>(space_.dim) * (k_ + h_rows_);
  r.auxiliary_bytes = kSlotBytes * slot_key_.size() + kHashPairBytes * size_.size();
  r.inference_bytes = r.parameter_bytes + r.auxiliary_bytes;
  return r;
}

std::string DoubleHashEmbedding::SaveState() const {
  BlobWriter w = hashing_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod<uint8_t>(per_field_ ? 1 : 0);
  w.Pod(p_);
  w.Pod(k_);
  w.Vec(size_);
  w.Vec(h_);
  w.Vec(slot_key_);
  w.Vec(slot_row_);
  return w.Finish();
}

Status DoubleHashEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(hashing_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  uint8_t per_field = 0;
  double p = 0;
  uint64_t k = 0;
  std::vector<uint64_t> sizes;
  std::vector<hashing_internal::UniversalHash> h;
  std::vector<uint32_t> keys, rows;
  if (!r.Pod(&per_field) || !r.Pod(&p) || !r.Pod(&k) || !r.Vec(&sizes) || !r.Vec(&h) ||
      !r.Vec(&keys) || !r.Vec(&rows))
    return r.Truncated();
  RETURN_IF_ERROR(hashing_internal::EndState(r));
  RETURN_IF_ERROR(
      CheckSame(kName, "per_field", per_field, static_cast<uint8_t>(per_field_ ? 1 : 0)));
  RETURN_IF_ERROR(CheckSame(kName, "the frequent fraction p", p, p_));
  RETURN_IF_ERROR(CheckSame(kName, "the frequent rows k", k, k_));
  RETURN_IF_ERROR(CheckSame(kName, "the hash tables' rows", sizes, size_));
  RETURN_IF_ERROR(CheckSame(kName, "the hash constants", h, h_));
  RETURN_IF_ERROR(CheckSame(kName, "the frequent-id map", keys, slot_key_));
  return CheckSame(kName, "the frequent-id map's rows", rows, slot_row_);
}

}  // namespace ecps
