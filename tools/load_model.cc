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
  m.summary = std::move(c.summary);
  return m;
}

}  // namespace ecps::tools
