#include "vectors/internal/pq_core.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "common/rng.h"
#include "compressors/internal/kmeans.h"

namespace ecps::vectors::internal {

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
// widths): a call to memcpy per 1..16 floats costs more than the copy.
template <int DS>
void CopyCodewords(const PqCore& pq, uint64_t row, float* out) {
  const uint64_t kk = pq.k();
  const float* c = pq.centroids.data();
  if (pq.bits == 8) {  // one byte per code: no unpacking
    const uint8_t* code = pq.codes.data() + row * pq.m;
    for (int j = 0; j < pq.m; ++j, c += kk * DS) {
      const float* src = c + code[j] * DS;
      for (int t = 0; t < DS; ++t) out[j * DS + t] = src[t];
    }
    return;
  }
  for (int j = 0; j < pq.m; ++j) {
    const float* src = c + (j * kk + pq.Code(row, j)) * DS;
    for (int t = 0; t < DS; ++t) out[j * DS + t] = src[t];
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

PqCore TrainPq(const VectorSet& x, int m, int bits, uint64_t sample, int iters, uint64_t seed,
               ForkJoinPool* pool, const std::function<void(double)>& progress) {
  PqCore pq;
  pq.dim = x.dim;
  pq.m = m;
  pq.bits = bits;
  pq.n = x.n;
  const int ds = pq.dsub();
  const uint64_t k = pq.k();
  // The training sample: a seeded partial Fisher-Yates draw, in row order
  // (faiss trains on a random subset of at most 256 points per centroid).
  std::vector<uint32_t> rows(x.n);
  std::iota(rows.begin(), rows.end(), 0u);
  const uint64_t s = std::min<uint64_t>(sample, x.n);
  Rng rng(seed);
  for (uint64_t i = 0; i < s && s < x.n; ++i) std::swap(rows[i], rows[i + rng.Below(x.n - i)]);
  rows.resize(s);
  std::sort(rows.begin(), rows.end());
  pq.centroids.resize(static_cast<uint64_t>(m) * k * ds);
  pq.codes.assign(x.n * pq.RowBytes(), 0);
  std::vector<float> points(s * ds);
  std::vector<uint32_t> assign(x.n);
  for (int j = 0; j < m; ++j) {
    for (uint64_t i = 0; i < s; ++i)
      std::memcpy(points.data() + i * ds, x.row(rows[i]) + j * ds, ds * sizeof(float));
    const std::vector<float> c =
        method_internal::KMeans(points, s, ds, k, iters, seed * 1000003 + j, pool);
    std::copy(c.begin(), c.end(), pq.centroids.begin() + j * k * ds);
    const method_internal::NearestCentroids nearest(c.data(), k, ds);
    constexpr uint64_t kBlock = 4096;
    const uint64_t blocks = (x.n + kBlock - 1) / kBlock;
    auto encode = [&](size_t b) {
      std::vector<float> v(ds);
      for (uint64_t i = b * kBlock; i < std::min(x.n, (b + 1) * kBlock); ++i) {
        std::memcpy(v.data(), x.row(i) + j * ds, ds * sizeof(float));
        assign[i] = nearest.Nearest(v.data());
      }
    };
    if (pool != nullptr) {
      pool->Run(blocks, encode);
    } else {
      for (uint64_t b = 0; b < blocks; ++b) encode(b);
    }
    // Pack subspace j's codes (sequentially: rows share bytes).
    const uint64_t rb = pq.RowBytes();
    for (uint64_t i = 0; i < x.n; ++i) {
      uint8_t* dst = pq.codes.data() + i * rb;
      uint64_t bit = static_cast<uint64_t>(j) * bits;
      for (int put = 0; put < bits;) {
        const int shift = static_cast<int>(bit & 7);
        const int take = std::min(8 - shift, bits - put);
        dst[bit >> 3] |= static_cast<uint8_t>(((assign[i] >> put) & ((1u << take) - 1)) << shift);
        put += take;
        bit += take;
      }
    }
    if (progress) progress(static_cast<double>(j + 1) / m);
  }
  return pq;
}

}  // namespace ecps::vectors::internal
