// Every codec of docs/methods.md §6 against a naive reference: decode of
// encode, exact memory, the budget solvers, and the compressed file.
#include "vectors/codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>

#include "common/file_util.h"
#include "common/rng.h"
#include "tests/vectors/test_util.h"
#include "vectors/eval.h"
#include "vectors/internal/methods.h"
#include "vectors/internal/pq_core.h"

namespace ecps::vectors {
namespace {

using ::testing::HasSubstr;
using testing::RandomVectors;
using testing::TempDir;

std::unique_ptr<VectorCodec> MustCompress(const VectorSet& x, const std::string& method,
                                          double budget, CodecParams params = {}) {
  CompressOptions o;
  o.budget = budget;
  o.params = std::move(params);
  o.seed = 7;
  StatusOr<std::unique_ptr<VectorCodec>> c = Compress(x, method, o);
  EXPECT_TRUE(c.ok()) << method << ": " << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

CodecParams Params(std::map<std::string, std::string> kv) { return CodecParams(std::move(kv)); }

double SquaredError(const VectorSet& a, const VectorSet& b) {
  double e = 0;
  for (size_t i = 0; i < a.values.size(); ++i) {
    const double t = static_cast<double>(a.values[i]) - b.values[i];
    e += t * t;
  }
  return e;
}

// §6.1: q = clamp(floor((x − middle)/s + u)), u drawn per element in order
// from Rng(seed); decode q·s + middle.
TEST(ScalarCodecTest, MatchesTheNaiveQuantiser) {
  const VectorSet x = RandomVectors(50, 16, 1);
  for (int bits : {8, 16}) {
    const std::string method = bits == 8 ? "int8" : "int16";
    std::unique_ptr<VectorCodec> c = MustCompress(x, method, 0.5);
    ASSERT_NE(c, nullptr);
    const auto [lo, hi] = std::minmax_element(x.values.begin(), x.values.end());
    const float s = static_cast<float>((double{*hi} - *lo) / (std::ldexp(1.0, bits) - 1));
    const float m = static_cast<float>((double{*lo} + *hi) / 2);
    Rng rng(7);
    const VectorSet d = DecodeAll(*c);
    for (size_t i = 0; i < x.values.size(); ++i) {
      float q = std::floor((x.values[i] - m) / s + rng.UniformFloat());
      q = std::clamp(q, -std::ldexp(1.0f, bits - 1), std::ldexp(1.0f, bits - 1) - 1);
      ASSERT_EQ(d.values[i], q * s + m) << method << " value " << i;
    }
    EXPECT_EQ(c->MemoryBytes(), 50u * 16 * bits / 8 + 8);
    // Stochastic rounding: within one step of the original.
    for (size_t i = 0; i < x.values.size(); ++i) ASSERT_LE(std::fabs(d.values[i] - x.values[i]), s);
  }
}

// range=per_dim rounding=nearest (faiss SQ8's quantiser): per dimension
// s_j = (max_j − min_j)/(2^b − 1), middle_j the midpoint, q = ⌊v + 1/2⌋.
TEST(ScalarCodecTest, PerDimensionNearestMatchesTheNaiveQuantiser) {
  VectorSet x = RandomVectors(60, 6, 11);
  for (uint64_t i = 0; i < x.n; ++i) x.values[i * 6 + 2] *= 40;  // one wide dimension
  std::unique_ptr<VectorCodec> c =
      MustCompress(x, "int8", 0.5, Params({{"range", "per_dim"}, {"rounding", "nearest"}}));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->MemoryBytes(), 60u * 6 + 2 * 6 * 4);
  const VectorSet d = DecodeAll(*c);
  for (int j = 0; j < 6; ++j) {
    double lo = INFINITY, hi = -INFINITY;
    for (uint64_t i = 0; i < x.n; ++i)
      lo = std::min<double>(lo, x.row(i)[j]), hi = std::max<double>(hi, x.row(i)[j]);
    const float s = static_cast<float>((hi - lo) / 255), m = static_cast<float>((lo + hi) / 2);
    for (uint64_t i = 0; i < x.n; ++i) {
      const float q = std::clamp(std::floor((x.row(i)[j] - m) / s + 0.5f), -128.0f, 127.0f);
      ASSERT_EQ(d.row(i)[j], q * s + m) << i << " " << j;
      ASSERT_LE(std::fabs(d.row(i)[j] - x.row(i)[j]), s / 2 * 1.0001);
    }
  }
  CompressOptions o;
  o.params = Params({{"range", "per_row"}});
  EXPECT_THAT(std::string(Compress(x, "int8", o).status().message()),
              HasSubstr("one of global, per_dim"));
}

TEST(ScalarCodecTest, FixedScaleClipsToTheCodeRange) {
  VectorSet x = RandomVectors(4, 4, 1);
  x.values[0] = 100;
  std::unique_ptr<VectorCodec> c = MustCompress(x, "int8", 0.25, Params({{"scale", "0.01"}}));
  ASSERT_NE(c, nullptr);
  const VectorSet d = DecodeAll(*c);
  EXPECT_FLOAT_EQ(d.values[0], 127 * 0.01f);
  CompressOptions o;
  o.params = Params({{"bits", "4"}});
  EXPECT_THAT(std::string(Compress(x, "int8", o).status().message()), HasSubstr("--param bits"));
}

// §6.2: every code is the nearest centroid of its subspace (brute force), and
// a row decodes to its codewords, for byte-aligned and packed widths.
TEST(PqCodecTest, CodesAreTheNearestCentroids) {
  const VectorSet x = RandomVectors(300, 12, 2);
  for (int bits : {8, 5, 9}) {
    for (int m : {3, 4}) {
      const internal::PqCore pq = internal::TrainPq(x, m, bits, 1 << 20, 4, 3, nullptr, {});
      EXPECT_EQ(pq.MemoryBytes(), 300 * ((m * bits + 7) / 8) + (1u << bits) * 12 * 4);
      EXPECT_EQ(pq.MemoryBytes(), internal::PqBytes(300, 12, m, bits));
      const int ds = 12 / m;
      std::vector<float> row(12);
      for (uint64_t i = 0; i < x.n; ++i) {
        pq.DecodeRow(i, row.data());
        for (int j = 0; j < m; ++j) {
          uint32_t best = 0;
          float best_d = 0;
          for (uint32_t c = 0; c < pq.k(); ++c) {
            float s = 0;
            for (int t = 0; t < ds; ++t) {
              const float u = x.row(i)[j * ds + t] - pq.centroids[(j * pq.k() + c) * ds + t];
              s += u * u;
            }
            if (c == 0 || s < best_d) best = c, best_d = s;
          }
          ASSERT_EQ(pq.Code(i, j), best) << "bits " << bits << " m " << m << " row " << i;
          for (int t = 0; t < ds; ++t)
            ASSERT_EQ(row[j * ds + t], pq.centroids[(j * pq.k() + best) * ds + t]);
        }
      }
    }
  }
}

// The batched decode (8-bit codes: one loop per subspace width, AVX2 where
// the CPU has it, prefetching ahead) writes exactly the codewords, at every
// width it specialises and the generic ones.
TEST(PqCodecTest, BatchedDecodeIsTheCodewords) {
  const VectorSet x = RandomVectors(400, 48, 5);
  Rng rng(1);
  std::vector<uint64_t> ids(37);
  for (uint64_t& id : ids) id = rng.Below(x.n);
  ids[3] = ids[4];  // a repeated id
  for (int bits : {8, 5}) {
    for (int m : {48, 24, 16, 12, 6, 3}) {  // widths 1, 2, 3, 4, 8, 16
      const internal::PqCore pq = internal::TrainPq(x, m, bits, 1 << 20, 2, 3, nullptr, {});
      const int ds = 48 / m;
      std::vector<float> got(ids.size() * 48, -1.0f);
      pq.DecodeRows(ids, got.data());
      for (size_t k = 0; k < ids.size(); ++k)
        for (int j = 0; j < m; ++j)
          for (int t = 0; t < ds; ++t)
            ASSERT_EQ(got[k * 48 + j * ds + t],
                      pq.centroids[(j * pq.k() + pq.Code(ids[k], j)) * ds + t])
                << "bits " << bits << " m " << m << " id " << k;
    }
  }
}

TEST(PqCodecTest, BudgetChoosesTheLargestFittingM) {
  const VectorSet x = RandomVectors(20000, 32, 4);
  const double full = 4.0 * 20000 * 32;
  for (double budget : {0.30, 0.10, 0.05}) {
    std::unique_ptr<VectorCodec> c = MustCompress(x, "pq", budget, Params({{"iters", "2"}}));
    ASSERT_NE(c, nullptr);
    EXPECT_LE(c->MemoryBytes(), budget * full) << budget;
    // The next larger divisor of 32 would not fit.
    const std::string p = c->Params();
    const int m = std::stoi(p.substr(2));
    for (int bigger = m + 1; bigger <= 32; ++bigger)
      if (32 % bigger == 0) {
        EXPECT_GT(internal::PqBytes(20000, 32, bigger, 8), budget * full) << p;
        break;
      }
  }
  // Below m = 1: unreachable, built at m = 1 and the real ratio.
  std::unique_ptr<VectorCodec> c = MustCompress(x, "pq", 0.001, Params({{"iters", "1"}}));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Params(), "m=1 bits=8");
  EXPECT_GT(c->Ratio(), 0.001);
  CompressOptions o;
  o.params = Params({{"m", "5"}});
  EXPECT_THAT(std::string(Compress(x, "pq", o).status().message()), HasSubstr("--param m=5"));
}

// x = U·diag(s)·Vᵀ with orthonormal U, V (Gram-Schmidt): the rank-r codec's
// squared error is the sum of the discarded s_i², and Vᵀ's rows are ±V's
// columns.
TEST(SvdCodecTest, MatchesAKnownDecomposition) {
  const uint64_t n = 200;
  const int d = 10;
  auto orthonormal = [](uint64_t rows, int cols, uint64_t seed) {
    VectorSet q = RandomVectors(rows, cols, seed);  // column j: q[i*cols + j]
    for (int j = 0; j < cols; ++j) {
      for (int p = 0; p < j; ++p) {
        double dot = 0;
        for (uint64_t i = 0; i < rows; ++i) dot += q.values[i * cols + j] * q.values[i * cols + p];
        for (uint64_t i = 0; i < rows; ++i)
          q.values[i * cols + j] -= static_cast<float>(dot) * q.values[i * cols + p];
      }
      double norm = 0;
      for (uint64_t i = 0; i < rows; ++i) norm += q.values[i * cols + j] * q.values[i * cols + j];
      for (uint64_t i = 0; i < rows; ++i)
        q.values[i * cols + j] /= static_cast<float>(std::sqrt(norm));
    }
    return q;
  };
  const VectorSet u = orthonormal(n, d, 1), v = orthonormal(d, d, 2);
  const std::vector<double> s = {50, 30, 20, 10, 5, 3, 2, 1, 0.5, 0.25};
  VectorSet x;
  x.n = n;
  x.dim = d;
  x.values.assign(n * d, 0);
  for (uint64_t i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) {
      double t = 0;
      for (int a = 0; a < d; ++a) t += u.values[i * d + a] * s[a] * v.values[j * d + a];
      x.values[i * d + j] = static_cast<float>(t);
    }
  for (int rank : {1, 3, 6}) {
    StatusOr<internal::LowRank> lr = internal::TruncatedSvd(x, rank);
    ASSERT_TRUE(lr.ok()) << lr.status();
    for (int t = 0; t < rank; ++t) {
      double dot = 0;
      for (int j = 0; j < d; ++j) dot += lr->vt[t * d + j] * v.values[j * d + t];
      EXPECT_NEAR(std::fabs(dot), 1.0, 1e-4) << "rank " << rank << " component " << t;
    }
    std::unique_ptr<VectorCodec> c =
        MustCompress(x, "svd", 1.0, Params({{"rank", std::to_string(rank)}}));
    ASSERT_NE(c, nullptr);
    double discarded = 0;
    for (int a = rank; a < d; ++a) discarded += s[a] * s[a];
    EXPECT_NEAR(SquaredError(x, DecodeAll(*c)), discarded, 1e-3 * discarded + 1e-3);
    EXPECT_EQ(c->MemoryBytes(), (n + d) * rank * 4u);
  }
}

TEST(SvdCodecTest, RankFromTheBudget) {
  const VectorSet x = RandomVectors(1000, 24, 5);
  for (double budget : {0.5, 0.1, 0.01}) {
    std::unique_ptr<VectorCodec> c = MustCompress(x, "svd", budget);
    ASSERT_NE(c, nullptr);
    const int r = std::max(1, static_cast<int>(std::floor(budget * 1000 * 24 / 1024)));
    EXPECT_EQ(c->Params(), "rank=" + std::to_string(r));
    if (budget >= 0.1) {
      EXPECT_LE(c->MemoryBytes(), budget * 4 * 1000 * 24);
    }
  }
  // 1%: rank 1 still costs (n + d)·4 B, above the budget (the real ratio).
  EXPECT_GT(MustCompress(x, "svd", 0.01)->Ratio(), 0.01);
}

// §6.5: the kept values are the first `keep` of a stable sort by |x|
// descending; everything else decodes to 0.
TEST(PruningCodecTest, KeepsTheLargestMagnitudes) {
  VectorSet x = RandomVectors(100, 16, 6);
  for (size_t i = 0; i < x.values.size(); i += 3) x.values[i] = std::round(x.values[i]);  // ties
  for (double budget : {0.5, 0.25, 0.1, 0.01}) {
    std::unique_ptr<VectorCodec> c = MustCompress(x, "pruning", budget);
    ASSERT_NE(c, nullptr);
    const bool csr = budget * 16 >= 3;
    const double bytes = budget * 4 * 100 * 16;
    const uint64_t keep =
        static_cast<uint64_t>(std::floor((bytes - (csr ? 4.0 * 101 : 0.0)) / (csr ? 8.0 : 12.0)));
    std::vector<uint64_t> order(x.values.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](uint64_t a, uint64_t b) {
      return std::fabs(x.values[a]) > std::fabs(x.values[b]);
    });
    std::vector<float> want(x.values.size(), 0.0f);
    for (uint64_t p = 0; p < keep; ++p) want[order[p]] = x.values[order[p]];
    EXPECT_EQ(DecodeAll(*c).values, want) << budget;
    EXPECT_EQ(c->MemoryBytes(), csr ? 4 * 101 + 8 * keep : 12 * keep) << budget;
    EXPECT_LE(c->MemoryBytes(), bytes);
    EXPECT_THAT(c->Params(), HasSubstr(csr ? "format=csr" : "format=coo"));
  }
}

// §6.4: groups of equal total norm, large rows first.
TEST(MagnitudeTest, GroupsHaveEqualTotalNorm) {
  const VectorSet x = RandomVectors(3000, 8, 7);
  const internal::MagnitudeGroups g = internal::SplitByMagnitude(x, 3);
  ASSERT_EQ(g.begin.size(), 4u);
  auto norm = [&](uint32_t r) {
    double s = 0;
    for (int j = 0; j < 8; ++j) s += x.row(r)[j] * x.row(r)[j];
    return std::sqrt(s);
  };
  double total = 0, max_norm = 0;
  for (uint64_t i = 0; i < x.n; ++i) total += norm(i), max_norm = std::max(max_norm, norm(i));
  for (uint64_t p = 1; p < x.n; ++p) ASSERT_GE(norm(g.order[p - 1]), norm(g.order[p]));
  for (int k = 0; k < 3; ++k) {
    double sum = 0;
    for (uint64_t p = g.begin[k]; p < g.begin[k + 1]; ++p) sum += norm(g.order[p]);
    EXPECT_NEAR(sum, total / 3, max_norm) << "group " << k;
  }
  EXPECT_LT(g.begin[1] - g.begin[0], g.begin[3] - g.begin[2]);  // fewer large rows
}

// MagSVD with one group is SVD at the remap's budget; with more groups each
// row decodes from its group's factors.
TEST(MagnitudeTest, MagSvdPerGroupMatchesSvdOfTheGroup) {
  const VectorSet x = RandomVectors(600, 12, 8);
  std::unique_ptr<VectorCodec> c = MustCompress(x, "magsvd", 0.5, Params({{"groups", "2"}}));
  ASSERT_NE(c, nullptr);
  const internal::MagnitudeGroups g = internal::SplitByMagnitude(x, 2);
  const VectorSet decoded = DecodeAll(*c);
  const std::string p = c->Params();  // "groups=2 ranks=a,b"
  const size_t at = p.find("ranks=") + 6;
  const int r0 = std::stoi(p.substr(at)), r1 = std::stoi(p.substr(p.find(',', at) + 1));
  EXPECT_GE(r0, r1);  // the large rows get at least the rank of the small ones
  uint64_t bytes = 600 * 4;
  for (int k = 0; k < 2; ++k) {
    const uint64_t b = g.begin[k], e = g.begin[k + 1];
    const VectorSet part = internal::Gather(x, g.order.data() + b, e - b);
    std::unique_ptr<VectorCodec> ref =
        MustCompress(part, "svd", 1.0, Params({{"rank", std::to_string(k ? r1 : r0)}}));
    const VectorSet want = DecodeAll(*ref);
    bytes += ref->MemoryBytes();
    for (uint64_t i = b; i < e; ++i)
      for (int j = 0; j < 12; ++j)
        ASSERT_NEAR(decoded.row(g.order[i])[j], want.row(i - b)[j], 1e-4);
  }
  EXPECT_EQ(c->MemoryBytes(), bytes);
}

TEST(MagnitudeTest, MagPqDecodesFromTheGroupsCodebooks) {
  const VectorSet x = RandomVectors(800, 8, 9);
  std::unique_ptr<VectorCodec> c =
      MustCompress(x, "magpq", 0.5, Params({{"m", "4"}, {"bits", "6,5"}, {"iters", "3"}}));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Params(), "groups=2 m=4 bits=6,5");
  const internal::MagnitudeGroups g = internal::SplitByMagnitude(x, 2);
  const uint64_t n0 = g.begin[1], n1 = 800 - n0;
  EXPECT_EQ(c->MemoryBytes(),
            800 * 4 + internal::PqBytes(n0, 8, 4, 6) + internal::PqBytes(n1, 8, 4, 5));
  // The large-norm group has finer codebooks: lower error per row than PQ
  // at the small group's width everywhere.
  std::unique_ptr<VectorCodec> flat =
      MustCompress(x, "pq", 0.5, Params({{"m", "4"}, {"bits", "5"}, {"iters", "3"}}));
  EXPECT_LT(SquaredError(x, DecodeAll(*c)), SquaredError(x, DecodeAll(*flat)));
  CompressOptions o;
  o.params = Params({{"bits", "9"}});
  EXPECT_THAT(std::string(Compress(x, "magpq", o).status().message()),
              HasSubstr("1 widths for 2 groups"));
}

// §6.6: the cores contract as the naive sum over both ranks; at full ranks
// TT-SVD reproduces the matrix (zero padding included); memory is the cores.
TEST(TtCodecTest, CoresContractAsTheNaiveSumAndFullRankIsExact) {
  const VectorSet x = RandomVectors(70, 10, 12);  // rows padded to 70 <= N0·N1·N2
  std::unique_ptr<VectorCodec> c = MustCompress(x, "tt", 0.3);
  ASSERT_NE(c, nullptr);
  // Params: "rows=N0xN1xN2 cols=C0xC1xC2 ranks=r1,r2".
  const std::string p = c->Params();
  int n0, n1, n2, c0, c1, c2, r1, r2;
  ASSERT_EQ(std::sscanf(p.c_str(), "rows=%dx%dx%d cols=%dx%dx%d ranks=%d,%d", &n0, &n1, &n2, &c0,
                        &c1, &c2, &r1, &r2),
            8)
      << p;
  EXPECT_GE(n0 * n1 * n2, 70);
  EXPECT_GE(c0 * c1 * c2, 10);
  EXPECT_EQ(c->MemoryBytes(), 4u * (n0 * c0 * r1 + r1 * n1 * c1 * r2 + r2 * n2 * c2));
  // The budget's rank: (N0C0 + N2C2)·R + N1C1·R² <= n·d·CR.
  const double words = 0.3 * 70 * 10;
  const int r = std::max(r1, r2);
  EXPECT_LE((n0 * c0 + n2 * c2) * r + n1 * c1 * r * r, words);
  EXPECT_GT((n0 * c0 + n2 * c2) * (r + 1) + n1 * c1 * (r + 1) * (r + 1), words);
  // Full ranks: exact.
  std::unique_ptr<VectorCodec> full = MustCompress(x, "tt", 1.0, Params({{"rank", "1000"}}));
  ASSERT_NE(full, nullptr);
  const VectorSet d = DecodeAll(*full);
  for (size_t i = 0; i < x.values.size(); ++i) ASSERT_NEAR(d.values[i], x.values[i], 2e-3) << i;
  // Lower ranks: larger error, monotone.
  double last = 0;
  for (int rank : {8, 4, 2, 1}) {
    const double e = SquaredError(
        x, DecodeAll(*MustCompress(x, "tt", 1.0, Params({{"rank", std::to_string(rank)}}))));
    EXPECT_GE(e, last * 0.999) << rank;
    last = e;
  }
}

// §6.7: x̂ − c = s·ō with ō a unit vector of ±1/√d in the rotated basis:
// scale=mse makes x̂ − c the projection of the residual r on ō
// (⟨x̂ − c, r⟩ = ‖x̂ − c‖²), scale=unbiased the paper's estimator
// (⟨x̂ − c, r⟩ = ‖r‖²); ⟨ō, o⟩ concentrates near √(2/π) for Gaussian data.
TEST(RaBitQCodecTest, ProjectionAndUnbiasedScales) {
  const int d = 64;
  const VectorSet x = RandomVectors(500, d, 13);
  std::vector<double> mean(d, 0.0);
  for (uint64_t i = 0; i < x.n; ++i)
    for (int j = 0; j < d; ++j) mean[j] += x.row(i)[j] / 500.0;
  for (const std::string scale : {"mse", "unbiased"}) {
    std::unique_ptr<VectorCodec> c = MustCompress(x, "rabitq", 0.1, Params({{"scale", scale}}));
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->MemoryBytes(), 500u * (d / 8) + 4 * 500 + 4 * d * d + 4 * d);
    const VectorSet xh = DecodeAll(*c);
    double mean_cos = 0;
    for (uint64_t i = 0; i < x.n; ++i) {
      double rr = 0, hr = 0, hh = 0;
      for (int j = 0; j < d; ++j) {
        const double r = x.row(i)[j] - mean[j], h = xh.row(i)[j] - mean[j];
        rr += r * r, hr += h * r, hh += h * h;
      }
      if (scale == "mse") {
        ASSERT_NEAR(hr, hh, 1e-3 * rr) << i;
      } else {
        ASSERT_NEAR(hr, rr, 1e-3 * rr) << i;
      }
      mean_cos += hr / std::sqrt(hh * rr) / 500;
    }
    EXPECT_NEAR(mean_cos, std::sqrt(2 / M_PI), 0.05) << scale;
  }
  // IVF: k centroids and a cluster id per vector (charged).
  std::unique_ptr<VectorCodec> ivf = MustCompress(x, "rabitq", 0.1, Params({{"clusters", "8"}}));
  ASSERT_NE(ivf, nullptr);
  EXPECT_EQ(ivf->MemoryBytes(), 500u * (d / 8) + 8 * 500 + 4 * d * d + 4 * 8 * d);
  EXPECT_LT(SquaredError(x, DecodeAll(*ivf)),
            SquaredError(x, DecodeAll(*MustCompress(x, "rabitq", 0.1))));
}

// The compressed file: every method reads back to the same decode, memory
// and parameters; damage and foreign files are refused, naming the file.
TEST(CompressedFileTest, EveryMethodRoundTrips) {
  TempDir dir("vectors_file");
  const VectorSet x = RandomVectors(400, 16, 10);
  for (const CodecInfo& info : Codecs()) {
    CodecParams p;
    if (info.name == "pq" || info.name == "magpq") p = Params({{"iters", "2"}});
    std::unique_ptr<VectorCodec> c = MustCompress(x, std::string(info.name), 0.3, p);
    ASSERT_NE(c, nullptr);
    CompressedHeader h;
    h.method = std::string(info.name);
    h.budget = 0.3;
    h.compress_seconds = 1.5;
    h.source_checksum = SourceChecksum(x);
    const std::string path = dir.File(std::string(info.name) + ".ecv");
    ASSERT_TRUE(WriteCompressed(path, h, *c).ok());
    StatusOr<CompressedFile> f = ReadCompressed(path);
    ASSERT_TRUE(f.ok()) << info.name << ": " << f.status();
    EXPECT_EQ(f->header.method, info.name);
    EXPECT_EQ(f->header.n, 400u);
    EXPECT_EQ(f->header.dim, 16);
    EXPECT_EQ(f->header.budget, 0.3);
    EXPECT_EQ(f->header.compress_seconds, 1.5);
    EXPECT_EQ(f->header.source_checksum, SourceChecksum(x));
    EXPECT_EQ(f->codec->MemoryBytes(), c->MemoryBytes());
    EXPECT_EQ(f->codec->Params(), c->Params());
    EXPECT_EQ(DecodeAll(*f->codec).values, DecodeAll(*c).values) << info.name;
    // One flipped byte, a truncation: refused.
    std::string bytes = *ReadFile(path);
    std::string bad = bytes;
    bad[bad.size() / 2] ^= 0x40;
    std::ofstream(path + ".bad", std::ios::binary) << bad;
    StatusOr<CompressedFile> r = ReadCompressed(path + ".bad");
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(path + ".bad"));
    std::ofstream(path + ".cut", std::ios::binary) << bytes.substr(0, bytes.size() - 9);
    EXPECT_FALSE(ReadCompressed(path + ".cut").ok());
  }
  // Another kind of file.
  ASSERT_TRUE(WriteVectors(dir.File("x.npy"), x).ok());
  StatusOr<CompressedFile> r = ReadCompressed(dir.File("x.npy"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("bad magic"));
}

TEST(CompressTest, BadMethodAndBudget) {
  const VectorSet x = RandomVectors(10, 4, 1);
  CompressOptions o;
  EXPECT_THAT(std::string(Compress(x, "zip", o).status().message()),
              HasSubstr("--method zip: unknown"));
  o.budget = 1.5;
  EXPECT_THAT(std::string(Compress(x, "pq", o).status().message()), HasSubstr("--budget"));
  o.budget = 0.5;
  o.params = Params({{"rank", "2"}});
  EXPECT_THAT(std::string(Compress(x, "pruning", o).status().message()),
              HasSubstr("takes no parameters"));
  CodecParams p;
  ASSERT_TRUE(p.Add("m=4").ok());
  EXPECT_THAT(std::string(p.Add("m=8").message()), HasSubstr("--param m given twice (4 and 8)"));
  EXPECT_FALSE(p.Add("bits").ok());
  EXPECT_FALSE(p.Add("=3").ok());
}

}  // namespace
}  // namespace ecps::vectors
