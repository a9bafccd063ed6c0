#include "common/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/rng.h"
#include "worker/model/loss.h"

namespace ecps {
namespace {

// Independent O(n^2) definition: P(score_pos > score_neg) + 0.5 P(tie).
double PairwiseAuc(const std::vector<float>& s, const std::vector<float>& y) {
  double num = 0, den = 0;
  for (size_t i = 0; i < s.size(); ++i)
    for (size_t j = 0; j < s.size(); ++j)
      if (y[i] > 0.5f && y[j] < 0.5f) {
        den += 1;
        num += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
      }
  return num / den;
}

TEST(MetricsTest, AucHandComputed) {
  // Perfect, inverted and the classic sklearn example (0.75).
  EXPECT_DOUBLE_EQ(
      RocAuc(std::vector<float>{0.1f, 0.4f, 0.35f, 0.8f}, std::vector<float>{0, 0, 1, 1}), 0.75);
  EXPECT_DOUBLE_EQ(RocAuc(std::vector<float>{1, 2, 3, 4}, std::vector<float>{0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(RocAuc(std::vector<float>{4, 3, 2, 1}, std::vector<float>{0, 0, 1, 1}), 0.0);
  // All scores tied: exactly 0.5.
  EXPECT_DOUBLE_EQ(RocAuc(std::vector<float>{7, 7, 7, 7}, std::vector<float>{0, 1, 0, 1}), 0.5);
  // One tie between a positive and a negative: pairs (p1>n1)=1, (p1 vs n2 tie)=.5,
  // (p2>n1)=1, (p2>n2)=1 -> 3.5/4.
  EXPECT_DOUBLE_EQ(
      RocAuc(std::vector<float>{0.9f, 0.5f, 0.5f, 0.1f}, std::vector<float>{1, 1, 0, 0}),
      // p=0.9 beats both; p=0.5 ties n=0.5 and beats n=0.1.
      3.5 / 4);
  // A single class gives 0.5; NaN scores count as 0.
  EXPECT_DOUBLE_EQ(RocAuc(std::vector<float>{1, 2}, std::vector<float>{1, 1}), 0.5);
  EXPECT_DOUBLE_EQ(RocAuc(std::vector<float>{NAN, 1}, std::vector<float>{0, 1}), 1.0);
}

TEST(MetricsTest, AucMatchesPairwiseWithManyTies) {
  Rng rng(3);
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<float> s(400), y(400);
    for (size_t i = 0; i < s.size(); ++i) {
      s[i] = static_cast<float>(rng.Below(20));  // heavy ties
      y[i] = rng.Uniform() < 0.3 + 0.02 * s[i] ? 1.0f : 0.0f;
    }
    EXPECT_NEAR(RocAuc(s, y), PairwiseAuc(s, y), 1e-12);
  }
}

TEST(MetricsTest, LogLossAndGradient) {
  std::vector<float> z = {0.0f, 2.0f, -3.0f, 40.0f};
  std::vector<float> y = {1, 0, 0, 1};
  double expect = 0;
  for (size_t i = 0; i < z.size(); ++i) {
    // -log(sigmoid(z)) for positives, -log(1 - sigmoid(z)) for negatives.
    const double zi = z[i];
    expect += y[i] > 0.5f ? std::log1p(std::exp(-zi)) : std::log1p(std::exp(zi));
  }
  expect /= z.size();
  EXPECT_NEAR(LogLossFromLogits(z, y), expect, 1e-6);
  std::vector<float> g(z.size());
  EXPECT_NEAR(BceWithLogits(z, y, g.data()), expect, 1e-5);
  for (size_t i = 0; i < z.size(); ++i) {
    double p = 1 / (1 + std::exp(-static_cast<double>(z[i])));
    EXPECT_NEAR(g[i], (p - y[i]) / z.size(), 1e-7);
  }
}

}  // namespace
}  // namespace ecps
