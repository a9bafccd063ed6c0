#include "scheduler/scheduler.h"

#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/str_join.h"
#include "common/logging.h"

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
  std::unique_lock<std::mutex> l(decide_mu_);
  for (;;) {
    decide_cv_.wait(l, [this] { return decide_stop_ || !decide_queue_.empty(); });
    if (decide_stop_) return;
    Message m = std::move(decide_queue_.front());
    decide_queue_.pop_front();
    l.unlock();
    // The last contribution of a decision completes it: the coordinator
    // computes it here and the root sends it to every worker.
    collective_.OnMessage(std::move(m));
    l.lock();
  }
}

void Scheduler::StopDecisions() {
  {
    std::lock_guard<std::mutex> l(decide_mu_);
    decide_stop_ = true;
  }
  decide_cv_.notify_all();
  if (decide_thread_.joinable()) decide_thread_.join();
}

void Scheduler::Reply(const comm::Header& request, MsgType type, int64_t arg2) {
  Message r = comm::MakeReply(request, type);
  r.header.arg2 = arg2;
  (void)rpc_->Send(request.sender, std::move(r));
}

void Scheduler::OnMessage(Message m) {
  const comm::Header& h = m.header;
  switch (h.type) {
    case MsgType::kRegister: {
      NodeAddress a;
      std::string control;
      try {
        auto j = nlohmann::json::parse(h.text);
        a.role = j.at("role").get<std::string>();
        a.rank = j.at("rank").get<int>();
        control = j.at("control").get<std::string>();
        a.data = j.at("data").get<std::string>();
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
      std::lock_guard<std::mutex> l(mu_);
      if (bad.ok() && (running_ || !nodes_[a.node].addr.role.empty()))
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
      n.register_request = h;
      n.last_seen = Clock::now();
      ++registered_;
      ECPS_LOG_INFO("scheduler: registered {} at {}", DescribeNode(a.role, a.rank, a.node), a.data);
      cv_.notify_all();
      return;
    }
    case MsgType::kHeartbeat: {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (h.sender > 0 && h.sender < static_cast<int>(nodes_.size()))
          nodes_[h.sender].last_seen = Clock::now();
      }
      Reply(h, MsgType::kAck);
      return;
    }
    case MsgType::kCollective:
      if (h.arg == static_cast<int64_t>(comm::CollectiveOp::kDecide)) {
        // A decision may take long (an exact AUC over every validation
        // score): off this thread, so heartbeats keep being answered.
        {
          std::lock_guard<std::mutex> l(decide_mu_);
          decide_queue_.push_back(std::move(m));
        }
        decide_cv_.notify_one();
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
      std::lock_guard<std::mutex> l(mu_);
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
      cv_.notify_all();
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

void Scheduler::Abort(const std::string& why) {
  std::lock_guard<std::mutex> l(mu_);
  if (failure_.empty()) failure_ = why;
  cv_.notify_all();
}

void Scheduler::SendAbortToAll(const std::string& why) {
  std::vector<int> targets;
  {
    std::lock_guard<std::mutex> l(mu_);
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
  std::vector<std::future<StatusOr<Message>>> shutdown_acks;
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait_for(l, tick);
    if (!failure_.empty()) break;
    const auto now = Clock::now();
    if (!running_) {
      if (registered_ == total) {
        nlohmann::json nodes = nlohmann::json::array();
        for (size_t i = 1; i < nodes_.size(); ++i)
          nodes.push_back({{"role", nodes_[i].addr.role},
                           {"rank", nodes_[i].addr.rank},
                           {"node", nodes_[i].addr.node},
                           {"data", nodes_[i].addr.data}});
        const std::string table = nlohmann::json{{"nodes", nodes}}.dump();
        for (size_t i = 1; i < nodes_.size(); ++i) {
          Message r = comm::MakeReply(nodes_[i].register_request, MsgType::kRegisterReply);
          r.header.text = table;
          (void)rpc_->Send(static_cast<int>(i), std::move(r));
          nodes_[i].last_seen = now;
        }
        running_ = true;
        ECPS_LOG_INFO("scheduler: all {} servers and {} workers registered; job running",
                      opt_.num_servers, opt_.num_workers);
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
    if (running_ && workers_done_ == opt_.num_workers && shutdown_acks.empty()) {
      l.unlock();
      for (int s = 0; s < opt_.num_servers; ++s) {
        Message m;
        m.header.type = MsgType::kShutdown;
        shutdown_acks.push_back(rpc_->Call(NodeId("server", s, opt_.num_servers), std::move(m)));
      }
      for (int s = 0; s < opt_.num_servers; ++s) {
        auto ack = rpc_->Wait(shutdown_acks[s], opt_.heartbeat_timeout_ms,
                              absl::StrCat("shutdown of server ", s));
        if (ack.ok()) {
          result_.network_bytes += static_cast<uint64_t>(ack->header.arg2);
        } else {
          ECPS_LOG_WARN("scheduler: {}", ack.status().ToString());
        }
      }
      l.lock();
      for (int s = 0; s < opt_.num_servers; ++s)
        nodes_[NodeId("server", s, opt_.num_servers)].done = true;
      break;
    }
  }
  const std::string failure = failure_;
  l.unlock();
  if (!failure.empty()) {
    ECPS_LOG_ERROR("scheduler: stopping the job: {}", failure);
    collective_.Abort(failure);
    SendAbortToAll(failure);
    // Give the aborts a moment on the wire before the transport closes.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    StopDecisions();
    rpc_->Stop();
    return absl::AbortedError(
        absl::StrCat(failure,
                     "; job stopped (the last complete checkpoint is intact: rerun with "
                     "--resume to continue from it)"));
  }
  StopDecisions();
  rpc_->Stop();
  result_.checkpoints_committed = coordinator_.checkpoints_committed();
  result_.evaluations_decided = coordinator_.evaluations_decided();
  result_.stage_decisions = coordinator_.stage_decisions();
  return result_;
}

}  // namespace ecps::scheduler
