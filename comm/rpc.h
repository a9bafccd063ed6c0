// Request/reply on top of a Transport: Call() sends a request and returns a
// future for its reply; one receiving thread matches replies to requests by
// request_id and hands every other message (requests, heartbeats, aborts) to
// the `on_message` callback, on that receiving thread.
//
// Malformed incoming messages are logged and dropped (they can never be
// matched to a request). Thread-safety: Call/Send from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "comm/transport.h"

namespace ecps::comm {

class Rpc {
 public:
  // `transport` must be bound and outlive this object; `self` is this node's id.
  Rpc(Transport* transport, int self, std::function<void(Message)> on_message = nullptr);
  ~Rpc();  // Stop()
  void Start();
  // Closes the transport and joins the receiving thread; pending calls fail.
  void Stop();

  // Sends `msg` to `node` as a request; the future yields the reply (a kError
  // reply becomes its Status), or Unavailable if sending fails or the Rpc stops.
  std::future<StatusOr<Message>> Call(int node, Message msg);
  // Waits for `f` up to timeout_ms (< 0: forever); DeadlineExceeded names `what`.
  static StatusOr<Message> Wait(std::future<StatusOr<Message>>& f, int timeout_ms,
                                const std::string& what);

  Status Send(int node, Message msg) { return transport_->Send(node, std::move(msg)); }
  Transport& transport() { return *transport_; }
  int self() const { return self_; }
  uint64_t rejected_messages() const { return rejected_.load(); }

 private:
  void Loop();
  Transport* transport_;
  int self_;
  std::function<void(Message)> on_message_;
  std::mutex mu_;
  std::unordered_map<uint64_t, std::promise<StatusOr<Message>>> pending_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<uint64_t> rejected_{0};
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace ecps::comm
