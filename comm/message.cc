#include "comm/message.h"

#include "comm/job_token.h"
#include "comm/wire_codec.h"

namespace ecps::comm {

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
    case MsgType::kKeyMappings:
      return "key_mappings";
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
  Header& h = msg.header;
  // The magic and version come first so a peer running another version is
  // recognised before anything else is parsed.
  WireWriter w;
  w.Int(kWireMagic);
  w.Int(kWireVersion);
  w.Int(h.type);
  w.Int(h.sender);
  w.Int(h.recipient);
  w.Int(h.request_id);
  w.Int(h.step);
  w.Int(h.arg);
  w.Int(h.arg2);
  w.Str(h.text);
  h.payload_sizes.clear();
  for (const Buffer& b : msg.payloads) h.payload_sizes.push_back(b.size);
  w.U64s(h.payload_sizes);
  w.Str(h.token);
  return WireMessage{w.Finish(), std::move(msg.payloads), {}};
}

namespace {

Status ReadHeader(std::string_view bytes, const DecodeLimits& limits, Header* h) {
  WireReader r(bytes, absl::StrCat("message header (", bytes.size(), " bytes)"));
  RETURN_IF_ERROR(r.Start());
  RETURN_IF_ERROR(r.Int(&h->magic, "magic"));
  if (h->magic != kWireMagic)
    return DataLoss("bad magic 0x", absl::Hex(h->magic), " (not an ecps message)");
  RETURN_IF_ERROR(r.Int(&h->version, "version"));
  if (h->version != kWireVersion)
    return FailedPrecondition("wire version ", h->version, ", this build speaks version ",
                              kWireVersion);
  RETURN_IF_ERROR(r.Int(&h->type, "type"));
  RETURN_IF_ERROR(r.Int(&h->sender, "sender"));
  RETURN_IF_ERROR(r.Int(&h->recipient, "recipient"));
  RETURN_IF_ERROR(r.Int(&h->request_id, "request_id"));
  RETURN_IF_ERROR(r.Int(&h->step, "step"));
  RETURN_IF_ERROR(r.Int(&h->arg, "arg"));
  RETURN_IF_ERROR(r.Int(&h->arg2, "arg2"));
  RETURN_IF_ERROR(r.Str(&h->text, limits.max_text_bytes, "text"));
  RETURN_IF_ERROR(r.U64s(&h->payload_sizes, limits.max_payloads, "payload_sizes"));
  RETURN_IF_ERROR(r.Str(&h->token, kMaxJobTokenBytes, "token"));
  return r.Finish();
}

}  // namespace

StatusOr<Message> DecodeMessage(WireMessage wire, const DecodeLimits& limits) {
  // Errors name where the message came from: its own sender field is not
  // to be trusted (and may not be readable).
  const std::string from = wire.source.empty() ? "" : absl::StrCat(" from ", wire.source);
  Message msg;
  Status s = ReadHeader(wire.header, limits, &msg.header);
  if (!s.ok()) return Status(s.code(), absl::StrCat("message", from, " rejected: ", s.message()));
  const Header& h = msg.header;
  if (h.payload_sizes.size() != wire.payloads.size())
    return DataLoss("message", from, " rejected: header announces ", h.payload_sizes.size(),
                    " payloads, ", wire.payloads.size(), " arrived (type ", MsgTypeName(h.type),
                    ")");
  uint64_t total = wire.header.size();
  for (size_t i = 0; i < wire.payloads.size(); ++i) {
    if (h.payload_sizes[i] != wire.payloads[i].size)
      return DataLoss("message", from, " rejected: payload ", i, " has ", wire.payloads[i].size,
                      " bytes, header says ", h.payload_sizes[i], " (truncated?)");
    total += wire.payloads[i].size;
  }
  if (total > limits.max_message_bytes)
    return DataLoss("message", from, " rejected: ", total, " bytes (type ", MsgTypeName(h.type),
                    "), more than the limit of ", limits.max_message_bytes);
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
