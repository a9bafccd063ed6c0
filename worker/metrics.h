// The trainer's metrics: the split metrics (common/metrics.h) and the batch
// loss (worker/model/loss.h, the one BCE-with-logits). Kept so that
// worker/trainer.cc's include still resolves; new code includes those two.
#pragma once

#include "common/metrics.h"     // RocAuc, LogLossFromLogits
#include "worker/model/loss.h"  // BceWithLogits
