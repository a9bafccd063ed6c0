// A distributed evaluation, decided by the coordinator: every worker scores
// its share of a split and contributes (scores, labels); the coordinator
// (scheduler/coordinator.h, reached through comm::Collective::Decide)
// concatenates the shares in rank order, computes the exact global AUC and
// log-loss, and -- for the validation evaluations that drive training --
// decides whether the model improved and whether to stop early. Every worker
// receives the same decision. The single-process trainer runs the same
// function on its one share, so the decision is the same code everywhere.
//
// Encodings are in-memory/wire formats between processes of one build
// (little-endian, not stored on disk).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ecps {

// Early stopping as the trainer checkpoints it.
struct EarlyStopState {
  // The stage's best validation value so far of the selection metric (AUC,
  // or log loss with by_logloss); -1, which neither can be, before the first.
  double best = -1;
  int64_t evals_since_best = 0;
};

struct EvalContribution {
  bool track = false;    // a validation evaluation that updates early stopping
  int64_t patience = 0;  // train.early_stop_evals (0: never stop)
  // train.select_by=logloss: a lower validation log loss is better (else a
  // higher AUC).
  bool by_logloss = false;
  EarlyStopState state;  // before this evaluation (the same on every worker)
  // Compressor::StageComplete() of this worker's replica of the method
  // (tracking evaluations only); every worker must agree.
  bool stage_complete = false;
  std::vector<float> logits, labels;  // this worker's rows, in row order
};

struct EvalDecision {
  double auc = 0.5;  // meaningful only when rows > 0
  double logloss = 0;
  uint64_t rows = 0;
  // Only when tracking: improved = auc > state.best (by_logloss: no best yet
  // or logloss < state.best); then best = that value and evals_since_best =
  // 0, else evals_since_best + 1; stop = patience > 0 && evals_since_best >=
  // patience.
  bool improved = false;
  bool stop = false;
  // Only when tracking: the method says its stage is complete (ends the
  // stage like early stopping does).
  bool stage_complete = false;
  EarlyStopState state;  // after this evaluation
};

std::string EncodeEvalContribution(const EvalContribution& c);
// Whether `bytes` is an encoded contribution (the coordinator routes on it).
bool IsEvalContribution(std::string_view bytes);
StatusOr<EvalContribution> DecodeEvalContribution(std::string_view bytes);
std::string EncodeEvalDecision(const EvalDecision& d);
StatusOr<EvalDecision> DecodeEvalDecision(std::string_view bytes);

// The coordinator's decision over the contributions of workers 0..W-1 (rank
// order; the tracking state and patience are taken from rank 0). Errors:
// InvalidArgument for malformed or disagreeing contributions.
StatusOr<EvalDecision> DecideEvaluation(const std::vector<std::string>& contributions);

}  // namespace ecps
