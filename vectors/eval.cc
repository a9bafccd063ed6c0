#include "vectors/eval.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <queue>

#include "common/rng.h"

namespace ecps::vectors {

std::vector<uint32_t> ExactKnn(const VectorSet& base, const VectorSet& queries, int k) {
  const int d = base.dim;
  std::vector<float> norms(base.n);
  for (uint64_t i = 0; i < base.n; ++i) {
    float s = 0;
    for (int j = 0; j < d; ++j) s += base.row(i)[j] * base.row(i)[j];
    norms[i] = s;
  }
  // ‖x‖² − 2·q·x orders the rows as ‖q − x‖² does; the products come from
  // one GEMM per block of queries and rows.
  constexpr uint64_t kQ = 64, kRows = 8192;
  std::vector<uint32_t> out(queries.n * k);
  std::vector<float> dots(kQ * kRows);
  using Entry = std::pair<float, uint32_t>;  // max-heap: the worst kept on top
  for (uint64_t q0 = 0; q0 < queries.n; q0 += kQ) {
    const uint64_t nq = std::min(kQ, queries.n - q0);
    std::vector<std::priority_queue<Entry>> heaps(nq);
    for (uint64_t r0 = 0; r0 < base.n; r0 += kRows) {
      const uint64_t nr = std::min(kRows, base.n - r0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nq),
                  static_cast<int>(nr), d, 1.0f, queries.row(q0), d, base.row(r0), d, 0.0f,
                  dots.data(), static_cast<int>(nr));
      for (uint64_t q = 0; q < nq; ++q) {
        auto& h = heaps[q];
        for (uint64_t r = 0; r < nr; ++r) {
          const Entry e{norms[r0 + r] - 2 * dots[q * nr + r], static_cast<uint32_t>(r0 + r)};
          if (static_cast<int>(h.size()) < k) {
            h.push(e);
          } else if (e < h.top()) {
            h.pop();
            h.push(e);
          }
        }
      }
    }
    for (uint64_t q = 0; q < nq; ++q)
      for (int i = k - 1; i >= 0; --i) {
        out[(q0 + q) * k + i] = heaps[q].top().second;
        heaps[q].pop();
      }
  }
  return out;
}

VectorSet DecodeAll(const VectorCodec& codec) {
  VectorSet v;
  v.n = codec.rows();
  v.dim = codec.dim();
  v.values.resize(v.n * v.dim);
  constexpr uint64_t kBatch = 1024;
  std::vector<uint64_t> ids(kBatch);
  for (uint64_t r0 = 0; r0 < v.n; r0 += kBatch) {
    const uint64_t nb = std::min(kBatch, v.n - r0);
    for (uint64_t i = 0; i < nb; ++i) ids[i] = r0 + i;
    codec.Decode(std::span<const uint64_t>(ids.data(), nb), v.values.data() + r0 * v.dim);
  }
  return v;
}

EvalReport Evaluate(const VectorSet& original, const VectorCodec& codec, const VectorSet& queries,
                    const EvalOptions& o) {
  EvalReport r;
  const VectorSet decoded = DecodeAll(codec);
  double err = 0, energy = 0;
  for (uint64_t i = 0; i < original.values.size(); ++i) {
    const double t = static_cast<double>(original.values[i]) - decoded.values[i];
    err += t * t;
    energy += static_cast<double>(original.values[i]) * original.values[i];
  }
  r.mse = err / static_cast<double>(original.values.size());
  r.rel_mse = energy > 0 ? err / energy : 0;
  const int k = static_cast<int>(std::min<uint64_t>(o.k, original.n));
  const std::vector<uint32_t> truth = ExactKnn(original, queries, k);
  const std::vector<uint32_t> got = ExactKnn(decoded, queries, k);
  uint64_t hits = 0;
  for (uint64_t q = 0; q < queries.n; ++q)
    for (int a = 0; a < k; ++a)
      for (int b = 0; b < k; ++b) hits += truth[q * k + a] == got[q * k + b];
  r.recall = static_cast<double>(hits) / (static_cast<double>(queries.n) * k);
  // Decode latency: random ids (as a retriever's top-k passages), a batch
  // at a time into one buffer.
  Rng rng(o.seed);
  std::vector<uint64_t> ids(o.batch);
  std::vector<float> out(static_cast<size_t>(o.batch) * codec.dim());
  double seconds = 0;
  for (int b = 0; b < o.warmup + o.timed; ++b) {
    for (uint64_t& id : ids) id = rng.Below(codec.rows());
    const auto t0 = std::chrono::steady_clock::now();
    codec.Decode(ids, out.data());
    const auto t1 = std::chrono::steady_clock::now();
    if (b >= o.warmup) seconds += std::chrono::duration<double>(t1 - t0).count();
  }
  r.decode_us_per_batch = o.timed > 0 ? seconds / o.timed * 1e6 : 0;
  r.decode_ns_per_vector = r.decode_us_per_batch * 1e3 / o.batch;
  r.memory_bytes = codec.MemoryBytes();
  r.ratio = codec.Ratio();
  return r;
}

}  // namespace ecps::vectors
