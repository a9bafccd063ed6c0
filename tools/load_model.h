// The model behind `ecps serve` and `ecps compress`: a servable bundle
// (ecps checkpoint convert) or a checkpoint (single-process, or a cluster's
// manifest), told apart by their first bytes, as a Predictor.
//
// Thread-safety: a free function over files.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "tools/checkpoint_verify.h"
#include "worker/bundle.h"

namespace ecps::tools {

struct LoadedModel {
  std::unique_ptr<Predictor> predictor;
  bool is_bundle = false;
  // A checkpoint's summary (format, step, stage, data digest); empty for a bundle.
  CheckpointSummary summary;
};

// Loads `path`. A checkpoint is rebuilt on the data it was trained on (its
// config's data.*, or the cache `data_path`), which must be that very data
// (its DATA's identity digest): another cache would map ids to other rows;
// the cache's vocabulary comes with it when it has one (AttachCacheVocabulary).
// Errors: NotFound for a missing file; those of Predictor::FromBundle,
// ReadCheckpointContents and PredictorFromCheckpoint otherwise.
StatusOr<LoadedModel> LoadModel(const std::string& path, const std::string& data_path);

// Attaches the vocabulary kept beside the cache `cache_path` (Preprocess
// writes "<cache>.vocab"; worker/data/vocabulary_table.h) to `model`, so that
// it scores raw lines and a bundle converted from it carries it. Returns
// false when the cache has none (written by a build before vocabularies were
// kept). Errors: DataLoss for a damaged file, FailedPrecondition for the
// vocabulary of other data, both naming the file.
StatusOr<bool> AttachCacheVocabulary(Predictor& model, const std::string& cache_path);

// Whether the file at `path` starts with the bundle magic (false when it
// cannot be read).
bool IsBundle(const std::string& path);

}  // namespace ecps::tools
