#include "comm/rpc.h"

#include "common/logging.h"

namespace ecps::comm {

Rpc::Rpc(Transport* transport, int self, std::function<void(Message)> on_message)
    : transport_(transport), self_(self), on_message_(std::move(on_message)) {}

Rpc::~Rpc() { Stop(); }

void Rpc::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Rpc::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  transport_->Close();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [id, p] : pending_) p.set_value(IoError("node ", self_, " stopped"));
  pending_.clear();
}

std::future<StatusOr<Message>> Rpc::Call(int node, Message msg) {
  const uint64_t id = next_id_++;
  msg.header.request_id = id;
  msg.header.sender = self_;
  std::future<StatusOr<Message>> f;
  {
    std::lock_guard<std::mutex> l(mu_);
    std::promise<StatusOr<Message>> p;
    f = p.get_future();
    if (stopped_) {
      p.set_value(IoError("node ", self_, " stopped"));
      return f;
    }
    pending_.emplace(id, std::move(p));
  }
  Status s = transport_->Send(node, std::move(msg));
  if (!s.ok()) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = pending_.find(id);
    if (it != pending_.end()) {
      it->second.set_value(s);
      pending_.erase(it);
    }
  }
  return f;
}

StatusOr<Message> Rpc::Wait(std::future<StatusOr<Message>>& f, int timeout_ms,
                            const std::string& what) {
  if (timeout_ms >= 0 &&
      f.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready)
    return absl::DeadlineExceededError(absl::StrCat(what, ": no reply within ", timeout_ms, " ms"));
  StatusOr<Message> m = f.get();
  if (!m.ok()) return m.status();
  RETURN_IF_ERROR(Annotate(ReplyStatus(*m), what));
  return m;
}

void Rpc::Loop() {
  for (;;) {
    StatusOr<Message> m = transport_->Recv(-1);
    if (!m.ok()) {
      if (m.status().code() == absl::StatusCode::kCancelled) return;
      ++rejected_;
      ECPS_LOG_WARN("node {}: {}", self_, m.status().ToString());
      continue;
    }
    if (IsReply(m->header.type)) {
      std::promise<StatusOr<Message>> p;
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = pending_.find(m->header.request_id);
        if (it == pending_.end()) continue;  // a late reply after a timeout
        p = std::move(it->second);
        pending_.erase(it);
      }
      p.set_value(std::move(*m));
    } else if (on_message_) {
      on_message_(std::move(*m));
    }
  }
}

}  // namespace ecps::comm
