#include "worker/data/avazu_parser.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ecps {

namespace {
const char* const kDefaultNames[AvazuParser::kNumFields] = {"hour",         "C1",
                                                            "banner_pos",   "site_id",
                                                            "site_domain",  "site_category",
                                                            "app_id",       "app_domain",
                                                            "app_category", "device_id",
                                                            "device_ip",    "device_model",
                                                            "device_type",  "device_conn_type",
                                                            "C14",          "C15",
                                                            "C16",          "C17",
                                                            "C18",          "C19",
                                                            "C20",          "C21"};
}  // namespace

AvazuParser::AvazuParser() : names_(kDefaultNames, kDefaultNames + kNumFields) {}

bool AvazuParser::ConsumeHeader(std::string_view line) {
  if (line.substr(0, 3) != "id,") return false;
  std::vector<std::string> cols = absl::StrSplit(absl::string_view(line.data(), line.size()), ',');
  // A header with the expected width names the fields; any other header is
  // still skipped (data lines never start with "id,").
  if (!have_header_names_ && static_cast<int>(cols.size()) == kNumColumns) {
    names_.assign(cols.begin() + 2, cols.end());
    have_header_names_ = true;
  }
  return true;
}

bool AvazuParser::Parse(std::string_view line, ParsedRow* row, ParseError* error) {
  if (static_cast<int>(row->keys.size()) != kNumFields || !row->dense.empty()) {
    row->Resize(0, kNumFields);
  }
  bool bad_label = false;
  std::string_view label_token;
  const char* p = line.data();
  const char* end = p + line.size();
  int col = 0;
  while (true) {
    const char* comma = static_cast<const char*>(std::memchr(p, ',', end - p));
    const char* cell_end = comma != nullptr ? comma : end;
    std::string_view cell(p, cell_end - p);
    if (col == 1) {
      if (cell.size() == 1 && (cell[0] == '0' || cell[0] == '1')) {
        row->label = static_cast<float>(cell[0] - '0');
      } else {
        bad_label = true;
        label_token = cell;
      }
    } else if (col >= 2 && col < kNumColumns) {
      int f = col - 2;
      if (f == 0) last_hour_ = cell;
      if (cell.empty()) {
        row->missing[f] = 1;
        row->keys[f] = 0;
      } else {
        row->missing[f] = 0;
        row->keys[f] = data_internal::HashText(cell);
      }
    }
    ++col;
    if (comma == nullptr) break;
    p = comma + 1;
  }
  if (col != kNumColumns) {
    error->kind = MalformedKind::kWrongColumnCount;
    error->what = absl::StrCat("expected ", kNumColumns, " comma-separated columns, got ", col);
    return false;
  }
  if (bad_label) {
    error->kind = MalformedKind::kBadLabel;
    error->what =
        absl::StrCat("click (column 2) must be 0 or 1, got ", data_internal::Quote(label_token));
    return false;
  }
  return true;
}

}  // namespace ecps
