// Dense optimizers against hand-computed updates (torch.optim formulas).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/model/grad_check.h"
#include "worker/model/dense_model.h"

namespace ecps {
namespace {

TEST(DenseOptimizerTest, AdamFirstTwoStepsWithBiasCorrection) {
  OptimizerConfig c;
  c.name = "adam";
  c.lr = 0.1;
  auto opt = CreateDenseOptimizer(c, 2);
  ASSERT_TRUE(opt.ok()) << opt.status();
  std::vector<float> p = {1.0f, -2.0f};
  // Step 1: g = 0.5: m = 0.05, v = 0.00025; m̂ = 0.5, v̂ = 0.25;
  //   p = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.900000002.
  // Step 2: g = -0.25: m = 0.9*0.05 - 0.025 = 0.02,
  //   v = 0.999*0.00025 + 0.001*0.0625 = 0.00031225;
  //   p -= 0.1 * (0.02/0.19) / (sqrt(0.00031225/0.001999) + 1e-8) => 0.8733662987.
  std::vector<float> g1 = {0.5f, 0.0f}, g2 = {-0.25f, 0.0f};
  (*opt)->Step(p, g1, 1);
  EXPECT_NEAR(p[0], 0.900000002, 2e-7);
  EXPECT_EQ(p[1], -2.0f);  // zero gradient, zero moments: no move
  auto st = (*opt)->state();
  ASSERT_EQ(st.size(), 4u);  // m then v
  EXPECT_NEAR(st[0], 0.05, 1e-8);
  EXPECT_NEAR(st[2], 0.00025, 1e-10);
  (*opt)->Step(p, g2, 2);
  EXPECT_NEAR(p[0], 0.8733662987, 2e-7);
  EXPECT_NEAR(st[0], 0.02, 1e-8);
  EXPECT_NEAR(st[2], 0.00031225, 1e-10);
}

TEST(DenseOptimizerTest, AdamUsesTheGlobalStepForBiasCorrection) {
  // At step 1000 the corrections are ~1: p -= lr * m / (sqrt(v)/sqrt(bc2) + eps).
  OptimizerConfig c;
  c.lr = 0.01;
  auto opt = CreateDenseOptimizer(c, 1);
  ASSERT_TRUE(opt.ok());
  std::vector<float> p = {0.0f}, g = {1.0f};
  (*opt)->Step(p, g, 1000);
  const double bc1 = 1 - std::pow(0.9, 1000), bc2 = 1 - std::pow(0.999, 1000);
  const double want = -0.01 / bc1 * 0.1 / (std::sqrt(0.001) / std::sqrt(bc2) + 1e-8);
  EXPECT_NEAR(p[0], want, 1e-7);
}

TEST(DenseOptimizerTest, Sgd) {
  OptimizerConfig c;
  c.name = "sgd";
  c.lr = 0.1;
  auto opt = CreateDenseOptimizer(c, 2);
  ASSERT_TRUE(opt.ok());
  std::vector<float> p = {1.0f, 2.0f}, g = {0.5f, -1.0f};
  (*opt)->Step(p, g, 1);
  EXPECT_FLOAT_EQ(p[0], 0.95f);
  EXPECT_FLOAT_EQ(p[1], 2.1f);
  EXPECT_TRUE((*opt)->state().empty());
  c.weight_decay = 0.01;  // L2: g + wd p
  auto wd = CreateDenseOptimizer(c, 1);
  std::vector<float> q = {1.0f}, h = {0.5f};
  (*wd)->Step(q, h, 1);
  EXPECT_FLOAT_EQ(q[0], 0.949f);
}

TEST(DenseOptimizerTest, Adagrad) {
  OptimizerConfig c;
  c.name = "adagrad";
  c.lr = 0.1;
  c.adagrad_init = 0.1;
  auto opt = CreateDenseOptimizer(c, 1);
  ASSERT_TRUE(opt.ok());
  ASSERT_EQ((*opt)->state().size(), 1u);
  EXPECT_FLOAT_EQ((*opt)->state()[0], 0.1f);
  std::vector<float> p = {1.0f}, g = {0.5f};
  (*opt)->Step(p, g, 1);
  // s = 0.1 + 0.25 = 0.35; p = 1 - 0.1 * 0.5 / sqrt(0.35) = 0.9154845745.
  EXPECT_NEAR(p[0], 0.9154845745, 1e-7);
  EXPECT_FLOAT_EQ((*opt)->state()[0], 0.35f);
  (*opt)->Step(p, g, 2);
  // s = 0.6; p -= 0.05 / sqrt(0.6).
  EXPECT_NEAR(p[0], 0.9154845745 - 0.05 / std::sqrt(0.6), 2e-7);
}

TEST(DenseOptimizerTest, ThreadCountDoesNotChangeResults) {
  const size_t n = 300001;  // several chunks plus a tail
  for (const char* name : {"adam", "sgd", "adagrad"}) {
    OptimizerConfig c;
    c.name = name;
    std::vector<float> p1 = model::testing::RandomVector<float>(n, 1), p2 = p1;
    const std::vector<float> g = model::testing::RandomVector<float>(n, 2);
    c.threads = 1;
    auto o1 = CreateDenseOptimizer(c, n);
    c.threads = 2;
    auto o2 = CreateDenseOptimizer(c, n);
    ASSERT_TRUE(o1.ok() && o2.ok());
    for (int step = 1; step <= 3; ++step) {
      (*o1)->Step(p1, g, step);
      (*o2)->Step(p2, g, step);
    }
    EXPECT_EQ(p1, p2) << name;
  }
}

TEST(DenseOptimizerTest, Errors) {
  OptimizerConfig c;
  c.name = "rowwise_adagrad";
  EXPECT_EQ(CreateDenseOptimizer(c, 1).status().code(), absl::StatusCode::kInvalidArgument);
  c.name = "lamb";
  EXPECT_EQ(CreateDenseOptimizer(c, 1).status().code(), absl::StatusCode::kInvalidArgument);
  c.name = "adam";
  c.lr = 0;
  EXPECT_EQ(CreateDenseOptimizer(c, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ecps
