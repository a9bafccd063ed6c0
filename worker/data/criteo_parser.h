// Criteo Kaggle / Terabyte display-ads TSV:
//   label \t I1..I13 \t C1..C26        (40 tab-separated columns)
// label is "0" or "1"; I* are decimal integers that may be empty or negative
// (empty and x <= 0 give 0, x > 0 gives log(x+1)); C* are hex hash strings of
// 1..16 digits that may be empty (missing, a value of its own). The key of a
// hex value is its numeric value, so for Criteo's fixed 8-digit strings key
// order equals string order (the paper's sorted-unique label encoding).
//
// Malformed kinds: wrong_column_count (checked first), bad_label,
// bad_integer, bad_hex; the first bad column is reported.
#pragma once

#include <string>
#include <vector>

#include "worker/data/row_parser.h"

namespace ecps {

class CriteoParser : public RowParser {
 public:
  static constexpr int kNumDense = 13;
  static constexpr int kNumFields = 26;
  static constexpr int kNumColumns = 1 + kNumDense + kNumFields;

  const std::string& format() const override { return format_; }
  int num_dense() const override { return kNumDense; }
  int num_fields() const override { return kNumFields; }
  std::vector<std::string> field_names() const override;
  bool Parse(std::string_view line, ParsedRow* row, ParseError* error) override;

 private:
  std::string format_ = "criteo";
};

}  // namespace ecps
