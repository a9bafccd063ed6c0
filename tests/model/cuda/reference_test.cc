// The host references of the CUDA kernels (worker/model/cuda/reference.h)
// against the CPU backend they must agree with: cpu_kernels.h, loss.h and
// the Adam of dense_optimizer.cc. Runs on every machine, CUDA or not; the GPU
// tests then hold the kernels to these references (kernels_test.cc).
#include "worker/model/cuda/reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/model/grad_check.h"
#include "worker/model/blas.h"
#include "worker/model/cpu_kernels.h"
#include "worker/model/cross_layer.h"
#include "worker/model/cuda/gemm_layout.h"
#include "worker/model/dense_model.h"
#include "worker/model/loss.h"

namespace ecps::model::cuda {
namespace {

using ::ecps::model::testing::RandomVector;

// float inputs of RandomVector<float>'s distribution.
std::vector<float> Random(size_t n, uint64_t seed, double scale = 1.0) {
  return RandomVector<float>(n, seed, scale);
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, double tol,
                const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i]))) << what << " at " << i;
}

TEST(CudaReferenceTest, BiasActMatchesCpu) {
  const int rows = 7, cols = 13, ld = 16;
  const std::vector<float> y0 = Random(rows * ld, 1), bias = Random(cols, 2);
  for (bool relu : {false, true})
    for (bool with_bias : {false, true}) {
      std::vector<float> cpu = y0, ref = y0;
      BiasAct(rows, cols, with_bias ? bias.data() : nullptr, relu, cpu.data(), ld);
      ref::BiasAct(rows, cols, with_bias ? bias.data() : nullptr, relu, ref.data(), ld);
      EXPECT_EQ(cpu, ref) << "relu " << relu << " bias " << with_bias;
    }
}

TEST(CudaReferenceTest, ActBackwardMatchesCpu) {
  const int rows = 33, cols = 9, ld = 12;
  const std::vector<float> y = Random(rows * ld, 3), dy0 = Random(rows * ld, 4);
  for (bool relu : {false, true}) {
    std::vector<float> cpu = dy0, ref = dy0, db_cpu(cols), db_ref(cols);
    ActBackward(rows, cols, y.data(), ld, relu, cpu.data(), ld, db_cpu.data());
    ref::ActBackward(rows, cols, y.data(), ld, relu, ref.data(), ld, db_ref.data());
    EXPECT_EQ(cpu, ref) << "relu " << relu;  // the mask is exact
    ExpectNear(db_ref, db_cpu, 1e-5, "db");
  }
  // relu zeroes exactly where y <= 0.
  std::vector<float> dy = dy0;
  ref::ActBackward(rows, cols, y.data(), ld, true, dy.data(), ld, nullptr);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      if (y[r * ld + c] <= 0) {
        EXPECT_EQ(dy[r * ld + c], 0.0f);
      }
}

TEST(CudaReferenceTest, DotInteractionMatchesCpu) {
  for (int m : {2, 5, 27}) {
    const int rows = 4, d = 16, tri = m * (m - 1) / 2, ld = tri + 3;
    const std::vector<float> z = Random(rows * m * d, 5);
    std::vector<float> scratch(InteractionScratchSize(m, d));
    std::vector<float> cpu(rows * ld, -7.0f), ref(rows * ld, -7.0f);
    DotInteractionForward(rows, m, d, z.data(), cpu.data(), ld, scratch.data());
    ref::DotInteractionForward(rows, m, d, z.data(), ref.data(), ld);
    ExpectNear(ref, cpu, 1e-5, "forward");
    EXPECT_EQ(ref[ld - 1], -7.0f);  // padding past the triangle untouched

    const std::vector<float> g = Random(rows * ld, 6);
    std::vector<float> dz_cpu(rows * m * d), dz_ref(rows * m * d);
    DotInteractionBackward(rows, m, d, z.data(), g.data(), ld, dz_cpu.data(), scratch.data());
    ref::DotInteractionBackward(rows, m, d, z.data(), g.data(), ld, dz_ref.data());
    ExpectNear(dz_ref, dz_cpu, 1e-5, "backward");
  }
}

TEST(CudaReferenceTest, CrossLayerMatchesCpu) {
  const int rows = 9, D = 21;
  ParamLayout layout;
  const CrossLayer<float> cpu(layout, "cross.0", D);
  ASSERT_EQ(layout.size(), 2u * D);  // weight [D] at 0, bias [D] at D
  const std::vector<float> params = Random(2 * D, 11), x0 = Random(rows * D, 12),
                           xl = Random(rows * D, 13), g0 = Random(rows * D, 14),
                           dx00 = Random(rows * D, 15);
  std::vector<float> s_cpu(rows), y_cpu(rows * D), s_ref(rows), y_ref(rows * D);
  cpu.Forward(rows, params.data(), x0.data(), xl.data(), s_cpu.data(), y_cpu.data());
  ref::CrossForward(rows, D, x0.data(), xl.data(), params.data(), params.data() + D, s_ref.data(),
                    y_ref.data());
  ExpectNear(s_ref, s_cpu, 1e-5, "s");
  ExpectNear(y_ref, y_cpu, 1e-5, "y");

  std::vector<float> g_cpu = g0, g_ref = g0, dx0_cpu = dx00, dx0_ref = dx00;
  std::vector<float> grads(2 * D), dw(D), db(D), tmp(rows * D), ds(rows), ones(D, 1.0f);
  cpu.Backward(rows, params.data(), x0.data(), xl.data(), s_cpu.data(), g_cpu.data(),
               dx0_cpu.data(), grads.data(), tmp.data(), ds.data(), ones.data());
  ref::CrossBackward(rows, D, x0.data(), xl.data(), params.data(), s_cpu.data(), g_ref.data(),
                     dx0_ref.data(), dw.data(), db.data());
  ExpectNear(g_ref, g_cpu, 1e-5, "dx_l");
  ExpectNear(dx0_ref, dx0_cpu, 1e-5, "dx0 (added)");
  ExpectNear(dw, std::vector<float>(grads.begin(), grads.begin() + D), 1e-5, "dw");
  ExpectNear(db, std::vector<float>(grads.begin() + D, grads.end()), 1e-5, "db");
}

// The GEMM calls of cuda_dense_model.cc (shapes and leading dimensions as
// there), translated by ToColMajor and run through column-major CBLAS, equal
// blas.h's row-major Gemm. OpenBLAS also refuses a leading dimension that
// cuBLAS would refuse (it prints the bad parameter and leaves C unchanged).
TEST(CudaReferenceTest, ColumnMajorTranslationOfTheModelsGemms) {
  struct Call {
    const char* what;
    bool ta, tb;
    int m, n, k, lda, ldb, ldc;
    float beta;
  };
  const int rows = 37, in = 29, out = 11, ld = 33;  // ld > width: a strided operand
  const Call calls[] = {
      {"linear forward y = x Wᵀ", false, true, rows, out, in, ld, in, out + 2, 0.0f},
      {"linear dW = dyᵀ x", true, false, out, in, rows, out + 2, ld, in, 0.0f},
      {"linear dx = dy W", false, false, rows, in, out, out + 2, in, ld, 0.0f},
      {"wdl wide logits += x wᵀ", false, true, rows, 1, in, ld, in, 1, 1.0f},
      {"wdl dwide = dlᵀ x", true, false, 1, in, rows, 1, ld, in, 0.0f},
      {"wdl dx += dl w", false, false, rows, in, 1, 1, in, ld, 1.0f},
  };
  for (const Call& c : calls) {
    // Sizes of A, B, C as stored (row-major, with their leading dimensions).
    const int a_rows = c.ta ? c.k : c.m, b_rows = c.tb ? c.n : c.k;
    const std::vector<float> a = Random(static_cast<size_t>(a_rows) * c.lda, 21),
                             b = Random(static_cast<size_t>(b_rows) * c.ldb, 22),
                             c0 = Random(static_cast<size_t>(c.m) * c.ldc, 23);
    std::vector<float> want = c0, got = c0;
    Gemm(c.ta, c.tb, c.m, c.n, c.k, 1.0f, a.data(), c.lda, b.data(), c.ldb, c.beta, want.data(),
         c.ldc);
    const ColMajorGemm g =
        ToColMajor(c.ta, c.tb, c.m, c.n, c.k, a.data(), c.lda, b.data(), c.ldb, got.data(), c.ldc);
    cblas_sgemm(CblasColMajor, g.trans_a ? CblasTrans : CblasNoTrans,
                g.trans_b ? CblasTrans : CblasNoTrans, g.m, g.n, g.k, 1.0f, g.a, g.lda, g.b, g.ldb,
                c.beta, g.c, g.ldc);
    ExpectNear(got, want, 1e-5, c.what);
    EXPECT_NE(want, c0) << c.what;  // the call did something
  }
}

TEST(CudaReferenceTest, BceWithLogitsMatchesCpu) {
  std::vector<float> logits = Random(301, 7, 4.0), labels(301);
  logits[0] = 80.0f;  // large |z|: no overflow in either
  logits[1] = -80.0f;
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = (i * 7) % 3 == 0 ? 1.0f : 0.0f;
  std::vector<float> d_cpu(logits.size()), d_ref(logits.size());
  const double cpu = BceWithLogits(logits, labels, d_cpu.data());
  const double ref = ref::BceWithLogits(static_cast<int>(logits.size()), logits.data(),
                                        labels.data(), d_ref.data());
  EXPECT_NEAR(ref, cpu, 1e-6 * cpu);
  ExpectNear(d_ref, d_cpu, 1e-6, "dlogits");
  EXPECT_TRUE(std::isfinite(ref));
}

TEST(CudaReferenceTest, AdamStepMatchesCpuOptimizer) {
  const size_t n = 1000;
  OptimizerConfig oc;
  oc.name = "adam";
  oc.lr = 0.01;
  oc.weight_decay = 0.001;
  oc.threads = 1;
  auto opt = CreateDenseOptimizer(oc, n);
  ASSERT_TRUE(opt.ok()) << opt.status();
  std::vector<float> p_cpu = Random(n, 8), p_ref = p_cpu, m(n, 0.0f), v(n, 0.0f);
  for (int64_t step = 1; step <= 3; ++step) {
    const std::vector<float> g = Random(n, 10 + step);
    (*opt)->Step(p_cpu, g, step);
    ref::AdamStep(n, MakeAdamConsts(oc.lr, oc.beta1, oc.beta2, oc.eps, oc.weight_decay, step),
                  p_ref.data(), g.data(), m.data(), v.data());
  }
  ExpectNear(p_ref, p_cpu, 1e-6, "params");
  const std::span<float> st = (*opt)->state();
  ExpectNear(m, std::vector<float>(st.begin(), st.begin() + n), 1e-5, "m");
  ExpectNear(v, std::vector<float>(st.begin() + n, st.end()), 1e-5, "v");
  // The parameters moved: a no-op reference would not pass.
  EXPECT_GT(std::fabs(p_ref[0] - Random(n, 8)[0]), 1e-4);
}

TEST(CudaReferenceTest, SgdAndAdagradStepsMatchCpuOptimizer) {
  const size_t n = 1000;
  for (const char* name : {"sgd", "adagrad"}) {
    OptimizerConfig oc;
    oc.name = name;
    oc.lr = 0.05;
    oc.weight_decay = 0.01;
    oc.adagrad_init = 0.1;
    oc.threads = 1;
    auto opt = CreateDenseOptimizer(oc, n);
    ASSERT_TRUE(opt.ok()) << opt.status();
    const std::vector<float> p0 = Random(n, 30);
    std::vector<float> p_cpu = p0, p_ref = p0, s(n, static_cast<float>(oc.adagrad_init));
    for (int64_t step = 1; step <= 3; ++step) {
      const std::vector<float> g = Random(n, 30 + step);
      (*opt)->Step(p_cpu, g, step);
      if (oc.name == "sgd") {
        ref::SgdStep(n, float(oc.lr), float(oc.weight_decay), p_ref.data(), g.data());
      } else {
        ref::AdagradStep(n, float(oc.lr), float(oc.weight_decay), float(oc.adagrad_eps),
                         p_ref.data(), g.data(), s.data());
      }
    }
    ExpectNear(p_ref, p_cpu, 1e-6, name);
    if (oc.name == "adagrad") {
      const std::span<float> st = (*opt)->state();
      ExpectNear(s, std::vector<float>(st.begin(), st.end()), 1e-6, "adagrad state");
    }
    EXPECT_GT(std::fabs(p_ref[0] - p0[0]), 1e-4) << name;  // the step moved it
  }
}

}  // namespace
}  // namespace ecps::model::cuda
