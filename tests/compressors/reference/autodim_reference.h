// A deliberately naive reference of AutoDim's lookup (docs/methods.md §2.21),
// a test oracle (style.md rule 13; linked by tests only), in double: the
// search's per-candidate linear maps, BatchNorm by its textbook formula over
// the batch's keys (training) or the given running statistics, and the
// Gumbel-softmax mixture softmax((log_softmax(α) + G)/τ) written out; the
// retrain's Linear(dim_f → d) with bias. The method's layout is read through
// its accessors; rows (per table, as stored), parameters and buffers (in
// DenseParams()/DenseBuffers() layout) are given, so a finite-difference
// test can perturb them.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "compressors/dimension/autodim.h"

namespace ecps::autodim_ref {

// [keys.size() x d] at the method's stage. `noise` (F x |D|) is the training
// plan's Gumbel noise, empty for none.
std::vector<double> Lookup(const AutoDimEmbedding& m, const FeatureSpace& s,
                           const std::vector<std::vector<double>>& tables,
                           std::span<const double> params, std::span<const double> buffers,
                           std::span<const uint32_t> keys, bool training,
                           std::span<const double> noise, double tau);

}  // namespace ecps::autodim_ref
