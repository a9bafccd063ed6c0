// The job-level decisions of a cluster that belong to no single worker or
// server:
//   - committing checkpoints: the manifest is written last, by the
//     coordinator (docs/formats.md "Sharded checkpoint");
//   - evaluations: the workers' scores are gathered here, the exact global
//     AUC computed and the improved / early-stop decision taken
//     (common/evaluation.h), then sent to every worker (the workers'
//     collective's Decide, comm/collective.h);
//   - the stage plan: when a stage ends every worker reports it, and the
//     coordinator answers the stage to run next (common/stage_plan.h); the
//     table reshape on the servers follows that one decision.
// The scheduler owns one in a multi-process job; `--simulate` builds one to
// play the scheduler's part, so both modes run the same code.
//
// Thread-safety: every method may be called from any thread; commits are
// serialised.
#pragma once

#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

namespace ecps::scheduler {

class Coordinator {
 public:
  // Commits a checkpoint: `request` is EncodeCommitRequest()'s text, sent by
  // worker 0 once every part is written (scheduler/checkpoint_manifest.h).
  Status CommitCheckpoint(const std::string& request);
  // The workers' collective's Decider (comm::Decider): contributions in rank
  // order: evaluations (DecideEvaluation) and stage reports
  // (DecideNextStage), told apart by their tags.
  StatusOr<std::string> Decide(const std::vector<std::string>& contributions);
  // Checkpoints committed, evaluations and stage transitions decided so far
  // (results, tests).
  int checkpoints_committed() const;
  int evaluations_decided() const;
  int stage_decisions() const;

 private:
  // Held while a commit writes its manifest: commits are serialised.
  mutable Mutex mu_;
  int committed_ ABSL_GUARDED_BY(mu_) = 0;
  int evaluations_ ABSL_GUARDED_BY(mu_) = 0;
  int stage_decisions_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ecps::scheduler
