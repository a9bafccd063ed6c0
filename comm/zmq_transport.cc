// ZeroMQ transport: one ROUTER socket receives (bound), one DEALER socket per
// peer sends. A message is a multipart ZeroMQ message: [routing id added by
// ROUTER] header, payload 0, payload 1, ... Payloads are sent zero-copy: the
// frame keeps a reference to the Buffer's owner until ZeroMQ is done with it.
//
// ZeroMQ sockets are not thread-safe, so each DEALER has its own mutex and the
// ROUTER is used only by the (single) receiving thread. Close() shuts the
// context down, which wakes a blocked poll with ETERM.
#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <zmq.hpp>

#include "comm/transport.h"
#include "common/mutex.h"

// Converts a ZeroMQ exception raised by `expr` into a Status (style.md rule 8).
#define ZMQ_RETURN_IF_ERROR(expr, what)                \
  do {                                                 \
    try {                                              \
      expr;                                            \
    } catch (const zmq::error_t& zmq_error_) {         \
      return ::ecps::comm::ZmqError(zmq_error_, what); \
    }                                                  \
  } while (0)

namespace ecps::comm {

Status ZmqError(const zmq::error_t& e, const std::string& what) {
  if (e.num() == EADDRINUSE) return absl::AlreadyExistsError("address already in use: " + what);
  if (e.num() == ETERM) return IoError("transport closed (", what, ")");
  if (e.num() == EAGAIN) return IoError("send timed out (", what, "): peer not receiving");
  return IoError("ZeroMQ error on ", what, ": ", e.what());
}

namespace {

// ZeroMQ's I/O thread calls FreeBufferOwner once a zero-copy frame is sent;
// what the sender did before zmq_send happens before it, through hand-overs
// inside libzmq, which is not built with ThreadSanitizer (scripts/tsan.sh):
// these annotations tell TSan.
#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
void HandOverToZmq(void* hint) { __tsan_release(hint); }
void TakeOverFromZmq(void* hint) { __tsan_acquire(hint); }
#else
void HandOverToZmq(void*) {}
void TakeOverFromZmq(void*) {}
#endif

// ZMQ_MAXMSGSIZE of a socket: no frame of a message may exceed the whole
// message's limit. ZeroMQ checks the size a frame announces and drops the
// connection before allocating it, where DecodeMessage() would only see the
// frame once received (a 1 GiB frame would be in memory first).
int64_t MaxFrameBytes(const DecodeLimits& limits) {
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  return static_cast<int64_t>(std::min(limits.max_message_bytes, kMax));
}

void FreeBufferOwner(void* /*data*/, void* hint) {
  TakeOverFromZmq(hint);
  delete static_cast<std::shared_ptr<const void>*>(hint);
}

class ZmqTransport final : public Transport {
 public:
  explicit ZmqTransport(const ZmqOptions& options) : ctx_(1), secret_(options.curve_secret) {
    if (!secret_.empty()) {
      unsigned char pub[crypto_scalarmult_BYTES];
      // The public half of the job's key pair (Curve25519, as CurveZMQ's).
      if (crypto_scalarmult_base(pub, reinterpret_cast<const unsigned char*>(secret_.data())) == 0)
        public_.assign(reinterpret_cast<const char*>(pub), sizeof(pub));
    }
  }
  ~ZmqTransport() override {
    Close();
    MutexLock l(&mu_);
    peers_.clear();
    router_.reset();
  }

  StatusOr<std::string> Bind(const std::string& endpoint) override {
    std::string ep = endpoint;
    // Port 0 means "any free port" (ZeroMQ spells it '*').
    if (ep.rfind("tcp://", 0) == 0 && ep.size() > 2 && ep.substr(ep.size() - 2) == ":0")
      ep = ep.substr(0, ep.size() - 1) + "*";
    ZMQ_RETURN_IF_ERROR(
        {
          router_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::router);
          router_->set(zmq::sockopt::linger, 0);
          router_->set(zmq::sockopt::rcvhwm, 0);
          router_->set(zmq::sockopt::maxmsgsize, MaxFrameBytes(decode_limits()));
          if (!secret_.empty()) {
            router_->set(zmq::sockopt::curve_server, 1);
            router_->set(zmq::sockopt::curve_secretkey, secret_);
          }
          router_->bind(ep);
        },
        endpoint);
    std::string actual;
    ZMQ_RETURN_IF_ERROR(actual = router_->get(zmq::sockopt::last_endpoint), endpoint);
    return actual;
  }

  Status Connect(int node, const std::string& endpoint) override {
    auto peer = std::make_shared<Peer>();
    {
      Peer* p = peer.get();
      MutexLock pl(&p->mu);  // not shared yet: for the analysis only
      ZMQ_RETURN_IF_ERROR(
          {
            p->socket = zmq::socket_t(ctx_, zmq::socket_type::dealer);
            p->socket.set(zmq::sockopt::linger, 0);
            p->socket.set(zmq::sockopt::sndhwm, 0);
            p->socket.set(zmq::sockopt::sndtimeo, 30000);
            // ecps never replies on these, but a DEALER queues what its peer
            // sends: bounded too, so a hostile endpoint cannot fill memory.
            p->socket.set(zmq::sockopt::maxmsgsize, MaxFrameBytes(decode_limits()));
            if (!secret_.empty()) {
              p->socket.set(zmq::sockopt::curve_serverkey, public_);
              p->socket.set(zmq::sockopt::curve_publickey, public_);
              p->socket.set(zmq::sockopt::curve_secretkey, secret_);
            }
            p->socket.connect(endpoint);
          },
          endpoint);
    }
    MutexLock l(&mu_);
    if (closed_) return IoError("transport closed");
    peers_[node] = std::move(peer);
    return OkStatus();
  }

  Status SendRaw(int node, WireMessage wire) override {
    std::shared_ptr<Peer> peer;
    {
      MutexLock l(&mu_);
      if (closed_) return IoError("transport closed");
      auto it = peers_.find(node);
      if (it == peers_.end()) return NotFound("node ", node, " is not connected");
      peer = it->second;
    }
    uint64_t bytes = wire.header.size();
    Peer* p = peer.get();
    MutexLock l(&p->mu);
    const std::string what = "send to node " + std::to_string(node);
    const size_t n = wire.payloads.size();
    ZMQ_RETURN_IF_ERROR(
        {
          zmq::message_t head(wire.header.data(), wire.header.size());
          p->socket.send(head, n > 0 ? zmq::send_flags::sndmore : zmq::send_flags::none);
          for (size_t i = 0; i < n; ++i) {
            Buffer& b = wire.payloads[i];
            bytes += b.size;
            auto* hint = new std::shared_ptr<const void>(b.owner);
            HandOverToZmq(hint);
            zmq::message_t frame(const_cast<uint8_t*>(b.data), b.size, FreeBufferOwner, hint);
            p->socket.send(frame, i + 1 < n ? zmq::send_flags::sndmore : zmq::send_flags::none);
          }
        },
        what);
    bytes_sent_ += bytes;
    return OkStatus();
  }

  StatusOr<WireMessage> RecvRaw(int timeout_ms) override {
    if (router_ == nullptr) return FailedPrecondition("Recv() before Bind()");
    if (closed_.load()) return absl::CancelledError("transport closed");
    try {
      zmq::pollitem_t item{router_->handle(), 0, ZMQ_POLLIN, 0};
      int rc = zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms));
      if (rc == 0) return absl::DeadlineExceededError("receive timed out");
      std::vector<zmq::message_t> frames;
      for (;;) {
        zmq::message_t f;
        (void)router_->recv(f, zmq::recv_flags::none);
        const bool more = f.more();
        frames.push_back(std::move(f));
        if (!more) break;
      }
      // frames[0] is the routing id ROUTER prepends.
      if (frames.size() < 2) return DataLoss("message rejected: no header frame");
      WireMessage w;
      w.header.assign(static_cast<const char*>(frames[1].data()), frames[1].size());
      // The connection's peer (tcp only; libzmq has none for ipc): a
      // rejected message is logged with it, its header's sender is a claim.
      const char* peer = zmq_msg_gets(frames[1].handle(), "Peer-Address");
      w.source = peer != nullptr ? absl::StrCat("peer ", peer) : std::string("a local peer");
      if (frames.size() - 2 > kMaxPayloads)
        return DataLoss("message rejected: ", frames.size() - 2, " payload frames");
      for (size_t i = 2; i < frames.size(); ++i) {
        auto holder = std::make_shared<zmq::message_t>(std::move(frames[i]));
        Buffer b;
        b.data = static_cast<const uint8_t*>(holder->data());
        b.size = holder->size();
        b.owner = std::move(holder);
        w.payloads.push_back(std::move(b));
      }
      return w;
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return absl::CancelledError("transport closed");
      return ZmqError(e, "receive");
    }
  }

  void Close() override {
    {
      MutexLock l(&mu_);
      if (closed_.exchange(true)) return;
    }
    ctx_.shutdown();
  }

  uint64_t bytes_sent() const override { return bytes_sent_.load(); }

 protected:
  void OnDecodeLimits() override {
    // Sockets made before take the limit for their later connections; the
    // REQUIRES of set_decode_limits() keeps that case out of ecps.
    try {
      if (router_ != nullptr)
        router_->set(zmq::sockopt::maxmsgsize, MaxFrameBytes(decode_limits()));
    } catch (const zmq::error_t&) {
      // Only a closed transport (ETERM) refuses: nothing is received any more.
    }
  }

 private:
  struct Peer {
    Mutex mu;
    zmq::socket_t socket ABSL_GUARDED_BY(mu);
  };
  zmq::context_t ctx_;
  // The CURVE key pair (empty: no encryption), 32 raw bytes each.
  const std::string secret_;
  std::string public_;
  // Bind() and then the receiving thread only (header comment).
  std::unique_ptr<zmq::socket_t> router_;
  // Also serialises Close() against Connect(): no peer is added once closed.
  Mutex mu_;
  std::atomic<bool> closed_{false};
  std::unordered_map<int, std::shared_ptr<Peer>> peers_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> bytes_sent_{0};
};

}  // namespace

std::unique_ptr<Transport> NewZmqTransport(const ZmqOptions& options) {
  return std::make_unique<ZmqTransport>(options);
}

std::string CurveSecretFromToken(const std::string& token) {
  static constexpr char kContext[] = "ecps CurveZMQ key of a job token";
  unsigned char out[crypto_scalarmult_SCALARBYTES];
  // Keyed BLAKE2b: the context as the key, so the secret is of no other use
  // of the token. sodium_init() is idempotent and thread-safe.
  if (sodium_init() < 0) return std::string();
  crypto_generichash(out, sizeof(out), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), reinterpret_cast<const unsigned char*>(kContext),
                     sizeof(kContext) - 1);
  return std::string(reinterpret_cast<const char*>(out), sizeof(out));
}

}  // namespace ecps::comm
