#include "scheduler/coordinator.h"

#include "common/evaluation.h"
#include "common/stage_plan.h"
#include "scheduler/checkpoint_manifest.h"

namespace ecps::scheduler {

Status Coordinator::CommitCheckpoint(const std::string& request) {
  MutexLock l(&mu_);
  RETURN_IF_ERROR(scheduler::CommitCheckpoint(request));
  ++committed_;
  return OkStatus();
}

StatusOr<std::string> Coordinator::Decide(const std::vector<std::string>& contributions) {
  if (!contributions.empty() && IsStageReport(contributions[0])) {
    ASSIGN_OR_RETURN(int32_t next, DecideNextStage(contributions));
    MutexLock l(&mu_);
    ++stage_decisions_;
    return EncodeNextStage(next);
  }
  if (contributions.empty() || !IsEvalContribution(contributions[0]))
    return InvalidArgument("coordinator: unknown decision request");
  ASSIGN_OR_RETURN(EvalDecision d, DecideEvaluation(contributions));
  MutexLock l(&mu_);
  ++evaluations_;
  return EncodeEvalDecision(d);
}

int Coordinator::evaluations_decided() const {
  MutexLock l(&mu_);
  return evaluations_;
}

int Coordinator::stage_decisions() const {
  MutexLock l(&mu_);
  return stage_decisions_;
}

int Coordinator::checkpoints_committed() const {
  MutexLock l(&mu_);
  return committed_;
}

}  // namespace ecps::scheduler
