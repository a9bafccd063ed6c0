// Loss side of a training step (methods.md §1.4): BCE-with-logits, mean over
// the batch, computed in a numerically stable form.
#pragma once

namespace ecps::model {

// Returns mean_i BCE(sigmoid(logits[i]), labels[i]) and, when dlogits is
// non-null, writes dLoss/dlogit[i] = (sigmoid(logits[i]) - labels[i]) / n.
// labels are in [0, 1]. Thread-safety: pure function.
double BceWithLogits(int n, const float* logits, const float* labels, float* dlogits);

}  // namespace ecps::model
