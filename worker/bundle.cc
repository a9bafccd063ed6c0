#include "worker/bundle.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>

#include "common/metrics.h"
#include "common/params.h"
#include "compressors/registry.h"
#include "embedding/sparse_optimizer.h"

namespace ecps {
namespace {

Status ToFloats(const CheckpointReader& r, const std::string& tag, std::span<float> out,
                const std::string& origin) {
  ASSIGN_OR_RETURN(std::string_view bytes, r.Get(tag));
  if (bytes.size() != out.size() * sizeof(float))
    return DataLoss("checkpoint '", origin, "' section ", tag, " holds ",
                    bytes.size() / sizeof(float), " values; the model its config describes has ",
                    out.size());
  if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  return OkStatus();
}

}  // namespace

StatusOr<TrainConfig> TrainConfigFromYaml(const std::string& yaml, const std::string& origin) {
  ASSIGN_OR_RETURN(auto flat, FlattenYaml(yaml, origin));
  std::vector<std::string> overrides;
  for (const auto& [key, value] : flat)
    if (key.rfind("embedding.params.", 0) == 0 || TrainConfigSchema().Find(key) != nullptr)
      overrides.push_back(key + "=" + value);
  StatusOr<TrainConfig> config = LoadTrainConfig("", overrides);
  if (!config.ok()) return Annotate(config.status(), origin);
  config->origin = origin;
  return config;
}

StatusOr<std::unique_ptr<Predictor>> Predictor::Create(
    const std::string& origin, const CheckpointReader& trainer, const TrainConfig& config,
    const DatasetSchema& schema, std::span<const uint32_t> train_counts,
    const std::function<Status(RowStore&, const std::vector<RowTableSpec>&)>& fill_rows) {
  std::unique_ptr<Predictor> p(new Predictor());
  p->config_ = config;
  const ParamSet& params = config.params;
  p->num_fields_ = schema.num_fields;
  p->num_dense_ = schema.num_dense;
  p->dim_ = static_cast<int>(params.GetInt("embedding.dim"));
  const uint64_t seed = static_cast<uint64_t>(params.GetInt("train.seed"));
  // The model and the layer are built as Trainer::Init builds them, then the
  // checkpoint's values replace the initial ones.
  ASSIGN_OR_RETURN(DenseModelConfig mc, config.ModelConfig(p->num_dense_, p->num_fields_));
  ASSIGN_OR_RETURN(p->model_, CreateDenseModel(mc, Device::kCpu, seed));
  SparseOptimizerConfig so;
  ASSIGN_OR_RETURN(so.kind, ParseSparseOptimizer(params.GetString("optimizer.sparse")));
  const double slr = params.GetFloat("optimizer.sparse_lr");
  so.lr = static_cast<float>(slr > 0 ? slr : params.GetFloat("optimizer.lr"));
  so.beta1 = static_cast<float>(params.GetFloat("optimizer.beta1"));
  so.beta2 = static_cast<float>(params.GetFloat("optimizer.beta2"));
  so.eps = static_cast<float>(params.GetFloat("optimizer.eps"));
  ASSIGN_OR_RETURN(auto compressor, CreateCompressor(config.method()));
  p->embedding_ = std::make_unique<EmbeddingLayer>(std::move(compressor), NewLocalRowStore(so));
  CompressorContext ctx;
  ctx.space.cardinalities = schema.cardinalities;
  ctx.space.offsets = schema.offsets;
  ctx.space.dim = p->dim_;
  ctx.budget = params.GetFloat("embedding.budget");
  ctx.seed = seed;
  ctx.train_counts = train_counts;
  ctx.sparse_lr = so.lr;
  RETURN_IF_ERROR(Annotate(p->embedding_->Init(ctx, config.method_params),
                           absl::StrCat("method '", config.method(), "'")));
  ASSIGN_OR_RETURN(std::string_view embd, trainer.Get("EMBD"));
  ASSIGN_OR_RETURN(SavedEmbedding saved, ParseEmbeddingBlob(std::string(embd)));
  if (saved.store_state.empty()) {
    if (!fill_rows)
      return FailedPrecondition("checkpoint '", origin,
                                "' holds no embedding rows (a cluster's dense part without its "
                                "shards)");
    // The method's tables at its saved stage: its state first (Load() below
    // restores it again, with the rows in place).
    Compressor& method = p->embedding_->compressor();
    RETURN_IF_ERROR(Annotate(method.LoadState(saved.method_state),
                             "checkpoint '" + origin + "' EMBD (" + saved.method + ")"));
    RETURN_IF_ERROR(fill_rows(p->embedding_->store(), method.Tables()));
  }
  RETURN_IF_ERROR(
      Annotate(p->embedding_->Load(std::string(embd)), "checkpoint '" + origin + "' EMBD"));
  RETURN_IF_ERROR(ToFloats(trainer, "DENS", p->model_->params(), origin));
  RETURN_IF_ERROR(ToFloats(trainer, "MDNS", p->embedding_->compressor().DenseParams(), origin));
  const std::span<float> buffers = p->embedding_->compressor().DenseBuffers();
  if (trainer.Has("MDBF")) {
    RETURN_IF_ERROR(ToFloats(trainer, "MDBF", buffers, origin));
  } else if (!buffers.empty()) {
    return FailedPrecondition("checkpoint '", origin, "' has no MDBF section, but method '",
                              config.method(), "' has ", buffers.size(),
                              " dense buffer values to restore");
  }
  return p;
}

Status Predictor::Logits(const Batch& batch, float* logits) {
  const size_t n = static_cast<size_t>(batch.size);
  if (batch.num_fields != num_fields_ || batch.num_dense != num_dense_)
    return InvalidArgument("a batch of ", batch.num_dense, " dense and ", batch.num_fields,
                           " sparse fields for a model of ", num_dense_, " and ", num_fields_);
  emb_.resize(n * num_fields_ * dim_);
  RETURN_IF_ERROR(embedding_->Forward(batch.sparse, emb_.data(), /*training=*/false));
  model_->Predict(batch.size, batch.dense.data(), emb_.data(), logits);
  return OkStatus();
}

StatusOr<Predictor::Scores> Predictor::Score(
    const Dataset& data, Split split, uint64_t max_rows,
    const std::function<void(uint64_t, uint64_t)>& progress) {
  const DatasetSchema& s = data.schema();
  if (s.num_fields != num_fields_ || s.num_dense != num_dense_)
    return InvalidArgument("the data has ", s.num_dense, " dense and ", s.num_fields,
                           " sparse fields; the model was trained on ", num_dense_, " and ",
                           num_fields_);
  uint64_t n = data.NumRows(split);
  if (max_rows > 0) n = std::min(n, max_rows);
  const uint64_t eb = static_cast<uint64_t>(config_.params.GetInt("train.eval_batch_size"));
  Scores out;
  out.logits.resize(n);
  out.labels.resize(n);
  std::vector<uint64_t> rows;
  Batch batch;
  const auto t0 = std::chrono::steady_clock::now();
  // The trainer's evaluation batches (Trainer::ScoreAndDecide, one worker):
  // rows [start, start + eb) from 0.
  for (uint64_t start = 0; start < n; start += eb) {
    const uint64_t cnt = std::min(eb, n - start);
    rows.resize(cnt);
    std::iota(rows.begin(), rows.end(), start);
    data.Gather(split, rows, &batch);
    RETURN_IF_ERROR(Logits(batch, out.logits.data() + start));
    std::copy(batch.labels.begin(), batch.labels.end(), out.labels.begin() + start);
    if (progress) progress(start + cnt, n);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (n > 0) {
    out.auc = RocAuc(out.logits, out.labels);
    out.logloss = LogLossFromLogits(out.logits, out.labels);
  }
  return out;
}

}  // namespace ecps
