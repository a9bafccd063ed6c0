// libFM / libFFM text: "label field:feature:value field:feature:value ..."
// separated by spaces or tabs (CRLF tolerated by the reader).
//
// - label: a number equal to 0, 1 or -1 (-1 is read as 0, +1 as 1).
// - field: a decimal integer in [0, kMaxFields); it selects the field, and
//   the data set has max(field)+1 fields. A field absent from a line is
//   missing on that line (a value of its own); a field twice on a line is a
//   bad token.
// - feature: a non-negative decimal integer; its value is the vocabulary key,
//   so ids are assigned in feature-index order within each field.
// - value: must parse as a finite number and is otherwise IGNORED. ecps
//   models exactly one categorical id per field, so a (field, feature) pair
//   is a categorical value whatever its weight; numeric columns should be
//   bucketised into features upstream (as libFFM Criteo conversions do).
// Plain libSVM "index:value" tokens (no field) are bad tokens.
//
// Malformed kinds: wrong_column_count (empty line), bad_label, bad_libsvm_token.
#pragma once

#include <string>
#include <vector>

#include "worker/data/row_parser.h"

namespace ecps {

class LibsvmParser : public RowParser {
 public:
  static constexpr int kMaxFields = 4096;

  const std::string& format() const override { return format_; }
  int num_dense() const override { return 0; }
  int num_fields() const override { return num_fields_; }
  std::vector<std::string> field_names() const override;
  bool Parse(std::string_view line, ParsedRow* row, ParseError* error) override;

 private:
  std::string format_ = "libsvm";
  int num_fields_ = 0;
};

}  // namespace ecps
