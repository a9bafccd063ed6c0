// Each CUDA kernel (worker/model/cuda/kernels.h) against its host reference
// (reference.h), which reference_test.cc holds to the CPU backend. Skipped,
// with the reason, when no CUDA device is present.
#include "worker/model/cuda/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/model/cuda/gpu_test_util.h"
#include "tests/model/grad_check.h"

namespace ecps::model::cuda {
namespace {

using testing::DeviceVector;

std::vector<float> Random(size_t n, uint64_t seed, double scale = 1.0) {
  return ::ecps::model::testing::RandomVector<float>(n, seed, scale);
}

// Tolerance of a float sum of `terms` terms of unit size against the double
// reference: GPU and reference differ in summation order only.
void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, double tol,
                const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i]))) << what << " at " << i;
}

TEST(CudaKernelsTest, BiasActMatchesReference) {
  ECPS_SKIP_WITHOUT_GPU();
  const int rows = 300, cols = 37, ld = 40;
  const std::vector<float> y0 = Random(rows * ld, 1), bias = Random(cols, 2);
  for (bool relu : {false, true}) {
    DeviceVector y(y0), b(bias);
    ASSERT_EQ(BiasAct(nullptr, rows, cols, b.get(), relu, y.get(), ld), cudaSuccess);
    std::vector<float> want = y0;
    ref::BiasAct(rows, cols, bias.data(), relu, want.data(), ld);
    EXPECT_EQ(y.ToHost(), want) << "relu " << relu;  // one add and a max: exact
  }
}

TEST(CudaKernelsTest, ActBackwardMatchesReference) {
  ECPS_SKIP_WITHOUT_GPU();
  const int rows = 1000, cols = 70, ld = 72;
  const std::vector<float> y0 = Random(rows * ld, 3), dy0 = Random(rows * ld, 4);
  for (bool relu : {false, true}) {
    DeviceVector y(y0), dy(dy0), db(cols);
    ASSERT_EQ(ActBackward(nullptr, rows, cols, y.get(), ld, relu, dy.get(), ld, db.get()),
              cudaSuccess);
    std::vector<float> want = dy0, want_db(cols);
    ref::ActBackward(rows, cols, y0.data(), ld, relu, want.data(), ld, want_db.data());
    EXPECT_EQ(dy.ToHost(), want) << "relu " << relu;
    ExpectNear(db.ToHost(), want_db, 1e-4, "db");
  }
}

TEST(CudaKernelsTest, AddStridedAddsOnlyTheBlock) {
  ECPS_SKIP_WITHOUT_GPU();
  const int rows = 50, cols = 16;
  const std::vector<float> x0 = Random(rows * 20, 5), y0 = Random(rows * 30, 6);
  DeviceVector x(x0), y(y0);
  ASSERT_EQ(AddStrided(nullptr, rows, cols, x.get(), 20, y.get(), 30), cudaSuccess);
  const std::vector<float> got = y.ToHost();
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < 30; ++c)
      EXPECT_EQ(got[r * 30 + c], c < cols ? y0[r * 30 + c] + x0[r * 20 + c] : y0[r * 30 + c]);
}

TEST(CudaKernelsTest, DotInteractionMatchesReference) {
  ECPS_SKIP_WITHOUT_GPU();
  for (int m : {2, 14, 27}) {
    const int rows = 129, d = 16, ld = 16 + m * (m - 1) / 2;
    const std::vector<float> z0 = Random(rows * m * d, 7);
    DeviceVector z(z0), out(std::vector<float>(rows * ld, -7.0f));
    ASSERT_EQ(DotInteractionForward(nullptr, rows, m, d, z.get(), out.get() + 16, ld), cudaSuccess);
    std::vector<float> want(rows * ld, -7.0f);
    ref::DotInteractionForward(rows, m, d, z0.data(), want.data() + 16, ld);
    ExpectNear(out.ToHost(), want, 1e-5, "forward");

    const std::vector<float> g0 = Random(rows * ld, 8);
    DeviceVector g(g0), dz(rows * m * d);
    ASSERT_EQ(DotInteractionBackward(nullptr, rows, m, d, z.get(), g.get() + 16, ld, dz.get()),
              cudaSuccess);
    std::vector<float> want_dz(rows * m * d);
    ref::DotInteractionBackward(rows, m, d, z0.data(), g0.data() + 16, ld, want_dz.data());
    ExpectNear(dz.ToHost(), want_dz, 1e-5, "backward");
  }
  // Too many vectors for the shared-memory kernel: refused, not miscomputed.
  DeviceVector z(1), out(1);
  EXPECT_EQ(DotInteractionForward(nullptr, 1, 200, 16, z.get(), out.get(), 1),
            cudaErrorInvalidValue);
}

TEST(CudaKernelsTest, CrossLayerMatchesReference) {
  ECPS_SKIP_WITHOUT_GPU();
  const int rows = 300, D = 429;  // Criteo DCN: 26 x 16 + 13
  const std::vector<float> w0 = Random(D, 11), b0 = Random(D, 12), x00 = Random(rows * D, 13),
                           xl0 = Random(rows * D, 14), g00 = Random(rows * D, 15),
                           dx00 = Random(rows * D, 16);
  DeviceVector w(w0), b(b0), x0(x00), xl(xl0), s(rows), y(rows * D);
  ASSERT_EQ(CrossForward(nullptr, rows, D, x0.get(), xl.get(), w.get(), b.get(), s.get(), y.get()),
            cudaSuccess);
  std::vector<float> want_s(rows), want_y(rows * D);
  ref::CrossForward(rows, D, x00.data(), xl0.data(), w0.data(), b0.data(), want_s.data(),
                    want_y.data());
  ExpectNear(s.ToHost(), want_s, 1e-4, "s");
  ExpectNear(y.ToHost(), want_y, 1e-4, "y");

  DeviceVector g(g00), dx0(dx00), ds(rows), dw(D), db(D);
  ASSERT_EQ(CrossBackward(nullptr, rows, D, x0.get(), xl.get(), w.get(), s.get(), g.get(),
                          dx0.get(), ds.get(), dw.get(), db.get()),
            cudaSuccess);
  std::vector<float> want_g = g00, want_dx0 = dx00, want_dw(D), want_db(D);
  const std::vector<float> s_dev = s.ToHost();
  ref::CrossBackward(rows, D, x00.data(), xl0.data(), w0.data(), s_dev.data(), want_g.data(),
                     want_dx0.data(), want_dw.data(), want_db.data());
  ExpectNear(g.ToHost(), want_g, 1e-4, "dx_l");
  ExpectNear(dx0.ToHost(), want_dx0, 1e-4, "dx0");
  ExpectNear(dw.ToHost(), want_dw, 1e-4, "dw");
  ExpectNear(db.ToHost(), want_db, 1e-4, "db");
}

TEST(CudaKernelsTest, BceWithLogitsMatchesReference) {
  ECPS_SKIP_WITHOUT_GPU();
  const int n = 5000;
  std::vector<float> logits = Random(n, 9, 5.0), labels(n);
  logits[0] = 90.0f;
  logits[1] = -90.0f;
  for (int i = 0; i < n; ++i) labels[i] = i % 4 == 0 ? 1.0f : 0.0f;
  DeviceVector z(logits), y(labels), dl(n);
  double* loss = nullptr;
  ASSERT_EQ(cudaMalloc(&loss, sizeof(double)), cudaSuccess);
  ASSERT_EQ(BceWithLogits(nullptr, n, z.get(), y.get(), dl.get(), loss), cudaSuccess);
  double got = 0;
  ASSERT_EQ(cudaMemcpy(&got, loss, sizeof(double), cudaMemcpyDeviceToHost), cudaSuccess);
  cudaFree(loss);
  std::vector<float> want_dl(n);
  const double want = ref::BceWithLogits(n, logits.data(), labels.data(), want_dl.data());
  EXPECT_NEAR(got, want, 1e-6 * want);
  ExpectNear(dl.ToHost(), want_dl, 1e-6, "dlogits");
}

TEST(CudaKernelsTest, AdamStepMatchesReference) {
  ECPS_SKIP_WITHOUT_GPU();
  const size_t n = 100003;
  std::vector<float> p0 = Random(n, 10), m0(n, 0.0f), v0(n, 0.0f);
  DeviceVector p(p0), m(m0), v(v0);
  for (int64_t step = 1; step <= 3; ++step) {
    const std::vector<float> g0 = Random(n, 20 + step);
    DeviceVector g(g0);
    const AdamConsts c = MakeAdamConsts(0.01, 0.9, 0.999, 1e-8, 0.001, step);
    ASSERT_EQ(AdamStep(nullptr, n, c, p.get(), g.get(), m.get(), v.get()), cudaSuccess);
    ref::AdamStep(n, c, p0.data(), g0.data(), m0.data(), v0.data());
  }
  ExpectNear(p.ToHost(), p0, 1e-6, "params");
  ExpectNear(m.ToHost(), m0, 1e-5, "m");
  ExpectNear(v.ToHost(), v0, 1e-5, "v");
}

TEST(CudaKernelsTest, SgdAndAdagradStepsMatchReference) {
  ECPS_SKIP_WITHOUT_GPU();
  const size_t n = 70001;
  const std::vector<float> p0 = Random(n, 40), g0 = Random(n, 41);
  std::vector<float> want_sgd = p0, want_ada = p0, s0(n, 0.1f);
  DeviceVector ps(p0), pa(p0), g(g0), s(s0);
  ASSERT_EQ(SgdStep(nullptr, n, 0.05f, 0.01f, ps.get(), g.get()), cudaSuccess);
  ASSERT_EQ(AdagradStep(nullptr, n, 0.05f, 0.01f, 1e-10f, pa.get(), g.get(), s.get()), cudaSuccess);
  ref::SgdStep(n, 0.05f, 0.01f, want_sgd.data(), g0.data());
  ref::AdagradStep(n, 0.05f, 0.01f, 1e-10f, want_ada.data(), g0.data(), s0.data());
  ExpectNear(ps.ToHost(), want_sgd, 1e-6, "sgd");
  ExpectNear(pa.ToHost(), want_ada, 1e-6, "adagrad");
  ExpectNear(s.ToHost(), s0, 1e-6, "adagrad state");
}

}  // namespace
}  // namespace ecps::model::cuda
