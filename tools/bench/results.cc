#include "tools/bench/results.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <tuple>

#include "absl/strings/str_join.h"
#include "common/file_util.h"

namespace ecps::bench {

const std::vector<std::string>& MetricColumns() {
  static const std::vector<std::string> kColumns = {"val_auc",
                                                    "val_logloss",
                                                    "test_auc",
                                                    "test_logloss",
                                                    "inference_memory_bytes",
                                                    "inference_memory_ratio",
                                                    "training_memory_bytes",
                                                    "training_memory_ratio",
                                                    "training_memory_total_bytes",
                                                    "train_time_seconds",
                                                    "stage_seconds",
                                                    "latency_ms_per_batch",
                                                    "throughput_samples_per_s",
                                                    "network_bytes_per_sample",
                                                    "steps",
                                                    "stop_reason"};
  return kColumns;
}

double Num(const nlohmann::json& run, const char* key) {
  auto it = run.find(key);
  return it != run.end() && it->is_number() ? it->get<double>() : std::nan("");
}

bool ReachesBudget(const nlohmann::json& run) {
  return ReachesBudget(Num(run, "inference_memory_ratio"), Num(run, "budget"));
}

namespace {

// Copies the trainer's fields into the flat record (renaming the nested ones).
void AddMetrics(const nlohmann::json& r, nlohmann::json* run) {
  auto copy = [&](const char* from, const char* to) {
    if (r.contains(from) && !r[from].is_null()) (*run)[to] = r[from];
  };
  for (const char* k : {"val_auc", "val_logloss", "test_auc", "test_logloss",
                        "inference_memory_bytes", "inference_memory_ratio", "train_time_seconds",
                        "throughput_samples_per_s", "network_bytes_per_sample", "steps",
                        "stop_reason", "git_commit", "config", "stages", "best_step",
                        // train.online_eval's windows (report and plot "online AUC").
                        "online"})
    copy(k, k);
  copy("latency_ms_per_batch_median", "latency_ms_per_batch");
  if (r.contains("training_memory") && r["training_memory"].is_object()) {
    const auto& tm = r["training_memory"];
    if (tm.contains("embedding_total_bytes"))
      (*run)["training_memory_bytes"] = tm["embedding_total_bytes"];
    if (tm.contains("embedding_ratio")) (*run)["training_memory_ratio"] = tm["embedding_ratio"];
    if (tm.contains("total_bytes")) (*run)["training_memory_total_bytes"] = tm["total_bytes"];
  }
  if (r.contains("stages") && r["stages"].is_array()) {
    std::string s;
    for (const auto& st : r["stages"])
      if (st.contains("name") && st.contains("seconds"))
        absl::StrAppend(&s, s.empty() ? "" : ";", st["name"].get<std::string>(), ":",
                        FormatNumber(std::round(st["seconds"].get<double>() * 1000) / 1000));
    (*run)["stage_seconds"] = s;
  }
}

std::string NowIso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

nlohmann::json BuildResults(const Suite& suite, const std::vector<MethodInfo>& methods,
                            const SweepSummary& sweep, const std::string& command,
                            double sweep_seconds) {
  nlohmann::json doc;
  doc["format"] = "ecps-bench-results/1";
  nlohmann::json s;
  s["name"] = suite.name;
  s["datasets"] = nlohmann::json::array();
  for (const auto& d : suite.datasets) s["datasets"].push_back(d.name);
  s["models"] = suite.models;
  s["budgets"] = suite.budgets;
  s["dims"] = suite.dims;
  s["lrs"] = suite.lrs;
  s["methods"] = suite.methods.empty() ? nlohmann::json("all") : nlohmann::json(suite.methods);
  doc["suite"] = s;
  doc["methods"] = nlohmann::json::array();
  for (const auto& m : methods)
    doc["methods"].push_back({{"name", m.name},
                              {"family", m.family},
                              {"available", m.available},
                              {"in_paper", m.in_paper},
                              {"description", m.description}});
  std::map<std::string, int> counts = {{"ok", 0}, {"failed", 0}, {"pending", 0}};
  // A resumed sweep can mix builds: name every commit its runs came from.
  std::vector<std::string> commits;
  double train_seconds = 0;
  doc["runs"] = nlohmann::json::array();
  for (const auto& o : sweep.runs) {
    nlohmann::json run = {
        {"id", o.spec.id},         {"dataset", o.spec.dataset}, {"model", o.spec.model},
        {"method", o.spec.method}, {"family", o.spec.family},   {"budget", o.spec.budget},
        {"dim", o.spec.dim},       {"lr", o.spec.lr},           {"status", RunStateName(o.state)},
        {"attempts", o.attempts},  {"error", o.error},          {"dir", o.dir}};
    if (o.state == RunState::kDone) AddMetrics(o.result, &run);
    if (!o.same_as.empty()) run["same_as"] = o.same_as;
    if (run.contains("git_commit") && run["git_commit"].is_string() && o.same_as.empty()) {
      const std::string c = run["git_commit"];
      if (std::find(commits.begin(), commits.end(), c) == commits.end()) commits.push_back(c);
    }
    if (o.state == RunState::kDone && o.same_as.empty() && run.contains("train_time_seconds") &&
        run["train_time_seconds"].is_number())
      train_seconds += run["train_time_seconds"].get<double>();
    ++counts[RunStateName(o.state)];
    doc["runs"].push_back(std::move(run));
  }
  doc["counts"] = counts;
  doc["command"] = command;
  doc["git_commit"] = commits.empty() ? "unknown" : absl::StrJoin(commits, ", ");
  doc["train_seconds"] = train_seconds;  // every trained (not copied) run's train time
  doc["generated_at"] = NowIso();
  doc["sweep_seconds"] = sweep_seconds;
  MarkSelected(&doc);
  return doc;
}

void MarkSelected(nlohmann::json* results) {
  using Key = std::tuple<std::string, std::string, std::string, double, int>;
  std::map<Key, size_t> best;
  auto& runs = (*results)["runs"];
  for (size_t i = 0; i < runs.size(); ++i) {
    auto& r = runs[i];
    r["selected"] = false;
    if (r.value("status", "") != "ok") continue;
    Key k{r.value("dataset", ""), r.value("model", ""), r.value("method", ""),
          r.value("budget", 0.0), r.value("dim", 0)};
    auto it = best.find(k);
    // NaN validation AUC loses to any number; ties keep the earlier (smaller) lr.
    auto score = [&](size_t j) {
      double v = Num(runs[j], "val_auc");
      return std::isnan(v) ? -1.0 : v;
    };
    if (it == best.end() || score(i) > score(it->second)) best[k] = i;
  }
  for (const auto& [k, i] : best) runs[i]["selected"] = true;
}

StatusOr<nlohmann::json> LoadResults(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object() || doc.value("format", "") != "ecps-bench-results/1" ||
      !doc.contains("runs") || !doc["runs"].is_array() || !doc.contains("methods") ||
      !doc["methods"].is_array() || !doc.contains("suite"))
    return InvalidArgument("'", path,
                           "' is not an ecps bench results.json (format ecps-bench-results/1)");
  MarkSelected(&doc);
  return doc;
}

}  // namespace ecps::bench
