#include "worker/data/row_parser.h"

#include <xxhash.h>

#include <cmath>

#include "worker/data/avazu_parser.h"
#include "worker/data/criteo_parser.h"
#include "worker/data/libsvm_parser.h"

namespace ecps {

const char* MalformedKindName(MalformedKind kind) {
  switch (kind) {
    case MalformedKind::kWrongColumnCount:
      return "wrong_column_count";
    case MalformedKind::kBadLabel:
      return "bad_label";
    case MalformedKind::kBadInteger:
      return "bad_integer";
    case MalformedKind::kBadHex:
      return "bad_hex";
    case MalformedKind::kBadLibsvmToken:
      return "bad_libsvm_token";
  }
  return "unknown";
}

StatusOr<std::unique_ptr<RowParser>> NewRowParser(const std::string& format) {
  if (format == "criteo") return std::unique_ptr<RowParser>(new CriteoParser());
  if (format == "avazu") return std::unique_ptr<RowParser>(new AvazuParser());
  if (format == "libsvm" || format == "libfm" || format == "libffm") {
    return std::unique_ptr<RowParser>(new LibsvmParser(format));
  }
  return InvalidArgument("unknown data format '", format,
                         "' (choices: criteo, avazu, libsvm, libfm, libffm)");
}

namespace data_internal {

float LogTransform(int64_t x) {
  return x > 0 ? static_cast<float>(std::log(static_cast<double>(x) + 1.0)) : 0.0f;
}

bool ParseInt64(std::string_view s, int64_t* out) {
  size_t i = 0;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    i = 1;
  }
  size_t digits = s.size() - i;
  // 18 digits always fit in int64; longer values are not counts anyway.
  if (digits == 0 || digits > 18) return false;
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    unsigned d = static_cast<unsigned char>(s[i]) - '0';
    if (d > 9) return false;
    v = v * 10 + d;
  }
  *out = neg ? -v : v;
  return true;
}

bool ParseHex64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 16) return false;
  uint64_t v = 0;
  for (char ch : s) {
    unsigned c = static_cast<unsigned char>(ch);
    unsigned d;
    if (c - '0' <= 9) {
      d = c - '0';
    } else if ((c | 0x20) - 'a' <= 5) {
      d = (c | 0x20) - 'a' + 10;
    } else {
      return false;
    }
    v = (v << 4) | d;
  }
  *out = v;
  return true;
}

uint64_t HashText(std::string_view s) { return XXH3_64bits(s.data(), s.size()); }

std::string Quote(std::string_view token) {
  if (token.size() > 32) return "'" + std::string(token.substr(0, 29)) + "...'";
  return "'" + std::string(token) + "'";
}

}  // namespace data_internal
}  // namespace ecps
