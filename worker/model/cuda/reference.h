// Host reference implementations of the CUDA dense kernels (kernels.h), in
// the FBGEMM style: the plainest loops that state what each kernel computes,
// accumulating in double. They are the test oracles twice over:
// tests/model/cuda/reference_test.cc checks them against the CPU backend
// (cpu_kernels.h, loss.h, dense_optimizer.cc) on every machine, and the GPU
// tests check the kernels against them where a GPU exists. Header-only and
// free of CUDA headers so that the first test builds without CUDA.
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ecps::model::cuda {

// Step constants of torch.optim.Adam (non-amsgrad, L2 weight decay), computed
// in double and rounded to float exactly as the CPU optimizer does.
struct AdamConsts {
  float b1, one_minus_b1, b2, one_minus_b2;
  float step_size;     // lr / (1 - b1^t)
  float inv_sqrt_bc2;  // 1 / sqrt(1 - b2^t)
  float eps, wd;
};

inline AdamConsts MakeAdamConsts(double lr, double beta1, double beta2, double eps,
                                 double weight_decay, int64_t step) {
  const double t = static_cast<double>(step);
  const double bc1 = 1.0 - std::pow(beta1, t);
  const double bc2 = 1.0 - std::pow(beta2, t);
  return AdamConsts{static_cast<float>(beta1),    static_cast<float>(1.0 - beta1),
                    static_cast<float>(beta2),    static_cast<float>(1.0 - beta2),
                    static_cast<float>(lr / bc1), static_cast<float>(1.0 / std::sqrt(bc2)),
                    static_cast<float>(eps),      static_cast<float>(weight_decay)};
}

namespace ref {

// y[r, c] = act(y[r, c] + bias[c]); bias may be null; act = ReLU when relu.
inline void BiasAct(int rows, int cols, const float* bias, bool relu, float* y, int ldy) {
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      float& v = y[static_cast<size_t>(r) * ldy + c];
      if (bias != nullptr) v += bias[c];
      if (relu) v = std::max(v, 0.0f);
    }
}

// Backward of BiasAct from its output y: dy zeroed where relu and y <= 0 (in
// place); db[c] = sum_r dy[r, c] when db is non-null (overwritten).
inline void ActBackward(int rows, int cols, const float* y, int ldy, bool relu, float* dy, int lddy,
                        float* db) {
  for (int c = 0; c < cols; ++c) {
    double sum = 0;
    for (int r = 0; r < rows; ++r) {
      float& g = dy[static_cast<size_t>(r) * lddy + c];
      if (relu && !(y[static_cast<size_t>(r) * ldy + c] > 0.0f)) g = 0.0f;
      sum += g;
    }
    if (db != nullptr) db[c] = static_cast<float>(sum);
  }
}

// For each row r, z[r] is [m x d]; out[r, :] (leading dimension ldo) gets the
// strict lower triangle of z[r]·z[r]ᵀ, pairs (i, j), i > j, row-major.
inline void DotInteractionForward(int rows, int m, int d, const float* z, float* out, int ldo) {
  for (int r = 0; r < rows; ++r) {
    const float* zr = z + static_cast<size_t>(r) * m * d;
    int pos = 0;
    for (int i = 1; i < m; ++i)
      for (int j = 0; j < i; ++j) {
        double s = 0;
        for (int k = 0; k < d; ++k) s += double(zr[i * d + k]) * zr[j * d + k];
        out[static_cast<size_t>(r) * ldo + pos++] = static_cast<float>(s);
      }
  }
}

// dz[r, i, :] = sum_{j != i} g(i, j) z[r, j, :], g the triangle gradient of
// the pair (leading dimension ldd); dz overwritten.
inline void DotInteractionBackward(int rows, int m, int d, const float* z, const float* dtri,
                                   int ldd, float* dz) {
  for (int r = 0; r < rows; ++r) {
    const float* zr = z + static_cast<size_t>(r) * m * d;
    const float* g = dtri + static_cast<size_t>(r) * ldd;
    for (int i = 0; i < m; ++i)
      for (int k = 0; k < d; ++k) {
        double s = 0;
        for (int j = 0; j < m; ++j) {
          if (j == i) continue;
          const int a = std::max(i, j), b = std::min(i, j);
          s += double(g[a * (a - 1) / 2 + b]) * zr[j * d + k];
        }
        dz[static_cast<size_t>(r) * m * d + i * d + k] = static_cast<float>(s);
      }
  }
}

// Mean BCE-with-logits over n samples; dlogits[i] = (sigmoid(z_i) - y_i) / n.
inline double BceWithLogits(int n, const float* logits, const float* labels, float* dlogits) {
  if (n == 0) return 0.0;
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    const double z = logits[i], y = labels[i];
    const double p = 1.0 / (1.0 + std::exp(-z));
    dlogits[i] = static_cast<float>((p - y) / n);
    sum += std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::fabs(z)));
  }
  return sum / n;
}

// DCN cross layer (cross_layer.h): s[r] = x_l[r]·w and
// y[r] = x0[r] * s[r] + b + x_l[r]; x0, xl, y: [rows x D].
inline void CrossForward(int rows, int D, const float* x0, const float* xl, const float* w,
                         const float* b, float* s, float* y) {
  for (int r = 0; r < rows; ++r) {
    const size_t o = static_cast<size_t>(r) * D;
    double dot = 0;
    for (int k = 0; k < D; ++k) dot += double(xl[o + k]) * w[k];
    s[r] = static_cast<float>(dot);
    for (int k = 0; k < D; ++k) y[o + k] = x0[o + k] * s[r] + b[k] + xl[o + k];
  }
}

// Backward of CrossForward given s. g: on entry dL/dy, on exit dL/dx_l; dx0
// gets dL/dx0 of this layer *added*; dw, db overwritten.
inline void CrossBackward(int rows, int D, const float* x0, const float* xl, const float* w,
                          const float* s, float* g, float* dx0, float* dw, float* db) {
  std::vector<double> ds(rows), sw(D, 0.0), sb(D, 0.0);
  for (int r = 0; r < rows; ++r) {
    const size_t o = static_cast<size_t>(r) * D;
    double acc = 0;
    for (int k = 0; k < D; ++k) {
      acc += double(g[o + k]) * x0[o + k];
      dx0[o + k] += g[o + k] * s[r];
    }
    ds[r] = acc;
  }
  for (int r = 0; r < rows; ++r) {
    const size_t o = static_cast<size_t>(r) * D;
    for (int k = 0; k < D; ++k) {
      sw[k] += double(xl[o + k]) * ds[r];
      sb[k] += g[o + k];
      g[o + k] = static_cast<float>(g[o + k] + ds[r] * w[k]);
    }
  }
  for (int k = 0; k < D; ++k) {
    dw[k] = static_cast<float>(sw[k]);
    db[k] = static_cast<float>(sb[k]);
  }
}

// One Adam step (torch.optim.Adam) over n elements; m and v are the moments.
inline void AdamStep(size_t n, const AdamConsts& c, float* p, const float* g, float* m, float* v) {
  for (size_t i = 0; i < n; ++i) {
    const double gi = double(g[i]) + double(c.wd) * p[i];
    const double mi = double(c.b1) * m[i] + double(c.one_minus_b1) * gi;
    const double vi = double(c.b2) * v[i] + double(c.one_minus_b2) * gi * gi;
    m[i] = static_cast<float>(mi);
    v[i] = static_cast<float>(vi);
    p[i] = static_cast<float>(p[i] - double(c.step_size) * mi /
                                         (std::sqrt(vi) * c.inv_sqrt_bc2 + double(c.eps)));
  }
}

// torch.optim.SGD without momentum: p -= lr (g + wd p).
inline void SgdStep(size_t n, float lr, float wd, float* p, const float* g) {
  for (size_t i = 0; i < n; ++i)
    p[i] = static_cast<float>(p[i] - double(lr) * (g[i] + double(wd) * p[i]));
}

// torch.optim.Adagrad (lr_decay 0): g += wd p; s += g²; p -= lr g / (sqrt(s) + eps).
inline void AdagradStep(size_t n, float lr, float wd, float eps, float* p, const float* g,
                        float* s) {
  for (size_t i = 0; i < n; ++i) {
    const double gi = double(g[i]) + double(wd) * p[i];
    const double si = s[i] + gi * gi;
    s[i] = static_cast<float>(si);
    p[i] = static_cast<float>(p[i] - double(lr) * gi / (std::sqrt(si) + double(eps)));
  }
}

}  // namespace ref
}  // namespace ecps::model::cuda
