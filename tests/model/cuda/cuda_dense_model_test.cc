// CudaDenseModel (worker/model/cuda/cuda_dense_model.h): DLRM, WDL and DCN against
// the CPU backend from the same seed: logits, embedding gradients and parameter
// gradients within float tolerances, and the refusals (no GPU, unknown model).
// The comparisons skip, with the reason, when no CUDA device is present.
#include "worker/model/cuda/cuda_dense_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "tests/model/cuda/gpu_test_util.h"
#include "tests/model/grad_check.h"
#include "worker/model/dense_model.h"

namespace ecps::model::cuda {
namespace {

DenseModelConfig Config(const std::string& name, int num_dense) {
  DenseModelConfig c;
  c.name = name;
  c.num_dense = num_dense;
  c.num_fields = 26;
  c.dim = 16;
  c.bottom = {64, 32};
  c.top = {64, 32};
  c.deep = {64, 32};
  c.dcn_deep = {64, 32};
  c.cross_layers = 2;
  c.threads = 1;
  c.bias_init = "normal";  // non-zero biases: the bias path counts
  return c;
}

double MaxRelError(std::span<const float> got, std::span<const float> want) {
  double scale = 0, err = 0;
  for (float w : want) scale = std::max(scale, double(std::fabs(w)));
  for (size_t i = 0; i < got.size(); ++i) err = std::max(err, double(std::fabs(got[i] - want[i])));
  return err / std::max(scale, 1e-30);
}

TEST(CudaDenseModelTest, RefusesWithoutGpuAndUnknownModels) {
  DenseModelConfig c = Config("dlrm", 13);
  auto m = CreateDenseModel(c, Device::kCuda, 1);
  if (CudaDeviceStatus().ok()) {
    EXPECT_TRUE(m.ok()) << m.status();
  } else {
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(m.status().message().find("model.device=cuda"), std::string::npos) << m.status();
  }
  c.name = "nope";
  EXPECT_EQ(CreateCudaDenseModel(c, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

struct ModelCase {
  std::string name;
  int num_dense;
};

// gtest prints a parameter's bytes otherwise (ctest shows them in the name).
void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.name << " dense " << c.num_dense; }

// Runs without a GPU: the toolkit's cuBLAS opens and has every function the
// backend calls (it is dlopen'ed, so a missing one would otherwise show only
// on a GPU machine).
TEST(CudaDenseModelTest, CublasLoadsAtRunTime) {
  const Status s = CublasLoadStatus();
  EXPECT_TRUE(s.ok()) << s;
}

class CudaModelTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(CudaModelTest, MatchesCpuForwardAndBackward) {
  ECPS_SKIP_WITHOUT_GPU();
  const DenseModelConfig c = Config(GetParam().name, GetParam().num_dense);
  auto cpu = CreateDenseModel(c, Device::kCpu, 7);
  auto gpu = CreateDenseModel(c, Device::kCuda, 7);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  ASSERT_EQ((*gpu)->blocks().size(), (*cpu)->blocks().size());
  // Same seed, same initial parameters, bit for bit.
  ASSERT_TRUE(
      std::equal((*gpu)->params().begin(), (*gpu)->params().end(), (*cpu)->params().begin()));
  for (int batch : {1, 37, 512}) {
    const size_t ed = static_cast<size_t>(c.num_fields) * c.dim;
    const auto dense = ::ecps::model::testing::RandomVector<float>(batch * c.num_dense, 1, 1.0);
    const auto emb = ::ecps::model::testing::RandomVector<float>(batch * ed, 2, 0.5);
    const auto dl = ::ecps::model::testing::RandomVector<float>(batch, 3, 1.0);
    std::vector<float> lc(batch), lg(batch), ec(batch * ed), eg(batch * ed);
    const float* dp = c.num_dense > 0 ? dense.data() : nullptr;
    (*cpu)->Forward(batch, dp, emb.data(), lc.data());
    (*gpu)->Forward(batch, dp, emb.data(), lg.data());
    EXPECT_LT(MaxRelError(lg, lc), 1e-4) << "logits, batch " << batch;
    (*cpu)->Backward(dl.data(), ec.data());
    (*gpu)->Backward(dl.data(), eg.data());
    EXPECT_LT(MaxRelError(eg, ec), 1e-4) << "demb, batch " << batch;
    for (const ParamBlock& b : (*cpu)->blocks()) {
      size_t n = 1;
      for (int s : b.shape) n *= s;
      EXPECT_LT(
          MaxRelError((*gpu)->grads().subspan(b.offset, n), (*cpu)->grads().subspan(b.offset, n)),
          1e-4)
          << b.name << ", batch " << batch;
    }
  }
  // params() is the host mirror the next Forward uploads: a change there
  // changes the device's logits as it does the CPU's.
  for (auto* m : {&*cpu, &*gpu})
    for (float& p : (*m)->params()) p *= 0.5f;
  const int batch = 8;
  const auto emb = ::ecps::model::testing::RandomVector<float>(batch * c.num_fields * c.dim, 4);
  const auto dense = ::ecps::model::testing::RandomVector<float>(batch * c.num_dense, 5);
  std::vector<float> lc(batch), lg(batch);
  const float* dp = c.num_dense > 0 ? dense.data() : nullptr;
  (*cpu)->Forward(batch, dp, emb.data(), lc.data());
  (*gpu)->Forward(batch, dp, emb.data(), lg.data());
  EXPECT_LT(MaxRelError(lg, lc), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Models, CudaModelTest,
                         ::testing::Values(ModelCase{"dlrm", 13}, ModelCase{"dlrm", 0},
                                           ModelCase{"wdl", 13}, ModelCase{"wdl", 0},
                                           ModelCase{"dcn", 13}, ModelCase{"dcn", 0}),
                         [](const ::testing::TestParamInfo<ModelCase>& info) {
                           return info.param.name + "_dense" + std::to_string(info.param.num_dense);
                         });

}  // namespace
}  // namespace ecps::model::cuda
