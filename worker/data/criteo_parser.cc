#include "worker/data/criteo_parser.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace ecps {

using data_internal::ParseHex64;
using data_internal::ParseInt64;
using data_internal::Quote;

std::vector<std::string> CriteoParser::field_names() const {
  std::vector<std::string> names;
  for (int f = 0; f < kNumFields; ++f) names.push_back(absl::StrCat("C", f + 1));
  return names;
}

bool CriteoParser::Parse(std::string_view line, ParsedRow* row, ParseError* error) {
  if (static_cast<int>(row->keys.size()) != kNumFields ||
      static_cast<int>(row->dense.size()) != kNumDense) {
    row->Resize(kNumDense, kNumFields);
  }
  // The first bad cell is remembered but scanning continues, so that a line
  // with the wrong number of columns is always reported as such.
  int bad_col = -1;
  std::string_view bad_token;
  const char* p = line.data();
  const char* end = p + line.size();
  int col = 0;
  while (true) {
    const char* tab = static_cast<const char*>(std::memchr(p, '\t', end - p));
    const char* cell_end = tab != nullptr ? tab : end;
    if (col < kNumColumns && bad_col < 0) {
      std::string_view cell(p, cell_end - p);
      if (col == 0) {
        if (cell.size() == 1 && (cell[0] == '0' || cell[0] == '1')) {
          row->label = static_cast<float>(cell[0] - '0');
        } else {
          bad_col = col;
          bad_token = cell;
        }
      } else if (col <= kNumDense) {
        int64_t x = 0;
        if (cell.empty()) {
          row->dense[col - 1] = 0.0f;
        } else if (ParseInt64(cell, &x)) {
          row->dense[col - 1] = data_internal::LogTransform(x);
        } else {
          bad_col = col;
          bad_token = cell;
        }
      } else {
        int f = col - 1 - kNumDense;
        uint64_t key = 0;
        if (cell.empty()) {
          row->missing[f] = 1;
          row->keys[f] = 0;
        } else if (ParseHex64(cell, &key)) {
          row->missing[f] = 0;
          row->keys[f] = key;
        } else {
          bad_col = col;
          bad_token = cell;
        }
      }
    }
    ++col;
    if (tab == nullptr) break;
    p = tab + 1;
  }
  if (col != kNumColumns) {
    error->kind = MalformedKind::kWrongColumnCount;
    error->what = absl::StrCat("expected ", kNumColumns, " tab-separated columns, got ", col);
    return false;
  }
  if (bad_col < 0) return true;
  if (bad_col == 0) {
    error->kind = MalformedKind::kBadLabel;
    error->what = absl::StrCat("label must be 0 or 1, got ", Quote(bad_token));
  } else if (bad_col <= kNumDense) {
    error->kind = MalformedKind::kBadInteger;
    error->what = absl::StrCat("column ", bad_col + 1, " (I", bad_col,
                               ") is not an integer: ", Quote(bad_token));
  } else {
    error->kind = MalformedKind::kBadHex;
    error->what = absl::StrCat("column ", bad_col + 1, " (C", bad_col - kNumDense,
                               ") is not 1-16 hex digits: ", Quote(bad_token));
  }
  return false;
}

}  // namespace ecps
