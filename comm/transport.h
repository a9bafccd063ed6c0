// Point-to-point transport between nodes (ps-lite's Van, style.md rule 9).
//
// A node Bind()s one receive endpoint and Connect()s to each peer's endpoint
// by node id; Send() is addressed by node id, Recv() returns the next message
// addressed to this node from anyone. Implementations:
//   - in-process (NewInProcTransport): queues between threads, "inproc://name"
//     endpoints registered in an InProcHub the caller owns (no process-wide
//     registry, so a whole cluster lives in one process);
//   - ZeroMQ (NewZmqTransport): "tcp://host:port" (port 0 picks a free one)
//     across hosts, "ipc:///path" on one host.
// Both carry WireMessage (encoded header + payloads) and decode with
// DecodeMessage(), so malformed input is rejected identically.
//
// Thread-safety: Send/SendRaw/Connect may be called from any thread
// concurrently; Recv from one thread at a time; Close() from any thread
// (it wakes a blocked Recv, which then returns Cancelled).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "comm/message.h"
#include "common/mutex.h"
#include "common/status.h"

namespace ecps::comm {

class Transport {
 public:
  virtual ~Transport() = default;

  // Binds the receive endpoint and returns the endpoint peers should connect
  // to (a tcp port 0 resolved). Errors: AlreadyExists "address already in
  // use: <endpoint>", InvalidArgument for a malformed endpoint.
  virtual StatusOr<std::string> Bind(const std::string& endpoint) = 0;

  // Makes `node` reachable at `endpoint`. Reconnecting replaces the route.
  virtual Status Connect(int node, const std::string& endpoint) = 0;

  // Sends to `node` (header.recipient is set to it). Errors: NotFound if the
  // node was never connected, Unavailable if the transport is closed,
  // ResourceExhausted for a message over this transport's decode limits
  // (set_decode_limits: its receiver, with the same limits, would drop it).
  Status Send(int node, Message msg);
  // Sends bytes as they are (tests inject malformed messages with it).
  virtual Status SendRaw(int node, WireMessage wire) = 0;

  // Waits up to timeout_ms (< 0: forever) for the next message. Errors:
  // DeadlineExceeded on timeout, Cancelled after Close(), and the
  // DecodeMessage() errors for a malformed message (which is dropped; the
  // caller keeps receiving, counts it and logs it: the error names the
  // message's source).
  StatusOr<Message> Recv(int timeout_ms);
  virtual StatusOr<WireMessage> RecvRaw(int timeout_ms) = 0;

  // Stops receiving and sending; idempotent.
  virtual void Close() = 0;

  // Bytes handed to SendRaw (headers + payloads), for the bytes-per-sample
  // benchmark figure.
  virtual uint64_t bytes_sent() const = 0;

  // What Recv() accepts at most (message.h). A transport that can enforce
  // it earlier does so too: ZeroMQ drops a frame over max_message_bytes
  // (ZMQ_MAXMSGSIZE on every socket, disconnecting its sender) before
  // allocating it. REQUIRES: before Bind(), Connect() and the first Recv().
  void set_decode_limits(const DecodeLimits& limits) {
    limits_ = limits;
    OnDecodeLimits();
  }

  // The job's token (comm/job_token.h): Send() stamps it on every header,
  // and Recv() rejects a message carrying another one (PermissionDenied,
  // naming its source; the caller counts and logs it like any malformed
  // message) before anyone acts on it. Empty (the default) matches only
  // messages without a token. REQUIRES: before the first Send() or Recv().
  void set_job_token(std::string token) { token_ = std::move(token); }

 protected:
  const DecodeLimits& decode_limits() const { return limits_; }
  // Called by set_decode_limits() (a transport that checks sizes itself).
  virtual void OnDecodeLimits() {}

 private:
  DecodeLimits limits_;
  std::string token_;
};

// The in-process "network": endpoint name -> mailbox. Owned by whoever builds
// the in-process cluster (a test, `ecps train --simulate`); it must outlive
// every transport created on it. Thread-safe.
class InProcHub {
 public:
  InProcHub();
  ~InProcHub();
  struct Mailbox;
  // Registers `name`; AlreadyExists if taken.
  StatusOr<std::shared_ptr<Mailbox>> Register(const std::string& name);
  void Unregister(const std::string& name);
  std::shared_ptr<Mailbox> Find(const std::string& name);

 private:
  Mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Mailbox>> boxes_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<Transport> NewInProcTransport(InProcHub* hub);

struct ZmqOptions {
  // Non-empty (32 bytes, CurveSecretFromToken): CurveZMQ on every socket
  // (docs/security.md). The receiving socket is a CURVE server and each
  // sending one a CURVE client, all with the key pair of this secret: only a
  // peer that derived it from the job's token completes the handshake, and
  // every frame (the token too) travels encrypted.
  std::string curve_secret;
};
std::unique_ptr<Transport> NewZmqTransport(const ZmqOptions& options = {});

// The CURVE secret key of a job: BLAKE2b (libsodium) of its token under a
// fixed context, so every process holding the token derives the same key
// pair and nobody else can. REQUIRES: a non-empty token.
std::string CurveSecretFromToken(const std::string& token);

// Creates a transport for `endpoint`'s scheme: inproc:// needs a hub.
StatusOr<std::unique_ptr<Transport>> NewTransportFor(const std::string& endpoint, InProcHub* hub);

}  // namespace ecps::comm
