#include "tools/bench/methods.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"

namespace ecps::bench {

const std::vector<std::string>& FamilyOrder() {
  static const std::vector<std::string> kOrder = {
      "baseline",     "hashing",   "deduplication", "vector quantization",
      "quantization", "dimension", "pruning"};
  return kOrder;
}

std::vector<MethodInfo> PaperMethods() {
  // docs/architecture.md's table, docs/methods.md §2.1-2.25 order.
  struct Row {
    const char* name;
    const char* family;
    const char* description;
  };
  static const Row kRows[] = {
      {"full", "baseline", "uncompressed fp32 table (2.1)"},
      {"hash", "hashing", "one mod-hash table (2.2)"},
      {"compoemb", "hashing", "quotient-remainder compositional embedding (2.3)"},
      {"cce", "hashing", "clustered compositional embedding, re-clustered by k-means (2.3b)"},
      {"doublehash", "hashing", "frequency-based double hashing (2.4)"},
      {"memcom", "hashing", "hashed table with per-id weight and bias (2.5)"},
      {"binarycode", "hashing", "binary-code hashing (2.6)"},
      {"tt_rec", "hashing", "tensor-train decomposition (2.7)"},
      {"dhe", "hashing", "deep hash embedding (2.8)"},
      {"robe", "hashing", "random offset block embedding (2.9)"},
      {"adaptemb", "hashing", "adaptive embedding, frequent ids kept (2.14)"},
      {"cel", "hashing", "clustered embedding learning (2.15)"},
      {"dedup", "deduplication", "L2LSH block deduplication (2.10)"},
      {"dpq", "vector quantization", "differentiable product quantization (2.11)"},
      {"mgqe", "vector quantization", "multi-granular quantized embedding (2.12)"},
      {"lightrec", "vector quantization", "additive quantization (2.13)"},
      {"fp16", "quantization", "half-precision table (2.16)"},
      {"int8", "quantization", "8-bit table, global scale (2.17)"},
      {"int16", "quantization", "16-bit table, global scale (2.17)"},
      {"alpt", "quantization", "learned per-row scale (2.18)"},
      {"post4bits", "quantization", "post-training 4-bit rows (2.19)"},
      {"mixedprec", "quantization", "int8 table with an fp32 hot cache (2.19b)"},
      {"mde", "dimension", "mixed dimension embedding (2.20)"},
      {"autodim", "dimension", "searched per-field dimensions (2.21)"},
      {"optembed", "dimension", "row and dimension pruning by supernet (2.22)"},
      {"deeplight", "pruning", "magnitude pruning (2.23)"},
      {"pep", "pruning", "learned-threshold pruning (2.24)"},
      {"autosrh", "pruning", "searched sparsity per group (2.25)"},
  };
  std::vector<MethodInfo> out;
  for (const auto& r : kRows) out.push_back({r.name, r.family, r.description, false, true});
  return out;
}

StatusOr<std::vector<MethodInfo>> ParseMethodList(const std::string& json) {
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return InvalidArgument("the method list is not a JSON array");
  std::vector<MethodInfo> out;
  for (const nlohmann::json& m : j) {
    if (!m.is_object() || !m.contains("name") || !m["name"].is_string())
      return InvalidArgument("method list entry without a name: ", m.dump());
    auto text = [&](const char* key) {
      return m.contains(key) && m[key].is_string() ? m[key].get<std::string>() : std::string();
    };
    MethodInfo info;
    info.name = text("name");
    info.family = text("family");
    info.description = text("description");
    info.available = true;
    out.push_back(std::move(info));
  }
  return out;
}

namespace {

// "hashing, static" -> "hashing"; "quantisation" -> "quantization".
std::string CanonicalFamily(const std::string& family) {
  // The British spelling (quantisation) joins the paper's family.
  const std::string f =
      absl::StrReplaceAll(absl::AsciiStrToLower(family), {{"quantisation", "quantization"}});
  for (const auto& known : FamilyOrder())
    if (f.rfind(known, 0) == 0) return known;
  return family.empty() ? std::string("other") : family;
}

size_t FamilyRank(const std::string& family) {
  const auto& order = FamilyOrder();
  auto it = std::find(order.begin(), order.end(), family);
  return static_cast<size_t>(it - order.begin());
}

}  // namespace

std::vector<MethodInfo> MergeMethods(const std::vector<MethodInfo>& registered) {
  std::vector<MethodInfo> out = PaperMethods();
  for (const auto& r : registered) {
    auto it =
        std::find_if(out.begin(), out.end(), [&](const MethodInfo& m) { return m.name == r.name; });
    if (it != out.end()) {
      it->available = true;
      if (!r.description.empty()) it->description = r.description;
      continue;
    }
    MethodInfo m = r;
    m.family = CanonicalFamily(r.family);
    m.available = true;
    m.in_paper = false;
    out.push_back(m);
  }
  // Stable: paper order inside a family, extra methods after the family's
  // paper methods.
  std::stable_sort(out.begin(), out.end(), [](const MethodInfo& a, const MethodInfo& b) {
    return FamilyRank(a.family) < FamilyRank(b.family);
  });
  return out;
}

bool IsBaseline(const MethodInfo& m) { return m.family == "baseline"; }

}  // namespace ecps::bench
