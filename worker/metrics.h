// Evaluation metrics over a whole split.
#pragma once

#include <cstdint>
#include <span>

#include "common/metrics.h"  // RocAuc, LogLossFromLogits

namespace ecps {

// Numerically stable BCE-with-logits for one batch: returns the mean loss and
// writes dlogits[i] = (sigmoid(z_i) - y_i) / n.
double BceWithLogits(std::span<const float> logits, std::span<const float> labels, float* dlogits);

}  // namespace ecps
