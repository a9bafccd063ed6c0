// In-process transport: each node's mailbox is a queue; Send() pushes the
// encoded header and the payload buffers (shared, not copied) into the
// recipient's queue. Headers are still encoded and decoded so that the
// simulation exercises the same validation as the network transports.
#include <atomic>
#include <condition_variable>
#include <deque>

#include "comm/transport.h"

namespace ecps::comm {

struct InProcHub::Mailbox {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<WireMessage> queue;
  bool closed = false;
};

InProcHub::InProcHub() = default;
InProcHub::~InProcHub() = default;

StatusOr<std::shared_ptr<InProcHub::Mailbox>> InProcHub::Register(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  auto [it, inserted] = boxes_.try_emplace(name);
  if (!inserted) return absl::AlreadyExistsError("address already in use: " + name);
  it->second = std::make_shared<Mailbox>();
  return it->second;
}

void InProcHub::Unregister(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  boxes_.erase(name);
}

std::shared_ptr<InProcHub::Mailbox> InProcHub::Find(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
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
    std::lock_guard<std::mutex> l(mu_);
    peers_[node] = std::move(box);
    return OkStatus();
  }

  Status SendRaw(int node, WireMessage wire) override {
    std::shared_ptr<InProcHub::Mailbox> box;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (closed_) return IoError("transport closed");
      auto it = peers_.find(node);
      if (it == peers_.end()) return NotFound("node ", node, " is not connected");
      box = it->second;
    }
    uint64_t bytes = wire.header.size();
    for (const Buffer& b : wire.payloads) bytes += b.size;
    bytes_sent_ += bytes;
    std::lock_guard<std::mutex> l(box->mu);
    if (box->closed) return IoError("node ", node, " has closed its mailbox");
    box->queue.push_back(std::move(wire));
    box->cv.notify_one();
    return OkStatus();
  }

  StatusOr<WireMessage> RecvRaw(int timeout_ms) override {
    if (box_ == nullptr) return FailedPrecondition("Recv() before Bind()");
    std::unique_lock<std::mutex> l(box_->mu);
    auto ready = [&] { return box_->closed || !box_->queue.empty(); };
    if (timeout_ms < 0) {
      box_->cv.wait(l, ready);
    } else if (!box_->cv.wait_for(l, std::chrono::milliseconds(timeout_ms), ready)) {
      return absl::DeadlineExceededError("receive timed out");
    }
    if (box_->closed) return absl::CancelledError("transport closed");
    WireMessage w = std::move(box_->queue.front());
    box_->queue.pop_front();
    return w;
  }

  void Close() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (closed_) return;
      closed_ = true;
      peers_.clear();
    }
    if (box_ != nullptr) {
      {
        std::lock_guard<std::mutex> l(box_->mu);
        box_->closed = true;
      }
      box_->cv.notify_all();
      hub_->Unregister(name_);
    }
  }

  uint64_t bytes_sent() const override { return bytes_sent_.load(); }

 private:
  InProcHub* hub_;
  std::string name_;
  std::shared_ptr<InProcHub::Mailbox> box_;
  std::mutex mu_;
  bool closed_ = false;
  std::unordered_map<int, std::shared_ptr<InProcHub::Mailbox>> peers_;
  std::atomic<uint64_t> bytes_sent_{0};
};

}  // namespace

std::unique_ptr<Transport> NewInProcTransport(InProcHub* hub) {
  return std::make_unique<InProcTransport>(hub);
}

}  // namespace ecps::comm
