// Avazu CTR CSV: a header line "id,click,hour,C1,banner_pos,..." (24 columns)
// and data lines with the same 24 comma-separated columns. `id` is ignored,
// `click` ("0"/"1") is the label, and the other 22 columns (hour included,
// label-encoded raw as in the paper) are categorical fields keyed by a 64-bit
// hash of their text. An empty cell is missing, a value of its own. No dense
// features.
//
// The first line of each input file is a header if it starts with "id,"; the
// field names come from the first header seen (defaults: the real Avazu names).
//
// Malformed kinds: wrong_column_count, bad_label.
#pragma once

#include <string>
#include <vector>

#include "worker/data/row_parser.h"

namespace ecps {

class AvazuParser : public RowParser {
 public:
  static constexpr int kNumColumns = 24;
  static constexpr int kNumFields = 22;

  AvazuParser();
  const std::string& format() const override { return format_; }
  int num_dense() const override { return 0; }
  int num_fields() const override { return kNumFields; }
  std::vector<std::string> field_names() const override { return names_; }
  bool ConsumeHeader(std::string_view line) override;
  bool Parse(std::string_view line, ParsedRow* row, ParseError* error) override;

  // The "hour" value (YYMMDDHH) of the last parsed row; its first 6 characters
  // are the day, which the "days" split uses to find the last day.
  std::string_view last_hour() const { return last_hour_; }

 private:
  std::string format_ = "avazu";
  std::vector<std::string> names_;
  bool have_header_names_ = false;
  std::string_view last_hour_;
};

}  // namespace ecps
