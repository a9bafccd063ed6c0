// Progressive validation (train.online_eval, docs/cli.md): every training
// batch of the first epoch is scored before it is trained on, and the scores
// are grouped into windows of train.online_window rows in file order; each
// window's exact AUC and log loss (common/metrics.h) go to results.json as
// `online`. In a cluster each worker keeps the scores of its share of every
// batch, and a window is closed by the coordinator's DecideEvaluation over
// every worker's share (the same code the single process runs on its one
// share), so the windows are the same on every worker.
//
// The scores are the training forward's logits (computed before the step's
// update): for every method whose training-mode decode equals its evaluation
// decode (full, hash, mch, adaptemb, ...) they are the evaluation scores; for
// methods with train-mode noise or straight-through rounding they are the
// training-mode ones.
//
// Thread-safety: one per trainer.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "comm/collective.h"
#include "common/status.h"

namespace ecps {

class OnlineEval {
 public:
  explicit OnlineEval(uint64_t window_rows) : window_rows_(window_rows) {}

  // This worker's scores of its share of one step's global batch of
  // `global_rows` rows.
  void Add(std::span<const float> logits, std::span<const float> labels, uint64_t global_rows);
  // The current window holds train.online_window rows or more.
  bool full() const { return rows_ >= window_rows_; }
  bool empty() const { return rows_ == 0; }

  // Closes the current window (nothing when empty) as {rows, end_row, auc,
  // logloss}: `end_row` is the training position (rows of the epoch) after
  // its last batch. `workers` null: this process is the only worker; else
  // every worker calls Close at the same step (a collective).
  Status Close(comm::Collective* workers, uint64_t end_row);

  // The closed windows (a JSON array), for the results and checkpoints.
  const nlohmann::json& windows() const { return windows_; }
  // A resumed run's closed windows (from its checkpoint). The open window's
  // scores are not checkpointed: the window open at the resume reports only
  // the rows scored after it (its `rows` says how many). DataLoss for a
  // value that is not an array of windows.
  Status Restore(const nlohmann::json& windows);

 private:
  const uint64_t window_rows_;
  uint64_t rows_ = 0;  // global rows in the open window
  std::vector<float> logits_, labels_;
  nlohmann::json windows_ = nlohmann::json::array();
};

}  // namespace ecps
