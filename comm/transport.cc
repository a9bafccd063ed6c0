#include "comm/transport.h"

namespace ecps::comm {

Status Transport::Send(int node, Message msg) {
  msg.header.recipient = node;
  return SendRaw(node, EncodeMessage(std::move(msg)));
}

StatusOr<Message> Transport::Recv(int timeout_ms) {
  ASSIGN_OR_RETURN(WireMessage wire, RecvRaw(timeout_ms));
  return DecodeMessage(std::move(wire), limits_);
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
