// The method list a bench report shows: every method of the paper
// (docs/methods.md, docs/architecture.md), in the paper's families and order,
// merged with the methods this build registers. The registered list is read
// at run time from `ecps train --list-methods --json`, so a method added to
// compressors/ appears in sweeps and reports without touching the harness.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace ecps::bench {

struct MethodInfo {
  std::string name;         // config name (embedding.method)
  std::string family;       // report grouping, e.g. "hashing", "quantization"
  std::string description;  // from the registry, or the paper's one-liner
  bool available = false;   // registered in the ecps build that ran the sweep
  bool in_paper = false;    // part of the paper's method list
};

// The families in report order (paper layout), baseline first.
const std::vector<std::string>& FamilyOrder();

// The paper's methods in report order; available = false.
std::vector<MethodInfo> PaperMethods();

// Parses the `ecps train --list-methods --json` output (docs/cli.md: an
// array of {name, family, description, params}); available = true. An error
// if it is not such an array.
StatusOr<std::vector<MethodInfo>> ParseMethodList(const std::string& json);

// The report's method list: the paper's methods (marked available when
// registered), then registered methods the paper does not list, each in its
// family (a registry family such as "hashing, static" joins "hashing"),
// ordered by FamilyOrder(); unknown families come last.
std::vector<MethodInfo> MergeMethods(const std::vector<MethodInfo>& registered);

// True for the uncompressed reference ("baseline" family): it ignores the
// budget, so a sweep runs it once per configuration at budget 1 and the
// report shows it as a reference row, outside the top-3 ranking.
bool IsBaseline(const MethodInfo& m);

}  // namespace ecps::bench
