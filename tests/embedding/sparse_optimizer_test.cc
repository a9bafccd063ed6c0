#include "embedding/sparse_optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace ecps {
namespace {

SparseOptimizerConfig Config(SparseOptimizerKind kind) {
  SparseOptimizerConfig c;
  c.kind = kind;
  c.lr = 0.1f;
  return c;
}

TEST(SparseOptimizerTest, ParsesEveryName) {
  EXPECT_EQ(*ParseSparseOptimizer("adam"), SparseOptimizerKind::kAdam);
  EXPECT_EQ(*ParseSparseOptimizer("sgd"), SparseOptimizerKind::kSgd);
  EXPECT_EQ(*ParseSparseOptimizer("adagrad"), SparseOptimizerKind::kAdagrad);
  EXPECT_EQ(*ParseSparseOptimizer("rowwise_adagrad"), SparseOptimizerKind::kRowwiseAdagrad);
  auto bad = ParseSparseOptimizer("adamw");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("adamw"), std::string::npos);
  EXPECT_NE(bad.status().message().find("rowwise_adagrad"), std::string::npos);
}

TEST(SparseOptimizerTest, StateSizes) {
  EXPECT_EQ(StateFloatsPerRow(SparseOptimizerKind::kAdam, 16), 32);
  EXPECT_EQ(StateFloatsPerRow(SparseOptimizerKind::kSgd, 16), 0);
  EXPECT_EQ(StateFloatsPerRow(SparseOptimizerKind::kAdagrad, 16), 16);
  EXPECT_EQ(StateFloatsPerRow(SparseOptimizerKind::kRowwiseAdagrad, 16), 1);
}

// w0 = 1, lr 0.1, b1 0.9, b2 0.999, eps 1e-8, g1 = 0.5 at t = 1, g2 = -0.25 at t = 2.
//   t=1: m = 0.05, v = 2.5e-4, m^ = 0.5, v^ = 0.25 -> w = 1 - 0.1*0.5/(0.5+1e-8) = 0.900000002
//   t=2: m = 0.02, v = 3.1225e-4, m^ = 0.02/0.19, v^ = 3.1225e-4/0.001999
//        -> w = 0.900000002 - 0.1*0.1052632/0.3952254 = 0.8733662987
TEST(SparseOptimizerTest, AdamTwoStepsWithBiasCorrection) {
  const SparseOptimizerConfig c = Config(SparseOptimizerKind::kAdam);
  float w = 1.0f;
  float state[2] = {0, 0};
  float g = 0.5f;
  ApplySparseUpdate(c, 1, 1, &g, &w, state);
  // Tolerances reflect fp32 betas (0.999f is not 0.999).
  EXPECT_NEAR(state[0], 0.05, 1e-7);
  EXPECT_NEAR(state[1], 2.5e-4, 1e-8);
  EXPECT_NEAR(w, 0.900000002, 1e-7);
  g = -0.25f;
  ApplySparseUpdate(c, 2, 1, &g, &w, state);
  EXPECT_NEAR(state[0], 0.02, 1e-7);
  EXPECT_NEAR(state[1], 3.1225e-4, 1e-8);
  EXPECT_NEAR(w, 0.8733662987, 1e-6);
}

TEST(SparseOptimizerTest, AdamUsesTheGlobalStepForBiasCorrection) {
  // A row first touched at global step 1000 is corrected with b^1000, not b^1:
  // m^ = 0.1 g / (1 - 0.9^1000) ~ 0.1 g, v^ = 0.001 g^2 / (1 - 0.999^1000),
  // so the step is ~0.2515 instead of lr.
  const SparseOptimizerConfig c = Config(SparseOptimizerKind::kAdam);
  float w = 0.0f, state[2] = {0, 0}, g = 1.0f;
  ApplySparseUpdate(c, 1000, 1, &g, &w, state);
  const double mh = 0.1 / (1 - std::pow(0.9, 1000));
  const double vh = 0.001 / (1 - std::pow(0.999, 1000));
  EXPECT_NEAR(w, -0.1 * mh / (std::sqrt(vh) + 1e-8), 1e-6);
  EXPECT_GT(std::fabs(w), 0.2f);  // the t=1 step would be exactly lr = 0.1
}

TEST(SparseOptimizerTest, SgdTwoSteps) {
  const SparseOptimizerConfig c = Config(SparseOptimizerKind::kSgd);
  float w[2] = {1.0f, -1.0f};
  float g1[2] = {0.5f, 1.0f}, g2[2] = {-0.25f, 0.0f};
  ApplySparseUpdate(c, 1, 2, g1, w, nullptr);
  EXPECT_FLOAT_EQ(w[0], 0.95f);
  EXPECT_FLOAT_EQ(w[1], -1.1f);
  ApplySparseUpdate(c, 2, 2, g2, w, nullptr);
  EXPECT_FLOAT_EQ(w[0], 0.975f);
  EXPECT_FLOAT_EQ(w[1], -1.1f);
}

// a1 = 0.25, w1 = 1 - 0.1*0.5/0.5 = 0.9; a2 = 0.3125, w2 = 0.9 + 0.1*0.25/sqrt(0.3125).
TEST(SparseOptimizerTest, AdagradTwoSteps) {
  const SparseOptimizerConfig c = Config(SparseOptimizerKind::kAdagrad);
  float w = 1.0f, a = StateInitValue(c), g = 0.5f;
  ApplySparseUpdate(c, 1, 1, &g, &w, &a);
  EXPECT_FLOAT_EQ(a, 0.25f);
  EXPECT_NEAR(w, 0.9, 1e-7);
  g = -0.25f;
  ApplySparseUpdate(c, 2, 1, &g, &w, &a);
  EXPECT_FLOAT_EQ(a, 0.3125f);
  EXPECT_NEAR(w, 0.9447213596, 1e-6);
}

TEST(SparseOptimizerTest, AdagradStartsFromInitialAccumulator) {
  SparseOptimizerConfig c = Config(SparseOptimizerKind::kAdagrad);
  c.adagrad_init = 0.75f;
  float w = 0.0f, a = StateInitValue(c), g = 0.5f;
  EXPECT_FLOAT_EQ(a, 0.75f);
  ApplySparseUpdate(c, 1, 1, &g, &w, &a);
  EXPECT_NEAR(w, -0.1 * 0.5 / 1.0, 1e-7);  // sqrt(0.75 + 0.25) = 1
}

// Row (1, 2), g1 = (0.5, -1): a = mean(g^2) = 0.625, w -= 0.1 g / sqrt(0.625)
//   -> (0.9367544468, 2.1264911064); g2 = (0.25, 0): a = 0.65625
//   -> (0.9058937768, 2.1264911064).
TEST(SparseOptimizerTest, RowwiseAdagradTwoSteps) {
  const SparseOptimizerConfig c = Config(SparseOptimizerKind::kRowwiseAdagrad);
  float w[2] = {1.0f, 2.0f}, a = 0.0f;
  float g1[2] = {0.5f, -1.0f}, g2[2] = {0.25f, 0.0f};
  ApplySparseUpdate(c, 1, 2, g1, w, &a);
  EXPECT_FLOAT_EQ(a, 0.625f);
  EXPECT_NEAR(w[0], 0.9367544468, 1e-6);
  EXPECT_NEAR(w[1], 2.1264911064, 1e-6);
  ApplySparseUpdate(c, 2, 2, g2, w, &a);
  EXPECT_FLOAT_EQ(a, 0.65625f);
  EXPECT_NEAR(w[0], 0.9058937768, 1e-6);
  EXPECT_NEAR(w[1], 2.1264911064, 1e-6);
}

// The factored hot path is the same computation as the per-call one.
TEST(SparseOptimizerTest, FactoredFormIsBitIdentical) {
  for (auto kind : {SparseOptimizerKind::kAdam, SparseOptimizerKind::kSgd,
                    SparseOptimizerKind::kAdagrad, SparseOptimizerKind::kRowwiseAdagrad}) {
    const SparseOptimizerConfig c = Config(kind);
    const int width = 19;  // not a multiple of any vector width
    std::vector<float> w1(width), w2(width), s1(2 * width, 0.1f), s2(2 * width, 0.1f), g(width);
    for (int j = 0; j < width; ++j) {
      w1[j] = w2[j] = 0.01f * j - 0.07f;
      g[j] = 0.3f - 0.02f * j;
    }
    for (int64_t t = 1; t <= 3; ++t) {
      ApplySparseUpdate(c, t, width, g.data(), w1.data(), s1.data());
      ApplySparseUpdate(c, MakeSparseStepFactors(c, t), width, g.data(), w2.data(), s2.data());
    }
    EXPECT_EQ(w1, w2);
    EXPECT_EQ(s1, s2);
  }
}

// The batch form updates each listed row exactly as the single-row form does,
// for the unrolled width 16 and any other width, and leaves other rows alone.
TEST(SparseOptimizerTest, BatchFormIsBitIdenticalRowByRow) {
  for (auto kind : {SparseOptimizerKind::kAdam, SparseOptimizerKind::kSgd,
                    SparseOptimizerKind::kAdagrad, SparseOptimizerKind::kRowwiseAdagrad}) {
    for (int width : {16, 5}) {
      const SparseOptimizerConfig c = Config(kind);
      const int sf = StateFloatsPerRow(kind, width);
      const size_t table_rows = 50;
      std::vector<float> w1(table_rows * width), s1(table_rows * sf + 1, 0.1f);
      for (size_t i = 0; i < w1.size(); ++i) w1[i] = 0.001f * static_cast<float>(i % 97) - 0.04f;
      std::vector<float> w2 = w1, s2 = s1;
      const std::vector<uint64_t> rows = {7, 0, 49, 12, 13, 30, 2, 44, 8, 21};
      std::vector<float> g(rows.size() * width);
      for (size_t i = 0; i < g.size(); ++i) g[i] = 0.3f - 0.011f * static_cast<float>(i % 53);
      for (int64_t t = 1; t <= 3; ++t) {
        const SparseStepFactors f = MakeSparseStepFactors(c, t);
        for (size_t u = 0; u < rows.size(); ++u)
          ApplySparseUpdate(c, f, width, g.data() + u * width, w1.data() + rows[u] * width,
                            s1.data() + rows[u] * sf);
        ApplySparseUpdates(c, f, width, rows.data(), rows.size(), g.data(), w2.data(), s2.data());
      }
      EXPECT_EQ(w1, w2) << static_cast<int>(kind) << " width " << width;
      EXPECT_EQ(s1, s2) << static_cast<int>(kind) << " width " << width;
      EXPECT_EQ(w2[1 * width],
                0.001f * static_cast<float>(width % 97) - 0.04f);  // row 1: untouched
    }
  }
}

}  // namespace
}  // namespace ecps
