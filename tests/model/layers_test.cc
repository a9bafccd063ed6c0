// Finite-difference gradient checks (double precision) for every layer of the
// CPU dense models, plus forward values against naive loops.
#include <gtest/gtest.h>

#include <vector>

#include "tests/model/grad_check.h"
#include "worker/model/cross_layer.h"
#include "worker/model/dot_interaction.h"
#include "worker/model/linear.h"
#include "worker/model/mlp.h"
#include "worker/model/wdl.h"

namespace ecps::model {
namespace {

using testing::Dot;
using testing::ExpectGradientMatches;
using testing::RandomVector;

struct LinearCase {
  bool bias, relu;
};

class LinearGradTest : public ::testing::TestWithParam<LinearCase> {};

TEST_P(LinearGradTest, MatchesFiniteDifferences) {
  const auto [bias, relu] = GetParam();
  const int n = 4, in = 5, out = 3;
  const int ldx = 7, ldy = 6, lddx = 8;  // strided operands exercise the leading dimensions
  ParamLayout layout;
  Linear<double> lin(layout, "fc", in, out, bias, relu);
  ASSERT_EQ(layout.size(), static_cast<size_t>(in * out + (bias ? out : 0)));
  // Random biases too, so that the bias path is not trivially zero.
  std::vector<double> params = RandomVector(layout.size(), 1);
  std::vector<double> x = RandomVector(n * ldx, 2);
  const std::vector<double> c = RandomVector(n * ldy, 3);
  std::vector<double> y(n * ldy, 0.0);
  auto loss = [&] {
    std::fill(y.begin(), y.end(), 0.0);
    lin.Forward(n, params.data(), x.data(), ldx, y.data(), ldy);
    double s = 0;
    for (int r = 0; r < n; ++r)
      for (int o = 0; o < out; ++o) s += c[r * ldy + o] * y[r * ldy + o];
    return s;
  };
  loss();
  // Forward value against a naive loop.
  for (int r = 0; r < n; ++r)
    for (int o = 0; o < out; ++o) {
      double v = bias ? params[in * out + o] : 0.0;
      for (int k = 0; k < in; ++k) v += x[r * ldx + k] * params[o * in + k];
      if (relu) v = std::max(v, 0.0);
      EXPECT_NEAR(y[r * ldy + o], v, 1e-12);
    }
  std::vector<double> dy = c;
  std::vector<double> grads(layout.size(), 123.0);  // must be overwritten
  std::vector<double> dx(n * lddx, 0.0);
  lin.Backward(n, params.data(), x.data(), ldx, y.data(), ldy, dy.data(), ldy, grads.data(),
               dx.data(), lddx);
  ExpectGradientMatches("params", params, grads, loss);
  // dx over the strided layout: entries outside the in columns have zero
  // gradient and must stay untouched in dx (0).
  std::vector<double> dx_full(n * ldx, 0.0);
  for (int r = 0; r < n; ++r)
    for (int k = 0; k < in; ++k) dx_full[r * ldx + k] = dx[r * lddx + k];
  ExpectGradientMatches("x", x, dx_full, loss);
}

INSTANTIATE_TEST_SUITE_P(Variants, LinearGradTest,
                         ::testing::Values(LinearCase{true, true}, LinearCase{true, false},
                                           LinearCase{false, true}, LinearCase{false, false}));

TEST(LinearTest, AccumulatesInputGradientWhenAsked) {
  ParamLayout layout;
  Linear<double> lin(layout, "fc", 3, 2, true, false);
  std::vector<double> params = RandomVector(layout.size(), 4);
  std::vector<double> x = RandomVector(2 * 3, 5), y(2 * 2), dy = RandomVector(4, 6);
  std::vector<double> g(layout.size()), dx1(6, 0.0), dx2(6, 1.0);
  lin.Forward(2, params.data(), x.data(), 3, y.data(), 2);
  std::vector<double> dy2 = dy;
  lin.Backward(2, params.data(), x.data(), 3, y.data(), 2, dy.data(), 2, g.data(), dx1.data(), 3);
  lin.Backward(2, params.data(), x.data(), 3, y.data(), 2, dy2.data(), 2, g.data(), dx2.data(), 3,
               /*accumulate_dx=*/true);
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(dx2[i], dx1[i] + 1.0, 1e-14);
}

class MlpGradTest : public ::testing::TestWithParam<bool> {};

TEST_P(MlpGradTest, MatchesFiniteDifferences) {
  const bool relu_last = GetParam();
  const int n = 3;
  ParamLayout layout;
  Mlp<double> mlp(layout, "mlp", {4, 6, 5, 3}, relu_last);
  EXPECT_EQ(layout.blocks().size(), 6u);
  EXPECT_EQ(layout.blocks()[2].name, "mlp.1.weight");
  std::vector<double> params = RandomVector(layout.size(), 7);
  std::vector<double> x = RandomVector(n * 4, 8);
  const std::vector<double> c = RandomVector(n * 3, 9);
  std::vector<double> hidden(mlp.HiddenSize(n)), y(n * 3);
  auto loss = [&] {
    mlp.Forward(n, params.data(), x.data(), 4, hidden.data(), y.data(), 3);
    return Dot(c, y.data());
  };
  loss();
  std::vector<double> dy = c, grads(layout.size()), dx(n * 4);
  std::vector<double> a(n * mlp.max_width()), b(n * mlp.max_width());
  mlp.Backward(n, params.data(), x.data(), 4, hidden.data(), y.data(), 3, dy.data(), 3,
               grads.data(), a.data(), b.data(), dx.data(), 4, false);
  ExpectGradientMatches("params", params, grads, loss);
  ExpectGradientMatches("x", x, dx, loss);
}

INSTANTIATE_TEST_SUITE_P(ReluLast, MlpGradTest, ::testing::Bool());

TEST(DotInteractionTest, ForwardIsStrictLowerTriangleRowMajor) {
  const int n = 2, m = 5, d = 3;
  DotInteraction<double> inter(m, d);
  ASSERT_EQ(inter.out_size(), 10);
  std::vector<double> z = RandomVector(n * m * d, 10);
  const int ldo = 12;
  std::vector<double> out(n * ldo, -7.0), scratch(inter.scratch_size());
  inter.Forward(n, z.data(), out.data(), ldo, scratch.data());
  for (int r = 0; r < n; ++r) {
    int k = 0;
    for (int i = 1; i < m; ++i)
      for (int j = 0; j < i; ++j, ++k) {
        double v = 0;
        for (int t = 0; t < d; ++t) v += z[(r * m + i) * d + t] * z[(r * m + j) * d + t];
        EXPECT_NEAR(out[r * ldo + k], v, 1e-14) << "pair " << i << "," << j;
      }
    EXPECT_EQ(out[r * ldo + 10], -7.0);  // padding untouched
  }
}

TEST(DotInteractionTest, CriteoSizes) {
  EXPECT_EQ(DotInteraction<float>(27, 16).out_size(), 351);
  EXPECT_EQ(DotInteraction<float>(22, 16).out_size(), 231);
}

TEST(DotInteractionTest, GradientMatchesFiniteDifferences) {
  for (int m : {2, 5, 11}) {  // 11 > 8 crosses the padded vector width
    const int n = 3, d = 4;
    DotInteraction<double> inter(m, d);
    const int ldo = inter.out_size() + 2;
    std::vector<double> z = RandomVector(n * m * d, 11);
    const std::vector<double> c = RandomVector(n * ldo, 12);
    std::vector<double> out(n * ldo, 0.0), scratch(inter.scratch_size());
    auto loss = [&] {
      inter.Forward(n, z.data(), out.data(), ldo, scratch.data());
      double s = 0;
      for (int r = 0; r < n; ++r)
        for (int k = 0; k < inter.out_size(); ++k) s += c[r * ldo + k] * out[r * ldo + k];
      return s;
    };
    std::vector<double> dz(n * m * d);
    inter.Backward(n, z.data(), c.data(), ldo, dz.data(), scratch.data());
    ExpectGradientMatches("z (m=" + std::to_string(m) + ")", z, dz, loss);
  }
}

TEST(DotInteractionTest, FloatKernelMatchesDoubleReference) {
  const int n = 4, m = 27, d = 16;
  DotInteraction<float> f(m, d);
  DotInteraction<double> g(m, d);
  std::vector<double> zd = RandomVector(n * m * d, 13);
  std::vector<float> zf(zd.begin(), zd.end());
  std::vector<float> of(n * 351), sf(f.scratch_size());
  std::vector<double> od(n * 351), sd(g.scratch_size());
  f.Forward(n, zf.data(), of.data(), 351, sf.data());
  g.Forward(n, zd.data(), od.data(), 351, sd.data());
  for (size_t i = 0; i < of.size(); ++i) EXPECT_NEAR(of[i], od[i], 1e-5);
}

TEST(CrossLayerTest, ForwardMatchesFormula) {
  const int n = 2, D = 5;
  ParamLayout layout;
  CrossLayer<double> cross(layout, "cross.0", D);
  ASSERT_EQ(layout.size(), 2u * D);
  std::vector<double> params = RandomVector(layout.size(), 14);
  std::vector<double> x0 = RandomVector(n * D, 15), xl = RandomVector(n * D, 16);
  std::vector<double> s(n), y(n * D);
  cross.Forward(n, params.data(), x0.data(), xl.data(), s.data(), y.data());
  for (int r = 0; r < n; ++r) {
    double dot = 0;
    for (int k = 0; k < D; ++k) dot += xl[r * D + k] * params[k];
    EXPECT_NEAR(s[r], dot, 1e-14);
    for (int k = 0; k < D; ++k)
      EXPECT_NEAR(y[r * D + k], x0[r * D + k] * dot + params[D + k] + xl[r * D + k], 1e-14);
  }
}

TEST(CrossLayerTest, GradientMatchesFiniteDifferences) {
  const int n = 3, D = 6;
  ParamLayout layout;
  CrossLayer<double> cross(layout, "cross.0", D);
  std::vector<double> params = RandomVector(layout.size(), 17);
  std::vector<double> x0 = RandomVector(n * D, 18), xl = RandomVector(n * D, 19);
  const std::vector<double> c = RandomVector(n * D, 20);
  std::vector<double> s(n), y(n * D);
  auto loss = [&] {
    cross.Forward(n, params.data(), x0.data(), xl.data(), s.data(), y.data());
    return Dot(c, y.data());
  };
  loss();
  std::vector<double> g = c, dx0(n * D, 0.0), grads(layout.size()), tmp(n * D), ds(n), ones(D, 1.0);
  cross.Backward(n, params.data(), x0.data(), xl.data(), s.data(), g.data(), dx0.data(),
                 grads.data(), tmp.data(), ds.data(), ones.data());
  ExpectGradientMatches("params", params, grads, loss);
  ExpectGradientMatches("x0", x0, dx0, loss);
  ExpectGradientMatches("xl", xl, g, loss);
}

TEST(ConcatTest, EmbeddingsThenDense) {
  const std::vector<double> emb = {1, 2, 3, 4, 5, 6, 7, 8};  // 2 rows x (2 fields x 2)
  const std::vector<double> dense = {-1, -2};                // 2 rows x 1
  std::vector<double> x(10);
  ConcatEmbDense(2, 4, 1, emb.data(), dense.data(), x.data());
  EXPECT_EQ(x, (std::vector<double>{1, 2, 3, 4, -1, 5, 6, 7, 8, -2}));
}

}  // namespace
}  // namespace ecps::model
