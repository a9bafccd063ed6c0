#include "worker/bundle.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>

#include "common/blob.h"
#include "common/file_util.h"
#include "common/metrics.h"
#include "common/params.h"
#include "compressors/registry.h"
#include "embedding/row_codec.h"
#include "embedding/sparse_optimizer.h"
#include "worker/git_commit.h"  // generated: ECPS_GIT_COMMIT

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

StatusOr<TrainConfig> TrainConfigFromYaml(const std::string& yaml, const std::string& origin,
                                          const std::vector<std::string>& extra,
                                          bool drop_method_params) {
  ASSIGN_OR_RETURN(auto flat, FlattenYaml(yaml, origin));
  std::vector<std::string> overrides;
  for (const auto& [key, value] : flat) {
    const bool method_param = key.rfind("embedding.params.", 0) == 0;
    if ((method_param && !drop_method_params) || TrainConfigSchema().Find(key) != nullptr)
      overrides.push_back(key + "=" + value);
  }
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  StatusOr<TrainConfig> config = LoadTrainConfig("", overrides);
  if (!config.ok()) return Annotate(config.status(), origin);
  config->origin = origin;
  return config;
}

StatusOr<std::unique_ptr<Predictor>> Predictor::Create(
    const std::string& origin, const CheckpointReader& trainer, const TrainConfig& config,
    const DatasetSchema& schema, std::span<const uint32_t> train_counts,
    const std::function<Status(RowStore&, const std::vector<RowTableSpec>&)>& fill_rows,
    const SparseOptimizerKind* store_kind) {
  std::unique_ptr<Predictor> p(new Predictor());
  p->config_ = config;
  p->schema_ = schema;
  p->train_counts_.assign(train_counts.begin(), train_counts.end());
  if (trainer.Has("DATA")) p->data_identity_ = std::string(*trainer.Get("DATA"));
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
  if (store_kind != nullptr) so.kind = *store_kind;
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
  ctx.train_counts = p->train_counts_;
  ctx.sparse_lr = so.lr;
  ctx.partitions = static_cast<int>(params.GetInt("cluster.virtual_shards"));
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

StatusOr<std::unique_ptr<Predictor>> Predictor::Recompress(
    const TrainConfig& config, const std::vector<std::string>& untrained_stages) const {
  const std::vector<RowTableSpec> from = embedding_->store().StoredTables();
  if (from.size() != 1 || from[0].dtype != DType::kF32 ||
      !embedding_->compressor().DenseParams().empty())
    return FailedPrecondition("the model's embedding (method '", config_.method(), "', ",
                              from.size(),
                              " stored tables) is not one fp32 table with no dense parameters, "
                              "as a 'full' model's is");
  std::unique_ptr<Predictor> p(new Predictor());
  p->config_ = config;
  p->schema_ = schema_;
  p->train_counts_ = train_counts_;
  p->data_identity_ = data_identity_;
  p->vocabulary_ = vocabulary_;
  p->num_fields_ = num_fields_;
  p->num_dense_ = num_dense_;
  p->dim_ = dim_;
  if (config.params.GetInt("embedding.dim") != dim_)
    return FailedPrecondition("embedding.dim ", config.params.GetInt("embedding.dim"),
                              " is not the model's ", dim_);
  // The dense network as trained: built as Create() builds it, then its
  // parameters copied.
  ASSIGN_OR_RETURN(DenseModelConfig mc, config.ModelConfig(num_dense_, num_fields_));
  ASSIGN_OR_RETURN(p->model_,
                   CreateDenseModel(mc, Device::kCpu,
                                    static_cast<uint64_t>(config.params.GetInt("train.seed"))));
  auto* self = const_cast<Predictor*>(this);  // params() is a non-const view
  const std::span<const float> trained = self->model_->params();
  if (p->model_->params().size() != trained.size())
    return FailedPrecondition("the dense model of the new config has ", p->model_->params().size(),
                              " parameters, the trained one ", trained.size());
  std::copy(trained.begin(), trained.end(), p->model_->params().begin());
  SparseOptimizerConfig so;
  so.kind = SparseOptimizerKind::kSgd;  // serving: no per-row optimizer state
  ASSIGN_OR_RETURN(auto compressor, CreateCompressor(config.method()));
  p->embedding_ = std::make_unique<EmbeddingLayer>(std::move(compressor), NewLocalRowStore(so));
  CompressorContext ctx;
  ctx.space.cardinalities = schema_.cardinalities;
  ctx.space.offsets = schema_.offsets;
  ctx.space.dim = dim_;
  ctx.budget = config.params.GetFloat("embedding.budget");
  ctx.seed = static_cast<uint64_t>(config.params.GetInt("train.seed"));
  ctx.partitions = static_cast<int>(config.params.GetInt("cluster.virtual_shards"));
  ctx.train_counts = p->train_counts_;
  RETURN_IF_ERROR(Annotate(p->embedding_->Init(ctx, config.method_params),
                           absl::StrCat("method '", config.method(), "'")));
  Compressor& method = p->embedding_->compressor();
  const std::vector<RowTableSpec> to = method.Tables();
  if (to.size() != 1 || to[0].name != from[0].name || to[0].rows != from[0].rows ||
      to[0].width != from[0].width)
    return FailedPrecondition("method '", config.method(), "' does not start from the trained '",
                              from[0].name, "' ", from[0].rows, " x ", from[0].width,
                              " table (its first stage has ", to.size(),
                              " tables): it needs training");
  if (!method.DenseParams().empty())
    return FailedPrecondition("method '", config.method(), "' has ", method.DenseParams().size(),
                              " dense decoder parameters to train");
  std::vector<float> rows(from[0].rows * static_cast<size_t>(from[0].width));
  if (from[0].rows > 0) {
    RETURN_IF_ERROR(embedding_->store().ReadRows(0, 0, from[0].rows, rows.data()));
    RETURN_IF_ERROR(p->embedding_->store().WriteRows(0, 0, from[0].rows, rows.data(), nullptr));
  }
  const std::vector<StageSpec> stages = method.Stages();
  for (size_t i = 1; i < stages.size(); ++i) {
    if (!stages[i].post_training && std::find(untrained_stages.begin(), untrained_stages.end(),
                                              stages[i].name) == untrained_stages.end())
      return FailedPrecondition("method '", config.method(), "' stage '", stages[i].name,
                                "' trains: it cannot be applied after training");
    RETURN_IF_ERROR(
        Annotate(p->embedding_->BeginStage(static_cast<int>(i)),
                 absl::StrCat("method '", config.method(), "' stage '", stages[i].name, "'")));
  }
  return p;
}

Status Predictor::AttachVocabulary(VocabularyTable vocabulary, const std::string& origin) {
  RETURN_IF_ERROR(vocabulary.CheckSchema(schema_, origin));
  if (!data_identity_.empty()) {
    // DATA names the cache the model was trained on; a vocabulary carries
    // the digest of the cache it was built with.
    std::string trained;
    try {
      trained = nlohmann::json::parse(data_identity_).at("identity_digest").get<std::string>();
    } catch (const std::exception& e) {
      return DataLoss("the model's DATA section is unreadable: ", e.what());
    }
    if (trained != vocabulary.identity_digest)
      return FailedPrecondition(origin, " belongs to the data of identity ",
                                vocabulary.identity_digest, "; the model was trained on ", trained,
                                " (same feature space, other ids)");
  }
  vocabulary_ = std::make_shared<const VocabularyTable>(std::move(vocabulary));
  return OkStatus();
}

Status Predictor::Logits(const Batch& batch, float* logits) {
  const size_t n = static_cast<size_t>(batch.size);
  if (batch.num_fields != num_fields_ || batch.num_dense != num_dense_)
    return InvalidArgument("a batch of ", batch.num_dense, " dense and ", batch.num_fields,
                           " sparse fields for a model of ", num_dense_, " and ", num_fields_);
  emb_.resize(n * num_fields_ * dim_);
  // Feature values scale their vectors as in training (empty: all 1).
  RETURN_IF_ERROR(embedding_->Forward(batch.sparse, emb_.data(), /*training=*/false, batch.values));
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

namespace {

std::string FloatBytes(std::span<const float> v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

nlohmann::json SchemaJson(const DatasetSchema& s) {
  return {{"format", s.format},
          {"num_dense", s.num_dense},
          {"num_fields", s.num_fields},
          {"field_names", s.field_names},
          {"cardinalities", s.cardinalities},
          {"offsets", s.offsets}};
}

// One table of a bundle: its stored bytes (fp32 values, or the codes of
// embedding/row_codec.h) and, for per-row scaled tables, each row's pair.
struct BundleTable {
  std::string name;
  uint64_t rows = 0;
  int32_t width = 0;
  uint8_t dtype = 0;
  std::string stored;
  std::vector<float> scale_zero;
};

}  // namespace

StatusOr<std::string> Predictor::EncodeBundle(const nlohmann::json& source) const {
  const RowStore& store = embedding_->store();
  const std::vector<RowTableSpec> specs = store.StoredTables();
  std::vector<BundleTable> tables;
  nlohmann::json table_list = nlohmann::json::array();
  uint64_t table_bytes = 0;
  for (size_t t = 0; t < specs.size(); ++t) {
    const RowTableSpec& spec = specs[t];
    BundleTable b{spec.name, spec.rows, spec.width, static_cast<uint8_t>(spec.dtype), {}, {}};
    if (spec.dtype == DType::kF32) {
      std::vector<float> v(spec.rows * spec.width);
      if (spec.rows > 0)
        RETURN_IF_ERROR(store.ReadRows(static_cast<int>(t), 0, spec.rows, v.data()));
      b.stored = FloatBytes(v);
    } else {
      std::vector<uint64_t> rows(spec.rows);
      std::iota(rows.begin(), rows.end(), 0);
      b.stored.resize(spec.rows * row_codec::RowBytes(spec.dtype, spec.width));
      if (spec.quant == QuantScheme::kPerRow) b.scale_zero.resize(2 * spec.rows);
      if (spec.rows > 0)
        RETURN_IF_ERROR(store.ReadCodes(static_cast<int>(t), rows,
                                        reinterpret_cast<uint8_t*>(b.stored.data()),
                                        b.scale_zero.empty() ? nullptr : b.scale_zero.data()));
    }
    const uint64_t bytes = spec.rows * StoredRowBytes(spec);
    table_bytes += bytes;
    table_list.push_back({{"name", spec.name},
                          {"rows", spec.rows},
                          {"width", spec.width},
                          {"dtype", DTypeName(spec.dtype)},
                          {"bytes", bytes}});
    tables.push_back(std::move(b));
  }
  ASSIGN_OR_RETURN(std::string embd, embedding_->Save(/*with_rows=*/false));
  const MemoryReport mem = embedding_->Memory();
  const nlohmann::json header = {
      {"format", "ecps-bundle"},
      {"version", kBundleVersion},
      {"method", config_.method()},
      {"source", source},
      {"schema", SchemaJson(schema_)},
      {"tables", table_list},
      {"table_bytes", table_bytes},
      {"inference_memory_bytes", mem.inference_bytes},
      {"vocabulary", vocabulary_ == nullptr
                         ? nlohmann::json()
                         : nlohmann::json{{"format", vocabulary_->format},
                                          {"fields", vocabulary_->fields.size()},
                                          {"bytes", vocabulary_->bytes()},
                                          {"weight_values", vocabulary_->weight_values}}},
      // The build that wrote the bundle (the training build's is
      // in `source`, from the checkpoint's STAT).
      {"converted_by_git_commit", ECPS_GIT_COMMIT}};
  auto* self = const_cast<Predictor*>(this);  // params() and DenseParams() are non-const views
  BlobWriter w(kBundleMagic, kBundleVersion);
  w.Str(header.dump());
  w.Str(config_.ToYaml());
  w.Str(data_identity_);
  w.Str(FloatBytes(self->model_->params()));
  w.Str(FloatBytes(self->embedding_->compressor().DenseParams()));
  w.Str(FloatBytes(self->embedding_->compressor().DenseBuffers()));
  w.Str(embd);
  w.Vec(train_counts_);
  w.Pod<uint64_t>(tables.size());
  for (const BundleTable& b : tables) {
    w.Str(b.name);
    w.Pod(b.rows);
    w.Pod(b.width);
    w.Pod(b.dtype);
    w.Str(b.stored);
    w.Vec(b.scale_zero);
  }
  w.Str(vocabulary_ == nullptr ? std::string() : vocabulary_->Encode());
  return w.Finish();
}

StatusOr<nlohmann::json> Predictor::ReadBundleHeader(const std::string& path) {
  if (!FileExists(path)) return NotFound("bundle '", path, "' does not exist");
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  BlobReader r;
  RETURN_IF_ERROR(r.Open(bytes, kBundleMagic, kBundleVersion, "bundle '" + path + "'"));
  std::string header;
  if (!r.Str(&header)) return r.Truncated();
  try {
    nlohmann::json h = nlohmann::json::parse(header);
    if (!h.is_object()) throw std::runtime_error("not a JSON object");
    h["bytes"] = bytes.size();
    return h;
  } catch (const std::exception& e) {
    return DataLoss("bundle '", path, "': its header is unreadable: ", e.what());
  }
}

StatusOr<std::unique_ptr<Predictor>> Predictor::FromBundle(const std::string& path) {
  if (!FileExists(path)) return NotFound("bundle '", path, "' does not exist");
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  BlobReader r;
  RETURN_IF_ERROR(r.Open(bytes, kBundleMagic, kBundleVersion, "bundle '" + path + "'"));
  std::string header_text, conf, data, dens, mdns, mdbf, embd;
  std::vector<uint32_t> counts;
  uint64_t num_tables = 0;
  if (!r.Str(&header_text) || !r.Str(&conf) || !r.Str(&data) || !r.Str(&dens) || !r.Str(&mdns) ||
      !r.Str(&mdbf) || !r.Str(&embd) || !r.Vec(&counts) || !r.Pod(&num_tables))
    return r.Truncated();
  std::vector<BundleTable> tables;
  for (uint64_t t = 0; t < num_tables; ++t) {
    BundleTable b;
    if (!r.Str(&b.name) || !r.Pod(&b.rows) || !r.Pod(&b.width) || !r.Pod(&b.dtype) ||
        !r.Str(&b.stored) || !r.Vec(&b.scale_zero))
      return r.Truncated();
    tables.push_back(std::move(b));
  }
  std::string vocabulary;  // version 1 bundles have none
  if (r.version() >= 2 && !r.Str(&vocabulary)) return r.Truncated();
  if (!r.AtEnd()) return r.Truncated();
  DatasetSchema schema;
  try {
    const nlohmann::json h = nlohmann::json::parse(header_text);
    const nlohmann::json& s = h.at("schema");
    schema.format = s.at("format").get<std::string>();
    schema.num_dense = s.at("num_dense").get<int>();
    schema.num_fields = s.at("num_fields").get<int>();
    schema.field_names = s.at("field_names").get<std::vector<std::string>>();
    schema.cardinalities = s.at("cardinalities").get<std::vector<uint64_t>>();
    schema.offsets = s.at("offsets").get<std::vector<uint64_t>>();
  } catch (const std::exception& e) {
    return DataLoss("bundle '", path, "': its header is unreadable: ", e.what());
  }
  if (schema.num_fields < 0 || schema.num_dense < 0 ||
      schema.cardinalities.size() != static_cast<size_t>(schema.num_fields) ||
      schema.offsets.size() != schema.cardinalities.size())
    return DataLoss("bundle '", path, "': its schema names ", schema.num_fields, " fields but ",
                    schema.cardinalities.size(), " cardinalities and ", schema.offsets.size(),
                    " offsets");
  if (counts.size() != schema.total_features())
    return DataLoss("bundle '", path, "' holds ", counts.size(), " train counts for ",
                    schema.total_features(), " features");
  ASSIGN_OR_RETURN(TrainConfig config, TrainConfigFromYaml(conf, "bundle '" + path + "' config"));
  // The trainer's sections, framed as a checkpoint for Create().
  CheckpointWriter w;
  w.Add("CONF", conf);
  if (!data.empty()) w.Add("DATA", data);
  w.Add("DENS", dens);
  w.Add("MDNS", mdns);
  w.Add("MDBF", mdbf);
  w.Add("EMBD", embd);
  ASSIGN_OR_RETURN(CheckpointReader sections, CheckpointReader::Parse(path, w.Encode()));
  auto fill = [&](RowStore& store, const std::vector<RowTableSpec>& want) -> Status {
    if (want.size() != tables.size())
      return FailedPrecondition("bundle '", path, "' holds ", tables.size(), " tables; method '",
                                config.method(), "' has ", want.size());
    std::vector<std::vector<float>> values(want.size());
    for (size_t t = 0; t < want.size(); ++t) {
      const RowTableSpec& spec = want[t];
      const BundleTable& b = tables[t];
      if (b.name != spec.name || b.rows != spec.rows || b.width != spec.width ||
          b.dtype != static_cast<uint8_t>(spec.dtype))
        return FailedPrecondition("bundle '", path, "': table ", t, " is '", b.name, "' ", b.rows,
                                  " x ", b.width, "; method '", config.method(), "' expects '",
                                  spec.name, "' ", spec.rows, " x ", spec.width, " ",
                                  DTypeName(spec.dtype));
      const size_t w = static_cast<size_t>(spec.width);
      values[t].resize(spec.rows * w);
      const bool per_row = spec.quant == QuantScheme::kPerRow;
      if (spec.dtype == DType::kF32) {
        if (b.stored.size() != values[t].size() * sizeof(float))
          return DataLoss("bundle '", path, "': table '", b.name, "' holds ", b.stored.size(),
                          " B, not ", values[t].size() * sizeof(float));
        std::memcpy(values[t].data(), b.stored.data(), b.stored.size());
        continue;
      }
      const size_t row_bytes = row_codec::RowBytes(spec.dtype, spec.width);
      if (b.stored.size() != spec.rows * row_bytes ||
          b.scale_zero.size() != (per_row ? 2 * spec.rows : 0))
        return DataLoss("bundle '", path, "': table '", b.name, "' holds ", b.stored.size(),
                        " B of codes and ", b.scale_zero.size(), " scale values for ", spec.rows,
                        " rows of ", row_bytes, " B");
      for (uint64_t i = 0; i < spec.rows; ++i) {
        const float scale = per_row ? b.scale_zero[2 * i] : static_cast<float>(spec.scale);
        const float zero = per_row ? b.scale_zero[2 * i + 1] : static_cast<float>(spec.zero);
        row_codec::DecodeRow(spec.dtype, spec.width,
                             reinterpret_cast<const uint8_t*>(b.stored.data()) + i * row_bytes,
                             scale, zero, values[t].data() + i * w);
      }
    }
    // The decoded values are on their codes' grid, so writing them back
    // re-encodes to the same codes; per-row tables get their stored pairs.
    RETURN_IF_ERROR(store.Reset(want, /*seed=*/0));
    for (size_t t = 0; t < want.size(); ++t)
      if (want[t].rows > 0)
        RETURN_IF_ERROR(store.WriteRows(
            static_cast<int>(t), 0, want[t].rows, values[t].data(),
            want[t].quant == QuantScheme::kPerRow ? tables[t].scale_zero.data() : nullptr));
    return OkStatus();
  };
  const SparseOptimizerKind serving = SparseOptimizerKind::kSgd;  // no per-row optimizer state
  ASSIGN_OR_RETURN(std::unique_ptr<Predictor> p,
                   Create(path, sections, config, schema, counts, fill, &serving));
  if (!vocabulary.empty()) {
    const std::string what = "bundle '" + path + "' vocabulary";
    ASSIGN_OR_RETURN(VocabularyTable v, VocabularyTable::Decode(vocabulary, what));
    RETURN_IF_ERROR(p->AttachVocabulary(std::move(v), what));
  }
  return p;
}

}  // namespace ecps
