// The job-level decisions of a cluster that belong to no single worker or
// server: today, committing checkpoints (the manifest is written last, by
// the coordinator, docs/formats.md "Sharded checkpoint"). The scheduler owns
// one in a multi-process job; `--simulate` builds one to play the
// scheduler's part, so both modes run the same code.
//
// Thread-safety: every method may be called from any thread; commits are
// serialised.
#pragma once

#include <mutex>
#include <string>

#include "common/status.h"

namespace ecps::scheduler {

class Coordinator {
 public:
  // Commits a checkpoint: `request` is EncodeCommitRequest()'s text, sent by
  // worker 0 once every part is written (scheduler/checkpoint_manifest.h).
  Status CommitCheckpoint(const std::string& request);
  // Checkpoints committed so far (tests, logs).
  int checkpoints_committed() const;

 private:
  mutable std::mutex mu_;
  int committed_ = 0;
};

}  // namespace ecps::scheduler
