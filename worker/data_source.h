// Turns a config's data.* section into an open Dataset: generates text with
// GenerateData() and/or preprocesses raw text into a cache under
// data.cache_dir, reusing files that an earlier run already produced (they
// are written atomically, so an existing file is a complete one). A cache is
// reused only when the identity it stores (worker/data/cache_identity.h:
// every input's path, size, mtime and head/tail hash, the format and the
// options) equals this run's; otherwise it is rebuilt with a warning saying
// what changed, or, with data.cache_mismatch=fail, FailedPrecondition.
#pragma once

#include <memory>

#include "common/status.h"
#include "worker/data/dataset.h"
#include "worker/train_config.h"

namespace ecps {

StatusOr<std::unique_ptr<Dataset>> OpenTrainingData(const TrainConfig& config);

// The path of the cache OpenTrainingData(config) opens: data.cache, or the
// one it builds under data.cache_dir (which need not exist yet); its
// vocabulary is beside it (worker/data/vocabulary_table.h VocabularyPath).
StatusOr<std::string> TrainingCachePath(const TrainConfig& config);

}  // namespace ecps
