#include "worker/serve_request.h"

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ecps {
namespace {

// The nesting depth of `body` outside strings (a bracket inside a string is
// text). Stops counting once past `limit`.
int NestingDepth(std::string_view body, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

std::string TypeName(const nlohmann::json& v) { return v.type_name(); }

}  // namespace

Status ParseRawLines(std::span<const std::string_view> lines, const DatasetSchema& schema,
                     const VocabularyTable* vocabulary, uint64_t max_rows, Batch* out) {
  if (vocabulary == nullptr)
    return InvalidArgument(
        "raw lines: the model has no vocabulary of its data (a bundle converted from a cache "
        "written before vocabularies were kept); send rows of ids, or convert it again from a "
        "cache rebuilt by this build");
  if (lines.empty()) return InvalidArgument("lines: empty");
  if (lines.size() > max_rows)
    return absl::ResourceExhaustedError(absl::StrCat("lines: ", lines.size(),
                                                     " lines, more than the server's limit of ",
                                                     max_rows, " rows per request (--max-rows)"));
  ASSIGN_OR_RETURN(std::unique_ptr<RawRowMapper> mapper, RawRowMapper::Create(*vocabulary, schema));
  const int nd = schema.num_dense, nf = schema.num_fields;
  out->Resize(static_cast<int>(lines.size()), nd, nf, vocabulary->weight_values);
  std::vector<float> ones(vocabulary->weight_values ? 0 : static_cast<size_t>(nf));
  int rows = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    float* values = vocabulary->weight_values ? out->values.data() + static_cast<size_t>(rows) * nf
                                              : ones.data();
    StatusOr<bool> row = mapper->Map(lines[i], &out->labels[rows],
                                     out->dense.data() + static_cast<size_t>(rows) * nd,
                                     out->sparse.data() + static_cast<size_t>(rows) * nf, values);
    if (!row.ok()) return Annotate(row.status(), absl::StrCat("line ", i + 1));
    if (*row) ++rows;
  }
  if (rows == 0) return InvalidArgument("lines: only a header line");
  out->Resize(rows, nd, nf, vocabulary->weight_values);
  return OkStatus();
}

Status ParsePredictRequest(std::string_view body, const DatasetSchema& schema, uint64_t max_rows,
                           Batch* out, const VocabularyTable* vocabulary,
                           std::string_view content_type) {
  if (content_type.substr(0, 10) == "text/plain") {
    std::vector<std::string_view> lines;
    for (std::string_view rest = body; !rest.empty();) {
      const size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) lines.push_back(line);
      if (lines.size() > max_rows) break;  // refused as too many, unparsed
    }
    return ParseRawLines(lines, schema, vocabulary, max_rows, out);
  }
  if (NestingDepth(body, kMaxRequestDepth) > kMaxRequestDepth)
    return InvalidArgument("body: JSON nested deeper than ", kMaxRequestDepth, " levels");
  nlohmann::json j = nlohmann::json::parse(body.begin(), body.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded())
    return InvalidArgument(
        "body: not JSON (expected {\"rows\": [{\"dense\": [...], \"sparse\": "
        "[...]}, ...]})");
  if (!j.is_object()) return InvalidArgument("body: a JSON ", TypeName(j), ", not an object");
  for (const auto& [key, value] : j.items())
    if (key != "rows" && key != "lines")
      return InvalidArgument("body: unknown key '", key, "' (\"rows\" or \"lines\")");
  if (j.size() != 1) return InvalidArgument("body: \"rows\" or \"lines\", not both");
  if (const auto lines_it = j.find("lines"); lines_it != j.end()) {
    if (!lines_it->is_array())
      return InvalidArgument("lines: a ", TypeName(*lines_it), ", not an array");
    if (lines_it->size() > max_rows)
      return absl::ResourceExhaustedError(absl::StrCat("lines: ", lines_it->size(),
                                                       " lines, more than the server's limit of ",
                                                       max_rows, " rows per request (--max-rows)"));
    std::vector<std::string_view> lines;
    for (size_t i = 0; i < lines_it->size(); ++i) {
      const nlohmann::json& v = (*lines_it)[i];
      if (!v.is_string())
        return InvalidArgument("lines[", i, "]: a ", TypeName(v), ", not a string");
      lines.push_back(v.get_ref<const std::string&>());
    }
    return ParseRawLines(lines, schema, vocabulary, max_rows, out);
  }
  const auto rows_it = j.find("rows");
  if (rows_it == j.end()) return InvalidArgument("rows: missing");
  const nlohmann::json& rows = *rows_it;
  if (!rows.is_array()) return InvalidArgument("rows: a ", TypeName(rows), ", not an array");
  if (rows.empty()) return InvalidArgument("rows: empty");
  if (rows.size() > max_rows)
    return absl::ResourceExhaustedError(absl::StrCat("rows: ", rows.size(),
                                                     " rows, more than the server's limit of ",
                                                     max_rows, " per request (--max-rows)"));
  const int nd = schema.num_dense, nf = schema.num_fields;
  out->Resize(static_cast<int>(rows.size()), nd, nf);
  std::fill(out->labels.begin(), out->labels.end(), 0.0f);
  for (size_t i = 0; i < rows.size(); ++i) {
    const nlohmann::json& row = rows[i];
    const std::string at = absl::StrCat("rows[", i, "]");
    if (!row.is_object()) return InvalidArgument(at, ": a ", TypeName(row), ", not an object");
    for (const auto& [key, value] : row.items())
      if (key != "dense" && key != "sparse")
        return InvalidArgument(at, ": unknown key '", key,
                               "' (a row has \"dense\" and \"sparse\")");
    const auto dense = row.find("dense");
    if (dense == row.end()) {
      if (nd > 0)
        return InvalidArgument(at, ".dense: missing (the model has ", nd, " dense inputs)");
    } else {
      if (!dense->is_array())
        return InvalidArgument(at, ".dense: a ", TypeName(*dense), ", not an array");
      if (dense->size() != static_cast<size_t>(nd))
        return InvalidArgument(at, ".dense: ", dense->size(), " values; the model has ", nd,
                               " dense inputs");
      for (int k = 0; k < nd; ++k) {
        const nlohmann::json& v = (*dense)[k];
        if (!v.is_number())
          return InvalidArgument(at, ".dense[", k, "]: a ", TypeName(v), ", not a number");
        const double x = v.get<double>();
        const float f = static_cast<float>(x);
        if (!std::isfinite(f))
          return InvalidArgument(at, ".dense[", k, "]: ", x, " is not a finite float");
        out->dense[i * nd + k] = f;
      }
    }
    const auto sparse = row.find("sparse");
    if (sparse == row.end())
      return InvalidArgument(at, ".sparse: missing (the model has ", nf, " fields)");
    if (!sparse->is_array())
      return InvalidArgument(at, ".sparse: a ", TypeName(*sparse), ", not an array");
    if (sparse->size() != static_cast<size_t>(nf))
      return InvalidArgument(at, ".sparse: ", sparse->size(), " ids; the model has ", nf,
                             " fields");
    for (int f = 0; f < nf; ++f) {
      const nlohmann::json& v = (*sparse)[f];
      const std::string name =
          static_cast<size_t>(f) < schema.field_names.size() ? schema.field_names[f] : "";
      if (!v.is_number_unsigned())
        return InvalidArgument(at, ".sparse[", f, "] (field ", name,
                               "): ", v.is_number() ? v.dump() : "a " + TypeName(v),
                               " is not a non-negative integer id");
      const uint64_t id = v.get<uint64_t>();
      const uint64_t card = schema.cardinalities[f];
      if (id >= card)
        return InvalidArgument(at, ".sparse[", f, "] (field ", name, "): id ", id,
                               " is not below the field's cardinality ", card);
      out->sparse[i * nf + f] = static_cast<uint32_t>(id);
    }
  }
  return OkStatus();
}

std::string PredictResponseJson(std::span<const float> logits) {
  nlohmann::json scores = nlohmann::json::array();
  for (float z : logits) scores.push_back(Probability(z));
  return nlohmann::json{{"scores", std::move(scores)}}.dump();
}

std::string ErrorJson(absl::string_view kind, absl::string_view message) {
  // Messages quote client bytes, which need not be UTF-8: replaced, not thrown.
  return nlohmann::json{{"error", std::string(kind)}, {"message", std::string(message)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ecps
