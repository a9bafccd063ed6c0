// DLRM (docs/methods.md §1.4): bottom MLP num_dense -> bottom... -> dim with ReLU
// after every layer; dot interaction over Z = [bottom_out, emb_0..emb_{F-1}];
// top MLP over [bottom_out, triangle] -> top... -> 1 (ReLU on hidden layers).
// With num_dense == 0 there is no bottom MLP: Z is the F embeddings and the
// top input is the triangle alone (Avazu: 22 fields -> 231).
//
// Workspace per shard (rows r, m = |Z|, t = top input width):
//   dense copy [r x num_dense], Z [r x m x d], top input [r x t], MLP hidden
//   activations, and backward scratch (two ping-pong buffers, d(top input),
//   dZ). The bottom MLP writes its output straight into Z's first vector.
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#include "worker/model/dense_net.h"
#include "worker/model/dot_interaction.h"
#include "worker/model/mlp.h"

namespace ecps::model {

template <typename T>
class DlrmNet final : public DenseNet<T> {
 public:
  explicit DlrmNet(const DenseModelConfig& c) : DenseNet<T>(c) {
    d_ = c.dim;
    f_ = c.num_fields;
    nd_ = c.num_dense;
    if (nd_ > 0) {
      std::vector<int> sizes = {nd_};
      sizes.insert(sizes.end(), c.bottom.begin(), c.bottom.end());
      sizes.push_back(d_);
      bottom_ = Mlp<T>(this->layout_, "bottom", sizes, /*relu_last=*/true);
    }
    m_ = f_ + (nd_ > 0 ? 1 : 0);
    inter_ = DotInteraction<T>(m_, d_);
    top_in_ = (nd_ > 0 ? d_ : 0) + inter_.out_size();
    std::vector<int> sizes = {top_in_};
    sizes.insert(sizes.end(), c.top.begin(), c.top.end());
    sizes.push_back(1);
    top_ = Mlp<T>(this->layout_, "top", sizes, /*relu_last=*/false);
  }

  int top_input_size() const { return top_in_; }

  size_t WorkspaceSize(int rows) const override { return Plan(rows).plan.size(); }

  void Forward(int rows, const T* params, const T* dense, const T* emb, T* ws,
               T* logits) const override {
    const Offsets o = Plan(rows);
    const int zd = m_ * d_;
    T* z = ws + o.z;
    T* t0 = ws + o.t0;
    if (nd_ > 0) {
      std::memcpy(ws + o.dense, dense, sizeof(T) * rows * nd_);
      bottom_.Forward(rows, params, ws + o.dense, nd_, ws + o.bottom_hidden, z, zd);
    }
    const int ed = f_ * d_;
    const int zoff = nd_ > 0 ? d_ : 0;
    for (int r = 0; r < rows; ++r) {
      T* zr = z + static_cast<size_t>(r) * zd;
      std::memcpy(zr + zoff, emb + static_cast<size_t>(r) * ed, sizeof(T) * ed);
      if (nd_ > 0) std::memcpy(t0 + static_cast<size_t>(r) * top_in_, zr, sizeof(T) * d_);
    }
    inter_.Forward(rows, z, t0 + zoff, top_in_, ws + o.scratch);
    top_.Forward(rows, params, t0, top_in_, ws + o.top_hidden, logits, 1);
  }

  void Backward(int rows, const T* params, T* ws, const T* dlogits, T* grads,
                T* demb) const override {
    const Offsets o = Plan(rows);
    const int zd = m_ * d_;
    const int ed = f_ * d_;
    T* z = ws + o.z;
    T* dt0 = ws + o.dt0;
    T* dl = ws + o.dlogits;
    std::memcpy(dl, dlogits, sizeof(T) * rows);
    // The logits themselves are not needed (no activation on the last layer).
    top_.Backward(rows, params, ws + o.t0, top_in_, ws + o.top_hidden, nullptr, 1, dl, 1, grads,
                  ws + o.bufa, ws + o.bufb, dt0, top_in_, false);
    if (nd_ == 0) {
      // Z is exactly the embeddings: dZ is the output.
      inter_.Backward(rows, z, dt0, top_in_, demb, ws + o.scratch);
      return;
    }
    T* dz = ws + o.dz;
    inter_.Backward(rows, z, dt0 + d_, top_in_, dz, ws + o.scratch);
    for (int r = 0; r < rows; ++r) {
      T* dzr = dz + static_cast<size_t>(r) * zd;
      const T* dtr = dt0 + static_cast<size_t>(r) * top_in_;
      std::memcpy(demb + static_cast<size_t>(r) * ed, dzr + d_, sizeof(T) * ed);
      // The bottom output feeds both the interaction and the top input.
      for (int k = 0; k < d_; ++k) dzr[k] += dtr[k];
    }
    bottom_.Backward(rows, params, ws + o.dense, nd_, ws + o.bottom_hidden, z, zd, dz, zd, grads,
                     ws + o.bufa, ws + o.bufb, nullptr, 0, false);
  }

 private:
  struct Offsets {
    WorkspacePlan<T> plan;
    size_t dense = 0, z, t0, bottom_hidden = 0, top_hidden, dlogits, bufa, bufb, dt0, dz = 0,
           scratch;
  };
  Offsets Plan(int rows) const {
    Offsets o;
    const size_t r = rows;
    if (nd_ > 0) o.dense = o.plan.Take(r * nd_);
    o.z = o.plan.Take(r * m_ * d_);
    o.t0 = o.plan.Take(r * top_in_);
    if (nd_ > 0) o.bottom_hidden = o.plan.Take(bottom_.HiddenSize(rows));
    o.top_hidden = o.plan.Take(top_.HiddenSize(rows));
    o.dlogits = o.plan.Take(r);
    const int width = std::max(top_.max_width(), nd_ > 0 ? bottom_.max_width() : 0);
    o.bufa = o.plan.Take(r * width);
    o.bufb = o.plan.Take(r * width);
    o.dt0 = o.plan.Take(r * top_in_);
    if (nd_ > 0) o.dz = o.plan.Take(r * m_ * d_);
    o.scratch = o.plan.Take(inter_.scratch_size());
    return o;
  }

  int d_ = 0, f_ = 0, nd_ = 0, m_ = 0, top_in_ = 0;
  Mlp<T> bottom_, top_;
  DotInteraction<T> inter_;
};

}  // namespace ecps::model
