#include "embedding/embedding_layer.h"

#include <utility>

#include "common/blob.h"
#include "common/check.h"
#include "common/rng.h"

namespace ecps {
namespace {

constexpr char kMagic[9] = "ECPSEMBL";
constexpr uint32_t kVersion = 1;

// Tables of a reshaped stage get their own init stream, so that a stage's
// fresh rows never repeat stage 0's values by accident.
uint64_t StageSeed(uint64_t seed, int stage) {
  uint64_t x = seed ^ (0xA24BAED4963EE407ull * static_cast<uint64_t>(stage + 1));
  return SplitMix64(x);
}

}  // namespace

EmbeddingLayer::EmbeddingLayer(std::unique_ptr<Compressor> compressor,
                               std::unique_ptr<RowStore> store)
    : compressor_(std::move(compressor)), store_(std::move(store)) {
  ECPS_CHECK(compressor_ != nullptr);
  ECPS_CHECK(store_ != nullptr);
}

Status EmbeddingLayer::Init(const CompressorContext& ctx, const ParamSet& method_params) {
  RETURN_IF_ERROR(Annotate(compressor_->Init(ctx, method_params), compressor_->Name()));
  RETURN_IF_ERROR(Annotate(store_->Reset(compressor_->Tables(), ctx.seed), compressor_->Name()));
  RETURN_IF_ERROR(SetKeyMappings());
  AttachStore();
  // A method may write its own initial values (rows it does not write keep
  // the store's seeded init).
  RETURN_IF_ERROR(Annotate(compressor_->InitStageRows(0), compressor_->Name()));
  seed_ = ctx.seed;
  dim_ = ctx.space.dim;
  stage_ = 0;
  forward_count_ = 0;
  has_training_batch_ = false;
  return OkStatus();
}

uint64_t EmbeddingLayer::NoiseSeed(uint64_t forward) const {
  uint64_t x = seed_ ^ (0xD1B54A32D192ED03ull * forward);
  return SplitMix64(x);
}

void EmbeddingLayer::AttachStore() {
  access_.Bind(store_.get());
  compressor_->AttachRows(&access_);
}

Status EmbeddingLayer::SetKeyMappings() {
  return Annotate(store_->SetKeyMappings(compressor_->KeyMappings()),
                  compressor_->Name() + " key mappings");
}

Status EmbeddingLayer::RunForward(std::span<const uint32_t> keys, float* out, bool training,
                                  LookupPlan* plan, FetchedRows* values) {
  plan->training = training;
  if (training) plan->noise_seed = NoiseSeed(++forward_count_);
  compressor_->Encode(keys, plan);
  RETURN_IF_ERROR(Annotate(store_->Gather(*plan, values), compressor_->Name() + " lookup"));
  compressor_->Decode(*plan, *values, out);
  return OkStatus();
}

namespace {

// out[k * dim, (k + 1) * dim) *= values[k]: a valued feature scales its vector.
void ScaleByValues(std::span<const float> values, int dim, float* out) {
  for (size_t k = 0; k < values.size(); ++k) {
    const float v = values[k];
    float* row = out + k * static_cast<size_t>(dim);
    for (int j = 0; j < dim; ++j) row[j] *= v;
  }
}

}  // namespace

Status EmbeddingLayer::Forward(std::span<const uint32_t> keys, float* out, bool training,
                               std::span<const float> values) {
  ECPS_CHECK(values.empty() || values.size() == keys.size())
      << values.size() << " feature values for " << keys.size() << " keys";
  if (!training) {
    RETURN_IF_ERROR(RunForward(keys, out, false, &eval_plan_, &eval_values_));
    ScaleByValues(values, dim_, out);
    return OkStatus();
  }
  has_training_batch_ = false;
  RETURN_IF_ERROR(RunForward(keys, out, true, &plan_, &values_));
  ScaleByValues(values, dim_, out);
  train_values_.assign(values.begin(), values.end());
  has_training_batch_ = true;
  return OkStatus();
}

void EmbeddingLayer::Observe(std::span<const uint32_t> global_keys) {
  if (compressor_->ObservesKeys()) compressor_->Observe(global_keys);
}

void EmbeddingLayer::Prefetch(std::span<const uint32_t> keys) {
  // The plan the next training Forward() will build, with its noise seed.
  next_plan_.training = true;
  next_plan_.noise_seed = NoiseSeed(forward_count_ + 1);
  compressor_->Encode(keys, &next_plan_);
  store_->Prefetch(next_plan_);
}

void EmbeddingLayer::PrepareGrads() {
  ECPS_CHECK(has_training_batch_) << "Backward() without a training Forward()";
  // Sized like the fetched rows; resize keeps capacity across steps.
  grads_.values.resize(values_.values.size());
  for (size_t t = 0; t < values_.values.size(); ++t)
    grads_.values[t].resize(values_.values[t].size());
}

Status EmbeddingLayer::Backward(const float* grad_out, int64_t step) {
  PrepareGrads();
  if (!train_values_.empty()) {
    // d out[k] / d vector(keys[k]) = values[k]: the method sees the scaled
    // gradient (no values: grad_out as it is, the unweighted path unchanged).
    const size_t d = static_cast<size_t>(dim_);
    scaled_grad_.assign(grad_out, grad_out + train_values_.size() * d);
    ScaleByValues(train_values_, dim_, scaled_grad_.data());
    grad_out = scaled_grad_.data();
  }
  compressor_->DecodeBackward(plan_, values_, grad_out, &grads_);
  has_training_batch_ = false;
  return Annotate(store_->Push(plan_, grads_, step), compressor_->Name() + " update");
}

StatusOr<uint64_t> EmbeddingLayer::AfterStep(int64_t step) {
  const uint64_t before = access_.writes();
  RETURN_IF_ERROR(Annotate(compressor_->AfterStep(step), compressor_->Name() + " after step"));
  return access_.writes() - before;
}

Status EmbeddingLayer::BeginStage(int index) {
  const std::vector<StageSpec> stages = compressor_->Stages();
  if (index < 0 || static_cast<size_t>(index) >= stages.size())
    return InvalidArgument(compressor_->Name(), ": stage ", index, " does not exist (",
                           stages.size(), " stages)");
  const StageSpec& spec = stages[index];
  const std::vector<RowTableSpec> before = compressor_->Tables();
  RETURN_IF_ERROR(
      Annotate(compressor_->BeginStage(index), compressor_->Name() + " stage '" + spec.name + "'"));
  const std::vector<RowTableSpec> after = compressor_->Tables();
  if (after != before) {
    const std::vector<RowCopy> copies = compressor_->StageCopies(index);
    // Reshape, also without copies: on parameter servers it applies once every
    // worker asked for it, so no replica's reads of the old tables in its
    // BeginStage (Post4Bits', DeepLight's, PEP's) meet the new ones; a Reset
    // is the primary's alone and lands as soon as the primary sends it.
    RETURN_IF_ERROR(Annotate(store_->Reshape(after, StageSeed(seed_, index), copies),
                             compressor_->Name() + " stage '" + spec.name + "'"));
    RETURN_IF_ERROR(SetKeyMappings());
    AttachStore();
    RETURN_IF_ERROR(Annotate(compressor_->InitStageRows(index),
                             compressor_->Name() + " stage '" + spec.name + "'"));
  } else if (spec.reinit_rows) {
    // Same seed as Init(): the very same initial values (rewinding).
    RETURN_IF_ERROR(store_->Reset(after, seed_));
    RETURN_IF_ERROR(SetKeyMappings());
    AttachStore();
  } else if (spec.reset_optimizer_state) {
    RETURN_IF_ERROR(store_->ResetOptimizerState());
  }
  stage_ = index;
  has_training_batch_ = false;
  return OkStatus();
}

MemoryReport EmbeddingLayer::Memory() const {
  MemoryReport r = compressor_->Memory();
  r.optimizer_bytes = store_->optimizer_bytes();
  return r;
}

StatusOr<std::string> EmbeddingLayer::Save(bool with_rows) const {
  std::string out;
  StringSink sink(&out);
  RETURN_IF_ERROR(SaveTo(&sink, with_rows));
  return out;
}

Status EmbeddingLayer::SaveTo(ByteSink* sink, bool with_rows,
                              const std::string* method_state) const {
  // The store's blob is nested as a length-prefixed string: its length
  // first (counted, not buffered), then its bytes straight from the store.
  uint64_t rows_bytes = 0;
  if (with_rows) {
    CountingSink count;
    RETURN_IF_ERROR(store_->SaveTo(&count));
    rows_bytes = count.bytes();
  }
  BlobStreamWriter w(sink, kMagic, kVersion);
  w.Str(compressor_->Name());
  w.Pod<int32_t>(stage_);
  w.Pod(forward_count_);
  w.Pod(seed_);
  w.Pod<int32_t>(dim_);
  w.Str(method_state != nullptr ? *method_state : compressor_->SaveState());
  w.Pod<uint64_t>(rows_bytes);
  if (with_rows) RETURN_IF_ERROR(store_->SaveTo(w.payload_sink()));
  return w.Finish();
}

StatusOr<SavedEmbedding> ParseEmbeddingBlob(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(r.Open(blob, kMagic, kVersion, "embedding checkpoint"));
  SavedEmbedding e;
  if (!r.Str(&e.method) || !r.Pod(&e.stage) || !r.Pod(&e.forward_count) || !r.Pod(&e.seed) ||
      !r.Pod(&e.dim) || !r.Str(&e.method_state) || !r.Str(&e.store_state) || r.remaining() != 0)
    return r.Truncated();
  return e;
}

StatusOr<SavedEmbedding> ReadEmbeddingBlob(ByteSource* src,
                                           const std::function<Status(ByteSource* rows)>& rows) {
  BlobStreamReader r;
  RETURN_IF_ERROR(r.Open(src, kMagic, kVersion, "embedding checkpoint"));
  SavedEmbedding e;
  uint64_t rows_bytes = 0;
  if (!r.Str(&e.method) || !r.Pod(&e.stage) || !r.Pod(&e.forward_count) || !r.Pod(&e.seed) ||
      !r.Pod(&e.dim) || !r.Str(&e.method_state) || !r.Pod(&rows_bytes) ||
      rows_bytes != r.remaining())
    return r.Truncated();
  if (rows_bytes > 0) {
    ByteSource* nested = r.Nested(rows_bytes);
    RETURN_IF_ERROR(rows(nested));
    if (nested->remaining() != 0) return r.Truncated();
  }
  RETURN_IF_ERROR(r.Finish());
  return e;
}

Status EmbeddingLayer::Load(const std::string& blob) {
  // The checksum first: a damaged blob changes nothing.
  BlobReader check;
  RETURN_IF_ERROR(check.Open(blob, kMagic, kVersion, "embedding checkpoint"));
  StringSource src(blob);
  return LoadFrom(&src);
}

Status EmbeddingLayer::LoadFrom(ByteSource* src) {
  BlobStreamReader r;
  RETURN_IF_ERROR(r.Open(src, kMagic, kVersion, "embedding checkpoint"));
  std::string name, method_state;
  int32_t stage = 0, dim = 0;
  uint64_t forward_count = 0, seed = 0, rows_bytes = 0;
  if (!r.Str(&name) || !r.Pod(&stage) || !r.Pod(&forward_count) || !r.Pod(&seed) || !r.Pod(&dim) ||
      !r.Str(&method_state) || !r.Pod(&rows_bytes) || rows_bytes != r.remaining())
    return r.Truncated();
  if (name != compressor_->Name())
    return FailedPrecondition("embedding checkpoint is for method '", name, "', this layer runs '",
                              compressor_->Name(), "'");
  if (dim != dim_)
    return FailedPrecondition("embedding checkpoint has dim ", dim, ", this layer has ", dim_);
  RETURN_IF_ERROR(Annotate(compressor_->LoadState(method_state), name));
  // Empty: the rows were loaded into the store separately (no store blob is empty).
  if (rows_bytes > 0) RETURN_IF_ERROR(store_->LoadFrom(r.Nested(rows_bytes)));
  RETURN_IF_ERROR(r.Finish());
  // The method's (restored) stage must describe the rows the store now holds.
  const std::vector<RowTableSpec> want = compressor_->Tables();
  const std::vector<RowTableSpec> have = store_->StoredTables();
  if (want != have)
    return FailedPrecondition("embedding checkpoint: the stored tables do not match method '", name,
                              "' at stage ", stage);
  // The store's keyed tables resolve through the restored method's mappings.
  RETURN_IF_ERROR(SetKeyMappings());
  stage_ = stage;
  forward_count_ = forward_count;
  seed_ = seed;
  has_training_batch_ = false;
  return OkStatus();
}

}  // namespace ecps
