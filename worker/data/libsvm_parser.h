// libSVM / libFM and libFFM text, separated by spaces or tabs (CRLF tolerated
// by the reader):
//
//   libsvm, libfm:  label feature:value feature:value ...
//   libffm:         label field:feature:value field:feature:value ...
//
// - label: a number equal to 0, 1 or -1 (-1 is read as 0, +1 as 1).
// - field (libffm): a decimal integer in [0, kMaxFields); it selects the
//   field, and the data set has max(field)+1 fields. A field absent from a
//   line is missing on that line (a value of its own); a field twice on a
//   line is a bad token.
// - field (libsvm/libfm): the token's position on the line, 0-based: the k-th
//   feature:value is field k. This is what one-hot conversions of a table
//   give (libFM's own tools, MovieLens or Criteo converted column by column:
//   one active feature per column, in column order). A line with fewer
//   tokens lacks the later fields (missing). Rows with several features of
//   one column (multi-hot) shift the positions: convert those to libffm.
// - feature: a non-negative decimal integer; its value is the vocabulary key,
//   so ids are assigned in feature-index order within each field.
// - value: a finite number, kept in ParsedRow::values (1 for a missing
//   field). Preprocess stores values other than 1 in the cache and the
//   embedding layer scales the field's vector by it (data.feature_values =
//   weight, the default), or drops them (ignore); docs/cli.md "Data formats".
// - In libsvm/libfm, a field:feature:value token is unsupported too: until
//   issue 13 the format name "libsvm" read libFFM, and such a file must not
//   silently turn into other data; the message says to use libffm.
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

  // `format` is "libsvm", "libfm" (the same) or "libffm".
  explicit LibsvmParser(std::string format = "libsvm");

  const std::string& format() const override { return format_; }
  int num_dense() const override { return 0; }
  int num_fields() const override { return num_fields_; }
  std::vector<std::string> field_names() const override;
  bool Parse(std::string_view line, ParsedRow* row, ParseError* error) override;

 private:
  std::string format_;
  bool fields_given_;  // libffm
  int num_fields_ = 0;
};

}  // namespace ecps
