#include "scheduler/coordinator.h"

#include "scheduler/checkpoint_manifest.h"

namespace ecps::scheduler {

Status Coordinator::CommitCheckpoint(const std::string& request) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(scheduler::CommitCheckpoint(request));
  ++committed_;
  return OkStatus();
}

int Coordinator::checkpoints_committed() const {
  std::lock_guard<std::mutex> l(mu_);
  return committed_;
}

}  // namespace ecps::scheduler
