#include "scheduler/node_agent.h"

#include <deque>
#include <nlohmann/json.hpp>

#include "comm/rpc_collective.h"
#include "common/logging.h"
#include "scheduler/shared_dir_probe.h"

namespace ecps::scheduler {

using Clock = std::chrono::steady_clock;
using comm::Message;
using comm::MsgType;

NodeAgent::NodeAgent(NodeAgentOptions options, comm::Transport* control,
                     std::string control_endpoint, AbortFn on_abort, BytesFn bytes_sent)
    : opt_(std::move(options)),
      node_(NodeId(opt_.role, opt_.rank, opt_.num_servers)),
      control_(control),
      control_endpoint_(std::move(control_endpoint)),
      on_abort_(std::move(on_abort)),
      bytes_sent_(std::move(bytes_sent)) {
  rpc_ =
      std::make_unique<comm::Rpc>(control_, node_, [this](Message m) { OnMessage(std::move(m)); });
  rpc_->Start();
}

NodeAgent::~NodeAgent() {
  StopHeartbeats();
  rpc_->Stop();
}

void NodeAgent::RaiseAbort(const std::string& why) {
  if (aborted_.exchange(true)) return;
  // The abort callback may end the process: leave no probe behind.
  RemoveOwnProbe();
  {
    MutexLock l(&mu_);
    stop_heartbeats_ = true;
    cv_.SignalAll();
  }
  if (on_abort_) on_abort_(why);
}

void NodeAgent::OnMessage(Message m) {
  switch (m.header.type) {
    case MsgType::kAbort:
      RaiseAbort(absl::StrCat("job stopped by the scheduler: ", m.header.text));
      return;
    case MsgType::kShutdown: {
      Message r = comm::MakeReply(m.header, MsgType::kAck);
      r.header.arg2 = static_cast<int64_t>(bytes_sent_ ? bytes_sent_() : 0);
      {
        MutexLock l(&mu_);
        shutdown_ = true;
        stop_heartbeats_ = true;
        cv_.SignalAll();
      }
      (void)rpc_->Send(m.header.sender, std::move(r));
      return;
    }
    default:
      ECPS_LOG_WARN("{}: unexpected {} from node {}", DescribeNode(opt_.role, opt_.rank, node_),
                    comm::MsgTypeName(m.header.type), m.header.sender);
  }
}

StatusOr<std::vector<NodeAddress>> NodeAgent::Register(const std::string& scheduler_endpoint,
                                                       const std::string& data_endpoint) {
  RETURN_IF_ERROR(control_->Connect(0, scheduler_endpoint));
  Message m;
  m.header.type = MsgType::kRegister;
  m.header.text =
      nlohmann::json{
          {"role", opt_.role},     {"rank", opt_.rank},       {"control", control_endpoint_},
          {"data", data_endpoint}, {"host", LocalHostName()}, {"identity", opt_.identity.ToJson()}}
          .dump();
  auto f = rpc_->Call(0, std::move(m));
  // Heartbeats start now, so a node that dies while the others register is
  // noticed; the scheduler is judged only once it has answered.
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  StatusOr<Message> reply_or =
      rpc_->Wait(f, opt_.register_timeout_ms,
                 absl::StrCat("registering with the scheduler at ", scheduler_endpoint));
  if (!reply_or.ok()) {
    StopHeartbeats();
    return reply_or.status();
  }
  registered_.store(true);
  const Message& reply = *reply_or;
  std::vector<NodeAddress> nodes;
  std::string nonce;
  try {
    const nlohmann::json table = nlohmann::json::parse(reply.header.text);
    if (table.contains("probe")) nonce = table.at("probe").at("nonce").get<std::string>();
    for (const auto& j : table.at("nodes")) {
      NodeAddress a;
      a.role = j.at("role").get<std::string>();
      a.rank = j.at("rank").get<int>();
      a.node = j.at("node").get<int>();
      a.data = j.at("data").get<std::string>();
      nodes.push_back(std::move(a));
    }
  } catch (const std::exception& e) {
    return DataLoss("registration reply is malformed: ", e.what());
  }
  if (nodes.size() != static_cast<size_t>(opt_.num_servers + opt_.num_workers))
    return DataLoss("registration reply lists ", nodes.size(), " nodes, expected ",
                    opt_.num_servers + opt_.num_workers);
  if (!nonce.empty()) RETURN_IF_ERROR(ProveSharedDir(nonce));
  return nodes;
}

Status NodeAgent::ProveSharedDir(const std::string& nonce) {
  nlohmann::json report = {{"role", opt_.role}, {"rank", opt_.rank}};
  const std::string path = ProbePath(opt_.shared_dir, opt_.role, opt_.rank);
  Status written = opt_.shared_dir.empty()
                       ? FailedPrecondition("this process was given no output.dir")
                       : WriteProbe(path, nonce);
  if (written.ok()) {
    MutexLock l(&mu_);
    probe_path_ = path;
    probe_nonce_ = nonce;
    report["probe"] = path;
  } else {
    // Reported rather than returned: the scheduler names every node that
    // failed the check in one message.
    report["probe_error"] = std::string(written.message());
  }
  Message m;
  m.header.type = MsgType::kRegister;
  m.header.text = report.dump();
  auto f = rpc_->Call(0, std::move(m));
  // The scheduler answers once every node reported: the start barrier.
  StatusOr<Message> started =
      rpc_->Wait(f, opt_.register_timeout_ms, "the scheduler's check of output.dir");
  // The scheduler removed the probes it could read; this one may be in a
  // directory only this host sees.
  RemoveOwnProbe();
  if (!started.ok()) StopHeartbeats();
  return started.status();
}

void NodeAgent::RemoveOwnProbe() {
  std::string path, nonce;
  {
    MutexLock l(&mu_);
    path.swap(probe_path_);
    nonce.swap(probe_nonce_);
  }
  if (!path.empty()) RemoveProbe(path, nonce);
}

void NodeAgent::HeartbeatLoop() {
  // A heartbeat goes out every interval whether or not the previous one was
  // answered; the scheduler is lost when nothing was answered for the timeout.
  std::deque<std::future<StatusOr<Message>>> inflight;
  auto last_answer = Clock::now();
  MutexLock l(&mu_);
  while (!stop_heartbeats_) {
    l.Unlock();
    Message m;
    m.header.type = MsgType::kHeartbeat;
    {
      MutexLock sl(&status_mu_);
      if (status_) m.header.text = status_();
    }
    inflight.push_back(rpc_->Call(0, std::move(m)));
    while (!inflight.empty() &&
           inflight.front().wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      if (inflight.front().get().ok()) last_answer = Clock::now();
      inflight.pop_front();
    }
    // While registering, the scheduler may still be preparing the data.
    if (!registered_.load()) last_answer = Clock::now();
    const auto silent =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_answer).count();
    l.Lock();
    if (stop_heartbeats_) break;
    if (silent > opt_.heartbeat_timeout_ms) {
      l.Unlock();
      RaiseAbort(absl::StrCat("the scheduler (node 0) answered no heartbeat for ", silent,
                              " ms (timeout ", opt_.heartbeat_timeout_ms, " ms)"));
      return;
    }
    const auto next = Clock::now() + std::chrono::milliseconds(opt_.heartbeat_interval_ms);
    while (!stop_heartbeats_ && !cv_.WaitUntil(&mu_, next)) {
    }
  }
}

void NodeAgent::SetStatusReporter(StatusFn status) {
  MutexLock l(&status_mu_);
  status_ = std::move(status);
}

void NodeAgent::StopHeartbeats() {
  {
    MutexLock l(&mu_);
    stop_heartbeats_ = true;
    cv_.SignalAll();
  }
  if (heartbeat_.joinable() && heartbeat_.get_id() != std::this_thread::get_id()) heartbeat_.join();
}

std::unique_ptr<comm::Collective> NodeAgent::WorkerCollective() {
  return comm::NewRpcCollective(rpc_.get(), 0, opt_.rank, opt_.num_workers);
}

Status NodeAgent::Done(const std::string& results) {
  Message m;
  m.header.type = MsgType::kDone;
  m.header.arg = 0;
  m.header.arg2 = static_cast<int64_t>(bytes_sent_ ? bytes_sent_() : 0);
  m.header.text = results;
  auto f = rpc_->Call(0, std::move(m));
  StopHeartbeats();
  return rpc_->Wait(f, opt_.heartbeat_timeout_ms, "reporting completion").status();
}

Status NodeAgent::CommitCheckpoint(const std::string& request) {
  Message m;
  m.header.type = MsgType::kCheckpoint;
  m.header.text = request;
  auto f = rpc_->Call(0, std::move(m));
  return rpc_->Wait(f, opt_.heartbeat_timeout_ms, "checkpoint commit by the scheduler").status();
}

void NodeAgent::Failed(const Status& why) {
  Message m;
  m.header.type = MsgType::kDone;
  m.header.arg = 1;
  m.header.text = std::string(why.message());
  auto f = rpc_->Call(0, std::move(m));
  (void)rpc_->Wait(f, opt_.heartbeat_timeout_ms, "reporting failure");
}

void NodeAgent::WaitForShutdown() {
  MutexLock l(&mu_);
  while (!shutdown_) cv_.Wait(&mu_);
}

}  // namespace ecps::scheduler
