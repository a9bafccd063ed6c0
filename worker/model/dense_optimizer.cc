// Dense optimizers over the model's flat parameter buffer (dense_model.h):
// Adam, SGD and Adagrad with PyTorch's update formulas (torch.optim), so
// that runs are comparable with the PyTorch peer.
//
// Every update is element-wise, so splitting the buffer across threads does
// not change any result. The float loops are cloned for AVX2 / baseline like
// cpu_kernels.cc; the arithmetic is written once and kept in float with
// step-dependent constants computed in double.

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <vector>

#include "common/check.h"
#include "common/large_alloc.h"
#include "worker/model/blas.h"
#include "worker/model/dense_model.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ECPS_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define ECPS_MULTIVERSION
#endif

namespace ecps {
namespace {

// Elements per parallel chunk: large enough to amortise the fork, small
// enough that 2 threads split ~0.5M parameters evenly.
constexpr size_t kChunk = 32768;

struct AdamConsts {
  float b1, one_minus_b1, b2, one_minus_b2;
  float step_size;     // lr / (1 - b1^t)
  float inv_sqrt_bc2;  // 1 / sqrt(1 - b2^t)
  float eps, wd;
};

// torch.optim.Adam (non-amsgrad, non-decoupled weight decay):
//   g += wd p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²;
//   p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
ECPS_MULTIVERSION void AdamKernel(size_t n, const AdamConsts c, float* __restrict p,
                                  const float* __restrict g, float* __restrict m,
                                  float* __restrict v) {
  for (size_t i = 0; i < n; ++i) {
    const float gi = g[i] + c.wd * p[i];
    const float mi = c.b1 * m[i] + c.one_minus_b1 * gi;
    const float vi = c.b2 * v[i] + c.one_minus_b2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    p[i] -= c.step_size * (mi / (std::sqrt(vi) * c.inv_sqrt_bc2 + c.eps));
  }
}

// torch.optim.SGD without momentum: p -= lr (g + wd p).
ECPS_MULTIVERSION void SgdKernel(size_t n, float lr, float wd, float* __restrict p,
                                 const float* __restrict g) {
  for (size_t i = 0; i < n; ++i) p[i] -= lr * (g[i] + wd * p[i]);
}

// torch.optim.Adagrad (lr_decay 0): g += wd p; s += g²; p -= lr g / (sqrt(s) + eps).
ECPS_MULTIVERSION void AdagradKernel(size_t n, float lr, float wd, float eps, float* __restrict p,
                                     const float* __restrict g, float* __restrict s) {
  for (size_t i = 0; i < n; ++i) {
    const float gi = g[i] + wd * p[i];
    const float si = s[i] + gi * gi;
    s[i] = si;
    p[i] -= lr * gi / (std::sqrt(si) + eps);
  }
}

class DenseOptimizerBase : public DenseOptimizer {
 public:
  DenseOptimizerBase(const OptimizerConfig& c, size_t n, size_t state_per_param)
      : config_(c),
        n_(n),
        threads_(c.threads > 0 ? c.threads : std::max(1, omp_get_num_procs())),
        state_(n * state_per_param, 0.0f) {
    if (threads_ > 1 && n_ > kChunk)
      pool_ = std::make_unique<ForkJoinPool>(model::DensePoolOptions(threads_));
  }

  std::span<float> state() override { return state_; }

 protected:
  // Runs fn(lo, len) over fixed chunks of [0, n), in parallel when worth it.
  template <typename Fn>
  void ForChunks(Fn fn) {
    const size_t chunks = (n_ + kChunk - 1) / kChunk;
    if (pool_ == nullptr || chunks <= 1) {
      fn(size_t{0}, n_);
      return;
    }
    pool_->Run(static_cast<int>(chunks), [&](int k) {
      const size_t lo = static_cast<size_t>(k) * kChunk;
      fn(lo, std::min(kChunk, n_ - lo));
    });
  }
  void CheckSizes(std::span<float> params, std::span<const float> grads) const {
    ECPS_CHECK_EQ(params.size(), n_);
    ECPS_CHECK_EQ(grads.size(), n_);
  }

  OptimizerConfig config_;
  size_t n_;
  int threads_;
  LargeVector<float> state_;            // on huge pages: streamed every step
  std::unique_ptr<ForkJoinPool> pool_;  // null when single-threaded
};

// State layout: m [n], then v [n].
class Adam final : public DenseOptimizerBase {
 public:
  Adam(const OptimizerConfig& c, size_t n) : DenseOptimizerBase(c, n, 2) {}
  void Step(std::span<float> params, std::span<const float> grads, int64_t step) override {
    CheckSizes(params, grads);
    ECPS_CHECK_GE(step, 1) << "Adam steps are 1-based";
    const double t = static_cast<double>(step);
    const double bc1 = 1.0 - std::pow(config_.beta1, t);
    const double bc2 = 1.0 - std::pow(config_.beta2, t);
    const AdamConsts c{
        static_cast<float>(config_.beta1),    static_cast<float>(1.0 - config_.beta1),
        static_cast<float>(config_.beta2),    static_cast<float>(1.0 - config_.beta2),
        static_cast<float>(config_.lr / bc1), static_cast<float>(1.0 / std::sqrt(bc2)),
        static_cast<float>(config_.eps),      static_cast<float>(config_.weight_decay)};
    float* p = params.data();
    const float* g = grads.data();
    float* m = state_.data();
    float* v = state_.data() + n_;
    ForChunks([&](size_t lo, size_t len) { AdamKernel(len, c, p + lo, g + lo, m + lo, v + lo); });
  }
};

class Sgd final : public DenseOptimizerBase {
 public:
  Sgd(const OptimizerConfig& c, size_t n) : DenseOptimizerBase(c, n, 0) {}
  void Step(std::span<float> params, std::span<const float> grads, int64_t step) override {
    CheckSizes(params, grads);
    const float lr = static_cast<float>(config_.lr);
    const float wd = static_cast<float>(config_.weight_decay);
    float* p = params.data();
    const float* g = grads.data();
    ForChunks([&](size_t lo, size_t len) { SgdKernel(len, lr, wd, p + lo, g + lo); });
  }
};

// State layout: the squared-gradient accumulator [n].
class Adagrad final : public DenseOptimizerBase {
 public:
  Adagrad(const OptimizerConfig& c, size_t n) : DenseOptimizerBase(c, n, 1) {
    std::fill(state_.begin(), state_.end(), static_cast<float>(c.adagrad_init));
  }
  void Step(std::span<float> params, std::span<const float> grads, int64_t step) override {
    CheckSizes(params, grads);
    const float lr = static_cast<float>(config_.lr);
    const float wd = static_cast<float>(config_.weight_decay);
    const float eps = static_cast<float>(config_.adagrad_eps);
    float* p = params.data();
    const float* g = grads.data();
    float* s = state_.data();
    ForChunks(
        [&](size_t lo, size_t len) { AdagradKernel(len, lr, wd, eps, p + lo, g + lo, s + lo); });
  }
};

}  // namespace

StatusOr<std::unique_ptr<DenseOptimizer>> CreateDenseOptimizer(const OptimizerConfig& config,
                                                               size_t num_params) {
  if (!(config.lr > 0)) return InvalidArgument("dense optimizer: lr must be > 0, got ", config.lr);
  if (config.threads < 0)
    return InvalidArgument("dense optimizer: threads must be >= 0, got ", config.threads);
  if (config.name == "adam") {
    if (!(config.beta1 >= 0 && config.beta1 < 1 && config.beta2 >= 0 && config.beta2 < 1))
      return InvalidArgument("dense optimizer: adam betas must be in [0, 1)");
    return std::unique_ptr<DenseOptimizer>(new Adam(config, num_params));
  }
  if (config.name == "sgd") return std::unique_ptr<DenseOptimizer>(new Sgd(config, num_params));
  if (config.name == "adagrad")
    return std::unique_ptr<DenseOptimizer>(new Adagrad(config, num_params));
  if (config.name == "rowwise_adagrad")
    return InvalidArgument(
        "dense optimizer: rowwise_adagrad is a sparse (embedding) optimizer only; use adagrad "
        "for dense parameters");
  return InvalidArgument("dense optimizer: unknown name '", config.name,
                         "' (known: adam, sgd, adagrad)");
}

}  // namespace ecps
