// One DCN cross layer (Wang et al. 2017; docs/methods.md §1.4):
//   x_{l+1} = x0 ⊙ (x_l · w) + b + x_l,   w, b ∈ R^D,
// where x_l · w is one scalar per sample. Parameters "<name>.weight" [D] and
// "<name>.bias" [D].
//
// Initialisation: w is Xavier-normal with fan_in = D, fan_out = 1, i.e.
// std = sqrt(2 / (D + 1)), treating w as the [D x 1] Linear weight it is in
// the authors' code (which initialises every Linear weight Xavier-normal);
// b is zero (docs/methods.md §1.4).
//
// The two matrix-vector products (x_l·w forward, x_lᵀ·ds backward) and the
// row sums go to BLAS GEMV; the rest are element-wise loops.
// Thread-safety: const methods only.
#pragma once

#include <cstddef>
#include <string>

#include "worker/model/blas.h"
#include "worker/model/cpu_kernels.h"
#include "worker/model/param_layout.h"

namespace ecps::model {

template <typename T>
class CrossLayer {
 public:
  CrossLayer() = default;
  CrossLayer(ParamLayout& layout, const std::string& name, int dim) : dim_(dim) {
    w_ = layout.Add(name + ".weight", {dim}, Init::kXavierNormal, dim, 1);
    b_ = layout.Add(name + ".bias", {dim}, Init::kZero);
  }

  int dim() const { return dim_; }

  // x0, xl: [n x D]; s: [n] output (x_l·w, kept for Backward); y: [n x D].
  void Forward(int n, const T* params, const T* x0, const T* xl, T* s, T* y) const {
    const int D = dim_;
    Gemv(false, n, D, T(1), xl, D, params + w_, T(0), s);
    const T* __restrict b = params + b_;
    for (int r = 0; r < n; ++r) {
      const T* __restrict x0r = x0 + static_cast<size_t>(r) * D;
      const T* __restrict xlr = xl + static_cast<size_t>(r) * D;
      T* __restrict yr = y + static_cast<size_t>(r) * D;
      const T sr = s[r];
      for (int k = 0; k < D; ++k) yr[k] = x0r[k] * sr + b[k] + xlr[k];
    }
  }

  // Backward given the forward inputs and s.
  //   g:      [n x D]; on entry dL/dy, on exit dL/dx_l (through x_l only).
  //   dx0:    [n x D]; dL/dx0 through this layer's x0 factor is *added*.
  //   grads:  dw and db overwritten at grads + offset.
  //   tmp:    [n x D] scratch; ds: [n] scratch; ones: [D] filled with 1.
  void Backward(int n, const T* params, const T* x0, const T* xl, const T* s, T* g, T* dx0,
                T* grads, T* tmp, T* ds, const T* ones) const {
    const int D = dim_;
    for (int r = 0; r < n; ++r) {
      const T* __restrict x0r = x0 + static_cast<size_t>(r) * D;
      const T* __restrict gr = g + static_cast<size_t>(r) * D;
      T* __restrict tr = tmp + static_cast<size_t>(r) * D;
      T* __restrict d0r = dx0 + static_cast<size_t>(r) * D;
      const T sr = s[r];
      for (int k = 0; k < D; ++k) {
        tr[k] = gr[k] * x0r[k];
        d0r[k] += gr[k] * sr;
      }
    }
    // ds[r] = sum_k g[r,k] x0[r,k]: a row sum of tmp, done by GEMV so that it
    // is vectorised (a plain loop would be a serial reduction).
    Gemv(false, n, D, T(1), tmp, D, ones, T(0), ds);
    // dw = x_lᵀ · ds; db = column sums of g.
    Gemv(true, n, D, T(1), xl, D, ds, T(0), grads + w_);
    ActBackward(n, D, static_cast<const T*>(nullptr), 0, false, g, D, grads + b_);
    const T* __restrict w = params + w_;
    for (int r = 0; r < n; ++r) {
      T* __restrict gr = g + static_cast<size_t>(r) * D;
      const T dsr = ds[r];
      for (int k = 0; k < D; ++k) gr[k] += dsr * w[k];
    }
  }

 private:
  int dim_ = 0;
  size_t w_ = 0, b_ = 0;
};

}  // namespace ecps::model
