// Request/reply on top of a Transport: Call() sends a request and returns a
// future for its reply, Wait() waits for it; replies are matched to requests
// by request_id.
//
// Who receives depends on whether the node takes unsolicited messages:
//   - with an `on_message` callback (control planes: requests, heartbeats,
//     aborts), one receiving thread started by Start() matches replies and
//     hands every other message to the callback, on that thread;
//   - without one (a parameter-server client's data plane, where only
//     replies arrive), no thread receives in the background: a caller in
//     Wait() receives itself until its reply is there (one caller at a time;
//     the others wait for it to fulfil their replies or to hand over the
//     receiving). The common case, one thread waiting for its own reply, then
//     takes one thread wake-up per round trip instead of two (the receiving
//     thread's and the caller's). Replies nobody waits for yet stay in the
//     transport until someone waits; other messages are dropped.
//
// Malformed incoming messages are logged and dropped (they can never be
// matched to a request). Thread-safety: Call/Send/Wait from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <future>
#include <thread>
#include <unordered_map>

#include "comm/transport.h"
#include "common/mutex.h"

namespace ecps::comm {

class Rpc {
 public:
  // `transport` must be bound and outlive this object; `self` is this node's id.
  Rpc(Transport* transport, int self, std::function<void(Message)> on_message = nullptr);
  ~Rpc();  // Stop()
  // Starts the receiving thread (only with an `on_message` callback).
  void Start();
  // Closes the transport and joins the receiving thread; pending calls fail.
  void Stop();

  // Sends `msg` to `node` as a request; the future yields the reply (a kError
  // reply becomes its Status), or Unavailable if sending fails or the Rpc stops.
  std::future<StatusOr<Message>> Call(int node, Message msg);
  // Waits for `f` (a future of this Rpc's Call) up to timeout_ms (< 0:
  // forever), receiving for it if no thread does; DeadlineExceeded names
  // `what`. Without a callback a future of Call() must be waited for here.
  StatusOr<Message> Wait(std::future<StatusOr<Message>>& f, int timeout_ms,
                         const std::string& what);

  Status Send(int node, Message msg) { return transport_->Send(node, std::move(msg)); }
  Transport& transport() { return *transport_; }
  int self() const { return self_; }
  uint64_t rejected_messages() const { return rejected_.load(); }

 private:
  using Clock = std::chrono::steady_clock;
  void Loop();
  // Matches a reply to its promise (or drops it); other messages go to the
  // callback, if any.
  void Dispatch(Message m) ABSL_LOCKS_EXCLUDED(mu_);
  // Receives for `f` until it is ready or `deadline`; false on timeout.
  bool ReceiveFor(std::future<StatusOr<Message>>& f, Clock::time_point deadline, bool forever)
      ABSL_LOCKS_EXCLUDED(mu_);
  void FailPending(const Status& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Transport* transport_;
  int self_;
  std::function<void(Message)> on_message_;
  Mutex mu_;
  std::unordered_map<uint64_t, std::promise<StatusOr<Message>>> pending_ ABSL_GUARDED_BY(mu_);
  CondVar receiver_cv_;                          // a reply was fulfilled or receiving handed over
  bool receiving_ ABSL_GUARDED_BY(mu_) = false;  // a caller is in Recv() (no callback only)
  std::atomic<uint64_t> next_id_{1};
  std::atomic<uint64_t> rejected_{0};
  std::thread thread_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace ecps::comm
