// Evaluation metrics over a whole split.
#pragma once

#include <cstdint>
#include <span>

namespace ecps {

// Exact ROC AUC (the Mann-Whitney statistic): the probability that a random
// positive scores above a random negative, with tied scores counted as 1/2
// (equivalently, tied groups get their average rank). NaN/inf scores are
// treated as 0, as the paper's code does. Returns 0.5 if a class is absent.
// O(n log n); copies the inputs.
double RocAuc(std::span<const float> scores, std::span<const float> labels);

// Mean binary cross-entropy of probabilities p = sigmoid(logit), computed
// stably from the logits: mean(softplus(z) - y*z).
double LogLossFromLogits(std::span<const float> logits, std::span<const float> labels);

// Numerically stable BCE-with-logits for one batch: returns the mean loss and
// writes dlogits[i] = (sigmoid(z_i) - y_i) / n.
double BceWithLogits(std::span<const float> logits, std::span<const float> labels, float* dlogits);

}  // namespace ecps
