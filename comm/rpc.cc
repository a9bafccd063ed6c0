#include "comm/rpc.h"

#include <algorithm>

#include "common/logging.h"

namespace ecps::comm {

Rpc::Rpc(Transport* transport, int self, std::function<void(Message)> on_message)
    : transport_(transport), self_(self), on_message_(std::move(on_message)) {}

Rpc::~Rpc() { Stop(); }

void Rpc::Start() {
  // Without a callback the callers receive (header comment).
  if (on_message_) thread_ = std::thread([this] { Loop(); });
}

void Rpc::Stop() {
  {
    MutexLock l(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  transport_->Close();
  if (thread_.joinable()) thread_.join();
  MutexLock l(&mu_);
  FailPending(IoError("node ", self_, " stopped"));
}

void Rpc::FailPending(const Status& s) {
  for (auto& [id, p] : pending_) p.set_value(s);
  pending_.clear();
  receiver_cv_.SignalAll();
}

std::future<StatusOr<Message>> Rpc::Call(int node, Message msg) {
  const uint64_t id = next_id_++;
  msg.header.request_id = id;
  msg.header.sender = self_;
  std::future<StatusOr<Message>> f;
  {
    MutexLock l(&mu_);
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
    MutexLock l(&mu_);
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
  const bool forever = timeout_ms < 0;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  bool ready;
  if (on_message_) {
    ready = forever || f.wait_until(deadline) == std::future_status::ready;
  } else {
    ready = ReceiveFor(f, deadline, forever);
  }
  if (!ready)
    return absl::DeadlineExceededError(absl::StrCat(what, ": no reply within ", timeout_ms, " ms"));
  StatusOr<Message> m = f.get();
  if (!m.ok()) return m.status();
  RETURN_IF_ERROR(Annotate(ReplyStatus(*m), what));
  return m;
}

// Leader/followers among the waiting callers: one receives and dispatches
// whatever arrives (its own reply ends its turn); the others sleep until
// their reply was fulfilled or the receiving is free again.
bool Rpc::ReceiveFor(std::future<StatusOr<Message>>& f, Clock::time_point deadline, bool forever) {
  auto ready = [&] { return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready; };
  MutexLock l(&mu_);
  for (;;) {
    if (ready()) return true;
    const Clock::time_point now = Clock::now();
    if (!forever && now >= deadline) return false;
    if (receiving_ || stopped_) {
      // Stopped: Stop() fails every pending call, and wakes us then.
      if (forever) {
        receiver_cv_.Wait(&mu_);
      } else {
        receiver_cv_.WaitUntil(&mu_, deadline);
      }
      continue;
    }
    receiving_ = true;
    l.Unlock();
    int timeout_ms = -1;
    if (!forever) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
      timeout_ms = static_cast<int>(std::min<int64_t>(left, 1 << 30));
    }
    StatusOr<Message> m = transport_->Recv(timeout_ms);
    const bool closed = !m.ok() && m.status().code() == absl::StatusCode::kCancelled;
    if (m.ok()) {
      Dispatch(std::move(*m));
    } else if (!closed && m.status().code() != absl::StatusCode::kDeadlineExceeded) {
      ++rejected_;
      ECPS_LOG_WARN("node {}: {}", self_, m.status().ToString());
    }
    l.Lock();
    receiving_ = false;
    // Closed by its owner rather than by Stop(): nothing will ever arrive.
    if (closed && !stopped_) {
      stopped_ = true;
      FailPending(IoError("node ", self_, ": transport closed"));
    }
    receiver_cv_.SignalAll();  // a follower's reply, or the receiving is free
  }
}

void Rpc::Dispatch(Message m) {
  if (IsReply(m.header.type)) {
    std::promise<StatusOr<Message>> p;
    {
      MutexLock l(&mu_);
      auto it = pending_.find(m.header.request_id);
      if (it == pending_.end()) return;  // a late reply after a timeout
      p = std::move(it->second);
      pending_.erase(it);
    }
    p.set_value(std::move(m));
  } else if (on_message_) {
    on_message_(std::move(m));
  }
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
    Dispatch(std::move(*m));
  }
}

}  // namespace ecps::comm
