#include "comm/transport.h"

#include "comm/job_token.h"

namespace ecps::comm {

Status Transport::Send(int node, Message msg) {
  msg.header.recipient = node;
  msg.header.token = token_;
  // Every process of a job has the same limits (cluster.max_message_mb): a
  // message this transport would drop on arrival is dropped by its receiver
  // too, which leaves the sender waiting for a reply until its timeout. So
  // it is refused here, where the error can reach the caller.
  if (msg.header.text.size() > limits_.max_text_bytes)
    return absl::ResourceExhaustedError(absl::StrCat(
        "message to node ", node, " (type ", MsgTypeName(msg.header.type), ") has ",
        msg.header.text.size(), " bytes of text, more than the limit of ", limits_.max_text_bytes));
  if (msg.payloads.size() > limits_.max_payloads)
    return absl::ResourceExhaustedError(absl::StrCat(
        "message to node ", node, " (type ", MsgTypeName(msg.header.type), ") has ",
        msg.payloads.size(), " payloads, more than the limit of ", limits_.max_payloads));
  WireMessage wire = EncodeMessage(std::move(msg));
  uint64_t total = wire.header.size();
  for (const Buffer& b : wire.payloads) total += b.size;
  if (total > limits_.max_message_bytes)
    return absl::ResourceExhaustedError(
        absl::StrCat("message to node ", node, " of ", total, " bytes is over the limit of ",
                     limits_.max_message_bytes,
                     " bytes that every process of the job drops a larger one at "
                     "(cluster.max_message_mb)"));
  return SendRaw(node, std::move(wire));
}

StatusOr<Message> Transport::Recv(int timeout_ms) {
  ASSIGN_OR_RETURN(WireMessage wire, RecvRaw(timeout_ms));
  const std::string source = wire.source;
  ASSIGN_OR_RETURN(Message m, DecodeMessage(std::move(wire), limits_));
  if (!SameJobToken(m.header.token, token_))
    return absl::PermissionDeniedError(
        absl::StrCat("message from ", source.empty() ? "an unknown source" : source,
                     " rejected: ", m.header.token.empty() ? "no job token" : "another job's token",
                     " (type ", MsgTypeName(m.header.type), ", claims to be node ", m.header.sender,
                     "; docs/security.md)"));
  m.header.token.clear();
  return m;
}

StatusOr<std::unique_ptr<Transport>> NewTransportFor(const std::string& endpoint, InProcHub* hub) {
  if (endpoint.rfind("inproc://", 0) == 0) {
    if (hub == nullptr)
      return InvalidArgument("endpoint '", endpoint, "' needs an in-process hub (--simulate)");
    return NewInProcTransport(hub);
  }
  if (endpoint.rfind("tcp://", 0) == 0 || endpoint.rfind("ipc://", 0) == 0)
    return NewZmqTransport();
  return InvalidArgument("endpoint '", endpoint,
                         "': unknown scheme (expected inproc://, tcp:// or ipc://)");
}

}  // namespace ecps::comm
