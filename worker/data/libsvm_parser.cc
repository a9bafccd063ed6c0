#include "worker/data/libsvm_parser.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace ecps {

using data_internal::Quote;

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

bool ParseNumber(std::string_view s, double* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(*out);
}

bool ParseUnsigned(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    unsigned d = static_cast<unsigned char>(c) - '0';
    if (d > 9) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

}  // namespace

LibsvmParser::LibsvmParser(std::string format)
    : format_(std::move(format)), fields_given_(format_ == "libffm") {}

std::vector<std::string> LibsvmParser::field_names() const {
  std::vector<std::string> names;
  for (int f = 0; f < num_fields_; ++f) names.push_back(absl::StrCat("f", f));
  return names;
}

bool LibsvmParser::Parse(std::string_view line, ParsedRow* row, ParseError* error) {
  row->Resize(0, num_fields_);
  size_t i = 0, n = line.size();
  auto next_token = [&]() -> std::string_view {
    while (i < n && IsSpace(line[i])) ++i;
    size_t start = i;
    while (i < n && !IsSpace(line[i])) ++i;
    return line.substr(start, i - start);
  };
  std::string_view label = next_token();
  if (label.empty()) {
    error->kind = MalformedKind::kWrongColumnCount;
    error->what = "empty line";
    return false;
  }
  double lv = 0;
  if (!ParseNumber(label, &lv) || (lv != 0 && lv != 1 && lv != -1)) {
    error->kind = MalformedKind::kBadLabel;
    error->what = absl::StrCat("label must be 0, 1 or -1, got ", Quote(label));
    return false;
  }
  row->label = lv > 0 ? 1.0f : 0.0f;
  auto bad = [&](std::string_view token, const std::string& why) {
    error->kind = MalformedKind::kBadLibsvmToken;
    error->what = absl::StrCat("token ", Quote(token), ": ", why);
    return false;
  };
  auto unsupported = [&](std::string_view token, const std::string& why) {
    error->unsupported = true;
    return bad(token, why);
  };
  int position = 0;
  for (std::string_view tok = next_token(); !tok.empty(); tok = next_token(), ++position) {
    size_t c1 = tok.find(':');
    size_t c2 = c1 == std::string_view::npos ? c1 : tok.find(':', c1 + 1);
    uint64_t field = 0, feature = 0;
    double value = 0;
    std::string_view feature_text, value_text;
    if (fields_given_) {
      if (c2 == std::string_view::npos || tok.find(':', c2 + 1) != std::string_view::npos) {
        return bad(tok, "expected field:feature:value (libffm)");
      }
      if (!ParseUnsigned(tok.substr(0, c1), &field) || field >= kMaxFields) {
        return bad(tok, absl::StrCat("field must be an integer in [0, ", kMaxFields, ")"));
      }
      feature_text = tok.substr(c1 + 1, c2 - c1 - 1);
      value_text = tok.substr(c2 + 1);
    } else {
      if (c1 != std::string_view::npos && c2 != std::string_view::npos &&
          tok.find(':', c2 + 1) == std::string_view::npos) {
        return unsupported(tok, absl::StrCat("field:feature:value is libFFM; this file needs "
                                             "data.format=libffm (format '",
                                             format_,
                                             "' is label feature:value; it read libFFM "
                                             "before issue 13)"));
      }
      if (c1 == std::string_view::npos || c2 != std::string_view::npos) {
        return bad(tok, absl::StrCat("expected feature:value (", format_, ")"));
      }
      if (position >= kMaxFields) {
        return bad(tok, absl::StrCat("more than ", kMaxFields, " features on a line"));
      }
      field = static_cast<uint64_t>(position);
      feature_text = tok.substr(0, c1);
      value_text = tok.substr(c1 + 1);
    }
    if (!ParseUnsigned(feature_text, &feature)) {
      return bad(tok, "feature must be a non-negative integer");
    }
    // The value scales a float vector: one beyond float's range would be inf.
    if (!ParseNumber(value_text, &value) || !std::isfinite(static_cast<float>(value))) {
      return bad(tok, "value must be a finite number (within float's range)");
    }
    int f = static_cast<int>(field);
    // New field numbers are only committed to num_fields_ once the whole line
    // parsed, so a malformed line never changes the schema.
    if (f >= static_cast<int>(row->keys.size())) {
      row->keys.resize(f + 1, 0);
      row->missing.resize(f + 1, 1);
      row->values.resize(f + 1, 1.0f);
    }
    if (!row->missing[f]) return bad(tok, absl::StrCat("field ", f, " appears twice"));
    row->missing[f] = 0;
    row->keys[f] = feature;
    row->values[f] = static_cast<float>(value);
  }
  if (static_cast<int>(row->keys.size()) > num_fields_) {
    num_fields_ = static_cast<int>(row->keys.size());
  }
  return true;
}

}  // namespace ecps
