#include "comm/job_token.h"

#include <cstdint>
#include <random>

#include "absl/strings/ascii.h"

namespace ecps::comm {

std::string NewJobToken() {
  // std::random_device reads the kernel's random source (/dev/urandom or
  // getrandom) with libstdc++ on Linux.
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string t;
  for (int i = 0; i < 4; ++i) {
    const uint32_t w = rd();
    for (int b = 0; b < 8; ++b) t.push_back(kHex[(w >> (4 * b)) & 0xf]);
  }
  return t;
}

bool SameJobToken(std::string_view a, std::string_view b) {
  const size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < n; ++i) {
    const unsigned x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0u;
    const unsigned y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0u;
    diff |= x ^ y;
  }
  return diff == 0;
}

StatusOr<std::string> CheckJobToken(std::string_view token, std::string_view origin) {
  const std::string t(absl::StripAsciiWhitespace(absl::string_view(token.data(), token.size())));
  const std::string from(origin);
  if (t.size() < kMinJobTokenBytes || t.size() > kMaxJobTokenBytes)
    return InvalidArgument("job token from ", from, " has ", t.size(), " characters; it must have ",
                           kMinJobTokenBytes, " to ", kMaxJobTokenBytes,
                           " (e.g. `head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'`)");
  for (char c : t)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return InvalidArgument("job token from ", from,
                             " contains whitespace or a control character");
  return t;
}

}  // namespace ecps::comm
