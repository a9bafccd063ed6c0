// Evaluation metrics over a whole split, pure functions of the scores: the
// trainer uses them for one worker, the coordinator (scheduler/coordinator.h,
// common/evaluation.h) for the scores gathered from every worker.
#pragma once

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

}  // namespace ecps
