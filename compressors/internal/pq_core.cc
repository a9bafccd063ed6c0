#include "compressors/internal/pq_core.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "common/rng.h"
#include "compressors/internal/kmeans.h"

namespace ecps::method_internal {

uint64_t PqBytes(uint64_t n, int d, int m, int bits) {
  return n * ((static_cast<uint64_t>(m) * bits + 7) / 8) +
         (uint64_t{1} << bits) * static_cast<uint64_t>(d) * 4;
}

uint32_t PqCore::Code(uint64_t row, int j) const {
  const uint8_t* c = codes.data() + row * RowBytes();
  if (bits == 8) return c[j];
  uint64_t bit = static_cast<uint64_t>(j) * bits;
  uint32_t v = 0;
  for (int got = 0; got < bits;) {
    const int shift = static_cast<int>(bit & 7);
    const int take = std::min(8 - shift, bits - got);
    v |= static_cast<uint32_t>((c[bit >> 3] >> shift) & ((1u << take) - 1)) << got;
    got += take;
    bit += take;
  }
  return v;
}

namespace {
// Codeword copies with the subspace width known at compile time (the usual
// widths): a call to memcpy per 1..16 floats costs more than the copy, and
// a fixed-size __builtin_memcpy is a few vector moves where a loop of float
// copies was compiled with alias checks (2.2x slower in vectors_bench).
template <int DS>
void CopyCodewords(const PqCore& pq, uint64_t row, float* out) {
  const uint64_t kk = pq.k();
  const float* c = pq.centroids.data();
  if (pq.bits == 8) {  // one byte per code: no unpacking
    const uint8_t* code = pq.codes.data() + row * pq.m;
    for (int j = 0; j < pq.m; ++j, c += kk * DS) {
      __builtin_memcpy(out + j * DS, c + code[j] * DS, DS * sizeof(float));
    }
    return;
  }
  for (int j = 0; j < pq.m; ++j) {
    __builtin_memcpy(out + j * DS, c + (j * kk + pq.Code(row, j)) * DS, DS * sizeof(float));
  }
}
}  // namespace

void PqCore::DecodeRow(uint64_t row, float* out) const {
  const int ds = dsub();
  switch (ds) {
    case 1:
      return CopyCodewords<1>(*this, row, out);
    case 2:
      return CopyCodewords<2>(*this, row, out);
    case 4:
      return CopyCodewords<4>(*this, row, out);
    case 8:
      return CopyCodewords<8>(*this, row, out);
    case 16:
      return CopyCodewords<16>(*this, row, out);
    default:
      break;
  }
  const uint64_t kk = k();
  for (int j = 0; j < m; ++j)
    std::memcpy(out + j * ds, centroids.data() + (j * kk + Code(row, j)) * ds, ds * sizeof(float));
}

namespace {
// A batch's code rows are random reads (n·m bytes, beyond the caches for
// large n): fetching the row of the id this many ahead hides their latency
// behind the copies. faiss's sa_decode times codes already gathered.
constexpr size_t kPrefetchAhead = 8;

template <int DS>
[[gnu::always_inline]] inline void Rows8(const float* centroids, const uint8_t* codes, int m,
                                         const uint64_t* ids, size_t n, float* out) {
  for (size_t k = 0; k < n; ++k) {
    if (k + kPrefetchAhead < n) __builtin_prefetch(codes + ids[k + kPrefetchAhead] * m);
    const uint8_t* code = codes + ids[k] * m;
    float* o = out + k * m * DS;
    const float* c = centroids;
    // A fixed-size memcpy: moves of the whole codeword (a loop of float
    // copies is compiled with alias checks or scalar moves).
    for (int j = 0; j < m; ++j, c += 256 * DS)
      __builtin_memcpy(o + j * DS, c + code[j] * DS, DS * sizeof(float));
  }
}

// Copies only, so both versions give the same bits.
#if defined(__x86_64__) && defined(__GNUC__)
template <int DS>
__attribute__((target("avx2"))) void Rows8Avx2(const float* centroids, const uint8_t* codes, int m,
                                               const uint64_t* ids, size_t n, float* out) {
  Rows8<DS>(centroids, codes, m, ids, n, out);
}
bool HasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#endif

template <int DS>
void Rows8Dispatch(const float* centroids, const uint8_t* codes, int m, const uint64_t* ids,
                   size_t n, float* out) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (HasAvx2()) return Rows8Avx2<DS>(centroids, codes, m, ids, n, out);
#endif
  Rows8<DS>(centroids, codes, m, ids, n, out);
}
}  // namespace

void PqCore::DecodeRows(std::span<const uint64_t> ids, float* out) const {
  if (bits == 8) {
    const float* c = centroids.data();
    const uint8_t* q = codes.data();
    switch (dsub()) {
      case 1:
        return Rows8Dispatch<1>(c, q, m, ids.data(), ids.size(), out);
      case 2:
        return Rows8Dispatch<2>(c, q, m, ids.data(), ids.size(), out);
      case 4:
        return Rows8Dispatch<4>(c, q, m, ids.data(), ids.size(), out);
      case 8:
        return Rows8Dispatch<8>(c, q, m, ids.data(), ids.size(), out);
      case 16:
        return Rows8Dispatch<16>(c, q, m, ids.data(), ids.size(), out);
      default:
        break;
    }
  }
  for (size_t k = 0; k < ids.size(); ++k) DecodeRow(ids[k], out + k * dim);
}

void PqCore::Save(BlobWriter* w) const {
  w->Pod<int32_t>(m);
  w->Pod<int32_t>(bits);
  w->Pod<uint64_t>(n);
  w->Vec(centroids);
  w->Vec(codes);
}

Status PqCore::Load(BlobReader* r, int d) {
  int32_t mm, bb;
  if (!r->Pod(&mm) || !r->Pod(&bb) || !r->Pod(&n) || !r->Vec(&centroids) || !r->Vec(&codes))
    return r->Truncated();
  dim = d;
  m = mm;
  bits = bb;
  if (m < 1 || m > d || d % m != 0 || bits < 1 || bits > 16)
    return DataLoss("PQ of m=", m, " bits=", bits, " at dimension ", d);
  if (centroids.size() != k() * d || codes.size() != n * RowBytes())
    return DataLoss("PQ arrays of ", centroids.size(), " centroid floats and ", codes.size(),
                    " code bytes do not fit m=", m, " bits=", bits, " n=", n);
  return OkStatus();
}

void PqCore::DecodeCodes(const uint32_t* row_codes, float* out) const {
  const int ds = dsub();
  const uint64_t kk = k();
  for (int j = 0; j < m; ++j)
    std::memcpy(out + j * ds, centroids.data() + (j * kk + row_codes[j]) * ds, ds * sizeof(float));
}

void PqCore::EncodeRows(const float* rows, uint64_t count, ForkJoinPool* pool) {
  const int ds = dsub();
  const uint64_t kk = k();
  const uint64_t rb = RowBytes();
  const uint64_t first = n;
  codes.resize((n + count) * rb, 0);
  n += count;
  std::vector<uint32_t> assign(count);
  for (int j = 0; j < m; ++j) {
    const NearestCentroids nearest(centroids.data() + j * kk * ds, kk, ds);
    constexpr uint64_t kBlock = 4096;
    const uint64_t blocks = (count + kBlock - 1) / kBlock;
    auto encode = [&](size_t b) {
      std::vector<float> v(ds);
      for (uint64_t i = b * kBlock; i < std::min(count, (b + 1) * kBlock); ++i) {
        std::memcpy(v.data(), rows + i * dim + j * ds, ds * sizeof(float));
        assign[i] = nearest.Nearest(v.data());
      }
    };
    if (pool != nullptr) {
      pool->Run(blocks, encode);
    } else {
      for (uint64_t b = 0; b < blocks; ++b) encode(b);
    }
    // Pack subspace j's codes (sequentially: rows share bytes).
    for (uint64_t i = 0; i < count; ++i) {
      uint8_t* dst = codes.data() + (first + i) * rb;
      uint64_t bit = static_cast<uint64_t>(j) * bits;
      for (int put = 0; put < bits;) {
        const int shift = static_cast<int>(bit & 7);
        const int take = std::min(8 - shift, bits - put);
        dst[bit >> 3] |= static_cast<uint8_t>(((assign[i] >> put) & ((1u << take) - 1)) << shift);
        put += take;
        bit += take;
      }
    }
  }
}

std::vector<uint64_t> PqSampleRows(uint64_t n, uint64_t sample, uint64_t seed) {
  std::vector<uint64_t> rows(n);
  std::iota(rows.begin(), rows.end(), uint64_t{0});
  const uint64_t s = std::min<uint64_t>(sample, n);
  Rng rng(seed);
  for (uint64_t i = 0; i < s && s < n; ++i) std::swap(rows[i], rows[i + rng.Below(n - i)]);
  rows.resize(s);
  std::sort(rows.begin(), rows.end());
  return rows;
}

PqCore TrainPqCodebooks(const float* sample, uint64_t s, int dim, int m, int bits, int iters,
                        uint64_t seed, ForkJoinPool* pool,
                        const std::function<void(double)>& progress) {
  PqCore pq;
  pq.dim = dim;
  pq.m = m;
  pq.bits = bits;
  const int ds = pq.dsub();
  const uint64_t k = pq.k();
  pq.centroids.resize(static_cast<uint64_t>(m) * k * ds);
  std::vector<float> points(s * ds);
  for (int j = 0; j < m; ++j) {
    for (uint64_t i = 0; i < s; ++i)
      std::memcpy(points.data() + i * ds, sample + i * dim + j * ds, ds * sizeof(float));
    const std::vector<float> c = KMeans(points, s, ds, k, iters, seed * 1000003 + j, pool);
    std::copy(c.begin(), c.end(), pq.centroids.begin() + j * k * ds);
    if (progress) progress(static_cast<double>(j + 1) / m);
  }
  return pq;
}

PqCore TrainPq(const float* x, uint64_t n, int dim, int m, int bits, uint64_t sample, int iters,
               uint64_t seed, ForkJoinPool* pool, const std::function<void(double)>& progress) {
  const std::vector<uint64_t> rows = PqSampleRows(n, sample, seed);
  std::vector<float> points(rows.size() * dim);
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(points.data() + i * dim, x + rows[i] * dim, dim * sizeof(float));
  // The codebooks are most of the work; the encoding the last step.
  PqCore pq =
      TrainPqCodebooks(points.data(), rows.size(), dim, m, bits, iters, seed, pool, [&](double f) {
        if (progress) progress(0.9 * f);
      });
  pq.EncodeRows(x, n, pool);
  if (progress) progress(1.0);
  return pq;
}

}  // namespace ecps::method_internal
