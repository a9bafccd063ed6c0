// One dense CTR network (DLRM, WDL, DCN) as a stateless function of a flat
// parameter buffer and a caller-owned workspace, for T = float or double.
//
// A DenseNet processes one *shard* of a batch: CpuDenseNet (cpu_dense_model.h)
// splits a batch into fixed row ranges and runs the shards on separate
// threads, each with its own workspace and gradient buffer. Because a net
// holds no mutable state, one instance serves all shards concurrently.
//
// Contract of a shard step:
//   Forward(rows, params, dense, emb, ws, logits)
//     dense  [rows x num_dense] (unused when num_dense == 0)
//     emb    [rows x num_fields x dim]
//     ws     WorkspaceSize(rows) elements, 64-byte aligned; Forward copies
//            what Backward needs (inputs included) into it, so the caller may
//            reuse dense/emb afterwards.
//     logits [rows]
//   Backward(rows, params, ws, dlogits, grads, demb)
//     ws from the Forward with the same rows; may be overwritten.
//     grads  the full flat gradient buffer, overwritten (sum over rows).
//     demb   [rows x num_fields x dim], overwritten.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "common/status.h"
#include "worker/model/dense_model.h"
#include "worker/model/param_layout.h"

namespace ecps::model {

// Sequential carving of a workspace of T into 64-byte aligned arrays.
template <typename T>
class WorkspacePlan {
 public:
  // Reserves `count` elements; returns their offset.
  size_t Take(size_t count) {
    constexpr size_t kAlign = 64 / sizeof(T);
    const size_t off = end_;
    end_ += (count + kAlign - 1) / kAlign * kAlign;
    return off;
  }
  size_t size() const { return end_; }

 private:
  size_t end_ = 0;
};

template <typename T>
class DenseNet {
 public:
  explicit DenseNet(const DenseModelConfig& config) : config_(config) {
    if (config.bias_init == "normal") layout_.set_linear_bias_init(Init::kNormalFanOut);
  }
  virtual ~DenseNet() = default;
  DenseNet(const DenseNet&) = delete;
  DenseNet& operator=(const DenseNet&) = delete;

  const DenseModelConfig& config() const { return config_; }
  const ParamLayout& layout() const { return layout_; }

  virtual size_t WorkspaceSize(int rows) const = 0;
  virtual void Forward(int rows, const T* params, const T* dense, const T* emb, T* ws,
                       T* logits) const = 0;
  virtual void Backward(int rows, const T* params, T* ws, const T* dlogits, T* grads,
                        T* demb) const = 0;

 protected:
  DenseModelConfig config_;
  ParamLayout layout_;
};

// Builds the network named config.name ("dlrm", "wdl", "dcn"). Returns
// InvalidArgument for an unknown name or non-positive / inconsistent sizes.
template <typename T>
StatusOr<std::unique_ptr<DenseNet<T>>> MakeDenseNet(const DenseModelConfig& config);

}  // namespace ecps::model
