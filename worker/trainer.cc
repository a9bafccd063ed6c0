#include "worker/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>

#include "common/budget.h"
#include "common/check.h"
#include "common/cpu.h"
#include "common/evaluation.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/process_memory.h"
#include "common/rng.h"
#include "common/stage_plan.h"
#include "compressors/registry.h"
#include "embedding/sparse_optimizer.h"
#include "worker/checkpoint.h"
#include "worker/git_commit.h"  // generated: ECPS_GIT_COMMIT
#include "worker/model/loss.h"
#include "worker/progress.h"

namespace ecps {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Whether no element is a NaN or an infinity: their exponent bits are all
// ones, and only then does adding one to the exponent field carry into the
// sign bit. Integer ORs vectorise (a float sum would be one dependent chain).
bool AllFinite(std::span<const float> v) {
  uint32_t acc = 0;
  for (float x : v) {
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof(bits));
    acc |= (bits & 0x7f800000u) + 0x00800000u;
  }
  return (acc & 0x80000000u) == 0;
}

std::string FloatsToBytes(std::span<const float> v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

Status BytesToFloats(std::string_view bytes, std::span<float> out, const std::string& what) {
  if (bytes.size() != out.size() * sizeof(float))
    return DataLoss("checkpoint section ", what, " holds ", bytes.size() / sizeof(float),
                    " values; the model has ", out.size(),
                    " (was it written for another model or config?)");
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return OkStatus();
}

// Keys that may differ between a checkpoint and the run resuming from it.
bool MayChangeOnResume(const std::string& key) {
  return key == "train.max_steps" || key == "train.epochs" || key == "train.early_stop_evals" ||
         // A run may resume on another cluster shape (virtual shards are checked by the store).
         (key.rfind("cluster.", 0) == 0 && key != "cluster.virtual_shards") ||
         key.rfind("output.", 0) == 0 || key == "model.threads" || key == "train.latency_batches";
}

}  // namespace

nlohmann::json TrainingMemoryJson(const MemoryReport& mem, uint64_t embedding_peak,
                                  uint64_t method_opt_bytes, uint64_t dense_bytes,
                                  uint64_t dense_opt_bytes, double full_bytes) {
  // The optimizer state of the method's dense decoder (DHE's MLPs) is the
  // trainer's, but it is the embedding's training memory: the MLPs are the
  // embedding (their parameters are its auxiliary bytes).
  const uint64_t embedding_total = embedding_peak + method_opt_bytes;
  return {{"embedding_parameter_bytes", mem.parameter_bytes},
          {"embedding_optimizer_bytes", mem.optimizer_bytes},
          {"embedding_auxiliary_bytes", mem.auxiliary_bytes},
          {"embedding_dense_optimizer_bytes", method_opt_bytes},
          {"embedding_total_bytes", embedding_total},
          {"embedding_ratio", full_bytes > 0 ? embedding_total / full_bytes : 0.0},
          {"dense_parameter_bytes", dense_bytes},
          {"dense_optimizer_bytes", dense_opt_bytes},
          {"total_bytes", embedding_total + dense_bytes + dense_opt_bytes}};
}

Status WriteResultsFile(const TrainConfig& config, const nlohmann::json& results) {
  const std::string name = config.params.GetString("output.results");
  if (name.empty()) return OkStatus();
  const std::string path =
      (std::filesystem::path(config.params.GetString("output.dir")) / name).string();
  return Annotate(AtomicWriteFile(path, results.dump(2) + "\n"), "writing results");
}

StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const TrainConfig& config, const Dataset* data,
                                                   TrainerEnv env) {
  std::unique_ptr<Trainer> t(new Trainer(config, data, std::move(env)));
  RETURN_IF_ERROR(t->Init());
  return t;
}

Status Trainer::SyncWorkers(const char* what) {
  if (env_.workers == nullptr) return OkStatus();
  return Annotate(env_.workers->Barrier(), absl::StrCat("worker barrier (", what, ")"));
}

std::string Trainer::Path(const std::string& name) const {
  return (std::filesystem::path(config_.params.GetString("output.dir")) / name).string();
}

Status Trainer::Init() {
  const ParamSet& p = config_.params;
  const DatasetSchema& schema = data_->schema();
  num_fields_ = schema.num_fields;
  num_dense_ = schema.num_dense;
  dim_ = static_cast<int>(p.GetInt("embedding.dim"));
  batch_size_ = static_cast<int>(p.GetInt("train.batch_size"));
  const uint64_t seed = static_cast<uint64_t>(p.GetInt("train.seed"));

  if (batch_size_ % num_workers() != 0)
    return InvalidArgument(config_.origin, ": config key 'train.batch_size' (", batch_size_,
                           ") must be divisible by the number of workers (", num_workers(), ")");
  if (data_->NumRows(Split::kTrain) < static_cast<uint64_t>(batch_size_))
    return InvalidArgument(config_.origin, ": config key 'train.batch_size' (", batch_size_,
                           ") exceeds the ", data_->NumRows(Split::kTrain), " training rows");

  ASSIGN_OR_RETURN(DenseModelConfig mc, config_.ModelConfig(num_dense_, num_fields_));
  Device device = p.GetString("model.device") == "cuda" ? Device::kCuda : Device::kCpu;
  ASSIGN_OR_RETURN(model_, CreateDenseModel(mc, device, seed));

  OptimizerConfig oc;
  oc.name = p.GetString("optimizer.name");
  oc.lr = p.GetFloat("optimizer.lr");
  oc.beta1 = p.GetFloat("optimizer.beta1");
  oc.beta2 = p.GetFloat("optimizer.beta2");
  oc.eps = p.GetFloat("optimizer.eps");
  ASSIGN_OR_RETURN(dense_opt_, CreateDenseOptimizer(oc, model_->params().size()));

  SparseOptimizerConfig so;
  ASSIGN_OR_RETURN(so.kind, ParseSparseOptimizer(p.GetString("optimizer.sparse")));
  double slr = p.GetFloat("optimizer.sparse_lr");
  so.lr = static_cast<float>(slr > 0 ? slr : oc.lr);
  so.beta1 = static_cast<float>(oc.beta1);
  so.beta2 = static_cast<float>(oc.beta2);
  so.eps = static_cast<float>(oc.eps);

  ASSIGN_OR_RETURN(auto compressor, CreateCompressor(config_.method()));
  embedding_ = std::make_unique<EmbeddingLayer>(
      std::move(compressor), env_.make_store ? env_.make_store(so) : NewLocalRowStore(so));
  CompressorContext ctx;
  ctx.space.cardinalities = schema.cardinalities;
  ctx.space.offsets = schema.offsets;
  ctx.space.dim = dim_;
  ctx.budget = p.GetFloat("embedding.budget");
  ctx.seed = seed;
  ctx.train_counts = data_->train_counts();
  ctx.sparse_lr = so.lr;
  ctx.partitions = static_cast<int>(p.GetInt("cluster.virtual_shards"));
  RETURN_IF_ERROR(Annotate(embedding_->Init(ctx, config_.method_params),
                           absl::StrCat("method '", config_.method(), "'")));
  if (env_.workers != nullptr) {
    // The method's sums over the workers (DHE's synchronised BatchNorm).
    struct Sums final : WorkerSums {
      explicit Sums(comm::Collective* c) : c(c) {}
      int size() const override { return c->size(); }
      Status AllreduceSum(std::span<double> data) override {
        return Annotate(c->AllreduceSum(data), "method all-reduce");
      }
      comm::Collective* c;
    };
    method_sums_ = std::make_unique<Sums>(env_.workers);
    embedding_->compressor().AttachWorkers(method_sums_.get());
  }
  state_.stage_seconds.assign(embedding_->compressor().Stages().size(), 0.0);
  state_.transition_seconds.assign(embedding_->compressor().Stages().size(), 0.0);
  dense_opt_config_ = oc;
  if (p.GetBool("train.online_eval"))
    online_ = std::make_unique<OnlineEval>(static_cast<uint64_t>(p.GetInt("train.online_window")));
  RETURN_IF_ERROR(ResizeMethodOptimizer());
  // Worker 0 initialised the servers' rows; nobody pulls before that.
  return SyncWorkers("init");
}

Status Trainer::ResizeMethodOptimizer() {
  Compressor& method = embedding_->compressor();
  const size_t n = method.DenseParams().size();
  if (method.DenseGrads().size() != n)
    return FailedPrecondition("method '", config_.method(), "': DenseParams() has ", n,
                              " values but DenseGrads() ", method.DenseGrads().size());
  if (n == 0) {
    method_opt_.reset();
  } else if (method_opt_ == nullptr || method_opt_params_ != n) {
    ASSIGN_OR_RETURN(method_opt_, CreateDenseOptimizer(dense_opt_config_, n));
  }
  method_opt_params_ = n;
  return OkStatus();
}

std::vector<uint64_t> Trainer::EpochOrder(int64_t epoch) const {
  const uint64_t n = data_->NumRows(Split::kTrain);
  std::vector<uint64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  const std::string mode = config_.params.GetString("train.shuffle");
  if (mode == "none") return order;
  uint64_t seed =
      static_cast<uint64_t>(config_.params.GetInt("train.seed")) * 0x9E3779B97F4A7C15ull;
  if (mode == "epoch") seed += static_cast<uint64_t>(epoch) + 1;
  Rng rng(seed ^ 0x5348554646ull);  // "SHUFF": keeps the order independent of init draws
  for (uint64_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.Below(i)]);
  return order;
}

Status Trainer::TrainStep(std::span<const uint64_t> global_rows,
                          std::span<const uint64_t> global_next) {
  // This worker's share of the global batch.
  const size_t share = global_rows.size() / num_workers();
  std::span<const uint64_t> rows = global_rows.subspan(rank() * share, share);
  const int b = static_cast<int>(rows.size());
  if (!next_rows_.empty() && std::ranges::equal(next_rows_, rows)) {
    std::swap(batch_, next_batch_);  // gathered during the previous step
  } else {
    data_->Gather(Split::kTrain, rows, &batch_);
  }
  next_rows_.clear();
  const size_t n_emb = static_cast<size_t>(b) * num_fields_ * dim_;
  emb_.resize(n_emb);
  demb_.resize(n_emb);
  logits_.resize(b);
  dlogits_.resize(b);
  if (embedding_->observes_keys()) {
    // Frequency counters see the whole global batch on every worker, so the
    // method's replicas stay identical.
    if (num_workers() == 1) {
      embedding_->Observe(batch_.sparse);
    } else {
      data_->Gather(Split::kTrain, global_rows, &observed_batch_);
      embedding_->Observe(observed_batch_.sparse);
    }
  }
  // batch_.values: libSVM/libFM/libFFM feature values scale their vectors (empty: all 1).
  RETURN_IF_ERROR(
      embedding_->Forward(batch_.sparse, emb_.data(), /*training=*/true, batch_.values));
  if (env_.prefetch && !global_next.empty()) {
    // The next batch's rows travel while this one is computed.
    std::span<const uint64_t> next = global_next.subspan(rank() * share, share);
    data_->Gather(Split::kTrain, next, &next_batch_);
    next_rows_.assign(next.begin(), next.end());
    embedding_->Prefetch(next_batch_.sparse);
  }
  model_->Forward(b, batch_.dense.data(), emb_.data(), logits_.data());
  // Progressive validation: these scores come before the batch's update.
  // Only the first pass over the data (later epochs score trained rows).
  if (online_ != nullptr && state_.stage == 0 && state_.epoch == 0)
    online_->Add(logits_, batch_.labels, global_rows.size());
  last_loss_ = BceWithLogits(logits_, batch_.labels, dlogits_.data());
  if (num_workers() > 1) {
    // The loss is the mean over the global batch: each share counts 1/W.
    const float inv = 1.0f / static_cast<float>(num_workers());
    for (float& g : dlogits_) g *= inv;
  }
  model_->Backward(dlogits_.data(), demb_.data());
  ++state_.opt_step;
  // The method's decoder gradients (DenseGrads) are this batch's once its
  // DecodeBackward ran, so the embedding backward (and its push) comes first.
  RETURN_IF_ERROR(embedding_->Backward(demb_.data(), state_.opt_step));
  Compressor& method = embedding_->compressor();
  if (env_.workers != nullptr) {
    RETURN_IF_ERROR(
        Annotate(env_.workers->AllreduceSum(model_->grads()), "dense gradient all-reduce"));
    if (method_opt_ != nullptr)
      RETURN_IF_ERROR(Annotate(env_.workers->AllreduceSum(method.DenseGrads()),
                               "method dense gradient all-reduce"));
    // The method's non-trained dense state (DHE's BatchNorm running
    // statistics) moved by this worker's share in DecodeBackward: the average
    // over the workers keeps every replica identical (an exponential moving
    // average is linear in the batch statistics).
    const std::span<float> buffers = method.DenseBuffers();
    if (!buffers.empty() && num_workers() > 1) {
      RETURN_IF_ERROR(
          Annotate(env_.workers->AllreduceSum(buffers), "method dense buffer all-reduce"));
      const float inv = 1.0f / static_cast<float>(num_workers());
      for (float& v : buffers) v *= inv;
    }
  }
  // A diverged model stops here, before any parameter takes the step: the
  // gradients (all-reduced: the same on every worker, so every worker stops
  // alike) hold a NaN or an infinity.
  if ((num_workers() == 1 && !std::isfinite(last_loss_)) || !AllFinite(model_->grads()))
    return FailedPrecondition("the training loss (", last_loss_,
                              " on this worker's share) or its gradient is not finite: the model "
                              "diverged (try a lower optimizer.lr)");
  const StageSpec& stage = stage_spec_;
  if (!stage.freeze_dense) {
    dense_opt_->Step(model_->params(), model_->grads(), state_.opt_step);
    if (method_opt_ != nullptr)
      method_opt_->Step(method.DenseParams(), method.DenseGrads(), state_.opt_step);
  }
  ASSIGN_OR_RETURN(uint64_t writes, embedding_->AfterStep(state_.opt_step));
  // Rows the method wrote (worker 0's reach the servers, after the step's
  // pushes) must be seen by every worker's next read: every replica made the
  // same writes, so every worker barriers here.
  if (writes > 0) RETURN_IF_ERROR(SyncWorkers("rows written by the method after a step"));
  return OkStatus();
}

StatusOr<EvalResult> Trainer::Evaluate(Split split, uint64_t max_rows) {
  ASSIGN_OR_RETURN(EvalDecision d, ScoreAndDecide(split, max_rows, /*track=*/false));
  return EvalResult{d.auc, d.logloss, d.rows};
}

StatusOr<EvalDecision> Trainer::ScoreAndDecide(Split split, uint64_t max_rows, bool track) {
  uint64_t n = data_->NumRows(split);
  if (max_rows > 0) n = std::min(n, max_rows);
  if (n == 0) return EvalDecision{};
  const uint64_t eb = static_cast<uint64_t>(config_.params.GetInt("train.eval_batch_size"));
  // Worker r scores rows [lo, hi); the coordinator concatenates the shares in
  // rank order, so the AUC is exactly the single-process one over all n rows.
  const uint64_t lo = n * rank() / num_workers(), hi = n * (rank() + 1) / num_workers();
  EvalContribution mine;
  mine.track = track;
  mine.patience = config_.params.GetInt("train.early_stop_evals");
  mine.by_logloss = config_.params.GetString("train.select_by") == "logloss";
  mine.state = {state_.best_val, state_.evals_since_best};
  // The method may end its stage (Compressor::StageComplete), asked after
  // every validation evaluation that drives training.
  if (track) mine.stage_complete = embedding_->StageComplete();
  std::vector<float>& logits = mine.logits;
  std::vector<float>& labels = mine.labels;
  logits.resize(hi - lo);
  labels.resize(hi - lo);
  std::vector<uint64_t> rows;
  Batch batch;
  std::vector<float> emb;
  for (uint64_t start = 0; start < hi - lo; start += eb) {
    const uint64_t cnt = std::min(eb, hi - lo - start);
    rows.resize(cnt);
    std::iota(rows.begin(), rows.end(), lo + start);
    data_->Gather(split, rows, &batch);
    emb.resize(cnt * num_fields_ * dim_);
    RETURN_IF_ERROR(
        embedding_->Forward(batch.sparse, emb.data(), /*training=*/false, batch.values));
    model_->Predict(static_cast<int>(cnt), batch.dense.data(), emb.data(), logits.data() + start);
    std::copy(batch.labels.begin(), batch.labels.end(), labels.begin() + start);
  }
  // One worker decides for itself, with the coordinator's code.
  if (env_.workers == nullptr) return DecideEvaluation({EncodeEvalContribution(mine)});
  std::string decision;
  RETURN_IF_ERROR(Annotate(env_.workers->Decide(EncodeEvalContribution(mine), &decision),
                           "evaluation by the coordinator"));
  return DecodeEvalDecision(decision);
}

StatusOr<bool> Trainer::EvaluateAndCheckpoint() {
  const uint64_t max_rows = static_cast<uint64_t>(config_.params.GetInt("train.max_eval_rows"));
  bool improved = true;
  nlohmann::json h = {{"stage", state_.stage},
                      {"step", state_.total_steps},
                      {"epoch", state_.epoch},
                      {"train_loss", last_loss_}};
  bool stop = false, complete = false;
  if (data_->NumRows(Split::kValidation) > 0) {
    // The coordinator computes the global AUC and decides improved / stop.
    ASSIGN_OR_RETURN(EvalDecision v, ScoreAndDecide(Split::kValidation, max_rows, true));
    h["val_auc"] = v.auc;
    h["val_logloss"] = v.logloss;
    improved = v.improved;
    stop = v.stop;
    complete = v.stage_complete;
    state_.best_val = v.state.best;
    state_.evals_since_best = v.state.evals_since_best;
    if (improved) state_.best_step = state_.total_steps;
    if (rank() == 0)
      ECPS_LOG_INFO("eval stage {} step {}: val AUC {:.5f} logloss {:.5f}{}", state_.stage,
                    state_.total_steps, v.auc, v.logloss, improved ? " (best)" : "");
  } else {
    // Without a validation split the latest model is the one we keep.
    state_.best_step = state_.total_steps;
    // The method is still asked (no coordinator decision without scores:
    // every worker asks its own replica, which every worker holds alike).
    complete = embedding_->StageComplete();
  }
  if (complete) {
    h["stage_complete"] = true;
    stage_complete_ = true;
  }
  state_.history.push_back(h);
  ReportProgress(/*force=*/true);
  RETURN_IF_ERROR(SaveCheckpoint(improved ? std::vector<std::string>{"best", "last"}
                                          : std::vector<std::string>{"last"}));
  RETURN_IF_ERROR(SyncWorkers("checkpoint"));
  return stop;
}

Status Trainer::RunStage(int stage) {
  const ParamSet& p = config_.params;
  const int64_t epochs = p.GetInt("train.epochs");
  const int64_t max_steps = p.GetInt("train.max_steps");
  const int64_t per_epoch = static_cast<int64_t>(data_->NumRows(Split::kTrain)) / batch_size_;
  const int64_t evals = p.GetInt("train.evals_per_epoch");
  const int64_t eval_every = evals > 0 ? std::max<int64_t>(1, per_epoch / evals) : per_epoch;
  const int64_t ckpt_every = p.GetInt("output.checkpoint_every");
  const StageSpec spec = embedding_->compressor().Stages()[stage];
  stage_spec_ = spec;
  stage_complete_ = false;
  // The steps left from where the data stands (a resumed or continuing stage
  // starts past the first epoch's beginning).
  const int64_t left =
      std::max<int64_t>(0, (epochs - state_.epoch) * per_epoch - state_.step_in_epoch);
  const int64_t total = max_steps > 0 ? std::min(max_steps - state_.stage_step, left) : left;
  Progress progress(Progress::ParseMode(p.GetString("output.progress")),
                    absl::StrCat("[", spec.name, "]"), total, batch_size_);
  auto stage_start = Clock::now();
  std::vector<uint64_t> order;
  int64_t order_epoch = -1;
  state_.peak_training_bytes =
      std::max(state_.peak_training_bytes, embedding_->Memory().training_bytes());
  // A post-training stage (e.g. Post4Bits' quantization) transforms the model
  // in BeginStage and takes no training steps; it is only evaluated.
  bool stop = spec.post_training;
  state_.stop_reason = spec.post_training ? "post_training" : "epochs";
  if (spec.evaluation_search) {
    // No training steps: the method's candidates are scored on validation
    // (never test, docs/methods.md §4 item 1), each worker scoring its share
    // and the coordinator the whole split (Evaluate), so every replica gets
    // the same score and proposes the same next candidate. A resumed search
    // starts over from the stage's first candidate.
    if (data_->NumRows(Split::kValidation) == 0)
      return FailedPrecondition("stage '", spec.name, "' of method '", config_.method(),
                                "' scores its candidates on the validation split, which is empty");
    const uint64_t max_rows = static_cast<uint64_t>(p.GetInt("train.max_eval_rows"));
    const bool by_logloss = p.GetString("train.select_by") == "logloss";
    Compressor& method = embedding_->compressor();
    int64_t candidates = 0;
    while (method.NextCandidate()) {
      ASSIGN_OR_RETURN(EvalResult v, Evaluate(Split::kValidation, max_rows));
      method.ReportScore(by_logloss ? -v.logloss : v.auc);
      ++candidates;
    }
    if (rank() == 0)
      ECPS_LOG_INFO("stage '{}': {} candidates scored on the validation split", spec.name,
                    candidates);
    stop = true;
    state_.stop_reason = "evaluation_search";
  }
  while (!stop && state_.epoch < epochs) {
    if (order_epoch != state_.epoch) {
      order = EpochOrder(state_.epoch);
      order_epoch = state_.epoch;
    }
    // A position past the epoch's end (a checkpoint of more training rows
    // than the data has now) would never reach the epoch's end below.
    if (state_.step_in_epoch >= per_epoch)
      return FailedPrecondition("training position step ", state_.step_in_epoch, " of epoch ",
                                state_.epoch, " is past the end of an epoch of ", per_epoch,
                                " steps (", data_->NumRows(Split::kTrain), " training rows, batch ",
                                batch_size_, "): the training data changed since the checkpoint");
    while (state_.step_in_epoch < per_epoch) {
      if (max_steps > 0 && state_.stage_step >= max_steps) {
        state_.stop_reason = "max_steps";
        stop = true;
        break;
      }
      auto t0 = Clock::now();
      std::span<const uint64_t> rows(order.data() + state_.step_in_epoch * batch_size_,
                                     static_cast<size_t>(batch_size_));
      // The next step's batch, when it is one of this epoch and stage.
      std::span<const uint64_t> next;
      if (state_.step_in_epoch + 1 < per_epoch &&
          (max_steps <= 0 || state_.stage_step + 1 < max_steps))
        next = std::span<const uint64_t>(rows.data() + rows.size(), rows.size());
      RETURN_IF_ERROR(
          Annotate(TrainStep(rows, next), absl::StrCat("training step ", state_.total_steps + 1)));
      state_.train_seconds += Seconds(t0, Clock::now());
      state_.samples += static_cast<uint64_t>(batch_size_);
      ++state_.step_in_epoch;
      ++state_.stage_step;
      ++state_.total_steps;
      progress.Update(state_.stage_step, last_loss_);
      ReportProgress(/*force=*/false);
      const bool epoch_end = state_.step_in_epoch == per_epoch;
      // Every worker closes online windows at the same steps (a collective).
      if (online_ != nullptr && (online_->full() || (epoch_end && !online_->empty())))
        RETURN_IF_ERROR(online_->Close(env_.workers,
                                       static_cast<uint64_t>(state_.step_in_epoch) * batch_size_));
      // The evals-th evaluation is the epoch end's: when evals does not
      // divide the steps, a multiple of eval_every just before the end (404
      // of 405 at 4 per epoch) would evaluate twice and spend an
      // early-stopping count on a model one step apart.
      const bool mid_epoch_eval = state_.step_in_epoch % eval_every == 0 &&
                                  (evals <= 0 || state_.step_in_epoch / eval_every < evals);
      if (mid_epoch_eval || epoch_end) {
        if (epoch_end) {
          ++state_.epoch;
          state_.step_in_epoch = 0;
        }
        progress.Finish();
        ASSIGN_OR_RETURN(bool early, EvaluateAndCheckpoint());
        if (stage_complete_) {
          ECPS_LOG_INFO("stage '{}' complete: the method ended it", spec.name);
          state_.stop_reason = "stage_complete";
          stop = true;
        } else if (early) {
          ECPS_LOG_INFO("early stop: {} evaluations without a better validation {}",
                        state_.evals_since_best,
                        p.GetString("train.select_by") == "logloss" ? "log loss" : "AUC");
          state_.stop_reason = "early_stop";
          stop = true;
        }
        if (epoch_end || stop) break;
      } else if (ckpt_every > 0 && state_.stage_step % ckpt_every == 0) {
        RETURN_IF_ERROR(SaveCheckpoint({"last"}));
        RETURN_IF_ERROR(SyncWorkers("checkpoint"));
      }
    }
  }
  progress.Finish();
  // The window open where max_steps or early stopping ended the first epoch.
  if (online_ != nullptr && !online_->empty())
    RETURN_IF_ERROR(
        online_->Close(env_.workers, static_cast<uint64_t>(state_.step_in_epoch) * batch_size_));
  // A stage cut short by max_steps still gets an evaluation of where it ended.
  if (state_.history.empty() || state_.history.back()["step"] != state_.total_steps ||
      state_.history.back()["stage"] != stage) {
    ASSIGN_OR_RETURN(bool early, EvaluateAndCheckpoint());
    (void)early;
  }
  state_.stage_seconds[stage] += Seconds(stage_start, Clock::now());
  state_.stage_done = true;
  RETURN_IF_ERROR(SaveCheckpoint({"last"}));
  return SyncWorkers("stage end");
}

StatusOr<nlohmann::json> Trainer::Run(bool resume) {
  EnableFlushToZero();
  RETURN_IF_ERROR(MakeDirs(config_.params.GetString("output.dir")));
  if (resume) {
    std::string last = Path("last.ckpt");
    if (!HasCheckpoint("last"))
      return FailedPrecondition("--resume: no checkpoint at '", last, "'");
    RETURN_IF_ERROR(LoadCheckpoint("last", /*restore_state=*/true));
    // A stage that ended on a limit the new config raises is reopened.
    const int64_t max_steps = config_.params.GetInt("train.max_steps");
    if (state_.stage_done && state_.stop_reason != "early_stop" &&
        state_.epoch < config_.params.GetInt("train.epochs") &&
        (max_steps == 0 || state_.stage_step < max_steps))
      state_.stage_done = false;
    ECPS_LOG_INFO("resumed from {} at stage {} step {}", last, state_.stage, state_.total_steps);
  }
  const int num_stages = static_cast<int>(embedding_->compressor().Stages().size());
  while (state_.stage < num_stages) {
    if (!state_.stage_done) RETURN_IF_ERROR(RunStage(state_.stage));
    // The coordinator decides what runs next; every worker gets one answer.
    ASSIGN_OR_RETURN(int32_t next_stage, NextStage(num_stages));
    if (next_stage >= num_stages) break;
    if (embedding_->compressor().Stages()[next_stage].continue_data &&
        state_.epoch >= config_.params.GetInt("train.epochs")) {
      // Every worker holds the same position: all of them stop here.
      ECPS_LOG_INFO(
          "stage '{}' and the {} after it not run: it continues the data, and "
          "train.epochs={} is spent",
          embedding_->compressor().Stages()[next_stage].name, num_stages - next_stage - 1,
          config_.params.GetInt("train.epochs"));
      break;
    }
    // The next stage starts from this stage's best checkpoint (docs/methods.md §1.9).
    RETURN_IF_ERROR(LoadCheckpoint("best", /*restore_state=*/false));
    state_.stage = next_stage;
    // The layer resets the rows' optimizer state itself (reset_optimizer_state).
    // The transition is the method's compression work (Dedup's deduplication,
    // Post4Bits' range search): timed apart from the stage's training.
    const auto transition_start = Clock::now();
    RETURN_IF_ERROR(embedding_->BeginStage(state_.stage));
    state_.transition_seconds[state_.stage] = Seconds(transition_start, Clock::now());
    RETURN_IF_ERROR(ResizeMethodOptimizer());
    RETURN_IF_ERROR(SyncWorkers("stage change"));
    // A copy: Stages() returns a temporary.
    const StageSpec next = embedding_->compressor().Stages()[state_.stage];
    if (next.reset_optimizer_state) {
      std::fill(dense_opt_->state().begin(), dense_opt_->state().end(), 0.0f);
      if (method_opt_ != nullptr)
        std::fill(method_opt_->state().begin(), method_opt_->state().end(), 0.0f);
      state_.opt_step = 0;
    }
    RETURN_IF_ERROR(SyncWorkers("optimizer reset"));
    state_.stage_step = 0;
    if (!next.continue_data) state_.epoch = state_.step_in_epoch = 0;
    state_.best_val = -1;
    state_.evals_since_best = 0;
    state_.stage_done = false;
  }
  // Final model: the best checkpoint by validation AUC.
  if (HasCheckpoint("best")) RETURN_IF_ERROR(LoadCheckpoint("best", false));
  ASSIGN_OR_RETURN(EvalResult val, Evaluate(Split::kValidation, 0));
  ASSIGN_OR_RETURN(EvalResult test, Evaluate(Split::kTest, 0));
  ASSIGN_OR_RETURN(double latency, MeasureLatencyMs());
  nlohmann::json results = Results(val, test, latency);
  if (online_ != nullptr) results["online"] = online_->windows();
  if (rank() == 0 && !env_.launcher_writes_results)
    RETURN_IF_ERROR(WriteResultsFile(config_, results));
  return results;
}

StatusOr<double> Trainer::MeasureLatencyMs() {
  Split split = data_->NumRows(Split::kTest) > 0 ? Split::kTest : Split::kTrain;
  const uint64_t n = data_->NumRows(split);
  const uint64_t b = std::min<uint64_t>(static_cast<uint64_t>(batch_size_), n);
  if (b == 0) return 0;
  const int reps = static_cast<int>(config_.params.GetInt("train.latency_batches"));
  std::vector<uint64_t> rows(b);
  Batch batch;
  std::vector<float> emb(b * num_fields_ * dim_), logits(b);
  std::vector<double> times;
  uint64_t start = 0;
  for (int r = -3; r < reps; ++r) {  // 3 warm-up batches
    for (uint64_t i = 0; i < b; ++i) rows[i] = (start + i) % n;
    start = (start + b) % n;
    auto t0 = Clock::now();
    data_->Gather(split, rows, &batch);
    RETURN_IF_ERROR(embedding_->Forward(batch.sparse, emb.data(), false, batch.values));
    model_->Predict(static_cast<int>(b), batch.dense.data(), emb.data(), logits.data());
    if (r >= 0) times.push_back(Seconds(t0, Clock::now()) * 1e3);
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

nlohmann::json Trainer::Results(const EvalResult& val, const EvalResult& test, double latency_ms) {
  const ParamSet& p = config_.params;
  const DatasetSchema& s = data_->schema();
  MemoryReport mem = embedding_->Memory();
  const uint64_t peak = std::max(state_.peak_training_bytes, mem.training_bytes());
  const double full_bytes = 4.0 * static_cast<double>(s.total_features()) * dim_;
  const double inference_ratio = full_bytes > 0 ? mem.inference_bytes / full_bytes : 0.0;
  const uint64_t dense_bytes = model_->params().size() * sizeof(float);
  const uint64_t dense_opt_bytes = dense_opt_->state().size() * sizeof(float);
  const uint64_t method_opt_bytes =
      method_opt_ != nullptr ? method_opt_->state().size() * sizeof(float) : 0;
  nlohmann::json key_stats = nlohmann::json::object();
  if (auto ks = embedding_->store().KeyStatsJson(state_.total_steps, 10); ks.ok()) {
    key_stats = nlohmann::json::parse(*ks);
  } else {
    ECPS_LOG_WARN("results: no key statistics: {}", ks.status().ToString());
  }
  nlohmann::json stages = nlohmann::json::array();
  const auto specs = embedding_->compressor().Stages();
  double total_time = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    stages.push_back({{"name", specs[i].name},
                      {"run", static_cast<int>(i) <= state_.stage},
                      {"seconds", state_.stage_seconds[i]},
                      {"transition_seconds", state_.transition_seconds[i]}});
    total_time += state_.stage_seconds[i];
  }
  auto nan_safe = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  return {
      {"method", config_.method()},
      {"budget", p.GetFloat("embedding.budget")},
      {"model", p.GetString("model.name")},
      {"dataset",
       {{"format", s.format},
        {"features", s.total_features()},
        {"fields", s.num_fields},
        {"train_rows", data_->NumRows(Split::kTrain)},
        {"val_rows", data_->NumRows(Split::kValidation)},
        {"test_rows", data_->NumRows(Split::kTest)}}},
      {"embedding_dim", dim_},
      {"batch_size", batch_size_},
      // A split without rows has no quality: null, printed as "n/a".
      {"val_auc", val.rows > 0 ? nan_safe(val.auc) : nlohmann::json()},
      {"val_logloss", val.rows > 0 ? nan_safe(val.logloss) : nlohmann::json()},
      {"test_auc", test.rows > 0 ? nan_safe(test.auc) : nlohmann::json()},
      {"test_logloss", test.rows > 0 ? nan_safe(test.logloss) : nlohmann::json()},
      {"inference_memory_bytes", mem.inference_bytes},
      {"inference_memory_ratio", inference_ratio},
      // Of which a feature->row map (AdaptEmb's, MCH's): the figure without
      // it is what the seed paper's Table 5 charges.
      {"inference_memory_mapping_bytes", mem.mapping_bytes},
      // Keyed tables' frequency statistics (compressors/key_mapping.h
      // KeyStats), in total and per field: keys seen, keys holding rows of
      // their own, a log2 histogram of the decayed counts and the hottest
      // keys; {} for other methods. In a cluster the servers hold the
      // counters and the client merges theirs (the same figures).
      {"key_mappings", key_stats},
      // A budget below the method's smallest setting trains at the real
      // ratio above (int8 at 1% runs at 25%): recorded, not only warned of.
      {"budget_reached", ReachesBudget(inference_ratio, p.GetFloat("embedding.budget"))},
      {"training_memory",
       TrainingMemoryJson(mem, peak, method_opt_bytes, dense_bytes, dense_opt_bytes, full_bytes)},
      // What the kernel counts for this process, next to the accounted
      // figures above: the peak also holds the mapped data the run touched,
      // the libraries and every buffer not accounted (docs/cli.md).
      {"process_memory", {{"peak_rss_bytes", PeakRssBytes()}, {"rss_bytes", CurrentRssBytes()}}},
      {"stages", stages},
      {"train_time_seconds", total_time},
      {"train_loop_seconds", state_.train_seconds},
      {"throughput_samples_per_s",
       state_.train_seconds > 0 ? state_.samples / state_.train_seconds : 0.0},
      {"latency_ms_per_batch_median", latency_ms},
      {"steps", state_.total_steps},
      {"best_step", state_.best_step},
      // val_* and test_* above are the checkpoint this metric selected.
      {"select_by", p.GetString("train.select_by")},
      {"epochs_completed", state_.epoch},
      {"stop_reason", state_.stop_reason},
      {"history", state_.history},
      {"git_commit", ECPS_GIT_COMMIT},
      {"config", config_.ToYaml()},
  };
}

StatusOr<int32_t> Trainer::NextStage(int num_stages) {
  const std::string report = EncodeStageReport({state_.stage, num_stages});
  if (env_.workers == nullptr) return DecideNextStage({report});
  std::string decision;
  RETURN_IF_ERROR(Annotate(env_.workers->Decide(report, &decision), "stage plan (coordinator)"));
  return DecodeNextStage(decision);
}

bool Trainer::HasCheckpoint(const std::string& name) const {
  return env_.checkpoints != nullptr ? env_.checkpoints->Exists(name)
                                     : FileExists(Path(name + ".ckpt"));
}

void Trainer::ReportProgress(bool force) {
  if (!env_.on_progress) return;
  const auto now = Clock::now();
  if (!force && now - last_report_ < std::chrono::milliseconds(500)) return;
  last_report_ = now;
  const auto stages = embedding_->compressor().Stages();
  env_.on_progress(
      {{"stage", state_.stage},
       {"stage_name", state_.stage >= 0 && static_cast<size_t>(state_.stage) < stages.size()
                          ? stages[state_.stage].name
                          : std::string()},
       {"epoch", state_.epoch},
       {"step", state_.total_steps},
       {"stage_step", state_.stage_step},
       {"samples", state_.samples},
       {"samples_per_s", state_.train_seconds > 0 ? state_.samples / state_.train_seconds : 0.0},
       {"loss", last_loss_},
       {"last_evaluation", state_.history.empty() ? nlohmann::json() : state_.history.back()},
       {"best_val", state_.best_val},
       {"best_step", state_.best_step}});
}

Status Trainer::SaveCheckpoint(const std::vector<std::string>& names) const {
  if (rank() != 0) return OkStatus();  // worker 0 writes; the rows are shared
  CheckpointWriter w;
  w.Add("CONF", config_.ToYaml());
  nlohmann::json st = {{"stage", state_.stage},
                       {"epoch", state_.epoch},
                       {"step_in_epoch", state_.step_in_epoch},
                       {"stage_step", state_.stage_step},
                       {"opt_step", state_.opt_step},
                       {"total_steps", state_.total_steps},
                       {"best_val", state_.best_val},
                       {"best_step", state_.best_step},
                       {"evals_since_best", state_.evals_since_best},
                       {"stage_done", state_.stage_done},
                       {"stop_reason", state_.stop_reason},
                       {"train_seconds", state_.train_seconds},
                       {"samples", state_.samples},
                       {"peak_training_bytes", state_.peak_training_bytes},
                       {"stage_seconds", state_.stage_seconds},
                       {"transition_seconds", state_.transition_seconds},
                       {"history", state_.history},
                       {"last_loss", last_loss_}};
  if (online_ != nullptr) st["online"] = online_->windows();
  // What `ecps checkpoint inspect` reports: the build that trained it, and the
  // keyed tables' statistics (mch, adaptemb, cafe; {} for other methods).
  st["git_commit"] = ECPS_GIT_COMMIT;
  if (auto ks = embedding_->store().KeyStatsJson(state_.total_steps, 10); ks.ok()) {
    st["key_stats"] = nlohmann::json::parse(*ks);
  } else {
    ECPS_LOG_WARN("checkpoint: no key statistics: {}", ks.status().ToString());
  }
  w.Add("STAT", st.dump());
  // The data the position (epoch, step_in_epoch) indexes: --resume checks it.
  w.Add("DATA", EncodeDataIdentity(*data_));
  auto* self = const_cast<Trainer*>(this);  // params()/state() are non-const views
  w.Add("DENS", FloatsToBytes(self->model_->params()));
  w.Add("DOPT", FloatsToBytes(self->dense_opt_->state()));
  // The method's dense decoder parameters and their optimizer state.
  w.Add("MDNS", FloatsToBytes(self->embedding_->compressor().DenseParams()));
  w.Add("MDOP", method_opt_ != nullptr ? FloatsToBytes(method_opt_->state()) : std::string());
  // Its non-trained dense state (BatchNorm running statistics).
  w.Add("MDBF", FloatsToBytes(self->embedding_->compressor().DenseBuffers()));
  // A cluster's servers write the rows themselves (sharded checkpoint).
  // Streamed into the file when it is written: the rows go from the store's
  // arrays to the file a chunk at a time, never copied whole.
  const bool with_rows = env_.checkpoints == nullptr;
  // The method's state once per checkpoint (the section is streamed twice
  // per file: counted, then written).
  auto state = std::make_shared<const std::string>(embedding_->compressor().SaveState());
  w.AddStream("EMBD", [this, with_rows, state](ByteSink* sink) {
    return embedding_->SaveTo(sink, with_rows, state.get());
  });
  if (env_.checkpoints != nullptr)
    return Annotate(env_.checkpoints->Save(names, std::move(w)), "writing checkpoint");
  for (const std::string& name : names)
    RETURN_IF_ERROR(Annotate(w.Write(Path(name + ".ckpt")), "writing checkpoint"));
  return OkStatus();
}

Status Trainer::LoadCheckpoint(const std::string& name, bool restore_state) {
  const std::string path = Path(name + ".ckpt");
  ASSIGN_OR_RETURN(CheckpointReader r, env_.checkpoints != nullptr ? env_.checkpoints->Load(name)
                                                                   : CheckpointReader::Open(path));
  if (restore_state) {
    // The run must be the same experiment: compare every key that matters.
    ASSIGN_OR_RETURN(std::string_view conf, r.Get("CONF"));
    ASSIGN_OR_RETURN(auto saved, FlattenYaml(std::string(conf), path + " (CONF)"));
    ASSIGN_OR_RETURN(auto now, FlattenYaml(config_.ToYaml(), "current config"));
    // A key the checkpoint's build did not know yet (a parameter added
    // since, e.g. data.generate.alpha) matches when it now has its default:
    // the old build behaved as the default does.
    ASSIGN_OR_RETURN(TrainConfig defaults_cfg,
                     LoadTrainConfig("", {"embedding.method=" + config_.method()}));
    ASSIGN_OR_RETURN(auto defaults, FlattenYaml(defaults_cfg.ToYaml(), "default config"));
    for (const auto& [k, v] : now) {
      if (MayChangeOnResume(k)) continue;
      auto it = saved.find(k);
      if (it == saved.end()) {
        auto d = defaults.find(k);
        if (d != defaults.end() && d->second == v) continue;
      }
      if (it == saved.end() || it->second != v)
        return FailedPrecondition("cannot resume from '", path, "': config key '", k, "' was '",
                                  it == saved.end() ? "<unset>" : it->second, "', now '", v, "'");
    }
    // The same keys can name other data (a cache rebuilt in place).
    RETURN_IF_ERROR(CheckDataIdentity(path, r, *data_));
  }
  ASSIGN_OR_RETURN(std::string_view dens, r.Get("DENS"));
  RETURN_IF_ERROR(BytesToFloats(dens, model_->params(), "DENS"));
  // Streamed from the file, each chunk verified, into the store's tables.
  ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> emb, r.OpenSection("EMBD"));
  RETURN_IF_ERROR(Annotate(embedding_->LoadFrom(emb.get()), "checkpoint '" + path + "' EMBD"));
  // The method's stage may have changed its decoder's size.
  RETURN_IF_ERROR(ResizeMethodOptimizer());
  ASSIGN_OR_RETURN(std::string_view mdns, r.Get("MDNS"));
  RETURN_IF_ERROR(BytesToFloats(mdns, embedding_->compressor().DenseParams(), "MDNS"));
  // The method's dense buffers are part of the model (evaluation reads BN's
  // running statistics). A checkpoint written before MDBF existed has none:
  // it still loads for a method without buffers.
  const std::span<float> buffers = embedding_->compressor().DenseBuffers();
  if (r.Has("MDBF")) {
    ASSIGN_OR_RETURN(std::string_view mdbf, r.Get("MDBF"));
    RETURN_IF_ERROR(BytesToFloats(mdbf, buffers, "MDBF"));
  } else if (!buffers.empty()) {
    return FailedPrecondition("checkpoint '", path, "' has no MDBF section, but method '",
                              config_.method(), "' has ", buffers.size(),
                              " dense buffer values (BatchNorm running statistics) to restore");
  }
  RETURN_IF_ERROR(SyncWorkers("checkpoint load"));
  if (!restore_state) return OkStatus();
  ASSIGN_OR_RETURN(std::string_view dopt, r.Get("DOPT"));
  RETURN_IF_ERROR(BytesToFloats(dopt, dense_opt_->state(), "DOPT"));
  ASSIGN_OR_RETURN(std::string_view mdop, r.Get("MDOP"));
  RETURN_IF_ERROR(BytesToFloats(
      mdop, method_opt_ != nullptr ? method_opt_->state() : std::span<float>(), "MDOP"));
  ASSIGN_OR_RETURN(std::string_view stat, r.Get("STAT"));
  try {
    auto st = nlohmann::json::parse(stat);
    state_.stage = st.at("stage");
    state_.epoch = st.at("epoch");
    state_.step_in_epoch = st.at("step_in_epoch");
    state_.stage_step = st.at("stage_step");
    state_.opt_step = st.at("opt_step");
    state_.total_steps = st.at("total_steps");
    // Checkpoints before train.select_by named it best_val_auc (AUC only).
    state_.best_val = st.contains("best_val") ? st.at("best_val") : st.at("best_val_auc");
    state_.best_step = st.at("best_step");
    state_.evals_since_best = st.at("evals_since_best");
    state_.stage_done = st.at("stage_done");
    state_.stop_reason = st.at("stop_reason");
    state_.train_seconds = st.at("train_seconds");
    state_.samples = st.at("samples");
    state_.peak_training_bytes = st.at("peak_training_bytes");
    state_.stage_seconds = st.at("stage_seconds").get<std::vector<double>>();
    // Checkpoints before transition_seconds existed: zeros.
    state_.transition_seconds = st.contains("transition_seconds")
                                    ? st.at("transition_seconds").get<std::vector<double>>()
                                    : std::vector<double>(state_.stage_seconds.size(), 0.0);
    state_.history = st.at("history");
    last_loss_ = st.at("last_loss");
    if (online_ != nullptr && st.contains("online")) {
      RETURN_IF_ERROR(Annotate(online_->Restore(st.at("online")), "checkpoint '" + path + "'"));
      if (state_.stage == 0 && state_.epoch == 0 && state_.step_in_epoch > 0)
        ECPS_LOG_WARN(
            "resumed inside the online evaluation: the window open at row {} reports only the "
            "rows scored from here",
            static_cast<uint64_t>(state_.step_in_epoch) * batch_size_);
    }
  } catch (const nlohmann::json::exception& e) {
    return DataLoss("checkpoint '", path, "': trainer state is unreadable: ", e.what());
  }
  // The state indexes stages, epochs and rows: range-checked even when every
  // checksum matches (a crafted or foreign STAT would index out of bounds).
  const size_t num_stages = embedding_->compressor().Stages().size();
  if (state_.stage < 0 || static_cast<size_t>(state_.stage) >= num_stages)
    return DataLoss("checkpoint '", path, "': trainer state names stage ", state_.stage,
                    "; method '", config_.method(), "' has ", num_stages);
  if (state_.epoch < 0 || state_.step_in_epoch < 0 || state_.stage_step < 0 ||
      state_.opt_step < 0 || state_.total_steps < 0)
    return DataLoss("checkpoint '", path, "': trainer state has a negative position (epoch ",
                    state_.epoch, ", step_in_epoch ", state_.step_in_epoch, ", stage_step ",
                    state_.stage_step, ", opt_step ", state_.opt_step, ", total_steps ",
                    state_.total_steps, ")");
  if (state_.stage_seconds.size() != num_stages || state_.transition_seconds.size() != num_stages)
    return DataLoss("checkpoint '", path, "': trainer state times ", state_.stage_seconds.size(),
                    " stages; method '", config_.method(), "' has ", num_stages);
  return OkStatus();
}

}  // namespace ecps
