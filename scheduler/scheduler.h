// The scheduler of a multi-process job (node 0): registration and roles,
// endpoint exchange, heartbeats and failure detection, the workers'
// collectives (barriers, dense all-reduce; see comm/rpc_collective.h), the
// coordinator's decisions (evaluation: exact global AUC and early stopping;
// checkpoint manifests: coordinator.h), completion and shutdown.
//
// Protocol (all on the control transport; node ids are the mpirun ranks:
// 0 = scheduler, 1..S = servers, S+1..S+W = workers):
//   kRegister   text = {"role", "rank", "control", "data", "host"} (JSON),
//               plus "identity" (job_identity.h: the node's effective config
//               and build). Once every node registered, a node whose identity
//               differs from the scheduler's stops the job: every node's
//               registration is answered with kError naming each differing
//               node and its first differing key. Otherwise answered by
//               kRegisterReply text
//               = {"nodes": [{"role", "rank", "node", "data"}...]}, plus
//               "probe": {"nonce"} when the job checks its shared directory
//               (SchedulerOptions::shared_dir; shared_dir_probe.h). Then
//               every node writes its probe into its output.dir and sends a
//               second kRegister {"role", "rank", "probe": path written} (or
//               "probe_error": why it could not). The scheduler reads every
//               probe from its own output.dir, removes them, and answers
//               each with kRegisterReply: the start barrier. A probe it
//               cannot see (with this run's nonce) stops the job before any
//               training step, naming the nodes, their hosts and the path.
//   kHeartbeat  every heartbeat interval -> kAck. A node silent for longer
//               than the heartbeat timeout stops the job. text = the node's
//               status (NodeAgent::SetStatusReporter; JSON), kept as its last.
//   kStats      from anyone holding the job's token (`ecps status
//               --scheduler`), text = {"reply_to": its control endpoint}
//               -> kStatsReply on a route of its own, text = the job's status
//               (JobStatusJson: phase, every node's last report).
//   kCollective the workers' collectives, rooted here.
//   kCheckpoint worker 0 -> scheduler once every part of a checkpoint is
//               written (text = checkpoint_manifest.h's commit request): the
//               scheduler writes the manifest last, atomically -> kAck or
//               kError.
//   kDone       a worker finished: arg = 0 (text = its results JSON, worker
//               0 only) or 1 (failed, text = why); arg2 = bytes it sent.
//   kShutdown   scheduler -> server once every worker is done -> kAck
//               (arg2 = bytes the server sent).
//   kAbort      scheduler -> every node when the job stops on a failure;
//               text names the failed node. Nodes exit non-zero.
//
// Decisions (kCollective with CollectiveOp::kDecide: evaluations, stage
// reports) are computed on a thread of their own, not on the receive thread:
// the exact AUC of a large validation split takes as long as its sort, and
// heartbeats, registrations and the other collectives are answered
// meanwhile. The decision is sent to every worker when it is ready.
//
// The scheduler never touches model state; it commits checkpoints (the
// servers write their shards, worker 0 the dense part, the scheduler the
// manifest, last), so the last complete checkpoint stays intact when a job is
// stopped at any moment, and `--resume` continues from it.
//
// Thread-safety: Run() from one thread; Abort() from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "comm/rpc.h"
#include "comm/rpc_collective.h"
#include "common/mutex.h"
#include "common/status.h"
#include "scheduler/coordinator.h"
#include "scheduler/job_identity.h"

namespace ecps::scheduler {

// Node id of a server or worker of rank `rank` (the mpirun rank layout).
int NodeId(const std::string& role, int rank, int num_servers);
// "node 2 (role server, rank 1)": how failures name a node.
std::string DescribeNode(const std::string& role, int rank, int node);

struct NodeAddress {
  std::string role;  // "server" | "worker"
  int rank = 0;      // index within the role
  int node = 0;      // node id
  std::string data;  // data-plane endpoint (parameter-server traffic)
};

struct SchedulerOptions {
  int num_servers = 1;
  int num_workers = 1;
  int heartbeat_timeout_ms = 10000;
  int register_timeout_ms = 300000;  // also bounds the shared-directory check
  // The scheduler's output.dir (absolute). Non-empty: before the job starts,
  // every node must prove it sees this directory (the probe exchange above).
  // Empty: no check (tests of other parts of the protocol).
  std::string shared_dir;
  // How long a probe may take to show up after its node reported it written:
  // a network file system may publish another host's new file a little late.
  int probe_wait_ms = 2000;
  // The scheduler's own effective configuration and build (job_identity.h).
  // Non-empty: once every node registered, each node's identity must equal
  // it, or the job is refused before it starts, naming every node that
  // differs and its first differing key. Empty: no check (tests of other
  // parts of the protocol).
  JobIdentity identity;
};

struct JobResult {
  std::string results;            // worker 0's results JSON
  uint64_t network_bytes = 0;     // sent by every server and worker
  int checkpoints_committed = 0;  // by the coordinator
  int evaluations_decided = 0;
  int stage_decisions = 0;
  // Messages the scheduler dropped: undecodable, over the limits or without
  // the job's token (each logged with its source).
  uint64_t rejected_messages = 0;
};

class Scheduler {
 public:
  // `control` is bound at the address every node was given and must outlive
  // the scheduler.
  Scheduler(SchedulerOptions options, comm::Transport* control);
  ~Scheduler();

  // Runs the job to completion. Errors: Aborted naming the failed node (a
  // missed heartbeat timeout, a worker that failed, a registration timeout),
  // after every other node was sent kAbort.
  StatusOr<JobResult> Run();
  // Stops the job with `why` (as a failure would). Any thread.
  void Abort(const std::string& why);

  // Test hook, run on the decision thread before each decision is computed
  // (a slow evaluation). REQUIRES: called before Run().
  void TEST_SetBeforeDecide(std::function<void()> hook) { before_decide_ = std::move(hook); }

 private:
  enum class Phase {
    kRegistering,  // waiting for every node's kRegister
    kProbing,      // waiting for every node's probe report (shared_dir)
    kRunning,      // released: training
  };
  struct Node {
    NodeAddress addr;
    std::string host;  // as the node reported it, for error messages
    comm::Header register_request;
    JobIdentity identity;  // as the node sent it
    std::chrono::steady_clock::time_point last_seen;
    bool done = false;
    // The probe exchange: the node's second kRegister (answered at the start
    // barrier), the probe path in the node's own view, or why it failed.
    comm::Header probe_request;
    bool probe_reported = false;
    std::string probe_path;
    std::string probe_error;
    std::string status;  // the last heartbeat's report (JSON text; "" before one)
  };
  // The answer to kStats: {"phase", "servers", "workers", "workers_done",
  // "evaluations_decided"... , "nodes": [{"role", "rank", "node", "host",
  // "seconds_since_heartbeat", "status"}]}.
  std::string JobStatusJson() ABSL_LOCKS_EXCLUDED(mu_);
  void OnMessage(comm::Message m) ABSL_LOCKS_EXCLUDED(mu_, decide_mu_);
  // A node's second kRegister: its probe is written at `path`, or `error`.
  void OnProbeReport(const comm::Header& h, const std::string& role, int rank,
                     const std::string& path, const std::string& error) ABSL_LOCKS_EXCLUDED(mu_);
  // Sends the endpoint table to every node (and the nonce, when probing).
  void AnswerRegistrations() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // "" when every node's identity equals opt_.identity (or that is empty);
  // otherwise the job's failure, naming each node that differs.
  std::string CompareIdentities() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads every node's probe from shared_dir (retrying for probe_wait_ms) and
  // removes them; `nonce` is this run's (nonce_). Returns "" when all are
  // there, else the job's failure. REQUIRES: phase_ == kProbing.
  std::string VerifyProbes(std::vector<Node> nodes, const std::string& nonce)
      ABSL_LOCKS_EXCLUDED(mu_);  // it reads files
  void Reply(const comm::Header& request, comm::MsgType type, int64_t arg2 = 0);
  void SendAbortToAll(const std::string& why) ABSL_LOCKS_EXCLUDED(mu_);
  // The decision thread: feeds queued kDecide contributions to the
  // collective root, whose decider (the coordinator) then runs here.
  void DecideLoop() ABSL_LOCKS_EXCLUDED(decide_mu_);
  void StopDecisions() ABSL_LOCKS_EXCLUDED(decide_mu_);

  const SchedulerOptions opt_;
  comm::Transport* control_;
  std::unique_ptr<comm::Rpc> rpc_;
  comm::CollectiveRoot collective_;
  Coordinator coordinator_;

  Mutex mu_;
  CondVar cv_;
  std::vector<Node> nodes_ ABSL_GUARDED_BY(mu_);  // by node id; nodes_[0] unused
  int registered_ ABSL_GUARDED_BY(mu_) = 0;
  // Negative route ids for answering rejected nodes and status requests.
  int rejected_routes_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int> status_routes_ ABSL_GUARDED_BY(mu_);  // reply_to -> route
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kRegistering;
  std::string nonce_ ABSL_GUARDED_BY(mu_);  // this run's probe nonce
  int probes_reported_ ABSL_GUARDED_BY(mu_) = 0;
  int workers_done_ ABSL_GUARDED_BY(mu_) = 0;
  std::string failure_ ABSL_GUARDED_BY(mu_);
  JobResult result_ ABSL_GUARDED_BY(mu_);

  std::function<void()> before_decide_;
  Mutex decide_mu_;
  CondVar decide_cv_;
  std::deque<comm::Message> decide_queue_ ABSL_GUARDED_BY(decide_mu_);
  bool decide_stop_ ABSL_GUARDED_BY(decide_mu_) = false;
  std::thread decide_thread_;
};

}  // namespace ecps::scheduler
