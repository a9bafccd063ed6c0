// The data-line parsers (worker/data/row_parser.h), read-only: the first byte
// picks the format, the rest is split into lines; each line goes through
// ConsumeHeader (the first) and Parse. Any bytes give a row or a ParseError.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "worker/data/row_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* const kFormats[] = {"criteo", "avazu", "libsvm", "libfm", "libffm"};
  auto parser = ecps::NewRowParser(kFormats[data[0] % 5]);
  if (!parser.ok()) __builtin_trap();  // every name above is a format
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  ecps::ParsedRow row;
  ecps::ParseError error;
  bool first = true;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (first && (*parser)->ConsumeHeader(line)) {
      first = false;
      continue;
    }
    first = false;
    (void)(*parser)->Parse(line, &row, &error);
  }
  return 0;
}
