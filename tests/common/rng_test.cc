#include "common/rng.h"

#include <gtest/gtest.h>

namespace ecps {
namespace {

TEST(RngTest, DeterministicAndRestorable) {
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.Next(), b.Next());
  auto st = a.state();
  uint64_t x = a.Next();
  b.set_state(st);
  EXPECT_EQ(b.Next(), x);
}

TEST(RngTest, UniformMomentsAndBounds) {
  Rng r(7);
  double sum = 0, sum2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double u = r.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    sum2 += u * u;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.005);
  EXPECT_NEAR(sum2 / n - 0.25, 1.0 / 12, 0.005);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(r.Below(10), 10u);
  double ns = 0, ns2 = 0;
  for (int i = 0; i < n; ++i) {
    double z = r.Normal();
    ns += z;
    ns2 += z * z;
  }
  EXPECT_NEAR(ns / n, 0.0, 0.01);
  EXPECT_NEAR(ns2 / n, 1.0, 0.02);
}

}  // namespace
}  // namespace ecps
