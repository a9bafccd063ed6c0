#include "compressors/hashing/tt_rec.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/blas_threads.h"
#include "common/check.h"
#include "common/rng.h"
#include "compressors/hashing/hashing_util.h"

namespace ecps {

using hashing_internal::CheckSame;

namespace {

constexpr uint64_t kInitTag = 0x5454524543ull;  // "TTREC"
// Bytes of the shared constants (R, D0, D1, D2) and of a compressed field's
// (N0, N1, N2), all charged as 4-byte integers (docs/methods.md §1.6).
constexpr uint64_t kSharedBytes = 16;
constexpr uint64_t kFieldBytes = 12;
// aux_index: a header (compressed keys m, largest G1 group, largest G2
// group), then the compressed keys ordered by G1 row (m), by G2 row (m), each
// key's position in the first order (n), and each key's entry in the packed
// lists rows[0], rows[1], rows[2] (n each).
constexpr size_t kHeader = 3;

// The smallest a with a^3 >= n (n >= 1).
uint64_t CeilCbrt(uint64_t n) {
  uint64_t a = static_cast<uint64_t>(std::cbrt(static_cast<double>(n)));
  while (a > 1 && (a - 1) * (a - 1) * (a - 1) >= n) --a;
  while (a * a * a < n) ++a;
  return std::max<uint64_t>(a, 1);
}

// The smallest b with b^2·a >= n (n, a >= 1): ceil(sqrt(n / a)) in exact
// arithmetic.
uint64_t CeilSqrtDiv(uint64_t n, uint64_t a) {
  uint64_t b = static_cast<uint64_t>(std::sqrt(static_cast<double>(n) / static_cast<double>(a)));
  while (b > 1 && (b - 1) * (b - 1) * a >= n) --b;
  while (b * b * a < n) ++b;
  return std::max<uint64_t>(b, 1);
}

// One element of a core's initial values: z ~ N(0, 1) restricted to
// |z| >= 2 (tails: drawn exactly, Rng::NormalTail) or |z| < 2.
double InitDraw(bool tails, Rng* rng) {
  if (tails) return rng->NormalTail(2.0);
  for (;;) {
    const double z = rng->Normal();
    if (z > -2.0 && z < 2.0) return z;
  }
}

// C = op(A)·op(B) + beta·C (row-major).
void Gemm(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb,
          float* c, int ldc, float beta = 0.0f) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

ParamSchema TtRecEmbedding::Schema() {
  ParamSchema s;
  s.Int("rank", 0, 0, kMaxRank,
        "the TT rank R shared by every field; 0 solves it from the budget (the largest R in "
        "[1, 1000] that fits)");
  s.String("init", "truncated",
           "core init z * (N0*N1*N2/3)^(-1/6): truncated (z ~ N(0,1) restricted to |z| < 2) or "
           "tails (CODE's quirk: z ~ N(0,1) keeping only |z| >= 2; the paper profile's)",
           {"tails", "truncated"});
  s.Int("threshold", 0, 0, int64_t{1} << 40,
        "fields with cardinality <= threshold keep a full table");
  return s;
}

std::unique_ptr<Compressor> TtRecEmbedding::Create() { return std::make_unique<TtRecEmbedding>(); }

std::array<uint64_t, 3> TtRecEmbedding::RowShape(uint64_t n) {
  n = std::max<uint64_t>(n, 1);
  const uint64_t a = CeilCbrt(n);
  const uint64_t b = CeilSqrtDiv(n, a);
  const uint64_t c = (n + a * b - 1) / (a * b);
  return {c, b, a};
}

std::array<int, 3> TtRecEmbedding::ColumnShape(int d) {
  std::vector<int> primes;
  for (int p = 2, x = d; x > 1;) {
    if (x % p == 0) {
      primes.push_back(p);
      x /= p;
    } else {
      p = p * p > x ? x : p + 1;
    }
  }
  std::array<int, 3> c{1, 1, 1};
  for (auto it = primes.rbegin(); it != primes.rend(); ++it) {
    int k = 2;
    for (int j = 1; j >= 0; --j)
      if (c[j] < c[k]) k = j;
    c[k] *= *it;
  }
  return c;
}

uint64_t TtRecEmbedding::CoreFloats(const std::array<uint64_t, 3>& rows,
                                    const std::array<int, 3>& cols, uint64_t rank) {
  return (rows[0] * cols[0] + rows[1] * cols[1] * rank + rows[2] * cols[2]) * rank;
}

Status TtRecEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(hashing_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = hashing_internal::InitBound(space_);
  tails_ = params.GetString("init") == "tails";
  seed_ = ctx.seed;
  cols_ = ColumnShape(space_.dim);
  const uint64_t threshold = static_cast<uint64_t>(params.GetInt("threshold"));
  const int nf = space_.num_fields();
  const uint64_t d = static_cast<uint64_t>(space_.dim);
  shape_.resize(nf);
  for (int f = 0; f < nf; ++f) shape_[f] = RowShape(space_.cardinalities[f]);
  // A field is compressed at rank R when its cores are smaller than its full
  // table (CODE compares floats) and it is above the threshold.
  auto compress = [&](int f, uint64_t r) {
    const uint64_t n = space_.cardinalities[f];
    return n > threshold && CoreFloats(shape_[f], cols_, r) < n * d;
  };
  auto bytes = [&](uint64_t r) {
    uint64_t b = kSharedBytes;
    for (int f = 0; f < nf; ++f)
      b += compress(f, r) ? 4 * CoreFloats(shape_[f], cols_, r) + kFieldBytes
                          : 4 * space_.cardinalities[f] * d;
    return b;
  };
  const int64_t fixed = params.GetInt("rank");
  if (fixed > 0) {
    rank_ = static_cast<uint64_t>(fixed);
  } else {
    // Every R is evaluated (1000 candidates): memory grows with R except by
    // the 12 bytes of a field switching to full, so the largest R that fits
    // is what bisection + floor + decrement-while-over gives, without CODE's
    // real-valued eps (docs/methods.md §2.7, Budget). None fits: R = 1, the
    // real ratio is reported.
    const uint64_t budget = hashing_internal::BudgetBytes(space_, ctx.budget);
    rank_ = 1;
    for (uint64_t r = 1; r <= static_cast<uint64_t>(kMaxRank); ++r)
      if (bytes(r) <= budget) rank_ = r;
  }
  if (rank_ * cols_[1] * rank_ > static_cast<uint64_t>(1 << 30))
    return InvalidArgument(kName, ": embedding.params.rank ", rank_, " at dim ", space_.dim,
                           " makes core1 rows of ", rank_ * cols_[1] * rank_,
                           " floats (at most 2^30)");
  compressed_.assign(nf, 0);
  for (int f = 0; f < nf; ++f) compressed_[f] = compress(f, rank_) ? 1 : 0;
  Layout();
  return OkStatus();
}

void TtRecEmbedding::Layout() {
  const int nf = space_.num_fields();
  for (auto& o : core_off_) o.assign(nf, 0);
  e_off_.assign(nf, 0);
  core_rows_ = {0, 0, 0};
  e_rows_ = 0;
  for (int f = 0; f < nf; ++f) {
    if (compressed_[f]) {
      for (int c = 0; c < 3; ++c) {
        core_off_[c][f] = core_rows_[c];
        core_rows_[c] += shape_[f][c];
      }
    } else {
      e_off_[f] = e_rows_;
      e_rows_ += space_.cardinalities[f];
    }
  }
}

double TtRecEmbedding::sigma(int f) const {
  const std::array<uint64_t, 3>& s = shape_[f];
  const double prod = static_cast<double>(s[0]) * static_cast<double>(s[1]) * s[2];
  return std::pow(prod / 3.0, -1.0 / 6.0);
}

std::vector<RowTableSpec> TtRecEmbedding::Tables() const {
  const int r = static_cast<int>(rank_);
  std::vector<RowTableSpec> t(4);
  const char* names[4] = {"core0", "core1", "core2", "E"};
  const int widths[4] = {cols_[0] * r, r * cols_[1] * r, r * cols_[2], space_.dim};
  for (int i = 0; i < 4; ++i) {
    t[i].name = names[i];
    t[i].rows = i < 3 ? core_rows_[i] : e_rows_;
    t[i].width = widths[i];
    if (i < 3) {
      // Written per field (σ_f) by InitStageRows(0); constant 0 costs the
      // store no draws.
      t[i].init = RowInit::kConstant;
      t[i].init_value = 0.0;
    } else {
      t[i].init_bound = init_bound_;
    }
  }
  return t;
}

Status TtRecEmbedding::InitStageRows(int index) {
  if (index != 0 || core_rows_[0] == 0) return OkStatus();
  if (rows_ == nullptr) return FailedPrecondition(kName, ": the core init needs row access");
  const int r = static_cast<int>(rank_);
  const int widths[3] = {cols_[0] * r, r * cols_[1] * r, r * cols_[2]};
  std::vector<float> buf;
  for (int f = 0; f < space_.num_fields(); ++f) {
    if (!compressed_[f]) continue;
    // A stream per field, so a field's cores do not depend on the others.
    Rng rng(hashing_internal::MethodSeed(seed_, kInitTag + static_cast<uint64_t>(f)));
    const double s = sigma(f);
    for (int c = 0; c < 3; ++c) {
      const uint64_t w = static_cast<uint64_t>(widths[c]);
      const uint64_t chunk = std::max<uint64_t>(1, (1u << 20) / w);
      for (uint64_t begin = 0; begin < shape_[f][c]; begin += chunk) {
        const uint64_t count = std::min(chunk, shape_[f][c] - begin);
        buf.resize(count * w);
        for (float& v : buf) v = static_cast<float>(InitDraw(tails_, &rng) * s);
        RETURN_IF_ERROR(rows_->WriteRows(c, core_off_[c][f] + begin, count, buf.data()));
      }
    }
  }
  return OkStatus();
}

void TtRecEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  const int nf = space_.num_fields();
  plan->Reset(n, 4);
  // The cores are packed (lookup_plan.h, kPackedRows): each distinct core row
  // of the batch is fetched once, whatever the number of keys using it (a
  // core1 row is R²·D1 floats; per key, a batch fetched hundreds of MB). A
  // table no field uses is not fetched at all (per_key 0).
  const int pk_core = core_rows_[0] > 0 ? kPackedRows : 0, pk_e = e_rows_ > 0 ? 1 : 0;
  plan->per_key = {pk_core, pk_core, pk_core, pk_e};
  plan->rows[3].resize(static_cast<size_t>(n) * pk_e);
  // Each key's three core rows (kNoRow for a full field's key).
  thread_local std::array<std::vector<uint64_t>, 3> raw;
  for (auto& v : raw) v.assign(n, kNoRow);
  int field = 0;
  uint32_t m = 0;
  for (int i = 0; i < n; ++i) {
    ECPS_DCHECK(keys[i] < space_.cardinalities[field]);
    const uint64_t x = keys[i];
    if (compressed_[field]) {
      const std::array<uint64_t, 3>& s = shape_[field];
      raw[0][i] = core_off_[0][field] + x % s[0];
      raw[1][i] = core_off_[1][field] + (x / s[0]) % s[1];
      raw[2][i] = core_off_[2][field] + x / (s[0] * s[1]);
      if (pk_e) plan->rows[3][i] = kNoRow;
      ++m;
    } else {
      plan->rows[3][i] = e_off_[field] + x;
    }
    if (++field == nf) field = 0;
  }
  std::vector<uint32_t>& aux = plan->aux_index;
  aux.assign(kHeader + 2 * static_cast<size_t>(m) + 4 * static_cast<size_t>(n), 0);
  aux[0] = m;
  if (m == 0) return;
  // Per core, the compressed keys sorted by (core row, key): the distinct
  // rows in ascending order are the packed list, and for G1 and G2 the order
  // gives the GEMM groups. Core rows < 2^32 since n < 2^32 (CheckSpace).
  thread_local std::vector<uint64_t> sorted;
  uint32_t* order1 = aux.data() + kHeader;
  uint32_t* pos = order1 + 2 * static_cast<size_t>(m);
  for (int core = 0; core < 3; ++core) {
    sorted.clear();
    const std::vector<uint64_t>& rows = raw[core];
    for (int i = 0; i < n; ++i)
      if (rows[i] != kNoRow) sorted.push_back(rows[i] << 32 | static_cast<uint32_t>(i));
    std::sort(sorted.begin(), sorted.end());
    std::vector<uint64_t>& packed = plan->rows[core];
    uint32_t* slot = pos + static_cast<size_t>(n) * (core + 1);
    uint32_t* order = core == 0 ? nullptr : order1 + (core - 1) * static_cast<size_t>(m);
    uint32_t largest = 0, run = 0;
    for (uint32_t p = 0; p < m; ++p) {
      const uint32_t key = static_cast<uint32_t>(sorted[p]);
      const bool same = p > 0 && sorted[p] >> 32 == sorted[p - 1] >> 32;
      if (!same) packed.push_back(sorted[p] >> 32);
      slot[key] = static_cast<uint32_t>(packed.size() - 1);
      if (order == nullptr) continue;
      order[p] = key;
      run = same ? run + 1 : 1;
      largest = std::max(largest, run);
      if (core == 1) pos[key] = p;
    }
    if (core > 0) aux[core] = largest;
  }
}

void TtRecEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  const int d = space_.dim;
  const int n = plan.num_keys;
  if (plan.per_key[3] > 0) {
    const float* e = rows.values[3].data();
    for (int i = 0; i < n; ++i)
      if (plan.rows[3][i] != kNoRow)
        std::memcpy(out + static_cast<size_t>(i) * d, e + static_cast<size_t>(i) * d,
                    sizeof(float) * d);
  }
  const uint32_t* aux = plan.aux_index.data();
  const size_t m = aux[0];
  if (m == 0) return;
  const int r = static_cast<int>(rank_);
  const int d0 = cols_[0], d1 = cols_[1], d2 = cols_[2];
  const size_t w0 = static_cast<size_t>(d0) * r, w1 = static_cast<size_t>(r) * d1 * r,
               w2 = static_cast<size_t>(r) * d2, p = static_cast<size_t>(d0) * d1 * r;
  const size_t g1 = aux[1], g2 = aux[2];
  const uint32_t* order1 = aux + kHeader;
  const uint32_t* order2 = order1 + m;
  const uint32_t* pos = order2 + m;
  const uint32_t* s0 = pos + n;  // each key's entry in the packed rows[0]
  const uint32_t* s1 = s0 + n;
  const uint32_t* s2 = s1 + n;
  const ScopedBlasThreads single(1);
  // saved: [T1: m x P, in order1][A: g1 x D0·R][T: g2 x P][Y: g2 x d].
  plan.saved.resize(m * p + g1 * w0 + g2 * p + g2 * d);
  float* t1 = plan.saved.data();
  float* abuf = t1 + m * p;
  float* tbuf = abuf + g1 * w0;
  float* ybuf = tbuf + g2 * p;
  const float* v0 = rows.values[0].data();
  const float* v1 = rows.values[1].data();
  const float* v2 = rows.values[2].data();
  // Step 1, per G1 row: [s·D0 x R] (the group's G0 rows) · G1 (R x D1·R).
  for (size_t b = 0; b < m;) {
    size_t e = b + 1;
    while (e < m && s1[order1[e]] == s1[order1[b]]) ++e;
    const int s = static_cast<int>(e - b);
    const float* a = v0 + s0[order1[b]] * w0;
    if (s > 1) {
      for (int j = 0; j < s; ++j)
        std::memcpy(abuf + j * w0, v0 + s0[order1[b + j]] * w0, sizeof(float) * w0);
      a = abuf;
    }
    Gemm(false, false, s * d0, d1 * r, r, a, r, v1 + s1[order1[b]] * w1, d1 * r, t1 + b * p,
         d1 * r);
    b = e;
  }
  // Step 2, per G2 row: [s·D0·D1 x R] (the group's intermediates) · G2 (R x D2).
  for (size_t b = 0; b < m;) {
    size_t e = b + 1;
    while (e < m && s2[order2[e]] == s2[order2[b]]) ++e;
    const int s = static_cast<int>(e - b);
    const uint32_t k0 = order2[b];
    const float* g2 = v2 + s2[k0] * w2;
    if (s == 1) {
      Gemm(false, false, d0 * d1, d2, r, t1 + pos[k0] * p, r, g2, d2,
           out + static_cast<size_t>(k0) * d, d2);
    } else {
      for (int j = 0; j < s; ++j)
        std::memcpy(tbuf + j * p, t1 + pos[order2[b + j]] * p, sizeof(float) * p);
      Gemm(false, false, s * d0 * d1, d2, r, tbuf, r, g2, d2, ybuf, d2);
      for (int j = 0; j < s; ++j)
        std::memcpy(out + static_cast<size_t>(order2[b + j]) * d, ybuf + j * d, sizeof(float) * d);
    }
    b = e;
  }
}

void TtRecEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                    const float* grad_out, FetchedRows* row_grads) {
  const int d = space_.dim;
  const int n = plan.num_keys;
  // Every slot is written: an E slot gets its output gradient or zeros, a
  // packed G1 or G2 entry its group's summed gradient (one group per distinct
  // row), a packed G0 entry the sum over the keys using it (zeroed, then
  // accumulated).
  if (plan.per_key[3] > 0) {
    float* ge = row_grads->values[3].data();
    for (int i = 0; i < n; ++i) {
      float* g = ge + static_cast<size_t>(i) * d;
      if (plan.rows[3][i] != kNoRow) {
        std::memcpy(g, grad_out + static_cast<size_t>(i) * d, sizeof(float) * d);
      } else {
        std::fill_n(g, d, 0.0f);
      }
    }
  }
  const uint32_t* aux = plan.aux_index.data();
  const size_t m = aux[0];
  if (m == 0) return;
  const int r = static_cast<int>(rank_);
  const int d0 = cols_[0], d1 = cols_[1], d2 = cols_[2];
  const size_t w0 = static_cast<size_t>(d0) * r, w1 = static_cast<size_t>(r) * d1 * r,
               w2 = static_cast<size_t>(r) * d2, p = static_cast<size_t>(d0) * d1 * r;
  const size_t g1 = aux[1], g2 = aux[2];
  const uint32_t* order1 = aux + kHeader;
  const uint32_t* order2 = order1 + m;
  const uint32_t* pos = order2 + m;
  const uint32_t* s0 = pos + n;
  const uint32_t* s1 = s0 + n;
  const uint32_t* s2 = s1 + n;
  const ScopedBlasThreads single(1);
  // Decode's saved [T1][A][T][Y], then [dT1: m x P][dA: g1 x D0·R][dT: g2 x P].
  const size_t decoded = m * p + g1 * w0 + g2 * p + g2 * d;
  ECPS_CHECK_GE(plan.saved.size(), decoded) << "DecodeBackward without Decode";
  plan.saved.resize(decoded + m * p + g1 * w0 + g2 * p);
  float* t1 = plan.saved.data();
  float* abuf = t1 + m * p;
  float* tbuf = abuf + g1 * w0;
  float* ybuf = tbuf + g2 * p;
  float* dt1 = t1 + decoded;
  float* dabuf = dt1 + m * p;
  float* dtbuf = dabuf + g1 * w0;
  const float* v0 = rows.values[0].data();
  const float* v1 = rows.values[1].data();
  const float* v2 = rows.values[2].data();
  float* gg0 = row_grads->values[0].data();
  float* gg1 = row_grads->values[1].data();
  float* gg2 = row_grads->values[2].data();
  std::fill(row_grads->values[0].begin(), row_grads->values[0].end(), 0.0f);
  // Step 2 back, per G2 row, with T = the group's intermediates stacked
  // [s·D0·D1 x R] and dY their output gradients [s·D0·D1 x D2]:
  // dG2 = Tᵀ·dY (summed over the group), dT = dY·G2ᵀ.
  for (size_t b = 0; b < m;) {
    size_t e = b + 1;
    while (e < m && s2[order2[e]] == s2[order2[b]]) ++e;
    const int s = static_cast<int>(e - b);
    const uint32_t k0 = order2[b];
    const size_t row2 = s2[k0] * w2;
    const float* tm = t1 + pos[k0] * p;
    const float* dy = grad_out + static_cast<size_t>(k0) * d;
    float* dt = dt1 + pos[k0] * p;
    if (s > 1) {
      for (int j = 0; j < s; ++j) {
        const uint32_t k = order2[b + j];
        std::memcpy(tbuf + j * p, t1 + pos[k] * p, sizeof(float) * p);
        std::memcpy(ybuf + j * d, grad_out + static_cast<size_t>(k) * d, sizeof(float) * d);
      }
      tm = tbuf;
      dy = ybuf;
      dt = dtbuf;
    }
    Gemm(true, false, r, d2, s * d0 * d1, tm, r, dy, d2, gg2 + row2, d2);
    Gemm(false, true, s * d0 * d1, r, d2, dy, d2, v2 + row2, d2, dt, r);
    if (s > 1)
      for (int j = 0; j < s; ++j)
        std::memcpy(dt1 + pos[order2[b + j]] * p, dtbuf + j * p, sizeof(float) * p);
    b = e;
  }
  // Step 1 back, per G1 row, with A = the group's G0 rows [s·D0 x R] and dT1
  // their intermediates' gradients [s·D0 x D1·R] (contiguous: T1 is in
  // order1): dG1 = Aᵀ·dT1 (summed over the group), dA = dT1·G1ᵀ, added to
  // each key's G0 entry.
  for (size_t b = 0; b < m;) {
    size_t e = b + 1;
    while (e < m && s1[order1[e]] == s1[order1[b]]) ++e;
    const int s = static_cast<int>(e - b);
    const uint32_t k0 = order1[b];
    const size_t row1 = s1[k0] * w1;
    const float* a = v0 + s0[k0] * w0;
    if (s > 1) {
      for (int j = 0; j < s; ++j)
        std::memcpy(abuf + j * w0, v0 + s0[order1[b + j]] * w0, sizeof(float) * w0);
      a = abuf;
    }
    Gemm(true, false, r, d1 * r, s * d0, a, r, dt1 + b * p, d1 * r, gg1 + row1, d1 * r);
    if (s == 1) {
      Gemm(false, true, d0, r, d1 * r, dt1 + b * p, d1 * r, v1 + row1, d1 * r, gg0 + s0[k0] * w0, r,
           1.0f);
    } else {
      Gemm(false, true, s * d0, r, d1 * r, dt1 + b * p, d1 * r, v1 + row1, d1 * r, dabuf, r);
      for (int j = 0; j < s; ++j) {
        float* g0 = gg0 + s0[order1[b + j]] * w0;
        const float* src = dabuf + j * w0;
        for (size_t q = 0; q < w0; ++q) g0[q] += src[q];
      }
    }
    b = e;
  }
}

MemoryReport TtRecEmbedding::Memory() const {
  MemoryReport m;
  for (const RowTableSpec& t : Tables()) m.parameter_bytes += 4ull * t.rows * t.width;
  m.auxiliary_bytes = kSharedBytes;
  for (uint8_t c : compressed_) m.auxiliary_bytes += c ? kFieldBytes : 0;
  m.inference_bytes = m.parameter_bytes + m.auxiliary_bytes;
  return m;
}

std::string TtRecEmbedding::SaveState() const {
  BlobWriter w = hashing_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod<uint64_t>(rank_);
  w.Pod(cols_);
  w.Pod<uint8_t>(tails_ ? 1 : 0);
  std::vector<uint64_t> shapes;
  for (size_t f = 0; f < shape_.size(); ++f)
    for (int c = 0; c < 3; ++c) shapes.push_back(compressed_[f] ? shape_[f][c] : 0);
  w.Vec(shapes);
  return w.Finish();
}

Status TtRecEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(hashing_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  uint64_t rank = 0;
  std::array<int, 3> cols{};
  uint8_t tails = 0;
  std::vector<uint64_t> shapes;
  if (!r.Pod(&rank) || !r.Pod(&cols) || !r.Pod(&tails) || !r.Vec(&shapes)) return r.Truncated();
  RETURN_IF_ERROR(hashing_internal::EndState(r));
  RETURN_IF_ERROR(CheckSame(kName, "the rank R", rank, rank_));
  RETURN_IF_ERROR(CheckSame(kName, "the column shape D0·D1·D2",
                            std::vector<int>(cols.begin(), cols.end()),
                            std::vector<int>(cols_.begin(), cols_.end())));
  RETURN_IF_ERROR(
      CheckSame(kName, "the init (1 = tails)", tails, static_cast<uint8_t>(tails_ ? 1 : 0)));
  std::vector<uint64_t> now;
  for (size_t f = 0; f < shape_.size(); ++f)
    for (int c = 0; c < 3; ++c) now.push_back(compressed_[f] ? shape_[f][c] : 0);
  return CheckSame(kName, "the per-field core shapes (0 = full)", shapes, now);
}

}  // namespace ecps
