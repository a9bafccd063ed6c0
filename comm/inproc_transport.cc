// In-process transport: each node's mailbox is a queue; Send() pushes the
// encoded header and the payload buffers (shared, not copied) into the
// recipient's queue. Headers are still encoded and decoded so that the
// simulation exercises the same validation as the network transports.
#include <atomic>
#include <deque>

#include "comm/transport.h"

namespace ecps::comm {

struct InProcHub::Mailbox {
  Mutex mu;
  CondVar cv;
  std::deque<WireMessage> queue ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;
};

InProcHub::InProcHub() = default;
InProcHub::~InProcHub() = default;

StatusOr<std::shared_ptr<InProcHub::Mailbox>> InProcHub::Register(const std::string& name) {
  MutexLock l(&mu_);
  auto [it, inserted] = boxes_.try_emplace(name);
  if (!inserted) return absl::AlreadyExistsError("address already in use: " + name);
  it->second = std::make_shared<Mailbox>();
  return it->second;
}

void InProcHub::Unregister(const std::string& name) {
  MutexLock l(&mu_);
  boxes_.erase(name);
}

std::shared_ptr<InProcHub::Mailbox> InProcHub::Find(const std::string& name) {
  MutexLock l(&mu_);
  auto it = boxes_.find(name);
  return it == boxes_.end() ? nullptr : it->second;
}

namespace {

class InProcTransport final : public Transport {
 public:
  explicit InProcTransport(InProcHub* hub) : hub_(hub) {}
  ~InProcTransport() override { Close(); }

  StatusOr<std::string> Bind(const std::string& endpoint) override {
    if (endpoint.rfind("inproc://", 0) != 0)
      return InvalidArgument("in-process transport cannot bind '", endpoint, "'");
    ASSIGN_OR_RETURN(box_, hub_->Register(endpoint));
    name_ = endpoint;
    return endpoint;
  }

  Status Connect(int node, const std::string& endpoint) override {
    auto box = hub_->Find(endpoint);
    if (box == nullptr) return IoError("no in-process node listens on '", endpoint, "'");
    MutexLock l(&mu_);
    peers_[node] = std::move(box);
    return OkStatus();
  }

  Status SendRaw(int node, WireMessage wire) override {
    std::shared_ptr<InProcHub::Mailbox> box;
    {
      MutexLock l(&mu_);
      if (closed_) return IoError("transport closed");
      auto it = peers_.find(node);
      if (it == peers_.end()) return NotFound("node ", node, " is not connected");
      box = it->second;
    }
    uint64_t bytes = wire.header.size();
    for (const Buffer& b : wire.payloads) bytes += b.size;
    bytes_sent_ += bytes;
    InProcHub::Mailbox* b = box.get();
    MutexLock l(&b->mu);
    if (b->closed) return IoError("node ", node, " has closed its mailbox");
    b->queue.push_back(std::move(wire));
    b->cv.Signal();
    return OkStatus();
  }

  StatusOr<WireMessage> RecvRaw(int timeout_ms) override {
    if (box_ == nullptr) return FailedPrecondition("Recv() before Bind()");
    InProcHub::Mailbox* b = box_.get();
    const auto deadline = CondVar::Clock::now() + std::chrono::milliseconds(timeout_ms);
    MutexLock l(&b->mu);
    while (!b->closed && b->queue.empty()) {
      if (timeout_ms < 0) {
        b->cv.Wait(&b->mu);
      } else if (b->cv.WaitUntil(&b->mu, deadline) && !b->closed && b->queue.empty()) {
        return absl::DeadlineExceededError("receive timed out");
      }
    }
    if (b->closed) return absl::CancelledError("transport closed");
    WireMessage w = std::move(b->queue.front());
    b->queue.pop_front();
    w.source = "in-process";
    return w;
  }

  void Close() override {
    {
      MutexLock l(&mu_);
      if (closed_) return;
      closed_ = true;
      peers_.clear();
    }
    if (box_ != nullptr) {
      InProcHub::Mailbox* b = box_.get();
      {
        MutexLock l(&b->mu);
        b->closed = true;
      }
      b->cv.SignalAll();
      hub_->Unregister(name_);
    }
  }

  uint64_t bytes_sent() const override { return bytes_sent_.load(); }

 private:
  InProcHub* hub_;
  std::string name_;
  std::shared_ptr<InProcHub::Mailbox> box_;
  Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::unordered_map<int, std::shared_ptr<InProcHub::Mailbox>> peers_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> bytes_sent_{0};
};

}  // namespace

std::unique_ptr<Transport> NewInProcTransport(InProcHub* hub) {
  return std::make_unique<InProcTransport>(hub);
}

}  // namespace ecps::comm
