// vectors/generate.h: the generated sets' shapes, determinism and the
// statistics their documentation promises.
#include "vectors/generate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "vectors/internal/methods.h"

namespace ecps::vectors {
namespace {

using ::testing::HasSubstr;

GeneratedSet MustGenerate(const GenerateOptions& o) {
  StatusOr<GeneratedSet> g = Generate(o);
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? *std::move(g) : GeneratedSet{};
}

TEST(GenerateTest, SiftLikeDescriptors) {
  GenerateOptions o;
  o.kind = "sift";
  o.n = 3000;
  o.dim = 128;
  o.queries = 100;
  const GeneratedSet g = MustGenerate(o);
  ASSERT_EQ(g.base.n, 3000u);
  ASSERT_EQ(g.base.dim, 128);
  ASSERT_EQ(g.queries.n, 100u);
  ASSERT_EQ(g.base.values.size(), 3000u * 128);
  uint64_t zeros = 0;
  double sum = 0;
  for (float v : g.base.values) {
    ASSERT_GE(v, 0.0f);
    ASSERT_LE(v, 255.0f);
    ASSERT_EQ(v, std::floor(v));  // integers, as SIFT's
    zeros += v == 0;
    sum += v;
  }
  // sift5k: 7.9% zeros, mean 33.5.
  EXPECT_NEAR(static_cast<double>(zeros) / g.base.values.size(), 0.079, 0.03);
  EXPECT_NEAR(sum / g.base.values.size(), 33, 4);
  // Rows are SIFT-normalised: length about 512 before truncation.
  double len = 0;
  for (int j = 0; j < 128; ++j) len += g.base.row(7)[j] * g.base.row(7)[j];
  EXPECT_NEAR(std::sqrt(len), 505, 15);
}

// The rank-r part holds all but noise²/(1 + noise²) of the energy around
// the mean (the noise's expected norm is `noise` times the signal's).
TEST(GenerateTest, LowRankPlusNoise) {
  GenerateOptions o;
  o.kind = "lowrank";
  o.n = 4000;
  o.dim = 96;
  o.rank = 12;
  o.noise = 0.2;
  o.clusters = 16;
  o.queries = 10;
  const GeneratedSet g = MustGenerate(o);
  ASSERT_EQ(g.base.values.size(), 4000u * 96);
  StatusOr<internal::LowRank> lr = internal::TruncatedSvd(g.base, o.rank);
  ASSERT_TRUE(lr.ok()) << lr.status();
  double err = 0, total = 0;
  std::vector<float> row(96);
  for (uint64_t i = 0; i < g.base.n; ++i) {
    internal::ProjectRow(lr->us.data() + i * o.rank, lr->vt.data(), o.rank, 96, row.data());
    for (int j = 0; j < 96; ++j) {
      err += std::pow(row[j] - g.base.row(i)[j], 2);
      total += std::pow(g.base.row(i)[j], 2);
    }
  }
  // The truncation also removes the noise inside the rank-r subspace
  // (r/d of it), so the error is a little below noise²/(1 + noise²).
  const double noise_share = 0.04 / 1.04;
  EXPECT_GT(err / total, 0.5 * noise_share);
  EXPECT_LT(err / total, 1.1 * noise_share);
}

TEST(GenerateTest, DeterministicAndQueriesIndependentOfN) {
  GenerateOptions o;
  o.n = 500;
  o.dim = 32;
  o.rank = 8;
  o.queries = 20;
  const GeneratedSet a = MustGenerate(o), b = MustGenerate(o);
  EXPECT_EQ(a.base.values, b.base.values);
  EXPECT_EQ(a.queries.values, b.queries.values);
  o.n = 800;
  const GeneratedSet c = MustGenerate(o);
  EXPECT_EQ(c.queries.values, a.queries.values);
  // The base's first rows too, up to rounding: the low-rank part is one
  // sgemm per chunk, and BLAS may tile M = 500 and M = 800 differently (edge
  // kernels round differently on some CPUs), so equality to the bit is not
  // the generator's promise; equality of the draws is.
  double worst = 0, scale = 0;
  for (size_t i = 0; i < a.base.values.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::fabs(a.base.values[i] - c.base.values[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(a.base.values[i])));
  }
  EXPECT_LE(worst, 1e-5 * scale);
  o.seed = 1;
  EXPECT_NE(MustGenerate(o).queries.values, a.queries.values);
}

TEST(GenerateTest, BadOptionsNameTheFlag) {
  GenerateOptions o;
  o.kind = "gauss";
  EXPECT_THAT(std::string(Generate(o).status().message()), HasSubstr("--kind gauss"));
  o.kind = "lowrank";
  o.rank = 500;
  o.dim = 64;
  EXPECT_THAT(std::string(Generate(o).status().message()), HasSubstr("--rank 500"));
  o.rank = 8;
  o.n = 0;
  EXPECT_THAT(std::string(Generate(o).status().message()), HasSubstr("--n 0"));
}

}  // namespace
}  // namespace ecps::vectors
