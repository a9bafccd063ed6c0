#include "embedding/sparse_optimizer.h"

#include <cmath>

#include "common/check.h"

namespace ecps {
namespace {

// Plain element loops: with -fno-math-errno (embedding/CMakeLists.txt) GCC
// vectorises sqrt and division; target_clones adds an AVX2 copy without
// requiring it of the build machine. Without FMA in either copy, both give the
// same bits, so a run is reproducible across CPUs.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ECPS_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define ECPS_MULTIVERSION
#endif

#define ECPS_INLINE inline __attribute__((always_inline))

// The row kernels, inlined into the single-row and the batch entry points
// below (each compiled once per target clone).
ECPS_INLINE void AdamKernel(float lr, float b1, float b2, float eps, float inv_bias1,
                            float inv_bias2, int width, const float* __restrict grad,
                            float* __restrict w, float* __restrict m, float* __restrict v) {
  const float c1 = 1.0f - b1;
  const float c2 = 1.0f - b2;
  for (int j = 0; j < width; ++j) {
    const float g = grad[j];
    const float mj = b1 * m[j] + c1 * g;
    const float vj = b2 * v[j] + c2 * (g * g);
    m[j] = mj;
    v[j] = vj;
    w[j] -= lr * (mj * inv_bias1) / (std::sqrt(vj * inv_bias2) + eps);
  }
}

ECPS_INLINE void SgdKernel(float lr, int width, const float* __restrict grad, float* __restrict w) {
  for (int j = 0; j < width; ++j) w[j] -= lr * grad[j];
}

ECPS_INLINE void AdagradKernel(float lr, float eps, int width, const float* __restrict grad,
                               float* __restrict w, float* __restrict a) {
  for (int j = 0; j < width; ++j) {
    const float g = grad[j];
    const float aj = a[j] + g * g;
    a[j] = aj;
    w[j] -= lr * g / (std::sqrt(aj) + eps);
  }
}

ECPS_INLINE void RowwiseAdagradKernel(float lr, float eps, int width, const float* __restrict grad,
                                      float* __restrict w, float* __restrict a) {
  float sq = 0.0f;
  for (int j = 0; j < width; ++j) sq += grad[j] * grad[j];
  const float acc = *a + sq / static_cast<float>(width);
  *a = acc;
  const float step = lr / (std::sqrt(acc) + eps);
  for (int j = 0; j < width; ++j) w[j] -= step * grad[j];
}

// One optimizer step of a single row.
ECPS_MULTIVERSION void UpdateOne(const SparseOptimizerConfig& cfg, const SparseStepFactors& f,
                                 int width, const float* grad, float* w, float* state) {
  switch (cfg.kind) {
    case SparseOptimizerKind::kAdam:
      AdamKernel(cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, f.inv_bias1, f.inv_bias2, width, grad, w,
                 state, state + width);
      return;
    case SparseOptimizerKind::kSgd:
      SgdKernel(cfg.lr, width, grad, w);
      return;
    case SparseOptimizerKind::kAdagrad:
      AdagradKernel(cfg.lr, cfg.adagrad_eps, width, grad, w, state);
      return;
    case SparseOptimizerKind::kRowwiseAdagrad:
      RowwiseAdagradKernel(cfg.lr, cfg.adagrad_eps, width, grad, w, state);
      return;
  }
}

// The row loop of ApplySparseUpdates for a width known here (16: the loops
// unroll completely) or passed in (kWidth 0). The rows are scattered over a
// table of many MB: their weights and state are fetched kAhead rows early.
// On a server the pushed rows are usually out of cache again (the pull that
// read them was a whole round trip earlier), so a row's update is a DRAM
// miss: 16 rows ahead keeps enough misses in flight (4 left the prefetches
// stalling on the fill buffers in `perf annotate`).
template <int kWidth>
ECPS_INLINE void UpdateRows(const SparseOptimizerConfig& cfg, const SparseStepFactors& f, int width,
                            int sf, const uint64_t* rows, size_t n, const float* grads,
                            float* weights, float* state) {
  const size_t w = kWidth > 0 ? kWidth : width;
  constexpr size_t kAhead = 16;
  for (size_t u = 0; u < n; ++u) {
    if (u + kAhead < n) {
      const uint64_t next = rows[u + kAhead];
      __builtin_prefetch(weights + next * w, 1);
      if (sf > 0) __builtin_prefetch(state + next * sf, 1);
      if (static_cast<size_t>(sf) > w) __builtin_prefetch(state + next * sf + w, 1);
    }
    const uint64_t r = rows[u];
    const float* g = grads + u * w;
    float* wr = weights + r * w;
    float* st = state + r * sf;
    switch (cfg.kind) {
      case SparseOptimizerKind::kAdam:
        AdamKernel(cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, f.inv_bias1, f.inv_bias2,
                   static_cast<int>(w), g, wr, st, st + w);
        break;
      case SparseOptimizerKind::kSgd:
        SgdKernel(cfg.lr, static_cast<int>(w), g, wr);
        break;
      case SparseOptimizerKind::kAdagrad:
        AdagradKernel(cfg.lr, cfg.adagrad_eps, static_cast<int>(w), g, wr, st);
        break;
      case SparseOptimizerKind::kRowwiseAdagrad:
        RowwiseAdagradKernel(cfg.lr, cfg.adagrad_eps, static_cast<int>(w), g, wr, st);
        break;
    }
  }
}

ECPS_MULTIVERSION void UpdateMany(const SparseOptimizerConfig& cfg, const SparseStepFactors& f,
                                  int width, const uint64_t* rows, size_t n, const float* grads,
                                  float* weights, float* state) {
  const int sf = StateFloatsPerRow(cfg.kind, width);
  if (width == 16) {
    UpdateRows<16>(cfg, f, width, sf, rows, n, grads, weights, state);
  } else {
    UpdateRows<0>(cfg, f, width, sf, rows, n, grads, weights, state);
  }
}

}  // namespace

StatusOr<SparseOptimizerKind> ParseSparseOptimizer(const std::string& name) {
  if (name == "adam") return SparseOptimizerKind::kAdam;
  if (name == "sgd") return SparseOptimizerKind::kSgd;
  if (name == "adagrad") return SparseOptimizerKind::kAdagrad;
  if (name == "rowwise_adagrad") return SparseOptimizerKind::kRowwiseAdagrad;
  return InvalidArgument("unknown sparse optimizer '", name,
                         "'; expected one of: adam, sgd, adagrad, rowwise_adagrad");
}

int StateFloatsPerRow(SparseOptimizerKind kind, int width) {
  switch (kind) {
    case SparseOptimizerKind::kAdam:
      return 2 * width;
    case SparseOptimizerKind::kSgd:
      return 0;
    case SparseOptimizerKind::kAdagrad:
      return width;
    case SparseOptimizerKind::kRowwiseAdagrad:
      return 1;
  }
  return 0;
}

float StateInitValue(const SparseOptimizerConfig& cfg) {
  switch (cfg.kind) {
    case SparseOptimizerKind::kAdagrad:
    case SparseOptimizerKind::kRowwiseAdagrad:
      return cfg.adagrad_init;
    default:
      return 0.0f;
  }
}

SparseStepFactors MakeSparseStepFactors(const SparseOptimizerConfig& cfg, int64_t step) {
  ECPS_CHECK_GE(step, 1) << "the optimizer step is 1-based";
  SparseStepFactors f;
  if (cfg.kind == SparseOptimizerKind::kAdam) {
    // In double: b2^t approaches 1 - t*(1-b2) and float would lose the difference.
    const double t = static_cast<double>(step);
    f.inv_bias1 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(cfg.beta1), t)));
    f.inv_bias2 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(cfg.beta2), t)));
  }
  return f;
}

void ApplySparseUpdate(const SparseOptimizerConfig& cfg, const SparseStepFactors& f, int width,
                       const float* grad, float* weights, float* state) {
  UpdateOne(cfg, f, width, grad, weights, state);
}

void ApplySparseUpdates(const SparseOptimizerConfig& cfg, const SparseStepFactors& f, int width,
                        const uint64_t* rows, size_t n, const float* grads, float* weights,
                        float* state) {
  UpdateMany(cfg, f, width, rows, n, grads, weights, state);
}

void ApplySparseUpdate(const SparseOptimizerConfig& cfg, int64_t step, int width, const float* grad,
                       float* weights, float* state) {
  ApplySparseUpdate(cfg, MakeSparseStepFactors(cfg, step), width, grad, weights, state);
}

}  // namespace ecps
