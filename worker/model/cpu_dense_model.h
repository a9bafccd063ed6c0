// CPU backend of the dense model: CpuDenseNet<T> runs one DenseNet (DLRM, WDL,
// DCN) over whole batches, owns the flat parameter/gradient buffers and the
// per-thread workspaces, and splits work across threads deterministically.
// CreateDenseModel (dense_model.h) wraps CpuDenseNet<float>; tests use
// CpuDenseNet<double> directly for finite-difference gradient checks.
//
// Threading (config.threads, 0 = all cores; config.cpu_parallel):
//   shards: the batch is cut into S fixed row ranges (S = threads, fewer for
//           tiny batches), each run as one ForkJoinPool item (common/fork_join.h) with
//           its own workspace and gradient buffer and single-threaded BLAS;
//           the gradient buffers are then summed in shard order over fixed
//           parameter chunks. Same batch + same threads => bit-identical
//           results, independent of timing and of which thread ran what.
//   blas:   one pass with OpenBLAS using `threads` threads (OpenBLAS splits
//           the output, not the K sum, so this is deterministic too).
// Memory: workspaces grow to the largest batch seen and are then reused; a
// steady-state step allocates nothing.
// Thread-safety: one caller thread at a time (like DenseModel).
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <vector>

#include "common/fork_join.h"
#include "common/large_alloc.h"
#include "common/status.h"
#include "worker/model/dense_model.h"
#include "worker/model/dense_net.h"

namespace ecps::model {

// Every workspace array starts on a cache line (WorkspacePlan keeps the
// offsets aligned); parameters, gradients and the bigger workspaces sit on
// huge pages (common/large_alloc.h).
template <typename T>
using AlignedVector = LargeVector<T>;

template <typename T>
class CpuDenseNet {
 public:
  // Builds config.name and initialises it from `seed` (param_layout.h).
  static StatusOr<std::unique_ptr<CpuDenseNet>> Create(const DenseModelConfig& config,
                                                       uint64_t seed);

  const DenseModelConfig& config() const { return net_->config(); }
  const DenseNet<T>& net() const { return *net_; }
  int threads() const { return threads_; }

  // Same contracts as DenseModel::Forward / Backward (dense_model.h).
  void Forward(int batch, const T* dense, const T* emb, T* logits);
  void Backward(const T* dlogits, T* demb);

  std::span<T> params() { return params_; }
  std::span<T> grads() { return grads_; }
  const std::vector<ParamBlock>& blocks() const { return net_->layout().blocks(); }

  // Shards the last Forward used (1 in "blas" mode).
  int num_shards() const { return static_cast<int>(active_); }

 private:
  struct Shard {
    int begin = 0, rows = 0;
    AlignedVector<T> ws;
    AlignedVector<T> grads;  // unused for shard 0, which writes grads_
  };
  CpuDenseNet(std::unique_ptr<DenseNet<T>> net, int threads);
  // Chooses shards and BLAS threads for `batch`.
  void Plan(int batch);

  std::unique_ptr<DenseNet<T>> net_;
  int threads_;
  std::unique_ptr<ForkJoinPool> pool_;  // null when threads_ == 1
  AlignedVector<T> params_, grads_;
  std::vector<Shard> shards_;
  size_t active_ = 0;
  int batch_ = -1;
  int blas_threads_ = 1;
};

extern template class CpuDenseNet<float>;
extern template class CpuDenseNet<double>;

}  // namespace ecps::model
