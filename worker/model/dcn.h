// Deep & Cross (docs/methods.md §1.4): x = [flattened embeddings, dense] (D);
// cross_layers CrossLayer's (cross_layer.h) from x; deep MLP x -> dcn_deep
// (ReLU on all but the last layer); logit = Linear(D + deep_out -> 1) over
// [cross_out, deep_out]. Parameter blocks "cross.<l>.*", "deep.<i>.*",
// "out.*".
//
// Workspace per shard: x, the cross outputs x_1..x_L and scalars s_l, the deep
// hidden activations, the concatenation [r x (D + H)] (the deep MLP writes
// its output straight into it), and backward scratch.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "worker/model/cross_layer.h"
#include "worker/model/dense_net.h"
#include "worker/model/mlp.h"
#include "worker/model/wdl.h"

namespace ecps::model {

template <typename T>
class DcnNet final : public DenseNet<T> {
 public:
  explicit DcnNet(const DenseModelConfig& c) : DenseNet<T>(c) {
    ed_ = c.num_fields * c.dim;
    nd_ = c.num_dense;
    xd_ = ed_ + nd_;
    for (int l = 0; l < c.cross_layers; ++l)
      cross_.emplace_back(this->layout_, "cross." + std::to_string(l), xd_);
    std::vector<int> sizes = {xd_};
    sizes.insert(sizes.end(), c.dcn_deep.begin(), c.dcn_deep.end());
    deep_ = Mlp<T>(this->layout_, "deep", sizes, /*relu_last=*/false);
    hd_ = deep_.out();
    cd_ = xd_ + hd_;
    out_ = Linear<T>(this->layout_, "out", cd_, 1, /*bias=*/true, /*relu=*/false);
  }

  size_t WorkspaceSize(int rows) const override { return Plan(rows).plan.size(); }

  void Forward(int rows, const T* params, const T* dense, const T* emb, T* ws,
               T* logits) const override {
    const Offsets o = Plan(rows);
    const size_t rd = static_cast<size_t>(rows) * xd_;
    T* x = ws + o.x;
    T* cat = ws + o.cat;
    ConcatEmbDense(rows, ed_, nd_, emb, dense, x);
    const T* xl = x;
    for (size_t l = 0; l < cross_.size(); ++l) {
      T* y = ws + o.xs + l * rd;
      cross_[l].Forward(rows, params, x, xl, ws + o.s + l * rows, y);
      xl = y;
    }
    for (int r = 0; r < rows; ++r)
      std::memcpy(cat + static_cast<size_t>(r) * cd_, xl + static_cast<size_t>(r) * xd_,
                  sizeof(T) * xd_);
    deep_.Forward(rows, params, x, xd_, ws + o.hidden, cat + xd_, cd_);
    out_.Forward(rows, params, cat, cd_, logits, 1);
  }

  void Backward(int rows, const T* params, T* ws, const T* dlogits, T* grads,
                T* demb) const override {
    const Offsets o = Plan(rows);
    const size_t rd = static_cast<size_t>(rows) * xd_;
    const T* x = ws + o.x;
    T* dcat = ws + o.dcat;
    T* dx = ws + o.dx;
    T* g = ws + o.g;
    T* dl = ws + o.dlogits;
    std::memcpy(dl, dlogits, sizeof(T) * rows);
    out_.Backward(rows, params, ws + o.cat, cd_, nullptr, 1, dl, 1, grads, dcat, cd_);
    deep_.Backward(rows, params, x, xd_, ws + o.hidden, ws + o.cat + xd_, cd_, dcat + xd_, cd_,
                   grads, ws + o.bufa, ws + o.bufb, dx, xd_, false);
    for (int r = 0; r < rows; ++r)
      std::memcpy(g + static_cast<size_t>(r) * xd_, dcat + static_cast<size_t>(r) * cd_,
                  sizeof(T) * xd_);
    T* ones = ws + o.ones;
    std::fill(ones, ones + xd_, T(1));
    // x is x_0 of every cross layer, so dx (already holding the deep part)
    // accumulates each layer's x0 term; g carries the x_l chain.
    for (int l = static_cast<int>(cross_.size()) - 1; l >= 0; --l) {
      const T* xl = l == 0 ? x : ws + o.xs + (l - 1) * rd;
      cross_[l].Backward(rows, params, x, xl, ws + o.s + static_cast<size_t>(l) * rows, g, dx,
                         grads, ws + o.tmp, ws + o.ds, ones);
    }
    AddTo(rd, g, dx);
    for (int r = 0; r < rows; ++r)
      std::memcpy(demb + static_cast<size_t>(r) * ed_, dx + static_cast<size_t>(r) * xd_,
                  sizeof(T) * ed_);
  }

 private:
  struct Offsets {
    WorkspacePlan<T> plan;
    size_t x, xs, s, hidden, cat, dlogits, bufa, bufb, dcat, dx, g, tmp, ds, ones;
  };
  Offsets Plan(int rows) const {
    Offsets o;
    const size_t r = rows;
    const size_t nl = cross_.size();
    o.x = o.plan.Take(r * xd_);
    o.xs = o.plan.Take(nl * r * xd_);
    o.s = o.plan.Take(nl * r);
    o.hidden = o.plan.Take(deep_.HiddenSize(rows));
    o.cat = o.plan.Take(r * cd_);
    o.dlogits = o.plan.Take(r);
    o.bufa = o.plan.Take(r * deep_.max_width());
    o.bufb = o.plan.Take(r * deep_.max_width());
    o.dcat = o.plan.Take(r * cd_);
    o.dx = o.plan.Take(r * xd_);
    o.g = o.plan.Take(r * xd_);
    o.tmp = o.plan.Take(r * xd_);
    o.ds = o.plan.Take(r);
    o.ones = o.plan.Take(xd_);
    return o;
  }

  int ed_ = 0, nd_ = 0, xd_ = 0, hd_ = 0, cd_ = 0;
  std::vector<CrossLayer<T>> cross_;
  Mlp<T> deep_;
  Linear<T> out_;
};

}  // namespace ecps::model
