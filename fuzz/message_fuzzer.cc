// Message decoding, the wire's trust boundary (comm/message.h): the input
// is a header, optionally followed by payloads (the first byte says how many
// of the trailing bytes are cut off as one payload), decoded with small
// limits; then the parameter servers' payload decoders (ps/wire.h) on the
// same bytes. Nothing may crash, leak or allocate beyond the input.
#include <cstddef>
#include <cstdint>
#include <string>

#include "comm/message.h"
#include "ps/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ecps;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  comm::DecodeLimits limits;
  limits.max_text_bytes = 1 << 16;
  limits.max_payloads = 16;
  limits.max_message_bytes = 1 << 20;
  (void)comm::DecodeMessage(comm::WireMessage{bytes, {}}, limits);
  if (size > 1) {
    const size_t cut = data[0] % size;
    comm::WireMessage w;
    w.header = bytes.substr(1, size - 1 - cut);
    w.payloads.push_back(comm::Buffer::Copy(bytes.data() + size - cut, cut));
    auto m = comm::DecodeMessage(std::move(w), limits);
    if (m.ok()) (void)comm::DecodeMessage(comm::EncodeMessage(*m), limits);
  }
  (void)ps::internal::DecodeSpecs(bytes);
  std::vector<comm::Buffer> two = {comm::Buffer::Copy(data, size / 2),
                                   comm::Buffer::Copy(data + size / 2, size - size / 2)};
  (void)ps::internal::DecodeRowReduction(two);
  (void)ps::internal::DecodeRowCopies(two[0]);
  return 0;
}
