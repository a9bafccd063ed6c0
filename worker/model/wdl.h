// Wide & Deep (docs/methods.md §1.4): x = [flattened embeddings (F·d), dense];
// logit = deep(x) + wide(x) with deep x -> deep... -> 1 (ReLU on hidden
// layers) and wide a bias-free Linear x -> 1. Parameter blocks "deep.<i>.*",
// "wide.weight".
//
// Workspace per shard: x [r x D], deep hidden activations, the wide output,
// and backward scratch (ping-pong buffers, dL/dx).
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#include "worker/model/dense_net.h"
#include "worker/model/linear.h"
#include "worker/model/mlp.h"

namespace ecps::model {

// x[r] = [emb[r] (F·d), dense[r] (nd)]: the input of WDL and DCN.
template <typename T>
inline void ConcatEmbDense(int rows, int ed, int nd, const T* emb, const T* dense, T* x) {
  const size_t xd = static_cast<size_t>(ed) + nd;
  for (int r = 0; r < rows; ++r) {
    std::memcpy(x + r * xd, emb + static_cast<size_t>(r) * ed, sizeof(T) * ed);
    if (nd > 0) std::memcpy(x + r * xd + ed, dense + static_cast<size_t>(r) * nd, sizeof(T) * nd);
  }
}

template <typename T>
class WdlNet final : public DenseNet<T> {
 public:
  explicit WdlNet(const DenseModelConfig& c) : DenseNet<T>(c) {
    ed_ = c.num_fields * c.dim;
    nd_ = c.num_dense;
    xd_ = ed_ + nd_;
    std::vector<int> sizes = {xd_};
    sizes.insert(sizes.end(), c.deep.begin(), c.deep.end());
    sizes.push_back(1);
    deep_ = Mlp<T>(this->layout_, "deep", sizes, /*relu_last=*/false);
    wide_ = Linear<T>(this->layout_, "wide", xd_, 1, /*bias=*/false, /*relu=*/false);
  }

  size_t WorkspaceSize(int rows) const override { return Plan(rows).plan.size(); }

  void Forward(int rows, const T* params, const T* dense, const T* emb, T* ws,
               T* logits) const override {
    const Offsets o = Plan(rows);
    T* x = ws + o.x;
    ConcatEmbDense(rows, ed_, nd_, emb, dense, x);
    deep_.Forward(rows, params, x, xd_, ws + o.hidden, logits, 1);
    T* wide = ws + o.wide;
    wide_.Forward(rows, params, x, xd_, wide, 1);
    for (int r = 0; r < rows; ++r) logits[r] += wide[r];
  }

  void Backward(int rows, const T* params, T* ws, const T* dlogits, T* grads,
                T* demb) const override {
    const Offsets o = Plan(rows);
    const T* x = ws + o.x;
    T* dx = ws + o.dx;
    T* dl = ws + o.dlogits;
    std::memcpy(dl, dlogits, sizeof(T) * rows);
    deep_.Backward(rows, params, x, xd_, ws + o.hidden, nullptr, 1, dl, 1, grads, ws + o.bufa,
                   ws + o.bufb, dx, xd_, false);
    // No activation and no bias on the wide part: dl passes through unchanged.
    std::memcpy(dl, dlogits, sizeof(T) * rows);
    wide_.Backward(rows, params, x, xd_, nullptr, 1, dl, 1, grads, dx, xd_, true);
    for (int r = 0; r < rows; ++r)
      std::memcpy(demb + static_cast<size_t>(r) * ed_, dx + static_cast<size_t>(r) * xd_,
                  sizeof(T) * ed_);
  }

 private:
  struct Offsets {
    WorkspacePlan<T> plan;
    size_t x, hidden, wide, dlogits, bufa, bufb, dx;
  };
  Offsets Plan(int rows) const {
    Offsets o;
    const size_t r = rows;
    o.x = o.plan.Take(r * xd_);
    o.hidden = o.plan.Take(deep_.HiddenSize(rows));
    o.wide = o.plan.Take(r);
    o.dlogits = o.plan.Take(r);
    o.bufa = o.plan.Take(r * deep_.max_width());
    o.bufb = o.plan.Take(r * deep_.max_width());
    o.dx = o.plan.Take(r * xd_);
    return o;
  }

  int ed_ = 0, nd_ = 0, xd_ = 0;
  Mlp<T> deep_;
  Linear<T> wide_;
};

}  // namespace ecps::model
