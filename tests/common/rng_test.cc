#include "common/rng.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

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

// NormalTail(a) is N(0, 1) conditioned on |z| >= a: symmetric, never inside
// (-a, a), with the conditional moments E|z| = φ(a)/Q(a) and
// E z² = 1 + a·φ(a)/Q(a) (TT-Rec's init, docs/methods.md §2.7).
TEST(RngTest, NormalTailHasTheConditionalMoments) {
  Rng r(11);
  const int n = 200000;
  for (const auto& [a, mean_abs, mean_sq] :
       {std::tuple{2.0, 2.37321553282284, 5.74643106564568},
        std::tuple{3.0, 3.283098654930434, 10.849295964791303}}) {
    double s = 0, sa = 0, s2 = 0;
    for (int i = 0; i < n; ++i) {
      const double z = r.NormalTail(a);
      ASSERT_GE(std::abs(z), a);
      s += z;
      sa += std::abs(z);
      s2 += z * z;
    }
    EXPECT_NEAR(s / n, 0.0, 0.03) << a;
    EXPECT_NEAR(sa / n, mean_abs, 0.005) << a;
    EXPECT_NEAR(s2 / n, mean_sq, 0.03) << a;
  }
}

}  // namespace
}  // namespace ecps
