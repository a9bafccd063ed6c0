// The single-process trainer: runs a method's stage plan over a Dataset with
// a DenseModel and an EmbeddingLayer, evaluates on validation every N steps,
// keeps the best checkpoint by validation AUC (or log loss, train.select_by),
// stops early, and finally reports validation/test quality, memory, time
// and latency as one JSON object (docs/cli.md lists the fields).
//
// Checkpoints (output.dir/last.ckpt, output.dir/best.ckpt) hold the config,
// the trainer state (stage, epoch, position in the epoch, step counters,
// early-stopping state), dense parameters and optimizer state, and the
// embedding layer; a run resumed from last.ckpt continues exactly as an
// uninterrupted one would. In a cluster (TrainerEnv::checkpoints) they are
// sharded: the servers write the rows, this trainer the rest.
//
// Thread-safety: one Trainer per thread; the dense model may use more threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/collective.h"
#include "common/evaluation.h"
#include "common/status.h"
#include "embedding/embedding_layer.h"
#include "worker/checkpoint.h"
#include "worker/data/dataset.h"
#include "worker/model/dense_model.h"
#include "worker/online_eval.h"
#include "worker/train_config.h"

namespace ecps {

// auc and logloss are meaningful only when rows > 0.
struct EvalResult {
  double auc = 0.5;
  double logloss = 0;
  uint64_t rows = 0;
};

// What makes a trainer one data-parallel worker of a cluster (launch/ builds
// it). The default is the single-process trainer.
//   make_store: the RowStore of the embedding layer (default NewLocalRowStore;
//               a cluster passes a ps::Client).
//   workers:    the collective of all workers (not owned; null = 1 worker).
//               Worker r trains on rows [r*B/W, (r+1)*B/W) of every global
//               batch of B rows, dense gradients are all-reduced and averaged,
//               evaluation scores go to the group's coordinator (Decide: exact
//               global AUC, early stopping), and only worker 0 writes
//               checkpoints and results.
//   checkpoints: where a cluster's checkpoints go (not owned; null = the
//               one-file output.dir/<name>.ckpt of the single-process trainer).
struct TrainerEnv {
  std::function<std::unique_ptr<RowStore>(const SparseOptimizerConfig&)> make_store;
  comm::Collective* workers = nullptr;
  ShardedCheckpoints* checkpoints = nullptr;
  // The store fetches rows remotely and wants each next batch's rows ahead
  // (cluster.prefetch): the trainer encodes the next batch while it computes
  // the current one and hands its plan to RowStore::Prefetch.
  bool prefetch = false;
  // The launcher adds its own fields (a cluster's "cluster" object and
  // network bytes) and writes output.results itself (WriteResultsFile), so
  // that the file equals what `--json` prints; the trainer does not write it.
  bool launcher_writes_results = false;
  // Called on the training thread with the trainer's position after every
  // evaluation and, at most twice a second, after training steps (a
  // cluster's worker reports it with its heartbeats: `ecps status
  // --scheduler`): {"stage", "stage_name", "epoch", "step", "stage_step",
  // "samples", "samples_per_s", "loss", "last_evaluation" (the history's
  // last entry, or null), "best_val", "best_step"}. Unset: not called.
  std::function<void(const nlohmann::json&)> on_progress;
};

// The results' training_memory object (docs/methods.md §1.6), one builder for
// a trained run's results and `ecps train --plan`'s forecast: the embedding's
// peak (parameter + optimizer + auxiliary), plus the optimizer state of the
// method's dense decoder, then the dense model's parameters and optimizer.
nlohmann::json TrainingMemoryJson(const MemoryReport& mem, uint64_t embedding_peak,
                                  uint64_t method_opt_bytes, uint64_t dense_bytes,
                                  uint64_t dense_opt_bytes, double full_bytes);

// Writes `results` to output.dir/<output.results> (nothing when that key is
// empty), atomically: the one writer of a run's results file.
Status WriteResultsFile(const TrainConfig& config, const nlohmann::json& results);

class Trainer {
 public:
  // Builds the model and the embedding layer for `data` (not owned; must
  // outlive the trainer). Errors: invalid config combinations, unknown method,
  // a batch size not divisible by the number of workers.
  static StatusOr<std::unique_ptr<Trainer>> Create(const TrainConfig& config, const Dataset* data,
                                                   TrainerEnv env = {});

  // Runs every stage to completion (or resumes from output.dir/last.ckpt when
  // `resume` is true) and returns the results object. Also writes
  // output.dir/<output.results> when that is not empty (worker 0, unless
  // env.launcher_writes_results).
  StatusOr<nlohmann::json> Run(bool resume);

  // Scores `split` (at most max_rows rows, 0 = all) with the current model.
  StatusOr<EvalResult> Evaluate(Split split, uint64_t max_rows);

  // Test hooks.
  DenseModel& model() { return *model_; }
  EmbeddingLayer& embedding() { return *embedding_; }
  int64_t global_step() const { return state_.opt_step; }

 private:
  struct State {
    int stage = 0;
    int64_t epoch = 0;
    int64_t step_in_epoch = 0;
    int64_t stage_step = 0;   // steps taken in the current stage
    int64_t opt_step = 0;     // optimizer step counter (Adam bias correction)
    int64_t total_steps = 0;  // over all stages
    // The stage's best validation value of train.select_by (AUC or log
    // loss; -1 before the first evaluation).
    double best_val = -1;
    int64_t best_step = -1;
    int64_t evals_since_best = 0;
    bool stage_done = false;
    // Why the current stage ended: "epochs", "early_stop" or "max_steps". A
    // resumed run with larger limits reopens a stage that ended on a limit.
    std::string stop_reason;
    double train_seconds = 0;  // time in training steps only (throughput)
    uint64_t samples = 0;
    // Largest embedding training memory over the stages run so far (a
    // post-training stage frees optimizer state the earlier stage needed).
    uint64_t peak_training_bytes = 0;
    std::vector<double> stage_seconds;
    // Per stage: the seconds of the BeginStage() that started it (the
    // method's transform, e.g. Dedup's deduplication; 0 for stage 0).
    std::vector<double> transition_seconds;
    nlohmann::json history = nlohmann::json::array();
  };

  Trainer(const TrainConfig& config, const Dataset* data, TrainerEnv env)
      : config_(config), data_(data), env_(std::move(env)) {}
  int rank() const { return env_.workers ? env_.workers->rank() : 0; }
  int num_workers() const { return env_.workers ? env_.workers->size() : 1; }
  // Barrier among the workers (no-op for one); aborts the run on failure.
  Status SyncWorkers(const char* what);
  Status Init();
  Status RunStage(int stage);
  // One step on the global batch `rows`; `next` is the next step's global
  // batch when it is known (same epoch and stage), for the prefetch.
  // Errors: the store's (a failed pull or push: a dead server), a failed
  // all-reduce, the method's AfterStep.
  Status TrainStep(std::span<const uint64_t> rows, std::span<const uint64_t> next);
  // (Re)creates the optimizer of the method's DenseParams() for their current
  // size (none when empty).
  Status ResizeMethodOptimizer();
  // Scores this worker's share of `split`; the coordinator (or, for one
  // worker, the same code here) computes the global AUC and, with `track`,
  // the early-stopping decision from the current state (common/evaluation.h).
  StatusOr<EvalDecision> ScoreAndDecide(Split split, uint64_t max_rows, bool track);
  // The stage to run after the current one (num_stages: done), decided by
  // the coordinator (common/stage_plan.h); a barrier of all workers.
  StatusOr<int32_t> NextStage(int num_stages);
  // Evaluates on validation, updates early stopping and writes checkpoints.
  // Returns true when early stopping says the stage is over.
  StatusOr<bool> EvaluateAndCheckpoint();
  // Checkpoints by name ("last", "best"); Save writes one state under each name.
  Status SaveCheckpoint(const std::vector<std::string>& names) const;
  Status LoadCheckpoint(const std::string& name, bool restore_state);
  bool HasCheckpoint(const std::string& name) const;
  std::vector<uint64_t> EpochOrder(int64_t epoch) const;
  StatusOr<double> MeasureLatencyMs();
  // env_.on_progress (above); `force` skips the half-second throttle.
  void ReportProgress(bool force);
  nlohmann::json Results(const EvalResult& val, const EvalResult& test, double latency_ms);
  std::string Path(const std::string& name) const;

  TrainConfig config_;
  const Dataset* data_;
  TrainerEnv env_;
  std::unique_ptr<DenseModel> model_;
  std::unique_ptr<DenseOptimizer> dense_opt_;
  OptimizerConfig dense_opt_config_;
  // The method's dense decoder parameters (Compressor::DenseParams).
  std::unique_ptr<DenseOptimizer> method_opt_;
  size_t method_opt_params_ = 0;
  StageSpec stage_spec_;         // the stage being run
  bool stage_complete_ = false;  // the method ended the current stage
  std::unique_ptr<EmbeddingLayer> embedding_;
  // env_.workers as the method's WorkerSums (null for one worker).
  std::unique_ptr<WorkerSums> method_sums_;
  int batch_size_ = 0;
  int num_fields_ = 0, num_dense_ = 0, dim_ = 0;
  State state_;
  // Reused per-step buffers.
  Batch batch_;
  // With env_.prefetch: the next step's batch, gathered during this one, and
  // its data rows (this worker's share).
  Batch next_batch_;
  // The whole global batch, for methods that observe keys (W > 1).
  Batch observed_batch_;
  std::vector<uint64_t> next_rows_;
  std::vector<float> emb_, demb_, logits_, dlogits_;
  double last_loss_ = 0;
  std::chrono::steady_clock::time_point last_report_{};  // of ReportProgress
  // train.online_eval: the progressive validation of the first epoch of the
  // first stage (null when off).
  std::unique_ptr<OnlineEval> online_;
};

}  // namespace ecps
