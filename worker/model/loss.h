// Loss side of a training step (docs/methods.md §1.4): BCE-with-logits, mean over
// the batch, computed in a numerically stable form. The one BCE: the trainer
// and bench/model_bench.cc both call it.
#pragma once

#include <span>

namespace ecps {

// Returns mean_i BCE(sigmoid(logits[i]), labels[i]) and writes
// dlogits[i] = dLoss/dlogit[i] = (sigmoid(logits[i]) - labels[i]) / n
// (float arithmetic, the sum in double). labels are in [0, 1] and as many as
// the logits; 0 for no logits. Thread-safety: pure function.
double BceWithLogits(std::span<const float> logits, std::span<const float> labels, float* dlogits);

}  // namespace ecps
