// Whole-model tests of the CPU dense backend: gradient checks of DLRM, WDL and
// DCN in double, float vs double agreement, determinism across runs and
// thread counts, parameter counts and the factory's errors.
#include "worker/model/dense_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "tests/model/grad_check.h"
#include "worker/model/cpu_dense_model.h"
#include "worker/model/dlrm.h"
#if defined(ECPS_HAVE_CUDA)
#include "worker/model/cuda/cuda_dense_model.h"
#endif

namespace ecps::model {
namespace {

using testing::Dot;
using testing::ExpectGradientMatches;
using testing::RandomVector;

DenseModelConfig SmallConfig(const std::string& name, int num_dense) {
  DenseModelConfig c;
  c.name = name;
  c.num_dense = num_dense;
  c.num_fields = 4;
  c.dim = 3;
  c.bottom = {6, 5};
  c.top = {7, 4};
  c.deep = {6, 5};
  c.dcn_deep = {6, 5, 4};
  c.cross_layers = 2;
  c.threads = 1;
  return c;
}

struct ModelCase {
  std::string name;
  int num_dense;
};

std::string CaseName(const ::testing::TestParamInfo<ModelCase>& info) {
  return info.param.name + "_dense" + std::to_string(info.param.num_dense);
}

class ModelGradTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ModelGradTest, MatchesFiniteDifferences) {
  const DenseModelConfig c = SmallConfig(GetParam().name, GetParam().num_dense);
  auto net_or = CpuDenseNet<double>::Create(c, 42);
  ASSERT_TRUE(net_or.ok()) << net_or.status();
  CpuDenseNet<double>& net = **net_or;
  const int batch = 5;
  // Perturb the zero-initialised biases so that every path is exercised.
  std::vector<double> params(net.params().begin(), net.params().end());
  const std::vector<double> noise = RandomVector(params.size(), 1, 0.1);
  for (size_t i = 0; i < params.size(); ++i) params[i] += noise[i];
  std::vector<double> dense = RandomVector(batch * c.num_dense, 2);
  std::vector<double> emb = RandomVector(batch * c.num_fields * c.dim, 3);
  const std::vector<double> cvec = RandomVector(batch, 4);
  std::vector<double> logits(batch);
  auto loss = [&] {
    std::copy(params.begin(), params.end(), net.params().begin());
    net.Forward(batch, c.num_dense > 0 ? dense.data() : nullptr, emb.data(), logits.data());
    return Dot(cvec, logits.data());
  };
  loss();
  std::vector<double> demb(emb.size(), 99.0);
  std::fill(net.grads().begin(), net.grads().end(), 99.0);  // Backward must overwrite
  net.Backward(cvec.data(), demb.data());
  const std::vector<double> grads(net.grads().begin(), net.grads().end());
  ExpectGradientMatches("params", params, grads, loss);
  ExpectGradientMatches("emb", emb, demb, loss);
}

INSTANTIATE_TEST_SUITE_P(Models, ModelGradTest,
                         ::testing::Values(ModelCase{"dlrm", 3}, ModelCase{"dlrm", 0},
                                           ModelCase{"wdl", 3}, ModelCase{"wdl", 0},
                                           ModelCase{"dcn", 3}, ModelCase{"dcn", 0}),
                         CaseName);

// Runs forward + backward of a float model on fixed random inputs.
struct StepResult {
  std::vector<float> logits, grads, demb;
};
StepResult RunFloat(CpuDenseNet<float>& net, int batch, uint64_t seed) {
  const DenseModelConfig& c = net.config();
  const std::vector<float> dense = RandomVector<float>(batch * c.num_dense, seed);
  const std::vector<float> emb = RandomVector<float>(batch * c.num_fields * c.dim, seed + 1);
  const std::vector<float> dl = RandomVector<float>(batch, seed + 2, 1.0 / batch);
  StepResult r;
  r.logits.resize(batch);
  r.demb.resize(emb.size());
  net.Forward(batch, dense.data(), emb.data(), r.logits.data());
  net.Backward(dl.data(), r.demb.data());
  r.grads.assign(net.grads().begin(), net.grads().end());
  return r;
}

DenseModelConfig DefaultConfig(const std::string& name, int threads) {
  DenseModelConfig c;
  c.name = name;
  c.threads = threads;
  return c;
}

TEST(DenseModelTest, FloatMatchesDouble) {
  for (const std::string name : {"dlrm", "wdl", "dcn"}) {
    const DenseModelConfig c = DefaultConfig(name, 1);
    auto f = CpuDenseNet<float>::Create(c, 7);
    auto d = CpuDenseNet<double>::Create(c, 7);
    ASSERT_TRUE(f.ok() && d.ok());
    // Same init up to float rounding.
    for (size_t i = 0; i < (*f)->params().size(); ++i)
      ASSERT_EQ((*f)->params()[i], static_cast<float>((*d)->params()[i])) << name << " " << i;
    const int batch = 32;
    const std::vector<double> dense = RandomVector(batch * c.num_dense, 8);
    const std::vector<double> emb = RandomVector(batch * c.num_fields * c.dim, 9, 0.5);
    const std::vector<double> dl = RandomVector(batch, 10);
    const std::vector<float> densef(dense.begin(), dense.end()), embf(emb.begin(), emb.end()),
        dlf(dl.begin(), dl.end());
    std::vector<float> lf(batch), gef(emb.size());
    std::vector<double> ld(batch), ged(emb.size());
    (*f)->Forward(batch, densef.data(), embf.data(), lf.data());
    (*d)->Forward(batch, dense.data(), emb.data(), ld.data());
    (*f)->Backward(dlf.data(), gef.data());
    (*d)->Backward(dl.data(), ged.data());
    double scale = 0;
    for (double v : ld) scale = std::max(scale, std::abs(v));
    for (int i = 0; i < batch; ++i) EXPECT_NEAR(lf[i], ld[i], 1e-4 * (1 + scale)) << name;
    auto gf = (*f)->grads();
    auto gd = (*d)->grads();
    double gscale = 0;
    for (double v : gd) gscale = std::max(gscale, std::abs(v));
    for (size_t i = 0; i < gf.size(); ++i) ASSERT_NEAR(gf[i], gd[i], 1e-4 * gscale) << name << i;
    double escale = 0;
    for (double v : ged) escale = std::max(escale, std::abs(v));
    for (size_t i = 0; i < gef.size(); ++i) ASSERT_NEAR(gef[i], ged[i], 1e-4 * escale) << name;
  }
}

TEST(DenseModelTest, SameSeedIsBitIdentical) {
  for (const std::string name : {"dlrm", "wdl", "dcn"}) {
    for (int threads : {1, 2}) {
      auto a = CpuDenseNet<float>::Create(DefaultConfig(name, threads), 5);
      auto b = CpuDenseNet<float>::Create(DefaultConfig(name, threads), 5);
      ASSERT_TRUE(a.ok() && b.ok());
      ASSERT_EQ(0, std::memcmp((*a)->params().data(), (*b)->params().data(),
                               sizeof(float) * (*a)->params().size()));
      const StepResult ra = RunFloat(**a, 200, 11);
      const StepResult rb = RunFloat(**b, 200, 11);
      EXPECT_EQ(ra.logits, rb.logits) << name << " threads " << threads;
      EXPECT_EQ(ra.grads, rb.grads) << name << " threads " << threads;
      EXPECT_EQ(ra.demb, rb.demb) << name << " threads " << threads;
      // Repeating the step on the same model gives the same bits too.
      const StepResult ra2 = RunFloat(**a, 200, 11);
      EXPECT_EQ(ra.grads, ra2.grads) << name;
    }
  }
}

TEST(DenseModelTest, DifferentSeedsDiffer) {
  auto a = CpuDenseNet<float>::Create(DefaultConfig("dlrm", 1), 1);
  auto b = CpuDenseNet<float>::Create(DefaultConfig("dlrm", 1), 2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->params()[0], (*b)->params()[0]);
}

TEST(DenseModelTest, ThreadCountsAndModesAgree) {
  for (const std::string name : {"dlrm", "wdl", "dcn"}) {
    for (int batch : {1, 31, 128, 1000}) {
      auto one = CpuDenseNet<float>::Create(DefaultConfig(name, 1), 3);
      DenseModelConfig c2 = DefaultConfig(name, 2);
      c2.cpu_parallel = "shards";
      auto two = CpuDenseNet<float>::Create(c2, 3);
      c2.cpu_parallel = "blas";
      auto blas = CpuDenseNet<float>::Create(c2, 3);
      ASSERT_TRUE(one.ok() && two.ok() && blas.ok());
      const StepResult r1 = RunFloat(**one, batch, 21);
      const StepResult r2 = RunFloat(**two, batch, 21);
      const StepResult r3 = RunFloat(**blas, batch, 21);
      if (batch >= 32) {
        EXPECT_EQ((*two)->num_shards(), 2);
      }
      EXPECT_EQ((*blas)->num_shards(), 1);
      // Not bit-identical: OpenBLAS picks different kernels (and K-order)
      // for different matrix heights, so even per-sample values round
      // differently when the batch is split. They agree to float rounding.
      for (size_t i = 0; i < r1.logits.size(); ++i) {
        ASSERT_NEAR(r1.logits[i], r2.logits[i], 1e-5f * (1 + std::abs(r1.logits[i])));
        ASSERT_NEAR(r1.logits[i], r3.logits[i], 1e-5f * (1 + std::abs(r1.logits[i])));
      }
      float escale = 0;
      for (float v : r1.demb) escale = std::max(escale, std::abs(v));
      for (size_t i = 0; i < r1.demb.size(); ++i) {
        ASSERT_NEAR(r1.demb[i], r2.demb[i], 1e-5f * escale) << name << " " << i;
        ASSERT_NEAR(r1.demb[i], r3.demb[i], 1e-5f * escale) << name << " " << i;
      }
      // Parameter gradients are sums over the batch, and shard sums are added
      // in a different order.
      float scale = 0;
      for (float v : r1.grads) scale = std::max(scale, std::abs(v));
      for (size_t i = 0; i < r1.grads.size(); ++i) {
        ASSERT_NEAR(r1.grads[i], r2.grads[i], 1e-5f * scale) << name << " " << i;
        ASSERT_NEAR(r1.grads[i], r3.grads[i], 1e-5f * scale) << name << " " << i;
      }
    }
  }
}

TEST(DenseModelTest, DefaultParameterCounts) {
  // Counts written out layer by layer (weights + biases).
  const size_t dlrm = (13 * 512 + 512) + (512 * 256 + 256) + (256 * 64 + 64) + (64 * 16 + 16) +
                      (367 * 512 + 512) + (512 * 256 + 256) + (256 * 1 + 1);
  EXPECT_EQ(dlrm, 475985u);  // the PyTorch peer's mlp_params
  const size_t wdl = (429 * 256 + 256) + (256 * 256 + 256) + (256 + 1) + 429;
  const size_t dcn = 3 * (429 + 429) + (429 * 256 + 256) + 2 * (256 * 256 + 256) + (685 + 1);
  for (const auto& [name, count] :
       std::vector<std::pair<std::string, size_t>>{{"dlrm", dlrm}, {"wdl", wdl}, {"dcn", dcn}}) {
    auto m = CreateDenseModel(DefaultConfig(name, 1), Device::kCpu, 0);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ((*m)->params().size(), count) << name;
    EXPECT_EQ((*m)->grads().size(), count) << name;
    // Blocks tile the buffer in order.
    size_t end = 0;
    for (const ParamBlock& b : (*m)->blocks()) {
      EXPECT_EQ(b.offset, end) << b.name;
      end += std::accumulate(b.shape.begin(), b.shape.end(), size_t{1}, std::multiplies<>());
    }
    EXPECT_EQ(end, count) << name;
  }
}

TEST(DenseModelTest, DlrmShapes) {
  DlrmNet<float> criteo(DefaultConfig("dlrm", 1));
  EXPECT_EQ(criteo.top_input_size(), 367);
  const auto& blocks = criteo.layout().blocks();
  EXPECT_EQ(blocks.front().name, "bottom.0.weight");
  EXPECT_EQ(blocks.front().shape, (std::vector<int>{512, 13}));
  EXPECT_EQ(blocks[8].name, "top.0.weight");
  EXPECT_EQ(blocks[8].shape, (std::vector<int>{512, 367}));
  DenseModelConfig avazu = DefaultConfig("dlrm", 1);
  avazu.num_dense = 0;
  avazu.num_fields = 22;
  DlrmNet<float> a(avazu);
  EXPECT_EQ(a.top_input_size(), 231);
  EXPECT_EQ(a.layout().blocks().front().name, "top.0.weight");
}

TEST(DenseModelTest, InitIsXavierNormalWithZeroBiases) {
  auto m = CreateDenseModel(DefaultConfig("dlrm", 1), Device::kCpu, 9);
  ASSERT_TRUE(m.ok());
  for (const ParamBlock& b : (*m)->blocks()) {
    const size_t n =
        std::accumulate(b.shape.begin(), b.shape.end(), size_t{1}, std::multiplies<>());
    const float* p = (*m)->params().data() + b.offset;
    if (b.shape.size() == 1) {
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(p[i], 0.0f) << b.name;
      continue;
    }
    double sq = 0;
    for (size_t i = 0; i < n; ++i) sq += double(p[i]) * p[i];
    const double want = std::sqrt(2.0 / (b.shape[0] + b.shape[1]));
    if (n >= 1000) {
      EXPECT_NEAR(std::sqrt(sq / n), want, 0.1 * want) << b.name;
    }
  }
}

TEST(DenseModelTest, NormalBiasInitFollowsFanOut) {
  DenseModelConfig c = DefaultConfig("dlrm", 1);
  c.bias_init = "normal";
  auto m = CreateDenseModel(c, Device::kCpu, 9);
  ASSERT_TRUE(m.ok());
  int checked = 0;
  for (const ParamBlock& b : (*m)->blocks()) {
    if (b.shape.size() != 1 || b.shape[0] < 256) continue;
    const float* p = (*m)->params().data() + b.offset;
    double sq = 0;
    for (int i = 0; i < b.shape[0]; ++i) sq += double(p[i]) * p[i];
    const double want = std::sqrt(1.0 / b.shape[0]);
    EXPECT_NEAR(std::sqrt(sq / b.shape[0]), want, 0.15 * want) << b.name;
    ++checked;
  }
  EXPECT_EQ(checked, 4);  // bottom 512, 256; top 512, 256
  c.bias_init = "uniform";
  EXPECT_EQ(CreateDenseModel(c, Device::kCpu, 9).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DenseModelTest, FactoryErrors) {
  DenseModelConfig c = DefaultConfig("dlrm", 1);
  auto cuda = CreateDenseModel(c, Device::kCuda, 0);
#if defined(ECPS_HAVE_CUDA)
  // Built with CUDA: the device backend, or a clear refusal without a GPU
  // (never a silent CPU fallback).
  if (cuda::CudaDeviceStatus().ok()) {
    EXPECT_TRUE(cuda.ok()) << cuda.status();
  } else {
    EXPECT_EQ(cuda.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(cuda.status().message().find("model.device=cuda"), std::string::npos)
        << cuda.status();
  }
#else
  EXPECT_EQ(cuda.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(cuda.status().message().find("built without CUDA"), std::string::npos);
#endif
  c.name = "deepfm";
  auto unknown = CreateDenseModel(c, Device::kCpu, 0);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("dlrm"), std::string::npos);
  c = DefaultConfig("dlrm", 1);
  c.bottom = {512, 0};
  EXPECT_EQ(CreateDenseModel(c, Device::kCpu, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  c = DefaultConfig("dlrm", 1);
  c.cpu_parallel = "gpu";
  EXPECT_EQ(CreateDenseModel(c, Device::kCpu, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DenseModelTest, WorkspaceGrowsAndShrinksWithBatch) {
  auto m = CreateDenseModel(DefaultConfig("dlrm", 2), Device::kCpu, 1);
  ASSERT_TRUE(m.ok());
  // Large then small batches reuse the workspace; the small batch's results
  // must not depend on what the large one left behind.
  auto fresh = CpuDenseNet<float>::Create(DefaultConfig("dlrm", 2), 1);
  ASSERT_TRUE(fresh.ok());
  auto used = CpuDenseNet<float>::Create(DefaultConfig("dlrm", 2), 1);
  ASSERT_TRUE(used.ok());
  RunFloat(**used, 700, 30);
  const StepResult a = RunFloat(**fresh, 50, 31);
  const StepResult b = RunFloat(**used, 50, 31);
  EXPECT_EQ(a.logits, b.logits);
  EXPECT_EQ(a.grads, b.grads);
}

}  // namespace
}  // namespace ecps::model
