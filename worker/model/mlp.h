// A stack of Linear layers: sizes = [in, h_1, ..., out], ReLU after every
// layer except the last (and after the last too when relu_last). Parameter
// blocks are "<prefix>.<i>.weight" / "<prefix>.<i>.bias".
//
// Hidden activations (outputs of layers 0..L-2) live in one caller-owned
// array of HiddenSize(rows) elements; the final output goes wherever the
// caller points it (with its own leading dimension), which lets DLRM and DCN
// write MLP outputs straight into the concatenation that consumes them.
// Thread-safety: const methods only.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "worker/model/linear.h"

namespace ecps::model {

template <typename T>
class Mlp {
 public:
  Mlp() = default;
  Mlp(ParamLayout& layout, const std::string& prefix, const std::vector<int>& sizes,
      bool relu_last) {
    for (size_t i = 0; i + 1 < sizes.size(); ++i) {
      const bool last = i + 2 == sizes.size();
      layers_.emplace_back(layout, prefix + "." + std::to_string(i), sizes[i], sizes[i + 1],
                           /*bias=*/true, /*relu=*/!last || relu_last);
    }
  }

  int in() const { return layers_.front().in(); }
  int out() const { return layers_.back().out(); }
  int num_layers() const { return static_cast<int>(layers_.size()); }
  // Widest layer input or output: the size per row of Backward's buffers.
  int max_width() const {
    int w = 0;
    for (const auto& l : layers_) w = std::max({w, l.in(), l.out()});
    return w;
  }
  size_t HiddenSize(int rows) const {
    size_t n = 0;
    for (size_t i = 0; i + 1 < layers_.size(); ++i)
      n += static_cast<size_t>(rows) * layers_[i].out();
    return n;
  }

  // x [rows x in] (ld ldx) -> y [rows x out] (ld ldy); hidden: HiddenSize(rows).
  void Forward(int rows, const T* params, const T* x, int ldx, T* hidden, T* y, int ldy) const {
    const T* cur = x;
    int ldc = ldx;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const bool last = i + 1 == layers_.size();
      T* dst = last ? y : hidden;
      const int ldd = last ? ldy : layers_[i].out();
      layers_[i].Forward(rows, params, cur, ldc, dst, ldd);
      cur = dst;
      ldc = ldd;
      if (!last) hidden += static_cast<size_t>(rows) * layers_[i].out();
    }
  }

  // Backward of Forward with the same x, hidden and y.
  //   dy [rows x out] (ld lddy): dL/dy, clobbered.
  //   grads: the flat gradient buffer; this MLP's blocks are overwritten.
  //   bufa, bufb: rows * max_width() elements each, scratch.
  //   dx [rows x in] (ld lddx): written (added when accumulate_dx); null skips
  //   the input gradient (and its GEMM).
  void Backward(int rows, const T* params, const T* x, int ldx, const T* hidden, const T* y,
                int ldy, T* dy, int lddy, T* grads, T* bufa, T* bufb, T* dx, int lddx,
                bool accumulate_dx) const {
    // Hidden arrays are consumed last to first; act_end walks back over them
    // (no allocation in the step).
    const T* act_end = hidden + HiddenSize(rows);
    T* cur = dy;
    int ldc = lddy;
    for (int i = num_layers() - 1; i >= 0; --i) {
      const Linear<T>& l = layers_[i];
      const bool last = i == num_layers() - 1;
      const T* act_i = last ? nullptr : act_end - static_cast<size_t>(rows) * l.out();
      const T* xin = i == 0 ? x : (last ? act_end : act_i) - static_cast<size_t>(rows) * l.in();
      const int ldxin = i == 0 ? ldx : l.in();
      const T* yout = last ? y : act_i;
      const int ldyout = last ? ldy : l.out();
      T* target = i == 0 ? dx : (cur == bufa ? bufb : bufa);
      const int ldt = i == 0 ? lddx : l.in();
      l.Backward(rows, params, xin, ldxin, yout, ldyout, cur, ldc, grads, target, ldt,
                 i == 0 && accumulate_dx);
      cur = target;
      ldc = ldt;
      if (!last) act_end = act_i;
    }
  }

 private:
  std::vector<Linear<T>> layers_;
};

}  // namespace ecps::model
