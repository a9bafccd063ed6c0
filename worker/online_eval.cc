#include "worker/online_eval.h"

#include "common/evaluation.h"

namespace ecps {

void OnlineEval::Add(std::span<const float> logits, std::span<const float> labels,
                     uint64_t global_rows) {
  logits_.insert(logits_.end(), logits.begin(), logits.end());
  labels_.insert(labels_.end(), labels.begin(), labels.end());
  rows_ += global_rows;
}

Status OnlineEval::Close(comm::Collective* workers, uint64_t end_row) {
  if (rows_ == 0) return OkStatus();
  EvalContribution mine;  // track = false: no early stopping, no best checkpoint
  mine.logits = std::move(logits_);
  mine.labels = std::move(labels_);
  logits_.clear();
  labels_.clear();
  EvalDecision d;
  if (workers == nullptr) {
    ASSIGN_OR_RETURN(d, DecideEvaluation({EncodeEvalContribution(mine)}));
  } else {
    std::string decision;
    RETURN_IF_ERROR(Annotate(workers->Decide(EncodeEvalContribution(mine), &decision),
                             "online evaluation window (coordinator)"));
    ASSIGN_OR_RETURN(d, DecodeEvalDecision(decision));
  }
  if (d.rows != rows_)
    return FailedPrecondition("online evaluation window: the coordinator scored ", d.rows,
                              " rows, the workers trained on ", rows_);
  windows_.push_back(
      {{"rows", d.rows}, {"end_row", end_row}, {"auc", d.auc}, {"logloss", d.logloss}});
  rows_ = 0;
  return OkStatus();
}

Status OnlineEval::Restore(const nlohmann::json& windows) {
  if (!windows.is_array()) return DataLoss("online evaluation windows: not an array");
  for (const auto& w : windows)
    if (!w.is_object() || !w.contains("rows") || !w.contains("end_row") || !w.contains("auc") ||
        !w.contains("logloss"))
      return DataLoss("online evaluation windows: an entry is not {rows, end_row, auc, logloss}");
  windows_ = windows;
  logits_.clear();
  labels_.clear();
  rows_ = 0;
  return OkStatus();
}

}  // namespace ecps
