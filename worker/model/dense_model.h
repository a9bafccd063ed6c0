// The dense part of a CTR model (DLRM, WDL, DCN) behind a small device
// interface: the trainer hands it embedding outputs and dense features and
// gets logits back; it hands it dlogits and gets embedding gradients back.
// The CUDA backend implements the same interface (worker/model/cuda/);
// the trainer never sees which device runs the network.
//
// Parameters and gradients live in one flat buffer each, so that data-parallel
// workers can all-reduce gradients in one call and checkpoints can save them
// as one blob. Layout: blocks() in order, each row-major.
//
// Thread-safety: a DenseModel is used by one trainer thread at a time; the CPU
// backend may use its own worker threads internally (deterministically).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/params.h"
#include "common/status.h"

namespace ecps {

enum class Device : uint8_t { kCpu = 0, kCuda = 1 };

struct DenseModelConfig {
  std::string name = "dlrm";                 // dlrm | wdl | dcn
  int num_dense = 13;                        // dense input features (0 for Avazu)
  int num_fields = 26;                       // embedding vectors per sample
  int dim = 16;                              // embedding dimension d
  std::vector<int> bottom = {512, 256, 64};  // DLRM bottom MLP hidden sizes (+ final = dim)
  std::vector<int> top = {512, 256};         // DLRM top MLP hidden sizes (+ final 1)
  std::vector<int> deep = {256, 256};        // WDL deep part hidden sizes (+ final 1)
  // DCN deep part layer sizes; ReLU after all but the last, whose output is
  // concatenated with the cross output.
  std::vector<int> dcn_deep = {256, 256, 256};
  int cross_layers = 3;  // DCN
  int threads = 0;       // CPU threads for the dense network; 0 = all cores
  // Linear-layer biases: "zero" (docs/methods.md §1.3) or "normal", N(0, 1/sqrt(fan_out)) as in
  // the DLRM reference code (and the PyTorch peer).
  std::string bias_init = "zero";
  // How the CPU backend uses threads > 1 (results are deterministic either way):
  //   "shards": the batch is cut into `threads` fixed row ranges run on
  //             separate threads with single-threaded BLAS; gradients are
  //             summed in shard order.
  //   "blas":   one pass over the whole batch with multi-threaded BLAS.
  //   "auto":   currently "shards": on the 2-core box it measured faster at
  //             every batch size (128..4096), and far faster when the cores
  //             are shared with other work (cpu_dense_model.cc).
  std::string cpu_parallel = "auto";
  // CUDA backend (worker/model/cuda/): let cuBLAS round GEMM inputs to TF32
  // on tensor cores. Off by default: FP32 GEMMs keep the GPU run within the
  // CPU's tolerances.
  bool cuda_tf32 = false;
};

// One named parameter tensor inside the flat buffer.
struct ParamBlock {
  std::string name;   // e.g. "bottom.0.weight"
  size_t offset = 0;  // into params()/grads(), in elements
  std::vector<int> shape;
};

class DenseModel {
 public:
  virtual ~DenseModel() = default;
  DenseModel() = default;
  DenseModel(const DenseModel&) = delete;
  DenseModel& operator=(const DenseModel&) = delete;

  virtual const DenseModelConfig& config() const = 0;

  // Forward pass for `batch` samples.
  //   dense:  [batch x num_dense] row-major (may be null when num_dense == 0)
  //   emb:    [batch x num_fields x dim] row-major
  //   logits: [batch] output
  // Keeps the activations needed by Backward().
  virtual void Forward(int batch, const float* dense, const float* emb, float* logits) = 0;

  // Backward pass for the batch of the last Forward().
  //   dlogits: [batch] dLoss/dlogit
  //   demb:    [batch x num_fields x dim] output, dLoss/demb
  // Overwrites grads() with dLoss/dparams.
  virtual void Backward(const float* dlogits, float* demb) = 0;

  // Inference-only forward (no activations kept for backward; may be faster).
  virtual void Predict(int batch, const float* dense, const float* emb, float* logits) {
    Forward(batch, dense, emb, logits);
  }

  // Flat parameter / gradient buffers (host memory for the CPU backend).
  virtual std::span<float> params() = 0;
  virtual std::span<float> grads() = 0;
  virtual const std::vector<ParamBlock>& blocks() const = 0;
};

// Creates the model named config.name on `device`, initialised as in
// docs/methods.md §1.3 (Xavier-normal weights, zero biases) from `seed`.
// Returns InvalidArgument for an unknown name or inconsistent sizes and
// FailedPrecondition for kCuda in a build without CUDA.
StatusOr<std::unique_ptr<DenseModel>> CreateDenseModel(const DenseModelConfig& config,
                                                       Device device, uint64_t seed);

// Dense optimizer over a model's flat buffers (Adam, SGD, Adagrad). The
// embedding-side sparse optimizers live in embedding/sparse_optimizer.h.
struct OptimizerConfig {
  std::string name = "adam";  // adam | sgd | adagrad | rowwise_adagrad (rowwise: sparse only)
  double lr = 0.001;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam
  double adagrad_init = 0.0;                      // initial accumulator
  double adagrad_eps = 1e-10;
  double weight_decay = 0.0;
  int threads = 0;  // CPU threads for the update loop; 0 = all cores (results do not depend on it)
};

class DenseOptimizer {
 public:
  virtual ~DenseOptimizer() = default;
  // Applies one step. `step` is the 1-based global step (Adam bias correction).
  virtual void Step(std::span<float> params, std::span<const float> grads, int64_t step) = 0;
  // Optimizer state as one flat buffer (for checkpoints); sizes fixed at creation.
  virtual std::span<float> state() = 0;
};

StatusOr<std::unique_ptr<DenseOptimizer>> CreateDenseOptimizer(const OptimizerConfig& config,
                                                               size_t num_params);

}  // namespace ecps
