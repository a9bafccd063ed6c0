#include "tools/load_model.h"

#include <fstream>

#include "common/file_util.h"
#include "worker/data_source.h"

namespace ecps::tools {

bool IsBundle(const std::string& path) {
  std::string magic(8, '\0');
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  f.read(magic.data(), 8);
  return f.gcount() == 8 && magic == std::string(kBundleMagic, 8);
}

StatusOr<bool> AttachCacheVocabulary(Predictor& model, const std::string& cache_path) {
  const std::string path = VocabularyPath(cache_path);
  StatusOr<VocabularyTable> v = ReadVocabularyFile(path);
  if (v.status().code() == absl::StatusCode::kNotFound) return false;
  if (!v.ok()) return v.status();
  RETURN_IF_ERROR(model.AttachVocabulary(std::move(*v), "vocabulary '" + path + "'"));
  return true;
}

StatusOr<LoadedModel> LoadModel(const std::string& path, const std::string& data_path) {
  if (!FileExists(path)) return NotFound("model '", path, "' does not exist or cannot be read");
  LoadedModel m;
  if (IsBundle(path)) {
    m.is_bundle = true;
    ASSIGN_OR_RETURN(m.predictor, Predictor::FromBundle(path));
    return m;
  }
  ASSIGN_OR_RETURN(CheckpointContents c, ReadCheckpointContents(path));
  ASSIGN_OR_RETURN(TrainConfig config,
                   TrainConfigFromYaml(c.summary.config, "checkpoint '" + path + "' config"));
  ASSIGN_OR_RETURN(std::unique_ptr<Dataset> data,
                   data_path.empty() ? OpenTrainingData(config) : Dataset::Open(data_path));
  ASSIGN_OR_RETURN(m.predictor,
                   PredictorFromCheckpoint(path, c, config, *data, /*same_data=*/true));
  ASSIGN_OR_RETURN(std::string cache, data_path.empty() ? TrainingCachePath(config)
                                                        : StatusOr<std::string>(data_path));
  RETURN_IF_ERROR(AttachCacheVocabulary(*m.predictor, cache).status());
  m.summary = std::move(c.summary);
  return m;
}

}  // namespace ecps::tools
