#include "scheduler/scheduler.h"

#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "scheduler/shared_dir_probe.h"

namespace ecps::scheduler {

using Clock = std::chrono::steady_clock;
using comm::Message;
using comm::MsgType;

int NodeId(const std::string& role, int rank, int num_servers) {
  return role == "server" ? 1 + rank : 1 + num_servers + rank;
}

std::string DescribeNode(const std::string& role, int rank, int node) {
  return absl::StrCat("node ", node, " (role ", role, ", rank ", rank, ")");
}

Scheduler::Scheduler(SchedulerOptions options, comm::Transport* control)
    : opt_(options),
      control_(control),
      collective_(
          options.num_workers,
          [this](int node, Message m) {
            Status s = rpc_->Send(node, std::move(m));
            if (!s.ok())
              ECPS_LOG_WARN("scheduler: collective reply to node {}: {}", node, s.ToString());
          },
          // Runs on the decision thread (DecideLoop), never the receive thread.
          [this](const std::vector<std::string>& parts) {
            if (before_decide_) before_decide_();
            return coordinator_.Decide(parts);
          }),
      nodes_(1 + options.num_servers + options.num_workers) {}

Scheduler::~Scheduler() {
  StopDecisions();
  if (rpc_) rpc_->Stop();
}

void Scheduler::DecideLoop() {
  MutexLock l(&decide_mu_);
  for (;;) {
    while (!decide_stop_ && decide_queue_.empty()) decide_cv_.Wait(&decide_mu_);
    if (decide_stop_) return;
    Message m = std::move(decide_queue_.front());
    decide_queue_.pop_front();
    l.Unlock();
    // The last contribution of a decision completes it: the coordinator
    // computes it here and the root sends it to every worker.
    collective_.OnMessage(std::move(m));
    l.Lock();
  }
}

void Scheduler::StopDecisions() {
  {
    MutexLock l(&decide_mu_);
    decide_stop_ = true;
  }
  decide_cv_.SignalAll();
  if (decide_thread_.joinable()) decide_thread_.join();
}

void Scheduler::Reply(const comm::Header& request, MsgType type, int64_t arg2) {
  Message r = comm::MakeReply(request, type);
  r.header.arg2 = arg2;
  (void)rpc_->Send(request.sender, std::move(r));
}

std::string Scheduler::JobStatusJson() {
  MutexLock l(&mu_);
  const auto now = Clock::now();
  nlohmann::json nodes = nlohmann::json::array();
  for (size_t id = 1; id < nodes_.size(); ++id) {
    const Node& n = nodes_[id];
    if (n.addr.role.empty()) continue;  // not registered yet
    nlohmann::json status;              // null until the node's first report
    if (!n.status.empty()) {
      status = nlohmann::json::parse(n.status, nullptr, /*allow_exceptions=*/false);
      if (status.is_discarded()) status = nlohmann::json{{"unreadable", n.status}};
    }
    nodes.push_back(
        {{"role", n.addr.role},
         {"rank", n.addr.rank},
         {"node", id},
         {"host", n.host},
         {"done", n.done},
         {"seconds_since_heartbeat", std::chrono::duration<double>(now - n.last_seen).count()},
         {"status", std::move(status)}});
  }
  const char* phase = phase_ == Phase::kRegistering ? "registering"
                      : phase_ == Phase::kProbing   ? "probing"
                                                    : "running";
  return nlohmann::json{{"phase", phase},
                        {"servers", opt_.num_servers},
                        {"workers", opt_.num_workers},
                        {"registered", registered_},
                        {"workers_done", workers_done_},
                        {"failure", failure_},
                        {"nodes", std::move(nodes)}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void Scheduler::OnMessage(Message m) {
  const comm::Header& h = m.header;
  switch (h.type) {
    case MsgType::kRegister: {
      NodeAddress a;
      std::string control, host;
      JobIdentity identity;
      try {
        auto j = nlohmann::json::parse(h.text);
        a.role = j.at("role").get<std::string>();
        a.rank = j.at("rank").get<int>();
        if (j.contains("probe") || j.contains("probe_error")) {
          OnProbeReport(h, a.role, a.rank, j.value("probe", std::string()),
                        j.value("probe_error", std::string()));
          return;
        }
        control = j.at("control").get<std::string>();
        a.data = j.at("data").get<std::string>();
        host = j.value("host", std::string("?"));
        if (j.contains("identity")) {
          StatusOr<JobIdentity> id = JobIdentity::FromJson(j.at("identity"));
          if (!id.ok()) throw std::invalid_argument(std::string(id.status().message()));
          identity = std::move(*id);
        }
      } catch (const std::exception& e) {
        (void)control_->Send(
            h.sender,
            comm::MakeErrorReply(h, InvalidArgument("malformed registration: ", e.what())));
        return;
      }
      const int count = a.role == "server"   ? opt_.num_servers
                        : a.role == "worker" ? opt_.num_workers
                                             : 0;
      Status bad;
      if (count == 0)
        bad = InvalidArgument("registration: unknown role '", a.role, "'");
      else if (a.rank < 0 || a.rank >= count)
        bad = InvalidArgument("registration: ", a.role, " rank ", a.rank, " outside [0, ", count,
                              ") (the job has ", opt_.num_servers, " servers and ",
                              opt_.num_workers, " workers)");
      a.node = NodeId(a.role, a.rank, opt_.num_servers);
      MutexLock l(&mu_);
      if (bad.ok() && (phase_ != Phase::kRegistering || !nodes_[a.node].addr.role.empty()))
        bad = absl::AlreadyExistsError(absl::StrCat(
            "registration: ", DescribeNode(a.role, a.rank, a.node), " is already registered"));
      // The reply needs a route back.
      if (bad.ok()) bad = control_->Connect(a.node, control);
      if (!bad.ok()) {
        ECPS_LOG_WARN("scheduler: {}", bad.ToString());
        // Answer on a route of its own: the rejected node may claim an id
        // that is out of range or taken.
        const int route = --rejected_routes_;
        if (control_->Connect(route, control).ok())
          (void)control_->Send(route, comm::MakeErrorReply(h, bad));
        return;
      }
      Node& n = nodes_[a.node];
      n.addr = a;
      n.host = host;
      n.register_request = h;
      n.identity = std::move(identity);
      n.last_seen = Clock::now();
      ++registered_;
      ECPS_LOG_INFO("scheduler: registered {} on host {} at {} (config fingerprint {:016x})",
                    DescribeNode(a.role, a.rank, a.node), host, a.data, n.identity.Fingerprint());
      cv_.SignalAll();
      return;
    }
    case MsgType::kHeartbeat: {
      {
        MutexLock l(&mu_);
        if (h.sender > 0 && h.sender < static_cast<int>(nodes_.size())) {
          nodes_[h.sender].last_seen = Clock::now();
          if (!h.text.empty()) nodes_[h.sender].status = h.text;
        }
      }
      Reply(h, MsgType::kAck);
      return;
    }
    case MsgType::kStats: {
      // `ecps status --scheduler`: not a node of the job (the transport
      // already checked its token), answered on a route of its own.
      std::string reply_to;
      try {
        reply_to = nlohmann::json::parse(h.text).at("reply_to").get<std::string>();
      } catch (const std::exception& e) {
        ECPS_LOG_WARN("scheduler: a status request without a reply_to endpoint: {}", e.what());
        return;
      }
      // One route per endpoint: a client polling from one port costs one socket.
      int route = 0;
      bool known = false;
      {
        MutexLock l(&mu_);
        auto [it, added] = status_routes_.try_emplace(reply_to, 0);
        if (added) it->second = --rejected_routes_;
        route = it->second;
        known = !added;
      }
      if (Status st = known ? OkStatus() : control_->Connect(route, reply_to); !st.ok()) {
        {
          MutexLock l(&mu_);
          status_routes_.erase(reply_to);
        }
        ECPS_LOG_WARN("scheduler: cannot answer a status request at {}: {}", reply_to,
                      st.ToString());
        return;
      }
      Message r = comm::MakeReply(h, MsgType::kStatsReply);
      r.header.text = JobStatusJson();
      (void)control_->Send(route, std::move(r));
      return;
    }
    case MsgType::kCollective:
      if (h.arg == static_cast<int64_t>(comm::CollectiveOp::kDecide)) {
        // A decision may take long (an exact AUC over every validation
        // score): off this thread, so heartbeats keep being answered.
        {
          MutexLock l(&decide_mu_);
          decide_queue_.push_back(std::move(m));
        }
        decide_cv_.Signal();
        return;
      }
      collective_.OnMessage(std::move(m));
      return;
    case MsgType::kCheckpoint: {
      // On the receive thread: a manifest is small, and worker 0 waits for it.
      Status s = coordinator_.CommitCheckpoint(h.text);
      if (!s.ok()) ECPS_LOG_ERROR("scheduler: {}", s.ToString());
      (void)rpc_->Send(h.sender,
                       s.ok() ? comm::MakeReply(h, MsgType::kAck) : comm::MakeErrorReply(h, s));
      return;
    }
    case MsgType::kDone: {
      MutexLock l(&mu_);
      if (h.sender <= opt_.num_servers || h.sender >= static_cast<int>(nodes_.size()) ||
          nodes_[h.sender].done)
        return;
      Node& n = nodes_[h.sender];
      if (h.arg != 0) {
        if (failure_.empty())
          failure_ =
              absl::StrCat(DescribeNode(n.addr.role, n.addr.rank, h.sender), " failed: ", h.text);
      } else {
        n.done = true;
        ++workers_done_;
        result_.network_bytes += static_cast<uint64_t>(h.arg2);
        if (n.addr.rank == 0) result_.results = h.text;
      }
      (void)rpc_->Send(h.sender, comm::MakeReply(h, MsgType::kAck));
      cv_.SignalAll();
      return;
    }
    default:
      ECPS_LOG_WARN("scheduler: unexpected {} from node {}", comm::MsgTypeName(h.type), h.sender);
      if (!comm::IsReply(h.type))
        (void)rpc_->Send(
            h.sender, comm::MakeErrorReply(h, InvalidArgument("scheduler: unexpected message type ",
                                                              comm::MsgTypeName(h.type))));
  }
}

void Scheduler::OnProbeReport(const comm::Header& h, const std::string& role, int rank,
                              const std::string& path, const std::string& error) {
  MutexLock l(&mu_);
  const int node = NodeId(role, rank, opt_.num_servers);
  Status bad;
  if (phase_ != Phase::kProbing)
    bad = FailedPrecondition("scheduler: an output.dir probe report outside the startup check");
  else if (node != h.sender || node <= 0 || node >= static_cast<int>(nodes_.size()) ||
           nodes_[node].addr.role != role)
    bad = InvalidArgument("scheduler: probe report from node ", h.sender, " claims to be ", role,
                          " ", rank);
  else if (nodes_[node].probe_reported)
    bad = absl::AlreadyExistsError(
        absl::StrCat("scheduler: ", DescribeNode(role, rank, node), " reported its probe twice"));
  if (!bad.ok()) {
    ECPS_LOG_WARN("{}", bad.ToString());
    (void)control_->Send(h.sender, comm::MakeErrorReply(h, bad));
    return;
  }
  Node& n = nodes_[node];
  n.probe_request = h;
  n.probe_reported = true;
  n.probe_path = path;
  n.probe_error = error;
  ++probes_reported_;
  cv_.SignalAll();
}

std::string Scheduler::CompareIdentities() const {
  if (opt_.identity.empty()) return "";
  std::vector<std::string> differ;
  for (size_t i = 1; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    const std::string d = n.identity.empty()
                              ? std::string("it sent no configuration (another ecps build?)")
                              : FirstDifference(opt_.identity, n.identity);
    if (!d.empty())
      differ.push_back(absl::StrCat(DescribeNode(n.addr.role, n.addr.rank, n.addr.node),
                                    " on host ", n.host, ": ", d));
  }
  if (differ.empty()) return "";
  return absl::StrCat(
      "the processes of this job do not run one configuration: ", absl::StrJoin(differ, "; "),
      ". Start the scheduler, every server and every worker with the same build, config file "
      "and --set overrides (only output.* and cluster.host may differ)");
}

void Scheduler::AnswerRegistrations() {
  nlohmann::json nodes = nlohmann::json::array();
  for (size_t i = 1; i < nodes_.size(); ++i)
    nodes.push_back({{"role", nodes_[i].addr.role},
                     {"rank", nodes_[i].addr.rank},
                     {"node", nodes_[i].addr.node},
                     {"data", nodes_[i].addr.data}});
  nlohmann::json reply = {{"nodes", nodes}};
  if (!opt_.shared_dir.empty()) {
    nonce_ = NewRunNonce();
    reply["probe"] = {{"nonce", nonce_}};
  }
  const std::string text = reply.dump();
  const auto now = Clock::now();
  for (size_t i = 1; i < nodes_.size(); ++i) {
    Message r = comm::MakeReply(nodes_[i].register_request, MsgType::kRegisterReply);
    r.header.text = text;
    (void)rpc_->Send(static_cast<int>(i), std::move(r));
    nodes_[i].last_seen = now;
  }
}

std::string Scheduler::VerifyProbes(std::vector<Node> nodes, const std::string& nonce) {
  // The scheduler looks in its own output.dir for the file each node wrote in
  // its own: the same file exactly when both see one directory.
  const auto deadline = Clock::now() + std::chrono::milliseconds(opt_.probe_wait_ms);
  std::vector<std::string> problems;
  for (;;) {
    problems.clear();
    bool unseen = false;  // a probe this run wrote that is not visible (yet)
    for (size_t i = 1; i < nodes.size(); ++i) {
      const Node& n = nodes[i];
      const std::string who =
          absl::StrCat(DescribeNode(n.addr.role, n.addr.rank, n.addr.node), " on host ", n.host);
      if (!n.probe_error.empty()) {
        problems.push_back(absl::StrCat(who, " could not write its probe: ", n.probe_error));
        continue;
      }
      const std::string mine = ProbePath(opt_.shared_dir, n.addr.role, n.addr.rank);
      Status s = CheckProbe(mine, nonce);
      if (s.ok()) continue;
      unseen = true;
      const std::string found = absl::IsNotFound(s) ? absl::StrCat("finds no file '", mine, "'")
                                : absl::IsFailedPrecondition(s)
                                    ? absl::StrCat("finds '", mine, "' holding another run's nonce")
                                    : absl::StrCat("cannot read it: ", s.message());
      problems.push_back(absl::StrCat(who, " wrote ", n.probe_path, ", but the scheduler ", found));
    }
    // A network file system may show another host's new file (or its new
    // contents, over a stale probe) a little late; a write error is final.
    if (!unseen || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (size_t i = 1; i < nodes.size(); ++i)
    RemoveProbe(ProbePath(opt_.shared_dir, nodes[i].addr.role, nodes[i].addr.rank), nonce);
  if (problems.empty()) return "";
  return absl::StrCat(
      "output.dir is not shared by every process of the job: the scheduler on host ",
      LocalHostName(), " reads output.dir as ", opt_.shared_dir,
      " and cannot see every node's startup probe there: ", absl::StrJoin(problems, "; "),
      ". output.dir must be one directory, at the same path, for every process: run on one "
      "host, or put output.dir on a file system shared by all hosts (e.g. NFS)");
}

void Scheduler::Abort(const std::string& why) {
  MutexLock l(&mu_);
  if (failure_.empty()) failure_ = why;
  cv_.SignalAll();
}

void Scheduler::SendAbortToAll(const std::string& why) {
  std::vector<int> targets;
  {
    MutexLock l(&mu_);
    for (size_t i = 1; i < nodes_.size(); ++i)
      if (!nodes_[i].addr.role.empty() && !nodes_[i].done) targets.push_back(static_cast<int>(i));
  }
  for (int node : targets) {
    Message m;
    m.header.type = MsgType::kAbort;
    m.header.sender = 0;
    m.header.text = why;
    (void)rpc_->Send(node, std::move(m));
  }
}

StatusOr<JobResult> Scheduler::Run() {
  decide_thread_ = std::thread([this] { DecideLoop(); });
  rpc_ = std::make_unique<comm::Rpc>(control_, 0, [this](Message m) { OnMessage(std::move(m)); });
  rpc_->Start();
  const int total = opt_.num_servers + opt_.num_workers;
  const auto start = Clock::now();
  const auto timeout = std::chrono::milliseconds(opt_.heartbeat_timeout_ms);
  const auto tick = std::chrono::milliseconds(std::max(10, opt_.heartbeat_timeout_ms / 20));
  auto probe_start = start;
  std::vector<std::future<StatusOr<Message>>> shutdown_acks;
  MutexLock l(&mu_);
  for (;;) {
    cv_.WaitUntil(&mu_, Clock::now() + tick);
    if (!failure_.empty()) break;
    const auto now = Clock::now();
    if (phase_ == Phase::kProbing && probes_reported_ == total) {
      // The start barrier: released only once every probe is visible here.
      std::vector<Node> nodes = nodes_;
      const std::string nonce = nonce_;
      l.Unlock();
      std::string why = VerifyProbes(std::move(nodes), nonce);
      l.Lock();
      for (size_t i = 1; i < nodes_.size(); ++i) {
        Message r = why.empty()
                        ? comm::MakeReply(nodes_[i].probe_request, MsgType::kRegisterReply)
                        : comm::MakeErrorReply(nodes_[i].probe_request, FailedPrecondition(why));
        (void)rpc_->Send(static_cast<int>(i), std::move(r));
      }
      if (!why.empty()) {
        if (failure_.empty()) failure_ = why;
        break;
      }
      phase_ = Phase::kRunning;
      ECPS_LOG_INFO("scheduler: every node sees output.dir {}; job running", opt_.shared_dir);
    } else if (phase_ == Phase::kProbing &&
               now - probe_start > std::chrono::milliseconds(opt_.register_timeout_ms)) {
      std::vector<std::string> missing;
      for (size_t i = 1; i < nodes_.size(); ++i)
        if (!nodes_[i].probe_reported)
          missing.push_back(
              DescribeNode(nodes_[i].addr.role, nodes_[i].addr.rank, nodes_[i].addr.node));
      failure_ = absl::StrCat("the output.dir check timed out after ", opt_.register_timeout_ms,
                              " ms; no probe report from: ", absl::StrJoin(missing, ", "));
      break;
    }
    if (phase_ == Phase::kRegistering) {
      if (registered_ == total) {
        // One job, one configuration: refused before any node starts.
        const std::string why = CompareIdentities();
        if (!why.empty()) {
          for (size_t i = 1; i < nodes_.size(); ++i)
            (void)rpc_->Send(static_cast<int>(i), comm::MakeErrorReply(nodes_[i].register_request,
                                                                       FailedPrecondition(why)));
          failure_ = why;
          break;
        }
        AnswerRegistrations();
        if (opt_.shared_dir.empty()) {
          phase_ = Phase::kRunning;
          ECPS_LOG_INFO("scheduler: all {} servers and {} workers registered; job running",
                        opt_.num_servers, opt_.num_workers);
        } else {
          phase_ = Phase::kProbing;
          probe_start = now;
          ECPS_LOG_INFO(
              "scheduler: all {} servers and {} workers registered; checking that they see "
              "output.dir {}",
              opt_.num_servers, opt_.num_workers, opt_.shared_dir);
        }
      } else if (now - start > std::chrono::milliseconds(opt_.register_timeout_ms)) {
        std::vector<std::string> missing;
        for (int s = 0; s < opt_.num_servers; ++s)
          if (nodes_[NodeId("server", s, opt_.num_servers)].addr.role.empty())
            missing.push_back(absl::StrCat("server ", s));
        for (int w = 0; w < opt_.num_workers; ++w)
          if (nodes_[NodeId("worker", w, opt_.num_servers)].addr.role.empty())
            missing.push_back(absl::StrCat("worker ", w));
        failure_ = absl::StrCat("registration timed out after ", opt_.register_timeout_ms,
                                " ms; missing: ", absl::StrJoin(missing, ", "));
        break;
      }
    }
    // Registered nodes heartbeat from registration on.
    for (size_t i = 1; i < nodes_.size(); ++i) {
      Node& n = nodes_[i];
      if (n.addr.role.empty() || n.done || now - n.last_seen <= timeout) continue;
      const auto silent =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - n.last_seen).count();
      failure_ = absl::StrCat(DescribeNode(n.addr.role, n.addr.rank, n.addr.node),
                              " sent no heartbeat for ", silent, " ms (timeout ",
                              opt_.heartbeat_timeout_ms, " ms): it died or hangs");
      break;
    }
    if (!failure_.empty()) break;
    if (phase_ == Phase::kRunning && workers_done_ == opt_.num_workers && shutdown_acks.empty()) {
      l.Unlock();
      uint64_t server_bytes = 0;
      for (int s = 0; s < opt_.num_servers; ++s) {
        Message m;
        m.header.type = MsgType::kShutdown;
        shutdown_acks.push_back(rpc_->Call(NodeId("server", s, opt_.num_servers), std::move(m)));
      }
      for (int s = 0; s < opt_.num_servers; ++s) {
        auto ack = rpc_->Wait(shutdown_acks[s], opt_.heartbeat_timeout_ms,
                              absl::StrCat("shutdown of server ", s));
        if (ack.ok()) {
          server_bytes += static_cast<uint64_t>(ack->header.arg2);
        } else {
          ECPS_LOG_WARN("scheduler: {}", ack.status().ToString());
        }
      }
      l.Lock();
      result_.network_bytes += server_bytes;
      for (int s = 0; s < opt_.num_servers; ++s)
        nodes_[NodeId("server", s, opt_.num_servers)].done = true;
      break;
    }
  }
  const std::string failure = failure_;
  const bool started = phase_ == Phase::kRunning;
  JobResult result = result_;
  l.Unlock();
  if (!failure.empty()) {
    ECPS_LOG_ERROR("scheduler: stopping the job: {}", failure);
    collective_.Abort(failure);
    SendAbortToAll(failure);
    // Give the aborts a moment on the wire before the transport closes.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    StopDecisions();
    rpc_->Stop();
    return absl::AbortedError(absl::StrCat(
        failure, started ? "; job stopped (the last complete checkpoint is intact: rerun with "
                           "--resume to continue from it)"
                         : "; job stopped before training started"));
  }
  StopDecisions();
  rpc_->Stop();
  result.checkpoints_committed = coordinator_.checkpoints_committed();
  result.evaluations_decided = coordinator_.evaluations_decided();
  result.stage_decisions = coordinator_.stage_decisions();
  result.rejected_messages = rpc_->rejected_messages();
  return result;
}

}  // namespace ecps::scheduler
