// Parsing one text line of a raw CTR data set into a label, dense values and
// per-field 64-bit value keys (the input of the vocabulary).
//
// Keys: a categorical cell becomes a 64-bit key that identifies its value
// within its field (Criteo: the numeric value of the hex string, so key order
// is the paper's sorted-unique order; Avazu/libSVM: a 64-bit hash of the
// text). An empty cell is "missing" (ParsedRow::missing[f] = 1), which is a
// value of its own and never collides with a key.
//
// Parsers are hand-rolled for speed: no allocation per line or field; errors
// point into the line (ParseError::token) and are formatted only when reported.
//
// Thread-safety: a parser is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ecps {

// Kinds of malformed lines. Values are stable (they index count arrays).
enum class MalformedKind : uint8_t {
  kWrongColumnCount = 0,
  kBadLabel = 1,
  kBadInteger = 2,
  kBadHex = 3,
  kBadLibsvmToken = 4,
};
inline constexpr int kNumMalformedKinds = 5;
const char* MalformedKindName(MalformedKind kind);

struct ParseError {
  MalformedKind kind = MalformedKind::kWrongColumnCount;
  std::string what;  // short reason, e.g. "expected 40 columns, got 39"
  // The line is well-formed but asks for something ecps cannot represent
  // (libsvm_parser.h: libFFM under libsvm):
  // preprocessing stops whatever the malformed-line policy, since skipping
  // such lines would train on other data than the file holds.
  bool unsupported = false;
};

// One parsed line. Sizes: dense = num_dense, keys = missing = values = num_fields.
struct ParsedRow {
  float label = 0;
  std::vector<float> dense;      // already log-transformed: x > 0 ? log(x+1) : 0
  std::vector<uint64_t> keys;    // valid where missing[f] == 0
  std::vector<uint8_t> missing;  // 1 if the cell was empty / the field absent
  // The feature's value (libSVM/libFM/libFFM `feature:value`); 1 for a
  // missing field and for formats without values (Criteo, Avazu).
  std::vector<float> values;
  void Resize(int nd, int nf) {
    dense.assign(nd, 0.0f);
    keys.assign(nf, 0);
    missing.assign(nf, 1);
    values.assign(nf, 1.0f);
  }
};

class RowParser {
 public:
  virtual ~RowParser() = default;
  virtual const std::string& format() const = 0;
  virtual int num_dense() const = 0;
  // libSVM: grows as higher field numbers are seen (ParsedRow is resized).
  virtual int num_fields() const = 0;
  virtual std::vector<std::string> field_names() const = 0;

  // Called with the first line of each input file. Returns true if the line
  // is a header (and consumes it); false if it is data.
  virtual bool ConsumeHeader(std::string_view line) { return false; }

  // Parses a data line into *row (resized by the parser as needed). Returns
  // false and fills *error for a malformed line; *row is then unspecified.
  virtual bool Parse(std::string_view line, ParsedRow* row, ParseError* error) = 0;
};

// "criteo" | "avazu" | "libsvm" | "libfm" | "libffm"; InvalidArgument lists
// the choices otherwise.
StatusOr<std::unique_ptr<RowParser>> NewRowParser(const std::string& format);

namespace data_internal {

// Numeric transform shared by parsers and generators: log(x+1) for x > 0, else 0.
float LogTransform(int64_t x);

// Parses a decimal integer with an optional sign; false on anything else
// (including empty text or more than 18 digits).
bool ParseInt64(std::string_view s, int64_t* out);

// Parses 1..16 hex digits (either case); false otherwise.
bool ParseHex64(std::string_view s, uint64_t* out);

// 64-bit hash of a text value (XXH3), used as its vocabulary key.
uint64_t HashText(std::string_view s);

// Shortens a token for an error message (at most ~32 chars, quoted).
std::string Quote(std::string_view token);

}  // namespace data_internal
}  // namespace ecps
