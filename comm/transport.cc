#include "comm/transport.h"

#include "comm/job_token.h"

namespace ecps::comm {

Status Transport::Send(int node, Message msg) {
  msg.header.recipient = node;
  msg.header.token = token_;
  return SendRaw(node, EncodeMessage(std::move(msg)));
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
