#include "comm/message.h"

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <sstream>

namespace ecps::comm {

// cereal serialisation of the header. The magic and version come first so a
// peer running another version is recognised before anything else is parsed.
template <class Archive>
void serialize(Archive& ar, Header& h) {
  ar(h.magic, h.version);
  if (h.magic != kWireMagic || h.version != kWireVersion) return;
  ar(h.type, h.sender, h.recipient, h.request_id, h.step, h.arg, h.arg2, h.text, h.payload_sizes);
}

const char* MsgTypeName(MsgType t) {
  switch (t) {
    case MsgType::kInvalid:
      return "invalid";
    case MsgType::kError:
      return "error";
    case MsgType::kAck:
      return "ack";
    case MsgType::kPull:
      return "pull";
    case MsgType::kPullReply:
      return "pull_reply";
    case MsgType::kPush:
      return "push";
    case MsgType::kReset:
      return "reset";
    case MsgType::kResetOptState:
      return "reset_opt_state";
    case MsgType::kSave:
      return "save";
    case MsgType::kSaveReply:
      return "save_reply";
    case MsgType::kLoad:
      return "load";
    case MsgType::kReadRows:
      return "read_rows";
    case MsgType::kReadRowsReply:
      return "read_rows_reply";
    case MsgType::kWriteRows:
      return "write_rows";
    case MsgType::kStats:
      return "stats";
    case MsgType::kStatsReply:
      return "stats_reply";
    case MsgType::kShutdown:
      return "shutdown";
    case MsgType::kEcho:
      return "echo";
    case MsgType::kEchoReply:
      return "echo_reply";
    case MsgType::kReduceRows:
      return "reduce_rows";
    case MsgType::kReduceRowsReply:
      return "reduce_rows_reply";
    case MsgType::kReshape:
      return "reshape";
    case MsgType::kRegister:
      return "register";
    case MsgType::kRegisterReply:
      return "register_reply";
    case MsgType::kHeartbeat:
      return "heartbeat";
    case MsgType::kAbort:
      return "abort";
    case MsgType::kDone:
      return "done";
    case MsgType::kCollective:
      return "collective";
    case MsgType::kCheckpoint:
      return "checkpoint";
    case MsgType::kCollectiveReply:
      return "collective_reply";
  }
  return "unknown";
}

bool IsReply(MsgType t) {
  switch (t) {
    case MsgType::kError:
    case MsgType::kAck:
    case MsgType::kPullReply:
    case MsgType::kSaveReply:
    case MsgType::kReadRowsReply:
    case MsgType::kStatsReply:
    case MsgType::kEchoReply:
    case MsgType::kReduceRowsReply:
    case MsgType::kRegisterReply:
    case MsgType::kCollectiveReply:
      return true;
    default:
      return false;
  }
}

WireMessage EncodeMessage(Message msg) {
  msg.header.magic = kWireMagic;
  msg.header.version = kWireVersion;
  msg.header.payload_sizes.clear();
  for (const Buffer& b : msg.payloads) msg.header.payload_sizes.push_back(b.size);
  std::ostringstream os;
  {
    cereal::PortableBinaryOutputArchive ar(os);
    ar(msg.header);
  }
  return WireMessage{os.str(), std::move(msg.payloads)};
}

StatusOr<Message> DecodeMessage(WireMessage wire) {
  Message msg;
  try {
    std::istringstream is(wire.header);
    cereal::PortableBinaryInputArchive ar(is);
    ar(msg.header);
    if (msg.header.magic != kWireMagic)
      return DataLoss("message rejected: bad magic 0x", absl::Hex(msg.header.magic),
                      " (not an ecps message)");
    if (msg.header.version != kWireVersion)
      return FailedPrecondition("message rejected: wire version ", msg.header.version,
                                ", this build speaks version ", kWireVersion);
    if (is.peek() != std::char_traits<char>::eof())
      return DataLoss("message rejected: ", wire.header.size(), "-byte header has trailing bytes");
  } catch (const std::exception& e) {
    return DataLoss("message rejected: truncated or corrupt header (", wire.header.size(),
                    " bytes): ", e.what());
  }
  const Header& h = msg.header;
  if (h.payload_sizes.size() > kMaxPayloads || h.payload_sizes.size() != wire.payloads.size())
    return DataLoss("message rejected: header announces ", h.payload_sizes.size(), " payloads, ",
                    wire.payloads.size(), " arrived (type ", MsgTypeName(h.type), ")");
  for (size_t i = 0; i < wire.payloads.size(); ++i)
    if (h.payload_sizes[i] != wire.payloads[i].size)
      return DataLoss("message rejected: payload ", i, " has ", wire.payloads[i].size,
                      " bytes, header says ", h.payload_sizes[i], " (truncated?)");
  msg.payloads = std::move(wire.payloads);
  return msg;
}

Message MakeReply(const Header& request, MsgType type) {
  Message m;
  m.header.type = type;
  m.header.sender = request.recipient;
  m.header.recipient = request.sender;
  m.header.request_id = request.request_id;
  return m;
}

Message MakeErrorReply(const Header& request, const Status& status) {
  Message m = MakeReply(request, MsgType::kError);
  m.header.arg = static_cast<int64_t>(status.code());
  m.header.text = std::string(status.message());
  return m;
}

Status ReplyStatus(const Message& msg) {
  if (msg.header.type != MsgType::kError) return OkStatus();
  return Status(static_cast<absl::StatusCode>(msg.header.arg), msg.header.text);
}

}  // namespace ecps::comm
