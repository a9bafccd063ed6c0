// Collective operations among the workers (style.md rule 9): dense gradients
// are all-reduced every step, evaluation scores gathered, stages barriered.
// Implementations:
//   - in-process (InProcCollectiveGroup::Member): threads of one process;
//     sums in rank order, so results are deterministic;
//   - Open MPI (comm/mpi_collective.h, target comm_mpi): processes.
//
// Every member of the group must call the same operations in the same order
// (the usual collective contract). Thread-safety: one thread per member.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

namespace ecps::comm {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // data <- elementwise sum over members. data.size() must match on all.
  virtual Status AllreduceSum(std::span<float> data) = 0;
  virtual Status AllreduceSum(std::span<double> data) = 0;
  // data (root's bytes) is copied to every member; others' data is replaced.
  virtual Status Broadcast(std::string* data, int root) = 0;
  // all[r] = member r's `mine` (sizes may differ).
  virtual Status Allgather(const std::string& mine, std::vector<std::string>* all) = 0;
  virtual Status Barrier() = 0;
  // A decision taken by the group's coordinator: every member contributes
  // `mine`; the coordinator's Decider maps the contributions (rank order) to
  // one result, which every member receives in *decision. Used for the
  // evaluation (exact global AUC, early stopping: common/evaluation.h).
  // Errors: the decider's error (on every member), FailedPrecondition for a
  // group without a coordinator.
  virtual Status Decide(const std::string& mine, std::string* decision) {
    return FailedPrecondition("this collective has no coordinator to decide");
  }
};

// A collective that sums through `sums` (e.g. the workers' Open MPI
// communicator) and does everything else, Decide included, through `rest`
// (e.g. the scheduler-routed collective). Both must have the same rank and
// size; neither is owned. `AllreduceSum` adds the bytes a ring all-reduce
// sends per member, 2 (size - 1) / size of the data, to *sent_bytes (when
// set): MPI's traffic is not seen by the transports' counters.
std::unique_ptr<Collective> SumsThrough(Collective* rest, Collective* sums,
                                        std::atomic<uint64_t>* sent_bytes = nullptr);

// The coordinator's side of Collective::Decide (e.g. scheduler::Coordinator).
using Decider = std::function<StatusOr<std::string>(const std::vector<std::string>& contributions)>;

// The shared state of an in-process group of `size` members. Owned by the
// caller (the simulation); must outlive its members. Thread-safe.
class InProcCollectiveGroup {
 public:
  // `decider` answers Decide() (run on rank 0's thread); null: Decide() fails.
  explicit InProcCollectiveGroup(int size, Decider decider = nullptr);
  // A member handle for `rank` (each rank requested once).
  std::unique_ptr<Collective> Member(int rank);
  const Decider& decider() const { return decider_; }
  // Makes every current and future operation fail with `why` (a member died).
  void Abort(const std::string& why);

  // Implementation detail of the members: every member contributes a pointer;
  // `read` runs once all have arrived, and no member leaves before all have
  // read, so contributions stay valid during `read`.
  Status Exchange(int rank, const void* mine,
                  const std::function<void(const std::vector<const void*>&)>& read);

 private:
  const int size_;
  Decider decider_;
  Mutex mu_;
  CondVar cv_;
  // Written under mu_ on arrival; `read` reads it without mu_, between the
  // phases, when nobody writes it: no member arrives again before all departed.
  std::vector<const void*> slots_;
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
  int departed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t gen_in_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t gen_out_ ABSL_GUARDED_BY(mu_) = 0;
  std::string aborted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ecps::comm
