// The unit every transport carries: a small versioned header (cereal's
// portable binary layout, comm/wire_codec.h) plus zero or more payload buffers that are never
// copied by the in-process transport and are sent as separate ZeroMQ frames (zero-copy on send) by
// the ZeroMQ one. docs/architecture.md "Distributed runtime" has the wire format.
//
// Decoding is the trust boundary: DecodeMessage() rejects a wrong magic, a
// different wire version, a truncated or corrupt header, payloads whose count
// or sizes disagree with the header, and any length or count beyond what is
// left of the frame or beyond DecodeLimits, before allocating for it
// (comm/wire_codec.h), always with a Status and never a crash. Receivers must
// still validate the payload contents they interpret (ps/ checks row ids and
// shapes).
//
// Thread-safety: Buffer is immutable after creation and may be shared between
// threads; Message is a value type used by one thread at a time.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace ecps::comm {

// "ECPS" little-endian. Changed never.
inline constexpr uint32_t kWireMagic = 0x53504345;
// Bumped whenever Header or a payload layout changes (2: the job token).
inline constexpr uint16_t kWireVersion = 2;
// Upper bound on payload frames per message (a sanity limit for decoding).
inline constexpr size_t kMaxPayloads = 4096;

// What a decoded message may announce at most (checked before anything is
// allocated). The defaults are far above what ecps sends (its largest text is
// worker 0's results JSON, its largest payloads a pull reply's rows) and far
// below what would hurt a node; a transport applies its own
// (Transport::set_decode_limits).
struct DecodeLimits {
  uint64_t max_text_bytes = uint64_t{64} << 20;
  uint64_t max_payloads = kMaxPayloads;
  // Header plus payloads.
  uint64_t max_message_bytes = uint64_t{16} << 30;
};

// Message types. Values reach the wire: never renumber.
enum class MsgType : uint16_t {
  kInvalid = 0,
  kError = 1,  // reply: header.text says why the request failed
  kAck = 2,    // reply: success without data
  // Parameter server (ps/).
  kPull = 10,
  kPullReply = 11,
  kPush = 12,
  kReset = 13,
  kResetOptState = 14,
  kSave = 15,
  kSaveReply = 16,
  kLoad = 17,
  kReadRows = 18,
  kReadRowsReply = 19,
  kWriteRows = 20,
  kStats = 21,
  kStatsReply = 22,
  kShutdown = 23,
  kEcho = 24,  // benchmark: the payloads come back unchanged
  kEchoReply = 25,
  kReduceRows = 26,  // ps/wire.h: whole-table work at the servers
  kReduceRowsReply = 27,
  kReshape = 28,
  kKeyMappings = 29,  // ps/wire.h: the keyed tables' mappings (compressors/key_mapping.h)
  // Scheduler (scheduler/).
  kRegister = 40,
  kRegisterReply = 41,
  kHeartbeat = 42,
  kAbort = 43,
  kDone = 44,             // a worker finished; text = its results JSON (worker 0)
  kCollective = 45,       // comm/rpc_collective.h: one member's contribution
  kCollectiveReply = 46,  // the combined result
  kCheckpoint = 47,       // worker 0 -> scheduler: commit a checkpoint's manifest (text = request)
};
const char* MsgTypeName(MsgType t);
// Replies are matched to pending requests by request_id (comm/rpc.h).
bool IsReply(MsgType t);

// A shared, immutable byte range. The owner keeps the bytes alive.
struct Buffer {
  std::shared_ptr<const void> owner;
  const uint8_t* data = nullptr;
  size_t size = 0;

  // Takes ownership of `v` without copying its elements.
  template <typename T>
  static Buffer FromVector(std::vector<T>&& v) {
    auto holder = std::make_shared<std::vector<T>>(std::move(v));
    Buffer b;
    b.data = reinterpret_cast<const uint8_t*>(holder->data());
    b.size = holder->size() * sizeof(T);
    b.owner = std::move(holder);
    return b;
  }
  static Buffer FromString(std::string s) {
    auto holder = std::make_shared<std::string>(std::move(s));
    Buffer b;
    b.data = reinterpret_cast<const uint8_t*>(holder->data());
    b.size = holder->size();
    b.owner = std::move(holder);
    return b;
  }
  static Buffer Copy(const void* p, size_t n) {
    return FromString(std::string(static_cast<const char*>(p), n));
  }
  // A fresh, uninitialised buffer of n bytes (16-byte aligned) for the
  // creator to fill through *data before handing it on: the way to build a
  // large payload in place, without a vector's zero fill or a second copy.
  static Buffer Allocate(size_t n, uint8_t** data) {
    struct alignas(16) Block {
      uint8_t bytes[16];
    };
    std::shared_ptr<Block[]> holder = std::make_shared_for_overwrite<Block[]>((n + 15) / 16);
    *data = holder.get()->bytes;
    Buffer b;
    b.data = *data;
    b.size = n;
    b.owner = std::move(holder);
    return b;
  }
  template <typename T>
  static Buffer Allocate(size_t count, T** data) {
    uint8_t* p;
    Buffer b = Allocate(count * sizeof(T), &p);
    *data = reinterpret_cast<T*>(p);
    return b;
  }
  // Views the bytes as T (size must be a multiple of sizeof(T); checked by
  // the receiver with ElementsOf()).
  template <typename T>
  std::span<const T> As() const {
    return {reinterpret_cast<const T*>(data), size / sizeof(T)};
  }
  std::string_view view() const { return {reinterpret_cast<const char*>(data), size}; }
};

// Number of T elements in `b`, or an error if its size is not a multiple.
template <typename T>
StatusOr<size_t> ElementsOf(const Buffer& b, const char* what) {
  if (b.size % sizeof(T) != 0)
    return DataLoss("payload '", what, "' has ", b.size, " bytes, not a multiple of ", sizeof(T));
  return b.size / sizeof(T);
}

struct Header {
  uint32_t magic = kWireMagic;
  uint16_t version = kWireVersion;
  MsgType type = MsgType::kInvalid;
  int32_t sender = -1;                  // node id
  int32_t recipient = -1;               // node id
  uint64_t request_id = 0;              // echoed by the reply
  int64_t step = 0;                     // message-specific (clock, optimizer step)
  int64_t arg = 0;                      // message-specific
  int64_t arg2 = 0;                     // message-specific
  std::string text;                     // message-specific (errors, small JSON)
  std::vector<uint64_t> payload_sizes;  // filled by EncodeMessage
  // The job's token (comm/job_token.h), stamped by Transport::Send and
  // checked and cleared by Transport::Recv: receivers never see it.
  std::string token;
};

struct Message {
  Header header;
  std::vector<Buffer> payloads;
};

// What actually travels: encoded header bytes plus the payloads.
struct WireMessage {
  std::string header;
  std::vector<Buffer> payloads;
  // Where a received message came from as the transport knows it (the peer
  // address of a tcp connection, "in-process"): the decoder's errors name it,
  // since a rejected header's own sender field cannot be trusted.
  std::string source = {};
};

// Never fails for a well-formed Message.
WireMessage EncodeMessage(Message msg);
// REQUIRES nothing of `wire`: any bytes are safe. Errors: DataLoss for
// truncated/corrupt input or a length beyond `limits`, FailedPrecondition for
// a version mismatch.
StatusOr<Message> DecodeMessage(WireMessage wire, const DecodeLimits& limits = {});

// A reply to `request` of `type` (sender/recipient swapped, id echoed).
Message MakeReply(const Header& request, MsgType type);
// A kError reply carrying `status`'s message.
Message MakeErrorReply(const Header& request, const Status& status);
// OK unless `msg` is a kError reply (its text becomes the error).
Status ReplyStatus(const Message& msg);

}  // namespace ecps::comm
