#include "compressors/hashing/dhe.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "common/blas_threads.h"
#include "common/check.h"
#include "common/cpu.h"
#include "common/file_util.h"
#include "common/rng.h"
#include "compressors/hashing/hashing_util.h"

namespace ecps {

using hashing_internal::CheckSame;

namespace {

// Seed tags of the hash constants and of the MLP initialisation ("DHEH",
// "DHEI"); a field adds its index.
constexpr uint64_t kHashTag = 0x4448454800000000ull;
constexpr uint64_t kInitTag = 0x4448454900000000ull;
constexpr double kTwoPi = 6.283185307179586;

// Floats of one field's block of plan.saved for n keys: the encodings (n·k),
// then per layer xhat (n·h), the Mish output (n·h) and the mean, variance and
// 1/sqrt(var + eps) used (3h), and last the count the batch statistics are
// over (n, or the global batch's keys of the field with SyncBN).
size_t SavedFloats(int k, int layers, int n, int h) {
  return static_cast<size_t>(n) * k +
         static_cast<size_t>(layers) * (2 * static_cast<size_t>(n) * h + 3 * h) + 1;
}
size_t LayerBase(int k, int n, int h, int l) {
  return static_cast<size_t>(n) * k +
         static_cast<size_t>(l) * (2 * static_cast<size_t>(n) * h + 3 * h);
}

// Keys of field f among n sample-major keys of F fields.
int FieldKeys(int n, int num_fields, int f) {
  return n / num_fields + (f < n % num_fields ? 1 : 0);
}

// Mish(y) = y·tanh(softplus(y)) and its derivative, without overflow: with
// e = exp(y), tanh(log(1 + e)) = (e² + 2e) / (e² + 2e + 2); above y = 20 the
// tanh is 1 in float.
inline float Mish(float y) {
  if (y > 20.0f) return y;
  const float e = std::exp(y);
  const float n = e * (e + 2.0f);
  return y * n / (n + 2.0f);
}
inline float MishGrad(float y) {
  if (y > 20.0f) return 1.0f;
  const float e = std::exp(y);
  const float n = e * (e + 2.0f);
  const float t = n / (n + 2.0f);
  const float sig = e / (1.0f + e);
  return t + y * (1.0f - t * t) * sig;
}

uint64_t MulMod(uint64_t a, uint64_t b, uint64_t m) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(a) * b % m);
}
uint64_t PowMod(uint64_t a, uint64_t e, uint64_t m) {
  uint64_t r = 1 % m;
  a %= m;
  while (e > 0) {
    if (e & 1) r = MulMod(r, a, m);
    a = MulMod(a, a, m);
    e >>= 1;
  }
  return r;
}

// The first prime >= from and < limit, or 0.
uint64_t NextPrime(uint64_t from, uint64_t limit) {
  for (uint64_t c = from; c < limit; ++c)
    if (DheEmbedding::IsPrime(c)) return c;
  return 0;
}

// v mod p for v < 2^64 without a division: q = floor(v·inv / 2^64) is at
// most two below floor(v / p) for inv = floor((2^64 - 1) / p).
inline uint64_t FastMod(uint64_t v, uint64_t p, uint64_t inv) {
  const uint64_t q = static_cast<uint64_t>((static_cast<unsigned __int128>(v) * inv) >> 64);
  uint64_t r = v - q * p;
  while (r >= p) r -= p;
  return r;
}

// v mod p in doubles for integers v < 2^51 and p < 2^26 (ip = 1/p): adding
// and subtracting 1.5·2^52 rounds v·ip to the nearest integer, within one of
// floor(v / p); r = v − q·p is then exact (an integer below 2^53, with or
// without a fused multiply-add) and two selects bring it into [0, p).
inline double ModDouble(double v, double p, double ip) {
  constexpr double kRound = 6755399441055744.0;  // 1.5·2^52
  const double q = (v * ip + kRound) - kRound;
  double r = v - q * p;
  r = r < 0 ? r + p : r;
  return r >= p ? r - p : r;
}

// An AVX2 and an AVX-512 copy of the hash loop besides the baseline: the
// loop is ~2/3 of a training step (k = 1024 hashes per key) and SSE2 holds two
// doubles. Every copy gives the same bits: each value is an integer below
// 2^53, exact with or without a fused multiply-add (ModDouble above).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ECPS_DHE_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ECPS_DHE_MULTIVERSION
#endif

// hs[i] = ((a_i·(x mod p_i) + b_i) mod p_i) mod M for i < k, in doubles.
ECPS_DHE_MULTIVERSION void HashesDouble(const double* __restrict ad, const double* __restrict bd,
                                        const double* __restrict pd, const double* __restrict ipd,
                                        int k, double xd, double md, double* __restrict hs) {
  for (int i = 0; i < k; ++i) {
    const double r = ModDouble(ad[i] * ModDouble(xd, pd[i], ipd[i]) + bd[i], pd[i], ipd[i]);
    hs[i] = r >= md ? r - md : r;
  }
}

// Ids per fork-join item of EncodeField (fixed: any thread may run any item,
// and each item writes its own rows).
constexpr int kEncodeBlock = 32;
// Below this many distinct ids the pool is not worth waking.
constexpr int kEncodeParallelMin = 128;

}  // namespace

bool DheEmbedding::IsPrime(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t q :
       {2ull, 3ull, 5ull, 7ull, 11ull, 13ull, 17ull, 19ull, 23ull, 29ull, 31ull, 37ull})
    if (n % q == 0) return n == q;
  uint64_t d = n - 1;
  int s = 0;
  while ((d & 1) == 0) d >>= 1, ++s;
  // These 12 bases decide every n < 2^64.
  for (uint64_t a :
       {2ull, 3ull, 5ull, 7ull, 11ull, 13ull, 17ull, 19ull, 23ull, 29ull, 31ull, 37ull}) {
    uint64_t x = PowMod(a, d, n);
    if (x == 1 || x == n - 1) continue;
    bool composite = true;
    for (int i = 1; i < s && composite; ++i) {
      x = MulMod(x, x, n);
      if (x == n - 1) composite = false;
    }
    if (composite) return false;
  }
  return true;
}

ParamSchema DheEmbedding::Schema() {
  ParamSchema s;
  s.Int("num_hash", 1024, 1, 1 << 16, "k: hash functions per id, the width of the MLP's input");
  s.Int("num_buckets", 1000000, 2, int64_t{1} << 31,
        "M: each hash is ((a·x + b) mod p) mod M, p a prime in [M, 2M)");
  s.Int("layers", 5, 1, 64,
        "hidden layers [Linear, BatchNorm, Mish] before the output Linear (CODE: 1 + 4)");
  s.String("dist", "uniform",
           "encoding of the hashes: uniform (2h/(M-1) - 1, CODE's) or gaussian (Box-Muller on "
           "hash pairs; num_hash even)",
           {"uniform", "gaussian"});
  s.String("init", "xavier",
           "MLP weights: xavier (Xavier-normal, zero biases, as the dense model) or tiny (CODE: "
           "weights and biases U(±sqrt(1/max n_f)), the embedding init); BN γ = 1, β = 0",
           {"xavier", "tiny"});
  s.String("solver", "fill",
           "how the width h is chosen: fill (the largest shared h that fits, then the largest "
           "DHE fields take h + 1 while the slack allows: within ~1% of the budget); shared (that "
           "h alone); authors (CODE's word count without running statistics and hash constants: "
           "Criteo h = 3626/1372/271/29, slightly over the budget)",
           {"fill", "shared", "authors"});
  s.Int("width", 0, 0, 1 << 20, "h for every DHE field; 0 solves it from the budget");
  s.Int("threshold", 0, 0, int64_t{1} << 40,
        "fields with cardinality <= threshold keep a full table (CODE's threshold)");
  s.Bool("sync_bn", true,
         "SyncBN: with several workers, BatchNorm's training statistics (and the two sums of its "
         "backward) are all-reduced, so every worker normalises by the global batch's, as one "
         "process does; false: each worker's own share (DDP without SyncBN)");
  return s;
}

std::unique_ptr<Compressor> DheEmbedding::Create() { return std::make_unique<DheEmbedding>(); }

uint64_t DheEmbedding::FieldParams(int k, int layers, int d, uint64_t h) {
  const uint64_t kk = static_cast<uint64_t>(k), dd = static_cast<uint64_t>(d);
  return (kk + 1) * h + static_cast<uint64_t>(layers - 1) * (h + 1) * h + (h + 1) * dd +
         2ull * static_cast<uint64_t>(layers) * h;
}

uint64_t DheEmbedding::FieldBytes(int k, int layers, int d, uint64_t h) {
  // Parameters, the running mean and variance (2h per layer) and the 3k
  // uint64 hash constants.
  return 4 * (FieldParams(k, layers, d, h) + 2ull * static_cast<uint64_t>(layers) * h) +
         24ull * static_cast<uint64_t>(k);
}

uint64_t DheEmbedding::AuthorsWords(int k, int layers, int d, uint64_t h) {
  const uint64_t kk = static_cast<uint64_t>(k), dd = static_cast<uint64_t>(d);
  return (kk + 1) * h + static_cast<uint64_t>(layers - 1) * h * (h + 1) + (dd + 1) * h +
         2ull * static_cast<uint64_t>(layers) * h;
}

Status DheEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(hashing_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = hashing_internal::InitBound(space_);
  k_ = static_cast<int>(params.GetInt("num_hash"));
  m_ = static_cast<uint64_t>(params.GetInt("num_buckets"));
  layers_ = static_cast<int>(params.GetInt("layers"));
  gaussian_ = params.GetString("dist") == "gaussian";
  init_ = params.GetString("init");
  sync_bn_ = params.GetBool("sync_bn");
  pool_ = UsableCpus() > 1 ? std::make_unique<ForkJoinPool>(UsableCpus()) : nullptr;
  d_act_.assign(ctx.space.num_fields(), {});
  d_pre_.assign(ctx.space.num_fields(), {});
  {
    MutexLock l(&sync_mu_);
    sync_error_ = OkStatus();
  }
  if (gaussian_ && k_ % 2 != 0)
    return InvalidArgument(kName, ": embedding.params.num_hash must be even with dist=gaussian ",
                           "(Box-Muller draws normals from hash pairs), got ", k_);
  const std::string solver = params.GetString("solver");
  const uint64_t threshold = static_cast<uint64_t>(params.GetInt("threshold"));
  const uint64_t fixed_width = static_cast<uint64_t>(params.GetInt("width"));
  const int nf = space_.num_fields();
  const int d = space_.dim;
  const uint64_t dd = static_cast<uint64_t>(d);

  // Bytes (or CODE's words) of field f at width h: min(DHE, full).
  const bool authors = solver == "authors";
  auto dhe_cost = [&](uint64_t h) {
    return authors ? AuthorsWords(k_, layers_, d, h) : FieldBytes(k_, layers_, d, h);
  };
  auto full_cost = [&](uint64_t n) { return authors ? n * dd : 4 * n * dd; };
  auto compressed = [&](uint64_t n, uint64_t h) {
    return n > threshold && dhe_cost(h) < full_cost(n);
  };
  auto total = [&](uint64_t h) {
    uint64_t t = 0;
    for (uint64_t n : space_.cardinalities) t += compressed(n, h) ? dhe_cost(h) : full_cost(n);
    return t;
  };
  const uint64_t budget = authors ? static_cast<uint64_t>(std::floor(
                                        static_cast<long double>(space_.total()) * dd * ctx.budget))
                                  : hashing_internal::BudgetBytes(space_, ctx.budget);
  uint64_t h = fixed_width;
  if (h == 0) {
    // total(h) is monotone in h (each field costs min(DHE(h), full)): the
    // largest h that fits by bisection; h = 1 when none does (unreachable).
    const uint64_t h_max = std::max<uint64_t>(
        1, static_cast<uint64_t>(std::sqrt(static_cast<double>(space_.total() * dd))));
    h = 1;
    if (total(1) <= budget) {
      uint64_t lo = 1, hi = h_max;  // total(lo) fits
      while (lo < hi) {
        const uint64_t mid = lo + (hi - lo + 1) / 2;
        if (total(mid) <= budget) {
          lo = mid;
        } else {
          hi = mid - 1;
        }
      }
      h = lo;
    }
  }
  width_.assign(nf, 0);
  for (int f = 0; f < nf; ++f)
    if (compressed(space_.cardinalities[f], h)) width_[f] = static_cast<int>(h);
  if (solver == "fill" && fixed_width == 0) {
    uint64_t used = total(h);
    std::vector<int> order(nf);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return space_.cardinalities[a] > space_.cardinalities[b];
    });
    const uint64_t now = dhe_cost(h), next = dhe_cost(h + 1);
    for (int f : order) {
      if (width_[f] == 0 || next >= full_cost(space_.cardinalities[f])) continue;
      if (used <= budget && next - now <= budget - used) {
        used += next - now;
        width_[f] = static_cast<int>(h + 1);
      }
    }
  }

  // Layout: E rows of the full fields, dense blocks of the DHE fields.
  e_off_.assign(nf, 0);
  param_off_.assign(nf, 0);
  buffer_off_.assign(nf, 0);
  e_rows_ = 0;
  size_t np = 0, nb = 0;
  for (int f = 0; f < nf; ++f) {
    if (width_[f] == 0) {
      e_off_[f] = e_rows_;
      e_rows_ += space_.cardinalities[f];
      continue;
    }
    param_off_[f] = np;
    buffer_off_[f] = nb;
    np += FieldParams(k_, layers_, d, static_cast<uint64_t>(width_[f]));
    nb += 2 * static_cast<size_t>(layers_) * width_[f];
  }
  if (np > (size_t{1} << 34))
    return InvalidArgument(kName, ": ", np, " MLP parameters at width ", h,
                           " do not fit in memory; lower embedding.budget or set "
                           "embedding.params.width");

  // Hash constants: a, b uniform in [1, M), p the first prime from a start
  // uniform in [M, 2M) (wrapping to M; Bertrand's postulate guarantees one
  // below 2M). With M <= 2^31 and x < 2^32, a·x + b < 2^63 is exact in uint64,
  // and h = (that mod p) < 2M needs one subtraction of M at most.
  hashes_.assign(nf, {});
  inv_p_.assign(nf, {});
  hashes_d_.assign(nf, {});
  for (int f = 0; f < nf; ++f) {
    if (width_[f] == 0) continue;
    Rng rng(hashing_internal::MethodSeed(ctx.seed, kHashTag + static_cast<uint64_t>(f)));
    FieldHashes& fh = hashes_[f];
    fh.a.resize(k_);
    fh.b.resize(k_);
    fh.p.resize(k_);
    inv_p_[f].resize(k_);
    for (int i = 0; i < k_; ++i) {
      fh.a[i] = 1 + rng.Below(m_ - 1);
      fh.b[i] = 1 + rng.Below(m_ - 1);
      uint64_t p = NextPrime(m_ + rng.Below(m_), 2 * m_);
      if (p == 0) p = NextPrime(m_, 2 * m_);
      fh.p[i] = p;
      inv_p_[f][i] = ~0ull / p;
    }
    // Primes below 2^26 (M <= 2^25, CODE's 10^6 included) take the exact
    // double path of EncodeField: a·(x mod p) + b < 2^52.
    if (2 * m_ <= (1ull << 26)) {
      FieldDoubleHashes& dh = hashes_d_[f];
      dh.a.assign(fh.a.begin(), fh.a.end());
      dh.b.assign(fh.b.begin(), fh.b.end());
      dh.p.assign(fh.p.begin(), fh.p.end());
      dh.ip.resize(k_);
      for (int i = 0; i < k_; ++i) dh.ip[i] = 1.0 / dh.p[i];
    }
  }

  // The MLPs are built on first use (EnsureDense): sizing alone (budget
  // tables, state checks) never allocates and draws them (Criteo at 50%:
  // 225M parameters).
  dense_seed_ = ctx.seed;
  num_params_ = np;
  num_buffers_ = nb;
  params_.clear();
  grads_.clear();
  buffers_.clear();
  dense_once_ = std::make_unique<std::once_flag>();
  return OkStatus();
}

void DheEmbedding::EnsureDense() const {
  std::call_once(*dense_once_, [this] { BuildDense(); });
}

void DheEmbedding::BuildDense() const {
  // The MLPs: Xavier-normal weights (std sqrt(2 / (in + out))) and zero
  // biases, or CODE's U(±b) for both; BN γ = 1, β = 0; running mean 0, var 1.
  params_.assign(num_params_, 0.0f);
  grads_.assign(num_params_, 0.0f);
  buffers_.assign(num_buffers_, 0.0f);
  const int nf = space_.num_fields();
  const int d = space_.dim;
  const bool tiny = init_ == "tiny";
  for (int f = 0; f < nf; ++f) {
    const int hf = width_[f];
    if (hf == 0) continue;
    Rng rng(hashing_internal::MethodSeed(dense_seed_, kInitTag + static_cast<uint64_t>(f)));
    float* p = params_.data() + param_off_[f];
    auto fill = [&](float* w, size_t count, int fan_in, int fan_out, bool weight) {
      if (tiny) {
        for (size_t i = 0; i < count; ++i)
          w[i] = static_cast<float>(rng.Uniform(-init_bound_, init_bound_));
      } else if (weight) {
        const double sd = std::sqrt(2.0 / (fan_in + fan_out));
        // Box-Muller, both values of each pair.
        for (size_t i = 0; i < count; i += 2) {
          double u1 = rng.Uniform();
          if (u1 < 1e-300) u1 = 1e-300;
          const double r = std::sqrt(-2.0 * std::log(u1)) * sd, t = kTwoPi * rng.Uniform();
          w[i] = static_cast<float>(r * std::cos(t));
          if (i + 1 < count) w[i + 1] = static_cast<float>(r * std::sin(t));
        }
      }
    };
    int in = k_;
    for (int l = 0; l < layers_; ++l) {
      fill(p, static_cast<size_t>(hf) * in, in, hf, true);
      p += static_cast<size_t>(hf) * in;
      fill(p, hf, in, hf, false);
      p += hf;
      std::fill(p, p + hf, 1.0f);  // γ
      p += 2 * hf;                 // β = 0
      in = hf;
    }
    fill(p, static_cast<size_t>(d) * hf, hf, d, true);
    p += static_cast<size_t>(d) * hf;
    fill(p, d, hf, d, false);
    float* b = buffers_.data() + buffer_off_[f];
    for (int l = 0; l < layers_; ++l) std::fill(b + (2 * l + 1) * hf, b + (2 * l + 2) * hf, 1.0f);
  }
}

std::vector<RowTableSpec> DheEmbedding::Tables() const {
  std::vector<RowTableSpec> t(1);
  t[0].name = "E";
  t[0].rows = e_rows_;
  t[0].width = space_.dim;
  t[0].init_bound = init_bound_;
  return t;
}

void DheEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  const int nf = space_.num_fields();
  plan->Reset(n, 1);
  plan->per_key[0] = 1;
  plan->rows[0].resize(n);
  plan->aux_index.assign(keys.begin(), keys.end());
  uint64_t* e = plan->rows[0].data();
  int field = 0;
  for (int i = 0; i < n; ++i) {
    ECPS_DCHECK(keys[i] < space_.cardinalities[field]);
    e[i] = width_[field] == 0 ? e_off_[field] + keys[i] : kNoRow;
    if (++field == nf) field = 0;
  }
}

void DheEmbedding::EncodeRow(int f, uint64_t x, double* hs, float* row) const {
  const double md = static_cast<double>(m_);
  if (!hashes_d_[f].p.empty()) {
    // ((a·(x mod p) + b) mod p) mod M in doubles: every value is an integer
    // below 2^53, so each step is exact, and the loop vectorises.
    const FieldDoubleHashes& h = hashes_d_[f];
    HashesDouble(h.a.data(), h.b.data(), h.p.data(), h.ip.data(), k_, static_cast<double>(x), md,
                 hs);
  } else {
    const FieldHashes& fh = hashes_[f];
    const uint64_t* inv = inv_p_[f].data();
    for (int i = 0; i < k_; ++i) {
      const uint64_t r = FastMod(fh.a[i] * x + fh.b[i], fh.p[i], inv[i]);  // < p < 2M
      hs[i] = static_cast<double>(r >= m_ ? r - m_ : r);
    }
  }
  if (!gaussian_) {
    const double scale = 2.0 / static_cast<double>(m_ - 1);
    for (int i = 0; i < k_; ++i) row[i] = static_cast<float>(scale * hs[i] - 1.0);
  } else {
    const double inv_m = 1.0 / md;
    for (int i = 0; i < k_; i += 2) {
      const double u1 = (hs[i] + 1.0) * inv_m;  // (0, 1]
      const double u2 = hs[i + 1] * inv_m;
      const double r = std::sqrt(-2.0 * std::log(u1));
      row[i] = static_cast<float>(r * std::cos(kTwoPi * u2));
      row[i + 1] = static_cast<float>(r * std::sin(kTwoPi * u2));
    }
  }
}

void DheEmbedding::EncodeField(int f, const uint32_t* ids, size_t stride, int n, float* u) const {
  // A batch repeats its frequent ids (skewed data: a third to a half of a
  // field's keys): each distinct id is hashed once, at its first position,
  // and copied to the others.
  std::vector<int> first(n);
  std::vector<int> distinct;
  distinct.reserve(n);
  {
    absl::flat_hash_map<uint32_t, int> seen;
    seen.reserve(n);
    for (int j = 0; j < n; ++j) {
      auto [it, fresh] = seen.try_emplace(ids[static_cast<size_t>(j) * stride], j);
      first[j] = it->second;
      if (fresh) distinct.push_back(j);
    }
  }
  const int nd = static_cast<int>(distinct.size());
  auto encode = [&](size_t item) {
    std::vector<double> hs(k_);
    const int lo = static_cast<int>(item) * kEncodeBlock;
    const int hi = std::min(nd, lo + kEncodeBlock);
    for (int q = lo; q < hi; ++q) {
      const int j = distinct[q];
      EncodeRow(f, ids[static_cast<size_t>(j) * stride], hs.data(),
                u + static_cast<size_t>(j) * k_);
    }
  };
  const size_t items = (static_cast<size_t>(nd) + kEncodeBlock - 1) / kEncodeBlock;
  if (pool_ != nullptr && nd >= kEncodeParallelMin) {
    pool_->Run(items, encode);
  } else {
    for (size_t i = 0; i < items; ++i) encode(i);
  }
  for (int j = 0; j < n; ++j)
    if (first[j] != j)
      std::memcpy(u + static_cast<size_t>(j) * k_, u + static_cast<size_t>(first[j]) * k_,
                  k_ * sizeof(float));
}

void DheEmbedding::Encodings(int f, std::span<const uint32_t> ids, float* u) const {
  ECPS_CHECK(width_[f] != 0) << "field " << f << " is kept full";
  EncodeField(f, ids.data(), 1, static_cast<int>(ids.size()), u);
}

bool DheEmbedding::Synced(const LookupPlan& plan) const {
  return plan.training && sync_bn_ && workers_ != nullptr && workers_->size() > 1;
}

bool DheEmbedding::SumOverWorkers(std::span<double> data) const {
  MutexLock l(&sync_mu_);
  if (!sync_error_.ok()) return false;
  const Status st = workers_->AllreduceSum(data);
  if (st.ok()) return true;
  sync_error_ = Annotate(st, "dhe: SyncBN all-reduce of the BatchNorm statistics");
  return false;
}

Status DheEmbedding::AfterStep(int64_t step) {
  MutexLock l(&sync_mu_);
  Status st = sync_error_;
  sync_error_ = OkStatus();
  return st;
}

void DheEmbedding::ForwardField(int f, const uint32_t* keys, int n, bool training, bool keep,
                                bool synced, float* saved, float* out) const {
  const int nf = space_.num_fields();
  const int d = space_.dim;
  const int h = width_[f];
  float* u = saved;
  EncodeField(f, keys + f, static_cast<size_t>(nf), n, u);
  const float* p = params_.data() + param_off_[f];
  const float* rs = buffers_.data() + buffer_off_[f];
  const float* in = u;
  int in_w = k_;
  std::vector<double> s1(h), s2(h), global(synced ? 2 * static_cast<size_t>(h) + 1 : 0);
  double count = n;
  for (int l = 0; l < layers_; ++l) {
    const float* w = p;
    const float* bias = w + static_cast<size_t>(h) * in_w;
    const float* gamma = bias + h;
    const float* beta = gamma + h;
    p = beta + h;
    // z, then xhat in place; without `keep` two layer slots alternate.
    float* x = saved + LayerBase(k_, n, h, keep ? l : l % 2);
    float* act = x + static_cast<size_t>(n) * h;
    float* mean = act + static_cast<size_t>(n) * h;
    float* var = mean + h;
    float* inv = var + h;
    for (int j = 0; j < n; ++j)
      std::memcpy(x + static_cast<size_t>(j) * h, bias, h * sizeof(float));
    // z = in · Wᵀ + bias
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, h, in_w, 1.0f, in, in_w, w, in_w, 1.0f,
                x, h);
    if (training) {
      // Batch statistics (biased variance), accumulated in double.
      std::fill(s1.begin(), s1.end(), 0.0);
      std::fill(s2.begin(), s2.end(), 0.0);
      for (int j = 0; j < n; ++j) {
        const float* r = x + static_cast<size_t>(j) * h;
        for (int c = 0; c < h; ++c) s1[c] += r[c];
      }
      for (int c = 0; c < h; ++c) mean[c] = static_cast<float>(s1[c] / n);
      for (int j = 0; j < n; ++j) {
        const float* r = x + static_cast<size_t>(j) * h;
        for (int c = 0; c < h; ++c) {
          const double v = static_cast<double>(r[c]) - mean[c];
          s2[c] += v * v;
        }
      }
      for (int c = 0; c < h; ++c) var[c] = static_cast<float>(s2[c] / n);
      if (synced) {
        // SyncBN: the global batch's mean and biased variance from every
        // worker's count n_i, sum S_i and squared deviations M2_i:
        // M2 = Σ (M2_i + S_i²/n_i) − S²/N, exact in double up to rounding.
        for (int c = 0; c < h; ++c) {
          global[c] = s1[c];
          global[h + c] = s2[c] + s1[c] * s1[c] / n;
        }
        global[2 * static_cast<size_t>(h)] = n;
        if (SumOverWorkers(global)) {
          count = global[2 * static_cast<size_t>(h)];
          for (int c = 0; c < h; ++c) {
            const double sum = global[c];
            mean[c] = static_cast<float>(sum / count);
            var[c] = static_cast<float>(std::max(0.0, global[h + c] - sum * sum / count) / count);
          }
        }
      }
    } else {
      std::memcpy(mean, rs + 2 * static_cast<size_t>(l) * h, h * sizeof(float));
      std::memcpy(var, rs + (2 * static_cast<size_t>(l) + 1) * h, h * sizeof(float));
    }
    for (int c = 0; c < h; ++c) inv[c] = 1.0f / std::sqrt(var[c] + kBnEps);
    for (int j = 0; j < n; ++j) {
      float* r = x + static_cast<size_t>(j) * h;
      float* a = act + static_cast<size_t>(j) * h;
      for (int c = 0; c < h; ++c) {
        r[c] = (r[c] - mean[c]) * inv[c];
        a[c] = Mish(gamma[c] * r[c] + beta[c]);
      }
    }
    in = act;
    in_w = h;
  }
  // The output rows of the field's keys are out + (f + j·F)·d: a matrix with
  // leading dimension F·d.
  const float* w_out = p;
  const float* b_out = p + static_cast<size_t>(d) * h;
  float* o = out + static_cast<size_t>(f) * d;
  const int ld = nf * d;
  for (int j = 0; j < n; ++j)
    std::memcpy(o + static_cast<size_t>(j) * ld, b_out, d * sizeof(float));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, d, h, 1.0f, in, h, w_out, h, 1.0f, o, ld);
  if (keep) saved[SavedFloats(k_, layers_, n, h) - 1] = static_cast<float>(count);
}

void DheEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  EnsureDense();
  const int n = plan.num_keys;
  const int nf = space_.num_fields();
  const int d = space_.dim;
  const uint64_t* e_rows = plan.rows[0].data();
  const float* e = rows.values[0].data();
  for (int i = 0; i < n; ++i)
    if (e_rows[i] != kNoRow)
      std::memcpy(out + static_cast<size_t>(i) * d, e + static_cast<size_t>(i) * d,
                  d * sizeof(float));
  if (!plan.training) {
    // Nothing is kept for a backward pass (DecodeBackward recomputes an
    // evaluation plan's activations): each field runs in a scratch block with
    // two layer slots. The fields go over the pool with one BLAS thread each,
    // as in training (a 2-thread team per GEMM spent most of the time waking
    // it): all at once when their blocks fit in kParallelScratchFloats (a
    // serving batch of 128 rows), else in waves of as many as fit (an
    // evaluation batch of 4,096 keys at h = 3626 needs 0.25 GB per field);
    // one at a time, with BLAS's own threads, when only one fits.
    constexpr size_t kParallelScratchFloats = size_t{64} << 20;  // 256 MiB
    std::vector<int> fields;
    size_t scratch = 0;
    for (int f = 0; f < nf; ++f) {
      const int nk = FieldKeys(n, nf, f);
      if (width_[f] == 0 || nk == 0) continue;
      fields.push_back(f);
      scratch = std::max(scratch, SavedFloats(k_, std::min(layers_, 2), nk, width_[f]));
    }
    size_t slots = pool_ != nullptr ? fields.size() : 1;
    if (slots * scratch > kParallelScratchFloats)
      slots = std::clamp<size_t>(kParallelScratchFloats / std::max<size_t>(scratch, 1), 1,
                                 static_cast<size_t>(UsableCpus()));
    plan.saved.resize(std::max<size_t>(slots, 1) * scratch);
    auto forward = [&](size_t field, size_t slot) {
      const int f = fields[field];
      ForwardField(f, plan.aux_index.data(), FieldKeys(n, nf, f), false, false, false,
                   plan.saved.data() + slot * scratch, out);
    };
    if (slots <= 1) {
      for (size_t i = 0; i < fields.size(); ++i) forward(i, 0);
      return;
    }
    for (size_t wave = 0; wave < fields.size(); wave += slots)
      RunFields(std::min(slots, fields.size() - wave), /*synced=*/false,
                [&](size_t i) { forward(wave + i, i); });
    return;
  }
  // With SyncBN every worker all-reduces per DHE field and layer in field
  // order; the trainer's equal shares give every worker the same keys per
  // field, so the calls match.
  const bool synced = Synced(plan);
  std::vector<int> fields;
  std::vector<size_t> offs;
  plan.saved.resize(TrainingBlocks(n, &fields, &offs));
  RunFields(fields.size(), synced, [&](size_t i) {
    ForwardField(fields[i], plan.aux_index.data(), FieldKeys(n, nf, fields[i]), true, true, synced,
                 plan.saved.data() + offs[i], out);
  });
}

size_t DheEmbedding::TrainingBlocks(int n, std::vector<int>* fields,
                                    std::vector<size_t>* offs) const {
  const int nf = space_.num_fields();
  size_t off = 0;
  for (int f = 0; f < nf; ++f) {
    if (width_[f] == 0) continue;
    const int nk = FieldKeys(n, nf, f);
    if (nk > 0) {
      fields->push_back(f);
      offs->push_back(off);
    }
    off += SavedFloats(k_, layers_, nk, width_[f]);
  }
  return off;
}

template <typename Fn>
void DheEmbedding::RunFields(size_t items, bool synced, Fn&& fn) const {
  // A training batch's GEMMs are small (the field's keys of one batch): one
  // BLAS thread each, the fields spread over the pool instead (each writes
  // its own output columns, plan.saved block, gradients and statistics).
  // With SyncBN every worker all-reduces per field and layer in field order,
  // so the fields run in order.
  const ScopedBlasThreads single(1);
  if (pool_ != nullptr && !synced && items > 1) {
    pool_->Run(items, [&](size_t i) {
      const ScopedBlasThreads one(1);
      fn(i);
    });
  } else {
    for (size_t i = 0; i < items; ++i) fn(i);
  }
}

void DheEmbedding::BackwardField(int f, int n, bool training, bool synced, const float* saved,
                                 const float* grad_out) {
  const int nf = space_.num_fields();
  const int d = space_.dim;
  const int h = width_[f];
  // Pointers to the layer blocks of the parameters and their gradients.
  std::vector<const float*> w(layers_);
  std::vector<float*> gw(layers_);
  std::vector<int> in_w(layers_);
  const float* p = params_.data() + param_off_[f];
  float* g = grads_.data() + param_off_[f];
  for (int l = 0; l < layers_; ++l) {
    in_w[l] = l == 0 ? k_ : h;
    w[l] = p;
    gw[l] = g;
    const size_t block = static_cast<size_t>(h) * in_w[l] + 3 * static_cast<size_t>(h);
    p += block;
    g += block;
  }
  const float* w_out = p;
  float* gw_out = g;
  float* gb_out = g + static_cast<size_t>(d) * h;
  const float* dout = grad_out + static_cast<size_t>(f) * d;
  const int ld = nf * d;
  const float* last = saved + LayerBase(k_, n, h, layers_ - 1) + static_cast<size_t>(n) * h;
  // dW_out = dOutᵀ · act_last, db_out = Σ_j dOut, dAct = dOut · W_out.
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, h, n, 1.0f, dout, ld, last, h, 0.0f,
              gw_out, h);
  for (int j = 0; j < n; ++j)
    for (int c = 0; c < d; ++c) gb_out[c] += dout[static_cast<size_t>(j) * ld + c];
  // This field's scratch: fields may run concurrently (DecodeBackward).
  std::vector<float>& d_act = d_act_[f];
  std::vector<float>& d_pre = d_pre_[f];
  d_act.resize(static_cast<size_t>(n) * h);
  d_pre.resize(static_cast<size_t>(n) * h);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, h, d, 1.0f, dout, ld, w_out, h, 0.0f,
              d_act.data(), h);
  std::vector<float> s1(h), s2(h);
  std::vector<double> global(synced ? 2 * static_cast<size_t>(h) : 0);
  // The keys the batch statistics are over (the global batch's with SyncBN).
  const float count = training ? saved[SavedFloats(k_, layers_, n, h) - 1] : 0.0f;
  for (int l = layers_ - 1; l >= 0; --l) {
    const float* xhat = saved + LayerBase(k_, n, h, l);
    const float* inv = xhat + 2 * static_cast<size_t>(n) * h + 2 * h;
    const float* gamma = w[l] + static_cast<size_t>(h) * in_w[l] + h;
    const float* beta = gamma + h;
    float* gb = gw[l] + static_cast<size_t>(h) * in_w[l];
    float* ggamma = gb + h;
    float* gbeta = ggamma + h;
    float* dz = d_pre.data();
    // dY = dAct · Mish'(y), y = γ·xhat + β; dγ = Σ dY·xhat, dβ = Σ dY;
    // dXhat = dY·γ.
    std::fill(s1.begin(), s1.end(), 0.0f);
    std::fill(s2.begin(), s2.end(), 0.0f);
    for (int j = 0; j < n; ++j) {
      const size_t r = static_cast<size_t>(j) * h;
      for (int c = 0; c < h; ++c) {
        const float dy = d_act[r + c] * MishGrad(gamma[c] * xhat[r + c] + beta[c]);
        ggamma[c] += dy * xhat[r + c];
        gbeta[c] += dy;
        const float dx = dy * gamma[c];
        dz[r + c] = dx;
        s1[c] += dx;
        s2[c] += dx * xhat[r + c];
      }
    }
    if (training) {
      if (synced) {
        // SyncBN: the sums over the global batch.
        for (int c = 0; c < h; ++c) {
          global[c] = s1[c];
          global[h + c] = s2[c];
        }
        if (SumOverWorkers(global))
          for (int c = 0; c < h; ++c) {
            s1[c] = static_cast<float>(global[c]);
            s2[c] = static_cast<float>(global[h + c]);
          }
      }
      // dZ = inv/N · (N·dXhat − Σ dXhat − xhat·Σ dXhat·xhat), N = count
      const float inv_n = 1.0f / count;
      for (int j = 0; j < n; ++j) {
        const size_t r = static_cast<size_t>(j) * h;
        for (int c = 0; c < h; ++c)
          dz[r + c] = inv[c] * (dz[r + c] - inv_n * (s1[c] + xhat[r + c] * s2[c]));
      }
    } else {
      for (int j = 0; j < n; ++j) {
        const size_t r = static_cast<size_t>(j) * h;
        for (int c = 0; c < h; ++c) dz[r + c] *= inv[c];
      }
    }
    const float* in =
        l == 0 ? saved : saved + LayerBase(k_, n, h, l - 1) + static_cast<size_t>(n) * h;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, h, in_w[l], n, 1.0f, dz, h, in, in_w[l],
                0.0f, gw[l], in_w[l]);
    for (int j = 0; j < n; ++j)
      for (int c = 0; c < h; ++c) gb[c] += dz[static_cast<size_t>(j) * h + c];
    if (l > 0)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, h, h, 1.0f, dz, h, w[l], h, 0.0f,
                  d_act.data(), h);
  }
  if (training) {
    // Running statistics: (1 − m)·r + m·batch, the variance unbiased.
    float* rs = buffers_.data() + buffer_off_[f];
    const float unbias = count > 1 ? count / (count - 1.0f) : 1.0f;
    for (int l = 0; l < layers_; ++l) {
      const float* mean = saved + LayerBase(k_, n, h, l) + 2 * static_cast<size_t>(n) * h;
      const float* var = mean + h;
      float* rm = rs + 2 * static_cast<size_t>(l) * h;
      float* rv = rm + h;
      for (int c = 0; c < h; ++c) {
        rm[c] = (1.0f - kBnMomentum) * rm[c] + kBnMomentum * mean[c];
        rv[c] = (1.0f - kBnMomentum) * rv[c] + kBnMomentum * var[c] * unbias;
      }
    }
  }
}

void DheEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                  const float* grad_out, FetchedRows* row_grads) {
  EnsureDense();
  const int n = plan.num_keys;
  const int nf = space_.num_fields();
  const int d = space_.dim;
  const uint64_t* e_rows = plan.rows[0].data();
  float* ge = row_grads->values[0].data();
  for (int i = 0; i < n; ++i) {
    float* r = ge + static_cast<size_t>(i) * d;
    if (e_rows[i] != kNoRow) {
      std::memcpy(r, grad_out + static_cast<size_t>(i) * d, d * sizeof(float));
    } else {
      std::fill(r, r + d, 0.0f);
    }
  }
  std::fill(grads_.begin(), grads_.end(), 0.0f);
  if (!plan.training) {
    // An evaluation plan kept no activations: recompute each field's.
    eval_out_.resize(static_cast<size_t>(n) * d);
    for (int f = 0; f < nf; ++f) {
      const int nk = FieldKeys(n, nf, f);
      if (width_[f] == 0 || nk == 0) continue;
      eval_saved_.resize(SavedFloats(k_, layers_, nk, width_[f]));
      ForwardField(f, plan.aux_index.data(), nk, false, true, false, eval_saved_.data(),
                   eval_out_.data());
      BackwardField(f, nk, false, false, eval_saved_.data(), grad_out);
    }
    return;
  }
  const bool synced = Synced(plan);
  std::vector<int> fields;
  std::vector<size_t> offs;
  TrainingBlocks(n, &fields, &offs);
  RunFields(fields.size(), synced, [&](size_t i) {
    BackwardField(fields[i], FieldKeys(n, nf, fields[i]), true, synced, plan.saved.data() + offs[i],
                  grad_out);
  });
}

MemoryReport DheEmbedding::Memory() const {
  MemoryReport r;
  r.parameter_bytes = 4ull * e_rows_ * static_cast<uint64_t>(space_.dim);
  for (int w : width_)
    if (w != 0) r.auxiliary_bytes += FieldBytes(k_, layers_, space_.dim, static_cast<uint64_t>(w));
  r.inference_bytes = r.parameter_bytes + r.auxiliary_bytes;
  return r;
}

uint64_t DheEmbedding::HashDigest() const {
  // A digest of the hash constants (derived from the seed) instead of the
  // 24k bytes per field: enough to refuse a checkpoint of another seed.
  uint64_t digest = 0;
  for (const FieldHashes& fh : hashes_)
    for (const std::vector<uint64_t>* v : {&fh.a, &fh.b, &fh.p})
      digest = digest * 0x100000001B3ull ^ Checksum64(v->data(), v->size() * sizeof(uint64_t));
  return digest;
}

std::string DheEmbedding::SaveState() const {
  BlobWriter w = hashing_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod<int32_t>(k_);
  w.Pod(m_);
  w.Pod<int32_t>(layers_);
  w.Pod<uint8_t>(gaussian_ ? 1 : 0);
  w.Vec(width_);
  const uint64_t digest = HashDigest();
  w.Pod(digest);
  return w.Finish();
}

Status DheEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(hashing_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  int32_t k = 0, layers = 0;
  uint64_t m = 0, digest = 0;
  uint8_t gaussian = 0;
  std::vector<int> width;
  if (!r.Pod(&k) || !r.Pod(&m) || !r.Pod(&layers) || !r.Pod(&gaussian) || !r.Vec(&width) ||
      !r.Pod(&digest))
    return r.Truncated();
  RETURN_IF_ERROR(hashing_internal::EndState(r));
  RETURN_IF_ERROR(CheckSame(kName, "num_hash", k, static_cast<int32_t>(k_)));
  RETURN_IF_ERROR(CheckSame(kName, "num_buckets", m, m_));
  RETURN_IF_ERROR(CheckSame(kName, "layers", layers, static_cast<int32_t>(layers_)));
  RETURN_IF_ERROR(
      CheckSame(kName, "dist (1 = gaussian)", gaussian, static_cast<uint8_t>(gaussian_ ? 1 : 0)));
  RETURN_IF_ERROR(CheckSame(kName, "the per-field widths", width, width_));
  return CheckSame(kName, "the hash constants' digest (another seed)", digest, HashDigest());
}

}  // namespace ecps
