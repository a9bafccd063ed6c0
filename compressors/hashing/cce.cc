#include "compressors/hashing/cce.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/cpu.h"
#include "common/fork_join.h"
#include "common/logging.h"
#include "common/rng.h"
#include "compressors/internal/kmeans.h"

namespace ecps {

using hashing_internal::CheckSame;
using hashing_internal::UniversalHash;

namespace {

// Seed tags (hashing_internal::MethodSeed) of the initial codes, the second
// hashes (+ the stage), the clusterings' sampling and k-means (+ the stage).
constexpr uint64_t kTagCodes = 0xCCE0;
constexpr uint64_t kTagSecond = 0xCCE1ull << 20;
constexpr uint64_t kTagCluster = 0xCCE2ull << 20;
// Rows per RowAccess call.
constexpr uint64_t kChunkRows = 1 << 16;
// Features per pool item of the assignment pass.
constexpr uint64_t kAssignBlock = 8192;

}  // namespace

ParamSchema CceEmbedding::Schema() {
  ParamSchema s;
  s.Int("chunks", 0, 0, 1024,
        "columns c: the d-vector is cut into c chunks of d/c, each the sum of a clustered and a "
        "hashed row (must divide embedding.dim); 0 = from the budget: the largest divisor of d "
        "up to the reference's 4 whose codes (one bit per feature and column at least) take at "
        "most a quarter of the budget, c <= 8*d*budget");
  s.Int("rows", 0, 0, int64_t{1} << 31,
        "rows per column of each compressed field's two tables (0 = from the budget)");
  s.Int("clusterings", 3, 0, 1000,
        "number of clusterings: the stage plan is train, then one stage per clustering (the "
        "reference: 7, after each of its first 7 of 10 epochs)");
  s.Int("stage_evals", 1, 0, 1000000,
        "a stage that a clustering follows ends after this many evaluations (0 = when the "
        "trainer ends it: train.epochs, train.max_steps or early stopping)");
  s.String("schedule", "continue",
           "continue: the stages share one pass over the data (train.epochs bounds them "
           "together; with the defaults a clustering at each of the first epoch's evaluations); "
           "epochs: every stage is its own run of train.epochs (the reference's, with "
           "stage_evals=0)",
           {"continue", "epochs"});
  s.Int("kmeans_iters", 100, 1, 100000, "k-means iterations per clustering of a column");
  s.Int("sample_factor", 200, 1, 1000000,
        "k-means runs on at most sample_factor * k_f sampled features of the field");
  return s;
}

std::unique_ptr<Compressor> CceEmbedding::Create() { return std::make_unique<CceEmbedding>(); }

int CceEmbedding::CodeBits(uint64_t k) {
  int b = 1;
  while (b < 64 && (uint64_t{1} << b) < k) ++b;
  return b;
}

uint64_t CceEmbedding::CompressedBytes(uint64_t n, uint64_t k, int c, int d) {
  const uint64_t code_bits = n * static_cast<uint64_t>(c) * CodeBits(k);
  return 8 * k * static_cast<uint64_t>(d) + 8 * ((code_bits + 63) / 64) +
         16 * static_cast<uint64_t>(c) + 4;
}

int CceEmbedding::AutoChunks(int dim, double budget) {
  // Every feature stores at least one code bit per column, c/(32d) of the
  // full table: at 1% and d = 16 the reference's c = 4 spends 0.78% on codes
  // and leaves the tables two rows per column (test AUC 0.70 against 0.73
  // with c = 1 on the generated 2M-row set). The codes get at most a quarter
  // of the budget; 4 (the reference's) wherever that allows it.
  int best = 1;
  for (int c = 1; c <= std::min(4, dim); ++c)
    if (dim % c == 0 && static_cast<double>(c) <= 8.0 * dim * budget) best = c;
  return best;
}

Status CceEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(hashing_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  seed_ = ctx.seed;
  init_bound_ = hashing_internal::InitBound(space_);
  chunks_ = static_cast<int>(params.GetInt("chunks"));
  const int d = space_.dim;
  if (chunks_ == 0) chunks_ = AutoChunks(d, ctx.budget);
  if (d % chunks_ != 0)
    return InvalidArgument(kName, ": embedding.params.chunks = ", chunks_,
                           " does not divide embedding.dim = ", d);
  width_ = d / chunks_;
  clusterings_ = static_cast<int>(params.GetInt("clusterings"));
  stage_evals_ = static_cast<int>(params.GetInt("stage_evals"));
  continue_data_ = params.GetString("schedule") == "continue";
  kmeans_iters_ = static_cast<int>(params.GetInt("kmeans_iters"));
  sample_factor_ = static_cast<int>(params.GetInt("sample_factor"));
  const uint64_t fixed_rows = static_cast<uint64_t>(params.GetInt("rows"));

  const int nf = space_.num_fields();
  const std::vector<uint64_t>& n = space_.cardinalities;
  auto full_bytes = [&](int f) { return 4 * n[f] * static_cast<uint64_t>(d); };
  auto compressed = [&](int f, uint64_t k) { return CompressedBytes(n[f], k, chunks_, d); };
  // A field is compressed with k rows per column only where that is smaller
  // than its full table.
  auto field_k = [&](int f, uint64_t k) -> uint64_t {
    return compressed(f, k) < full_bytes(f) ? k : 0;
  };
  auto field_bytes = [&](int f, uint64_t k) { return k == 0 ? full_bytes(f) : compressed(f, k); };
  k_.assign(nf, 0);
  if (fixed_rows > 0) {
    for (int f = 0; f < nf; ++f) k_[f] = field_k(f, fixed_rows);
  } else {
    const uint64_t budget = hashing_internal::BudgetBytes(space_, ctx.budget);
    // total(k) = sum_f min(full_f, compressed_f(k)) does not decrease with k,
    // so the largest shared k that fits is found by bisection.
    auto total = [&](uint64_t k) {
      uint64_t t = 0;
      for (int f = 0; f < nf; ++f) t += field_bytes(f, field_k(f, k));
      return t;
    };
    uint64_t k = 1;
    if (total(1) <= budget) {
      uint64_t lo = 1, hi = space_.max_cardinality() + 1;
      while (hi - lo > 1) {
        const uint64_t mid = lo + (hi - lo) / 2;
        (total(mid) <= budget ? lo : hi) = mid;
      }
      k = lo;
    }
    uint64_t used = 0;
    for (int f = 0; f < nf; ++f) {
      k_[f] = field_k(f, k);
      used += field_bytes(f, k_[f]);
    }
    // The slack (under one row per field, or a code bit more per feature)
    // goes to the largest fields first: a full table if it fits, else as
    // many more rows as fit.
    std::vector<int> order(nf);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return n[a] > n[b]; });
    for (int f : order) {
      if (used >= budget) break;
      if (k_[f] == 0) continue;
      const uint64_t slack = budget - used, now = compressed(f, k_[f]);
      if (full_bytes(f) - now <= slack) {
        used += full_bytes(f) - now;
        k_[f] = 0;
        continue;
      }
      uint64_t lo = k_[f], hi = n[f];
      while (hi - lo > 1) {
        const uint64_t mid = lo + (hi - lo) / 2;
        const uint64_t b = compressed(f, mid);
        (b - now <= slack && b < full_bytes(f) ? lo : hi) = mid;
      }
      used += compressed(f, lo) - now;
      k_[f] = lo;
    }
  }
  Layout();
  h0_.assign(static_cast<size_t>(nf) * chunks_, UniversalHash{});
  const uint64_t code_seed = hashing_internal::MethodSeed(seed_, kTagCodes);
  for (int f = 0; f < nf; ++f)
    for (int i = 0; i < chunks_; ++i)
      h0_[static_cast<size_t>(f) * chunks_ + i] =
          hashing_internal::DrawUniversalHash(code_seed, f * chunks_ + i);
  codes_.clear();
  stage_ = 0;
  evals_in_stage_ = 0;
  SetSecondHashes(0);
  pending_stage_ = 0;
  pending_codes_.clear();
  pending_t0_.clear();
  pending_t1_.clear();
  return OkStatus();
}

void CceEmbedding::Layout() {
  const int nf = space_.num_fields();
  off_.assign(nf, 0);
  bits_.assign(nf, 0);
  code_bit_.assign(nf, 0);
  t_rows_ = e_rows_ = 0;
  uint64_t words = 0;
  for (int f = 0; f < nf; ++f) {
    const uint64_t n = space_.cardinalities[f], k = k_[f];
    if (k == 0) {
      off_[f] = e_rows_;
      e_rows_ += n;
      continue;
    }
    off_[f] = t_rows_;
    t_rows_ += static_cast<uint64_t>(chunks_) * k;
    bits_[f] = CodeBits(k);
    code_bit_[f] = 64 * words;  // each field's codes start on a word
    words += (n * chunks_ * bits_[f] + 63) / 64;
  }
  code_words_ = words;
}

uint32_t CceEmbedding::GetCode(const std::vector<uint64_t>& words, uint64_t bit, int bits) {
  const uint64_t w = bit >> 6;
  const int o = static_cast<int>(bit & 63);
  uint64_t v = words[w] >> o;
  if (o + bits > 64) v |= words[w + 1] << (64 - o);
  return static_cast<uint32_t>(v & ((uint64_t{1} << bits) - 1));
}

void CceEmbedding::SetCode(std::vector<uint64_t>* words, uint64_t bit, int bits, uint32_t v) {
  const uint64_t w = bit >> 6;
  const int o = static_cast<int>(bit & 63);
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  (*words)[w] = ((*words)[w] & ~(mask << o)) | (static_cast<uint64_t>(v) << o);
  if (o + bits > 64) {
    const int hi = 64 - o;
    (*words)[w + 1] = ((*words)[w + 1] & ~(mask >> hi)) | (static_cast<uint64_t>(v) >> hi);
  }
}

uint32_t CceEmbedding::code(int f, uint64_t x, int i) const {
  if (codes_.empty())
    return static_cast<uint32_t>(h0_[static_cast<size_t>(f) * chunks_ + i](x, k_[f]));
  return GetCode(codes_, code_bit_[f] + (x * chunks_ + i) * bits_[f], bits_[f]);
}

void CceEmbedding::SetSecondHashes(int stage) {
  const int nf = space_.num_fields();
  h1_.assign(static_cast<size_t>(nf) * chunks_, UniversalHash{});
  const uint64_t seed = hashing_internal::MethodSeed(seed_, kTagSecond + stage);
  for (int f = 0; f < nf; ++f)
    for (int i = 0; i < chunks_; ++i)
      h1_[static_cast<size_t>(f) * chunks_ + i] =
          hashing_internal::DrawUniversalHash(seed, f * chunks_ + i);
}

std::vector<RowTableSpec> CceEmbedding::Tables() const {
  std::vector<RowTableSpec> t(3);
  const char* names[3] = {"T0", "T1", "E"};
  const uint64_t rows[3] = {t_rows_, t_rows_, e_rows_};
  const int widths[3] = {width_, width_, space_.dim};
  for (int i = 0; i < 3; ++i) {
    t[i].name = names[i];
    t[i].rows = rows[i];
    t[i].width = widths[i];
    t[i].init_bound = init_bound_;
  }
  return t;
}

std::vector<StageSpec> CceEmbedding::Stages() const {
  std::vector<StageSpec> s = {StageSpec{"train"}};
  for (int j = 1; j <= clusterings_; ++j) {
    StageSpec spec{absl::StrCat("cluster_", j)};
    spec.continue_data = continue_data_;
    s.push_back(spec);
  }
  return s;
}

void CceEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  const int nf = space_.num_fields();
  const int c = chunks_;
  plan->Reset(n, 3);
  plan->per_key = {c, c, 1};
  plan->rows[0].resize(static_cast<size_t>(n) * c);
  plan->rows[1].resize(static_cast<size_t>(n) * c);
  plan->rows[2].resize(n);
  uint64_t* r0 = plan->rows[0].data();
  uint64_t* r1 = plan->rows[1].data();
  uint64_t* e = plan->rows[2].data();
  int f = 0;
  for (int p = 0; p < n; ++p, r0 += c, r1 += c) {
    const uint64_t x = keys[p];
    ECPS_DCHECK(x < space_.cardinalities[f]);
    const uint64_t k = k_[f];
    if (k == 0) {
      std::fill(r0, r0 + c, kNoRow);
      std::fill(r1, r1 + c, kNoRow);
      e[p] = off_[f] + x;
    } else {
      const int bits = bits_[f];
      const uint64_t bit = code_bit_[f] + x * c * bits;
      const UniversalHash* h = &h1_[static_cast<size_t>(f) * c];
      const UniversalHash* g = &h0_[static_cast<size_t>(f) * c];
      const bool hashed = codes_.empty();
      for (int i = 0; i < c; ++i) {
        const uint64_t base = off_[f] + static_cast<uint64_t>(i) * k;
        r0[i] = base + (hashed ? g[i](x, k)
                               : GetCode(codes_, bit + static_cast<uint64_t>(i) * bits, bits));
        r1[i] = base + h[i](x, k);
      }
      e[p] = kNoRow;
    }
    if (++f == nf) f = 0;
  }
}

void CceEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  // Each key's c rows of width w are its d floats in order, in every table.
  const size_t m = static_cast<size_t>(plan.num_keys) * space_.dim;
  const float* a = rows.values[0].data();
  const float* b = rows.values[1].data();
  const float* e = rows.values[2].data();
  for (size_t j = 0; j < m; ++j) out[j] = a[j] + b[j] + e[j];
}

void CceEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                  const float* grad_out, FetchedRows* row_grads) {
  const size_t m = static_cast<size_t>(plan.num_keys) * space_.dim;
  for (int t = 0; t < 3; ++t) std::copy(grad_out, grad_out + m, row_grads->values[t].data());
}

Status CceEmbedding::BeginStage(int index) {
  if (index < 1 || index > clusterings_)
    return InvalidArgument(kName, ": stage ", index, " is not in [1, ", clusterings_, "]");
  if (rows_ == nullptr) return FailedPrecondition(kName, ": no row access attached");
  pending_stage_ = 0;
  const auto start = std::chrono::steady_clock::now();
  const int w = width_, c = chunks_, nf = space_.num_fields();
  std::vector<float> t0(t_rows_ * w), t1(t_rows_ * w);
  for (uint64_t begin = 0; begin < t_rows_; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, t_rows_ - begin);
    RETURN_IF_ERROR(rows_->ReadRows(0, begin, count, t0.data() + begin * w));
    RETURN_IF_ERROR(rows_->ReadRows(1, begin, count, t1.data() + begin * w));
  }
  // Every code is rewritten below.
  std::vector<uint64_t> codes(code_words_, 0);
  std::vector<float> new_t0(t_rows_ * w), new_t1(t_rows_ * w);
  const uint64_t cluster_seed = hashing_internal::MethodSeed(seed_, kTagCluster + index);
  const uint64_t second_seed = hashing_internal::MethodSeed(seed_, kTagSecond + index);
  const int threads = UsableCpus();
  std::unique_ptr<ForkJoinPool> pool;
  if (threads > 1) pool = std::make_unique<ForkJoinPool>(threads);
  std::vector<uint32_t> assign;
  std::vector<float> points;
  std::vector<double> sums;
  std::vector<uint64_t> counts;
  for (int f = 0; f < nf; ++f) {
    const uint64_t k = k_[f], n = space_.cardinalities[f];
    if (k == 0) continue;
    for (int i = 0; i < c; ++i) {
      const uint64_t base = off_[f] + static_cast<uint64_t>(i) * k;
      const UniversalHash old_h1 = h1_[static_cast<size_t>(f) * c + i];
      const UniversalHash old_h0 = h0_[static_cast<size_t>(f) * c + i];
      const bool hashed = codes_.empty();
      const uint64_t bit0 = code_bit_[f] + static_cast<uint64_t>(i) * bits_[f];
      const uint64_t step = static_cast<uint64_t>(c) * bits_[f];
      // The feature's column vector before the clustering.
      auto vec = [&](uint64_t x, float* v) {
        const uint64_t h0 = hashed ? old_h0(x, k) : GetCode(codes_, bit0 + x * step, bits_[f]);
        const float* a = t0.data() + (base + h0) * w;
        const float* b = t1.data() + (base + old_h1(x, k)) * w;
        for (int j = 0; j < w; ++j) v[j] = a[j] + b[j];
      };
      // Sample min(n, sample_factor·k) features without replacement
      // (Knuth's selection sampling: in id order, each kept with
      // probability still-needed / still-left).
      const uint64_t seed = hashing_internal::MethodSeed(cluster_seed, f * c + i);
      const uint64_t m = std::min<uint64_t>(n, static_cast<uint64_t>(sample_factor_) * k);
      points.resize(m * w);
      Rng rng(seed);
      for (uint64_t x = 0, taken = 0; x < n && taken < m; ++x)
        if (m == n || rng.Below(n - x) < m - taken) vec(x, points.data() + w * taken++);
      const std::vector<float> centroids = method_internal::KMeans(
          points, m, w, k, kmeans_iters_, hashing_internal::MethodSeed(seed, 1), pool.get());
      // Every feature to its nearest centroid: the new h0.
      assign.resize(n);
      const uint64_t blocks = (n + kAssignBlock - 1) / kAssignBlock;
      const method_internal::NearestCentroids nearest(centroids.data(), k, w);
      auto item = [&](size_t blk) {
        std::vector<float> v(w);
        const uint64_t end = std::min(n, (blk + 1) * kAssignBlock);
        for (uint64_t x = blk * kAssignBlock; x < end; ++x) {
          vec(x, v.data());
          assign[x] = nearest.Nearest(v.data());
        }
      };
      if (pool != nullptr && blocks > 1) {
        pool->Run(blocks, item);
      } else {
        for (uint64_t blk = 0; blk < blocks; ++blk) item(blk);
      }
      // T0 = the centroids; T1 = the mean residual of each bucket of the
      // new h1 (0 for an empty bucket).
      const UniversalHash new_h1 = hashing_internal::DrawUniversalHash(second_seed, f * c + i);
      sums.assign(k * w, 0.0);
      counts.assign(k, 0);
      std::vector<float> v(w);
      for (uint64_t x = 0; x < n; ++x) {
        SetCode(&codes, bit0 + x * step, bits_[f], assign[x]);
        vec(x, v.data());
        const uint64_t r = new_h1(x, k);
        const float* cen = centroids.data() + static_cast<uint64_t>(assign[x]) * w;
        for (int j = 0; j < w; ++j) sums[r * w + j] += v[j] - cen[j];
        ++counts[r];
      }
      std::copy(centroids.begin(), centroids.end(), new_t0.begin() + base * w);
      for (uint64_t r = 0; r < k; ++r)
        for (int j = 0; j < w; ++j)
          new_t1[(base + r) * w + j] =
              counts[r] == 0 ? 0.0f
                             : static_cast<float>(sums[r * w + j] / static_cast<double>(counts[r]));
    }
  }
  // The clustering runs outside the stage's timed seconds: say what it cost.
  int fields = 0;
  for (uint64_t k : k_) fields += k != 0;
  ECPS_LOG_INFO("cce: clustering {} of {}: {} fields x {} columns in {:.2f} s", index, clusterings_,
                fields, c,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  pending_codes_ = std::move(codes);
  pending_t0_ = std::move(new_t0);
  pending_t1_ = std::move(new_t1);
  pending_stage_ = index;
  return OkStatus();
}

Status CceEmbedding::AfterStep(int64_t step) {
  if (pending_stage_ == 0) return OkStatus();
  if (rows_ == nullptr) return FailedPrecondition(kName, ": no row access attached");
  const int w = width_;
  for (uint64_t begin = 0; begin < t_rows_; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, t_rows_ - begin);
    RETURN_IF_ERROR(rows_->WriteRows(0, begin, count, pending_t0_.data() + begin * w));
    RETURN_IF_ERROR(rows_->WriteRows(1, begin, count, pending_t1_.data() + begin * w));
  }
  codes_.swap(pending_codes_);
  stage_ = pending_stage_;
  SetSecondHashes(stage_);
  evals_in_stage_ = 0;
  pending_stage_ = 0;
  std::vector<uint64_t>().swap(pending_codes_);
  std::vector<float>().swap(pending_t0_);
  std::vector<float>().swap(pending_t1_);
  return OkStatus();
}

bool CceEmbedding::StageComplete() {
  if (stage_evals_ == 0 || stage_ >= clusterings_) return false;
  return ++evals_in_stage_ >= stage_evals_;
}

MemoryReport CceEmbedding::Memory() const {
  MemoryReport m;
  m.parameter_bytes = 4ull * width_ * 2 * t_rows_ + 4ull * space_.dim * e_rows_;
  m.auxiliary_bytes = 8 * code_words_;
  for (uint64_t k : k_)
    if (k != 0) m.auxiliary_bytes += 16ull * chunks_ + 4;
  m.inference_bytes = m.parameter_bytes + m.auxiliary_bytes;
  return m;
}

std::string CceEmbedding::SaveState() const {
  BlobWriter w = hashing_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod<int32_t>(chunks_);
  w.Vec(k_);
  w.Pod<int32_t>(clusterings_);
  w.Pod<int32_t>(stage_);
  w.Pod<int32_t>(evals_in_stage_);
  // Before the first clustering the codes are Init's hashes: not saved.
  w.Pod<uint8_t>(codes_.empty() ? 0 : 1);
  if (!codes_.empty()) w.Vec(codes_);
  return w.Finish();
}

Status CceEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(hashing_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  int32_t chunks = 0, clusterings = 0, stage = 0, evals = 0;
  std::vector<uint64_t> k;
  uint8_t has_codes = 0;
  std::vector<uint64_t> codes;
  if (!r.Pod(&chunks) || !r.Vec(&k) || !r.Pod(&clusterings) || !r.Pod(&stage) || !r.Pod(&evals) ||
      !r.Pod(&has_codes))
    return r.Truncated();
  if (has_codes > 1) return DataLoss(kName, " state: a codes flag of ", int{has_codes});
  if (has_codes == 1 && !r.Vec(&codes)) return r.Truncated();
  RETURN_IF_ERROR(hashing_internal::EndState(r));
  RETURN_IF_ERROR(CheckSame(kName, "chunks", chunks, static_cast<int32_t>(chunks_)));
  RETURN_IF_ERROR(CheckSame(kName, "the per-field rows per column", k, k_));
  RETURN_IF_ERROR(CheckSame(kName, "clusterings", clusterings, static_cast<int32_t>(clusterings_)));
  if (stage < 0 || stage > clusterings || evals < 0)
    return DataLoss(kName, " state: stage ", stage, " (", evals, " evaluations) outside [0, ",
                    clusterings, "]");
  if ((has_codes == 1) != (stage > 0 && code_words_ > 0))
    return DataLoss(kName, " state: stage ", stage, (has_codes ? " with" : " without"), " codes");
  if (has_codes == 1) {
    RETURN_IF_ERROR(CheckSame(kName, "the number of code words",
                              static_cast<uint64_t>(codes.size()), code_words_));
    // Every code must name a row of its field (a code has room for up to
    // 2^bits - 1).
    for (int f = 0; f < space_.num_fields(); ++f) {
      if (k_[f] == 0) continue;
      const uint64_t entries = space_.cardinalities[f] * chunks_;
      for (uint64_t j = 0; j < entries; ++j)
        if (GetCode(codes, code_bit_[f] + j * bits_[f], bits_[f]) >= k_[f])
          return DataLoss(kName, " state: a code of field ", f, " is not below its ", k_[f],
                          " rows");
    }
    codes_ = std::move(codes);
  } else {
    codes_.clear();
  }
  stage_ = stage;
  evals_in_stage_ = evals;
  SetSecondHashes(stage_);
  pending_stage_ = 0;
  std::vector<uint64_t>().swap(pending_codes_);
  std::vector<float>().swap(pending_t0_);
  std::vector<float>().swap(pending_t1_);
  return OkStatus();
}

}  // namespace ecps
