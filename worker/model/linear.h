// Fully connected layer y = act(x·Wᵀ + b) with W stored [out x in] row-major
// (PyTorch's nn.Linear layout) and an optional bias, for T = float or double.
//
// The layer owns no memory: parameters and gradients are addressed as
// `base + offset` in the model's flat buffers (param_layout.h), activations
// live in the caller's workspace. Matrix products go to BLAS (one GEMM each
// for y, dW and dx); bias and ReLU are one fused pass (cpu_kernels.h).
// Thread-safety: const methods only; concurrent calls on disjoint outputs are
// safe.
#pragma once

#include <string>

#include "worker/model/blas.h"
#include "worker/model/cpu_kernels.h"
#include "worker/model/param_layout.h"

namespace ecps::model {

template <typename T>
class Linear {
 public:
  Linear() = default;
  // Registers "<name>.weight" [out x in] (Xavier-normal) and, when bias,
  // "<name>.bias" [out] (layout.linear_bias_init(): zeros by default) in `layout`.
  Linear(ParamLayout& layout, const std::string& name, int in, int out, bool bias, bool relu)
      : in_(in), out_(out), relu_(relu) {
    w_ = layout.Add(name + ".weight", {out, in}, Init::kXavierNormal, in, out);
    if (bias) {
      has_bias_ = true;
      b_ = layout.Add(name + ".bias", {out}, layout.linear_bias_init(), 0, out);
    }
  }

  int in() const { return in_; }
  int out() const { return out_; }
  bool relu() const { return relu_; }

  // y[n x out] (leading dim ldy) = act(x[n x in] (ld ldx) · Wᵀ + b).
  void Forward(int n, const T* params, const T* x, int ldx, T* y, int ldy) const {
    Gemm(false, true, n, out_, in_, T(1), x, ldx, params + w_, in_, T(0), y, ldy);
    BiasAct(n, out_, has_bias_ ? params + b_ : nullptr, relu_, y, ldy);
  }

  // Backward given the forward input x and output y.
  //   dy [n x out] (ld lddy): on entry dL/dy; on exit dL/d(pre-activation).
  //   grads: this layer's dW (and db) are overwritten at grads + offset.
  //   dx [n x in] (ld lddx): dL/dx, overwritten (or added to when
  //   accumulate_dx); skipped when dx is null.
  void Backward(int n, const T* params, const T* x, int ldx, const T* y, int ldy, T* dy, int lddy,
                T* grads, T* dx, int lddx, bool accumulate_dx = false) const {
    ActBackward(n, out_, y, ldy, relu_, dy, lddy, has_bias_ ? grads + b_ : nullptr);
    // dW[out x in] = dyᵀ · x: one GEMM over the whole batch (K = n).
    Gemm(true, false, out_, in_, n, T(1), dy, lddy, x, ldx, T(0), grads + w_, in_);
    if (dx != nullptr) {
      Gemm(false, false, n, in_, out_, T(1), dy, lddy, params + w_, in_,
           accumulate_dx ? T(1) : T(0), dx, lddx);
    }
  }

 private:
  int in_ = 0, out_ = 0;
  bool relu_ = false, has_bias_ = false;
  size_t w_ = 0, b_ = 0;
};

}  // namespace ecps::model
