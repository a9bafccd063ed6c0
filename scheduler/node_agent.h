// A server's or worker's side of the scheduler protocol (scheduler.h):
// registers the node and learns every node's data endpoint, proves it sees
// the job's shared output.dir (shared_dir_probe.h), sends heartbeats
// (and notices a scheduler that stops answering them), hosts the workers'
// collective rooted at the scheduler, reports completion, and receives
// kShutdown and kAbort.
//
// Thread-safety: Register/Done/Failed/WaitForShutdown from the owning thread;
// the abort callback runs on a communication thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "comm/collective.h"
#include "comm/rpc.h"
#include "common/mutex.h"
#include "scheduler/job_identity.h"
#include "scheduler/scheduler.h"

namespace ecps::scheduler {

struct NodeAgentOptions {
  std::string role;  // "server" | "worker"
  int rank = 0;
  int num_servers = 1;
  int num_workers = 1;
  int heartbeat_interval_ms = 500;
  int heartbeat_timeout_ms = 10000;
  int register_timeout_ms = 300000;
  // This process's output.dir (absolute), where its startup probe goes when
  // the scheduler asks for one.
  std::string shared_dir;
  // This process's effective configuration and build, sent with the
  // registration for the scheduler to compare (job_identity.h).
  JobIdentity identity;
};

class NodeAgent {
 public:
  // Called once when the job must stop: the scheduler sent kAbort (its text)
  // or stopped answering heartbeats. The process runner exits non-zero.
  using AbortFn = std::function<void(const std::string& why)>;
  // Bytes this node sent on its transports (reported at completion).
  using BytesFn = std::function<uint64_t()>;

  // `control` is bound at `control_endpoint` and must outlive the agent.
  NodeAgent(NodeAgentOptions options, comm::Transport* control, std::string control_endpoint,
            AbortFn on_abort, BytesFn bytes_sent);
  ~NodeAgent();  // stops heartbeats and the control Rpc

  int node() const { return node_; }

  // Registers with the scheduler at `scheduler_endpoint`, announcing
  // `data_endpoint`, and starts heartbeats; writes the startup probe into
  // shared_dir if the scheduler asks for it. Returns every server's and
  // worker's address once the scheduler released the job. Errors: the
  // scheduler's rejection (also: it cannot see every node's probe), or
  // DeadlineExceeded after the registration timeout.
  StatusOr<std::vector<NodeAddress>> Register(const std::string& scheduler_endpoint,
                                              const std::string& data_endpoint);

  // The collective of all workers, rooted at the scheduler (workers only;
  // after Register). Owned by the agent's Rpc: do not outlive the agent.
  std::unique_ptr<comm::Collective> WorkerCollective();

  // Worker 0: asks the scheduler to commit a checkpoint whose parts are all
  // written (`request` = EncodeCommitRequest(), checkpoint_manifest.h); the
  // scheduler writes the manifest. Returns once it is in place.
  Status CommitCheckpoint(const std::string& request);

  // Worker: reports success (worker 0 passes its results JSON) and stops
  // heartbeats.
  Status Done(const std::string& results);
  // Worker: reports a failure; the scheduler stops the job naming this node.
  void Failed(const Status& why);
  // Server: blocks until the scheduler's kShutdown (after every worker is done).
  void WaitForShutdown();

  // What this node reports with every heartbeat (a JSON object's text: a
  // worker's stage, step, throughput and last evaluation, a server's table
  // bytes and hottest rows); the scheduler keeps each node's last report for
  // `ecps status --scheduler` (scheduler.h kStats). Called on the heartbeat
  // thread, so it must be thread-safe; once this returns, the previous
  // reporter is not running and is never called again. Any thread.
  using StatusFn = std::function<std::string()>;
  void SetStatusReporter(StatusFn status) ABSL_LOCKS_EXCLUDED(status_mu_);

 private:
  void OnMessage(comm::Message m) ABSL_LOCKS_EXCLUDED(mu_);
  void HeartbeatLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void StopHeartbeats() ABSL_LOCKS_EXCLUDED(mu_);
  void RaiseAbort(const std::string& why) ABSL_LOCKS_EXCLUDED(mu_);
  // Writes the probe holding `nonce`, reports it and waits for the start.
  Status ProveSharedDir(const std::string& nonce) ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveOwnProbe() ABSL_LOCKS_EXCLUDED(mu_);

  const NodeAgentOptions opt_;
  const int node_;
  comm::Transport* control_;
  const std::string control_endpoint_;
  AbortFn on_abort_;
  BytesFn bytes_sent_;
  std::unique_ptr<comm::Rpc> rpc_;

  Mutex mu_;
  CondVar cv_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_heartbeats_ ABSL_GUARDED_BY(mu_) = false;
  // "" once removed.
  std::string probe_path_ ABSL_GUARDED_BY(mu_);
  std::string probe_nonce_ ABSL_GUARDED_BY(mu_);
  // Held while the reporter runs, so that SetStatusReporter returns only
  // once no call of the old one is in progress (its owner may then go).
  Mutex status_mu_;
  StatusFn status_ ABSL_GUARDED_BY(status_mu_);
  std::atomic<bool> aborted_{false};
  std::atomic<bool> registered_{false};
  std::thread heartbeat_;
};

}  // namespace ecps::scheduler
