// The configuration of one `ecps train` run: its declared schema (every key
// with default, bounds and description), loading from YAML plus --set
// overrides, and validation of everything -- including the chosen method's
// own parameters -- before anything starts.
#pragma once

#include <string>
#include <vector>

#include "common/params.h"
#include "common/status.h"
#include "worker/model/dense_model.h"

namespace ecps {

// The schema of every top-level key (data.*, model.*, embedding.*, optimizer.*,
// train.*, output.*). Method parameters live under embedding.params.* and are
// validated against the method's own schema.
const ParamSchema& TrainConfigSchema();

struct TrainConfig {
  ParamSet params;         // top-level keys, validated
  ParamSet method_params;  // embedding.params.*, validated against the method schema
  std::string origin;      // the config file ("<defaults>" when none)

  std::string method() const { return params.GetString("embedding.method"); }
  // The dense model config derived from model.* and embedding.dim.
  StatusOr<DenseModelConfig> ModelConfig(int num_dense, int num_fields) const;
  // The whole effective config (defaults included) as YAML, for results/checkpoints.
  std::string ToYaml() const;
};

// Loads `path` (empty: defaults only), applies `overrides` ("key=value"), and
// validates. Errors name the key and where its value came from: the file, or
// "--set key=value" for an override.
StatusOr<TrainConfig> LoadTrainConfig(const std::string& path,
                                      const std::vector<std::string>& overrides);

// embedding.budget as a fraction: "10%" -> "0.1" (the shortest text of the
// double); anything else is returned unchanged for the schema to check.
std::string BudgetFraction(const std::string& value);

// Parses "512,256,64" into sizes (all > 0). Errors name `key`.
StatusOr<std::vector<int>> ParseSizes(const std::string& key, const std::string& text);

}  // namespace ecps
