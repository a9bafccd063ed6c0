// Sparse (row-wise) optimizers for embedding rows: only the rows touched by a
// batch are updated ("lazy"), docs/methods.md §1.5. Adam's bias correction uses the
// global step shared with the dense optimizer.
//
// Thread-safety: stateless apart from the per-row state passed in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace ecps {

enum class SparseOptimizerKind : uint8_t { kAdam = 0, kSgd = 1, kAdagrad = 2, kRowwiseAdagrad = 3 };

struct SparseOptimizerConfig {
  SparseOptimizerKind kind = SparseOptimizerKind::kAdam;
  float lr = 0.001f;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float adagrad_init = 0.0f, adagrad_eps = 1e-10f;
};

StatusOr<SparseOptimizerKind> ParseSparseOptimizer(const std::string& name);

// Floats of optimizer state per row of `width` elements:
// Adam 2*width, Adagrad width, row-wise Adagrad 1, SGD 0.
int StateFloatsPerRow(SparseOptimizerKind kind, int width);

// Value every optimizer-state float starts from (and returns to on a reset):
// Adagrad accumulators start at adagrad_init, everything else at 0.
float StateInitValue(const SparseOptimizerConfig& cfg);

// Per-step constants, computed once per Push instead of once per row:
// Adam's bias corrections 1/(1-b1^t) and 1/(1-b2^t) for the 1-based step t.
struct SparseStepFactors {
  float inv_bias1 = 1.0f;
  float inv_bias2 = 1.0f;
};
SparseStepFactors MakeSparseStepFactors(const SparseOptimizerConfig& cfg, int64_t step);

// The hot-path form of ApplySparseUpdate(): identical results, no pow() per row.
// Vectorised (AVX2 when the CPU has it, chosen at load time; the results are
// bit-identical on every path because no FMA contraction is allowed).
void ApplySparseUpdate(const SparseOptimizerConfig& cfg, const SparseStepFactors& f, int width,
                       const float* grad, float* weights, float* state);

// ApplySparseUpdate() of n rows of one table, in order: row rows[u] of
// `weights` (width floats per row) and of `state` (StateFloatsPerRow() floats
// per row) with gradient grads[u * width ...]. The same results as calling it
// row by row, with the row loop inside one vectorised function (no call and
// no optimizer switch per row, the next rows' memory fetched early).
// REQUIRES: the rows are distinct.
void ApplySparseUpdates(const SparseOptimizerConfig& cfg, const SparseStepFactors& f, int width,
                        const uint64_t* rows, size_t n, const float* grads, float* weights,
                        float* state);

// Updates one row in place. `state` points at StateFloatsPerRow() floats.
//   Adam:    m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//            w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
//   SGD:     w -= lr g
//   Adagrad: a += g^2; w -= lr g / (sqrt(a) + eps)
//   Row-wise Adagrad: a += mean(g^2); w -= lr g / (sqrt(a) + eps)
void ApplySparseUpdate(const SparseOptimizerConfig& cfg, int64_t step, int width, const float* grad,
                       float* weights, float* state);

}  // namespace ecps
