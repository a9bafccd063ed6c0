#include "tools/bench/suite.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/params.h"

namespace ecps::bench {

// Generated from configs/bench/*.yaml (tools/bench/CMakeLists.txt).
const char* EmbeddedProfile(const std::string& name);

std::string FormatNumber(double v) {
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

StatusOr<double> ParseBudget(const std::string& text) {
  std::string t(absl::StripAsciiWhitespace(text));
  bool percent = !t.empty() && t.back() == '%';
  if (percent) t.pop_back();
  double v = 0;
  if (!absl::SimpleAtod(t, &v)) return InvalidArgument("budget '", text, "' is not a number");
  if (percent) v /= 100;
  if (!(v > 0 && v <= 1))
    return InvalidArgument("budget '", text, "' is outside (0, 1] (a fraction or a percentage)");
  return v;
}

StatusOr<std::vector<double>> ParseBudgetList(const std::string& text) {
  std::vector<double> out;
  for (absl::string_view p : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    ASSIGN_OR_RETURN(double v, ParseBudget(std::string(p)));
    out.push_back(v);
  }
  if (out.empty()) return InvalidArgument("empty budget list");
  return out;
}

namespace {

// Nested map -> "dotted.key=value" via the trainer's own flattening, so a
// suite's `set:` reads exactly like a train config.
StatusOr<std::vector<std::string>> FlattenSets(const YAML::Node& node, const std::string& where) {
  if (!node.IsMap()) return InvalidArgument(where, " must be a map of config keys");
  YAML::Emitter e;
  e << node;
  ASSIGN_OR_RETURN(auto flat, FlattenYaml(e.c_str(), where));
  std::vector<std::string> out;
  for (const auto& [k, v] : flat) out.push_back(k + "=" + v);
  return out;
}

template <typename T>
StatusOr<std::vector<T>> ScalarList(const YAML::Node& node, const std::string& where) {
  std::vector<T> out;
  try {
    if (node.IsScalar()) {
      out.push_back(node.as<T>());
    } else if (node.IsSequence()) {
      for (const auto& n : node) out.push_back(n.as<T>());
    } else {
      return InvalidArgument(where, " must be a list");
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument(where, ": ", e.what());
  }
  if (out.empty()) return InvalidArgument(where, " is empty");
  return out;
}

}  // namespace

StatusOr<Suite> ParseSuite(const std::string& yaml, const std::string& origin,
                           const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("suite '", origin, "': ", e.what());
  }
  if (!root.IsMap()) return InvalidArgument("suite '", origin, "': expected a YAML map");
  static const std::set<std::string> kKeys = {
      "name", "description", "config", "datasets",   "models",  "methods", "budgets",
      "dims", "lrs",         "set",    "method_set", "retries", "jobs",    "timeout_s"};
  Suite s;
  const std::string at = "suite '" + origin + "': key ";
  try {
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      if (!kKeys.count(key))
        return InvalidArgument(at, "'", key, "' is unknown (known: name, config, datasets, ",
                               "models, methods, budgets, dims, lrs, set, method_set, retries, ",
                               "jobs, timeout_s)");
    }
    if (root["name"]) s.name = root["name"].as<std::string>();
    if (root["config"]) {
      s.config = root["config"].as<std::string>();
      if (!s.config.empty() && s.config[0] != '/' && !base_dir.empty())
        s.config = (std::filesystem::path(base_dir) / s.config).string();
    }
    if (!root["datasets"] || !root["datasets"].IsSequence() || root["datasets"].size() == 0)
      return InvalidArgument(at, "'datasets' must be a non-empty list");
    std::set<std::string> names;
    for (const auto& d : root["datasets"]) {
      DatasetSpec ds;
      if (!d.IsMap() || !d["name"])
        return InvalidArgument(at, "'datasets': each entry needs a name");
      ds.name = d["name"].as<std::string>();
      if (ds.name.empty() || ds.name.find_first_of("/ ,") != std::string::npos)
        return InvalidArgument(at, "'datasets': name '", ds.name,
                               "' must be non-empty without '/', ' ' or ','");
      if (!names.insert(ds.name).second)
        return InvalidArgument(at, "'datasets': name '", ds.name, "' is repeated");
      if (d["set"]) {
        ASSIGN_OR_RETURN(ds.sets, FlattenSets(d["set"], at + "'datasets." + ds.name + ".set'"));
      }
      s.datasets.push_back(ds);
    }
    if (root["models"]) {
      ASSIGN_OR_RETURN(s.models, ScalarList<std::string>(root["models"], at + "'models'"));
    }
    if (root["methods"]) {
      const auto& m = root["methods"];
      if (!(m.IsScalar() && m.as<std::string>() == "all")) {
        ASSIGN_OR_RETURN(s.methods, ScalarList<std::string>(m, at + "'methods'"));
      }
    }
    if (root["budgets"]) {
      ASSIGN_OR_RETURN(auto texts, ScalarList<std::string>(root["budgets"], at + "'budgets'"));
      s.budgets.clear();
      for (const auto& t : texts) {
        auto v = ParseBudget(t);
        if (!v.ok()) return InvalidArgument(at, "'budgets': ", v.status().message());
        s.budgets.push_back(*v);
      }
    }
    if (root["dims"]) {
      ASSIGN_OR_RETURN(s.dims, ScalarList<int>(root["dims"], at + "'dims'"));
    }
    if (root["lrs"]) {
      ASSIGN_OR_RETURN(s.lrs, ScalarList<double>(root["lrs"], at + "'lrs'"));
    }
    if (root["set"]) {
      ASSIGN_OR_RETURN(s.sets, FlattenSets(root["set"], at + "'set'"));
    }
    if (root["method_set"]) {
      if (!root["method_set"].IsMap()) return InvalidArgument(at, "'method_set' must be a map");
      for (const auto& kv : root["method_set"]) {
        const std::string m = kv.first.as<std::string>();
        ASSIGN_OR_RETURN(s.method_sets[m], FlattenSets(kv.second, at + "'method_set." + m + "'"));
      }
    }
    if (root["retries"]) s.retries = root["retries"].as<int>();
    if (root["jobs"]) s.jobs = root["jobs"].as<int>();
    if (root["timeout_s"]) s.timeout_s = root["timeout_s"].as<double>();
  } catch (const YAML::Exception& e) {
    return InvalidArgument("suite '", origin, "': ", e.what());
  }
  for (int d : s.dims)
    if (d < 1) return InvalidArgument(at, "'dims': ", d, " is not a positive dimension");
  for (double lr : s.lrs)
    if (!(lr > 0)) return InvalidArgument(at, "'lrs': ", lr, " is not a positive rate");
  if (s.retries < 0 || s.jobs < 1)
    return InvalidArgument(at, "'retries' must be >= 0 and 'jobs' >= 1");
  return s;
}

StatusOr<Suite> LoadSuiteFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return InvalidArgument("suite '", path, "': ", text.status().message());
  return ParseSuite(*text, path, std::filesystem::path(path).parent_path().string());
}

std::vector<std::string> ProfileNames() { return {"quick", "paper"}; }

StatusOr<Suite> LoadProfile(const std::string& name) {
  const char* text = EmbeddedProfile(name);
  if (text == nullptr)
    return InvalidArgument("unknown profile '", name, "' (profiles: quick, paper)");
  return ParseSuite(text, "configs/bench/" + name + ".yaml");
}

std::vector<RunSpec> ExpandRuns(const Suite& suite, const std::vector<MethodInfo>& methods) {
  std::vector<const MethodInfo*> chosen;
  for (const auto& m : methods) {
    if (!m.available) continue;
    if (!suite.methods.empty() &&
        std::find(suite.methods.begin(), suite.methods.end(), m.name) == suite.methods.end())
      continue;
    chosen.push_back(&m);
  }
  std::vector<RunSpec> runs;
  for (const auto& ds : suite.datasets)
    for (const auto& model : suite.models)
      for (int dim : suite.dims)
        for (const MethodInfo* m : chosen) {
          std::vector<double> budgets = suite.budgets;
          // Largest first: a run that misses its budget is copied, not
          // trained, at every smaller one (runner.h).
          std::stable_sort(budgets.begin(), budgets.end(), std::greater<>());
          if (IsBaseline(*m)) budgets = {1.0};
          for (double budget : budgets)
            for (double lr : suite.lrs) {
              RunSpec r;
              r.dataset = ds.name;
              r.model = model;
              r.method = m->name;
              r.family = m->family;
              r.budget = budget;
              r.dim = dim;
              r.lr = lr;
              r.config = suite.config;
              r.id = absl::StrCat(ds.name, "/", model, "/", m->name, "/d", dim, "-b",
                                  FormatNumber(budget), "-lr", FormatNumber(lr));
              r.sets = suite.sets;
              r.sets.insert(r.sets.end(), ds.sets.begin(), ds.sets.end());
              r.sets.push_back("model.name=" + model);
              r.sets.push_back("embedding.method=" + m->name);
              r.sets.push_back("embedding.budget=" + FormatNumber(budget));
              r.sets.push_back(absl::StrCat("embedding.dim=", dim));
              r.sets.push_back("optimizer.lr=" + FormatNumber(lr));
              auto it = suite.method_sets.find(m->name);
              if (it != suite.method_sets.end())
                r.sets.insert(r.sets.end(), it->second.begin(), it->second.end());
              r.sets.insert(r.sets.end(), suite.override_sets.begin(), suite.override_sets.end());
              runs.push_back(std::move(r));
            }
        }
  return runs;
}

}  // namespace ecps::bench
