// Serving a trained model outside the trainer: a Predictor rebuilds the
// dense network and the compressed embedding layer from a checkpoint's
// trainer sections (docs/formats.md "Checkpoint": CONF, DENS, MDNS, MDBF,
// EMBD) and scores rows exactly as the trainer's own evaluation does (the
// same eval batches, EmbeddingLayer::Forward with training = false,
// DenseModel::Predict), so its AUC and log loss on a split equal the
// training job's results to the last bit.
//
// The tables are kept in their stored form (an int8 model stays int8 in
// memory); rows are decoded at lookup time by the store, as in training.
//
// Thread-safety: one thread per Predictor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "embedding/embedding_layer.h"
#include "embedding/sparse_optimizer.h"
#include "worker/checkpoint.h"
#include "worker/data/dataset.h"
#include "worker/data/vocabulary_table.h"
#include "worker/model/dense_model.h"
#include "worker/train_config.h"

namespace ecps {

// The first 8 bytes of a servable bundle (common/blob.h framing).
inline constexpr char kBundleMagic[9] = "ECPSBNDL";
// 2: the data's vocabulary follows the tables (empty when unknown).
inline constexpr uint32_t kBundleVersion = 2;

// A run's effective config as saved in a checkpoint (YAML, TrainConfig::ToYaml)
// back into a validated TrainConfig. Keys this build no longer knows are
// skipped (as --resume does); errors name `origin` and the key. `overrides`
// ("key=value", applied last) change it, as --set does; with
// `drop_method_params` the saved embedding.params.* are left out (for another
// method, whose parameters they are not).
StatusOr<TrainConfig> TrainConfigFromYaml(const std::string& yaml, const std::string& origin,
                                          const std::vector<std::string>& overrides = {},
                                          bool drop_method_params = false);

class Predictor {
 public:
  // `trainer` holds the trainer's sections (a single-process checkpoint or a
  // cluster's dense part, read from `origin`); `config` its effective config.
  // `schema` and `train_counts` describe the feature space the model was
  // trained on (the method's Init() is fingerprinted, so another space is
  // refused by EMBD's load with a FailedPrecondition). When EMBD carries no
  // rows (a cluster's dense part), `fill_rows` is called on the freshly
  // initialised store with the tables of the method at its saved stage (the
  // specs EMBD's load will insist on) to put the rows there.
  static StatusOr<std::unique_ptr<Predictor>> Create(
      const std::string& origin, const CheckpointReader& trainer, const TrainConfig& config,
      const DatasetSchema& schema, std::span<const uint32_t> train_counts,
      const std::function<Status(RowStore&, const std::vector<RowTableSpec>&)>& fill_rows = {},
      const SparseOptimizerKind* store_kind = nullptr);

  // A servable bundle (docs/formats.md "Servable bundle"): the model of
  // Create() in one self-contained, checksummed file. Its rows are loaded
  // into a store without optimizer state (serving memory is the tables as
  // stored). Errors: NotFound, DataLoss naming `path` for a damaged or
  // foreign file, FailedPrecondition when its tables do not match the method.
  static StatusOr<std::unique_ptr<Predictor>> FromBundle(const std::string& path);
  // The header of the bundle at `path` (its JSON: method, source, schema,
  // tables, bytes, the converting build), after the whole file's checksum
  // verified. Errors as FromBundle.
  static StatusOr<nlohmann::json> ReadBundleHeader(const std::string& path);
  // The bundle of this model: `source` describes where it came from (the
  // checkpoint, its step and stage), recorded in the bundle's header.
  StatusOr<std::string> EncodeBundle(const nlohmann::json& source) const;

  // This model with its embedding moved to the method of `config` without
  // training (`ecps compress`): the dense network and the feature space stay;
  // this model's one fp32 table (a `full` model's E) is written into the new
  // method's first-stage table, which must have its name and shape, with that
  // method's rounding, then the method's post_training stages run as the
  // trainer runs them (Post4Bits' range search). A stage named in
  // `untrained_stages` is entered without its training steps: its
  // BeginStage transform alone (Dedup's block merge before `finetune`,
  // DeepLight's `prune`, whose schedule then has not pruned and leaves the
  // whole prune to its `sparse` stage). FailedPrecondition when this model is
  // not a one-fp32-table model, or when `config`'s method learns anything the
  // trained rows do not give (dense decoder parameters, another table, a
  // stage that trains and is not in `untrained_stages`).
  StatusOr<std::unique_ptr<Predictor>> Recompress(
      const TrainConfig& config, const std::vector<std::string>& untrained_stages = {}) const;

  // The schema the model was built for (the data's, or the bundle's).
  const DatasetSchema& schema() const { return schema_; }
  // The vocabulary of the data the model was trained on (raw value -> id per
  // field; worker/data/vocabulary_table.h), kept in its bundle: null when
  // unknown (a cache written before vocabularies were kept, a bundle without
  // one). Attach refuses, with FailedPrecondition naming `origin`, the
  // vocabulary of other data: another feature space, or (when the model
  // knows its data's identity) another cache.
  const std::shared_ptr<const VocabularyTable>& vocabulary() const { return vocabulary_; }
  Status AttachVocabulary(VocabularyTable vocabulary, const std::string& origin);
  // The checkpoint's DATA section (JSON, docs/formats.md; "" when it had
  // none): the data the model was trained on.
  const std::string& data_identity() const { return data_identity_; }

  // Logits of `batch` (batch.size rows) into `logits`.
  Status Logits(const Batch& batch, float* logits);

  struct Scores {
    std::vector<float> logits;  // by row of the split
    std::vector<float> labels;
    double auc = 0.5, logloss = 0;  // meaningful when rows > 0
    double seconds = 0;             // scoring only (gather + forward)
  };
  // Scores the first `max_rows` rows (0: all) of `split` of `data` in the
  // trainer's evaluation batches (train.eval_batch_size); `progress(done,
  // total)` is called after every batch when set.
  StatusOr<Scores> Score(const Dataset& data, Split split, uint64_t max_rows,
                         const std::function<void(uint64_t, uint64_t)>& progress = {});

  const TrainConfig& config() const { return config_; }
  // The embedding's memory as loaded (inference bytes: what serving holds).
  MemoryReport Memory() const { return embedding_->Memory(); }
  uint64_t dense_bytes() { return model_->params().size() * sizeof(float); }
  EmbeddingLayer& embedding() { return *embedding_; }

 private:
  Predictor() = default;
  TrainConfig config_;
  DatasetSchema schema_;
  std::vector<uint32_t> train_counts_;
  std::string data_identity_;  // the checkpoint's DATA section ("" when none)
  std::shared_ptr<const VocabularyTable> vocabulary_;  // null when unknown
  int num_fields_ = 0, num_dense_ = 0, dim_ = 0;
  std::unique_ptr<DenseModel> model_;
  std::unique_ptr<EmbeddingLayer> embedding_;
  std::vector<float> emb_;
};

}  // namespace ecps
