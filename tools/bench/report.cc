#include "tools/bench/report.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "tools/bench/results.h"
#include "tools/bench/suite.h"

namespace ecps::bench {

namespace {

std::string CsvField(const nlohmann::json& v) {
  std::string s;
  if (v.is_null()) return "";
  if (v.is_string()) {
    s = v.get<std::string>();
  } else if (v.is_number_float()) {
    s = FormatNumber(v.get<double>());
  } else {
    s = v.dump();
  }
  if (s.find_first_of(",\"\n") != std::string::npos)
    s = "\"" + absl::StrReplaceAll(s, {{"\"", "\"\""}}) + "\"";
  return s;
}

std::string Percent(double ratio) {
  if (std::isnan(ratio)) return "?";
  const double p = 100 * ratio;
  // Three significant digits at most: 50%, 12.5%, 1%, 0.1%, 0.0996%.
  return absl::StrFormat(p >= 1 ? "%.3g%%" : "%.2g%%", p);
}

std::string Bytes(double b) {
  if (std::isnan(b)) return "";
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    ++u;
  }
  return absl::StrFormat("%.3g %s", b, units[u]);
}

std::string ModelName(const std::string& m) {
  if (m == "dlrm") return "DLRM";
  if (m == "wdl") return "WDL";
  if (m == "dcn") return "DCN";
  return m;
}

// Escapes '|' so an error message cannot break a table row.
std::string Cell(const std::string& s) {
  return absl::StrReplaceAll(s, {{"|", "\\|"}, {"\n", " "}});
}

struct Column {
  std::string dataset;
  double budget;
};

}  // namespace

std::string RenderCsv(const nlohmann::json& results) {
  std::vector<std::string> head = {"dataset", "model", "method", "family",   "budget",
                                   "dim",     "lr",    "status", "selected", "attempts"};
  for (const auto& c : MetricColumns()) head.push_back(c);
  for (const char* c : {"git_commit", "dir", "error", "same_as"}) head.push_back(c);
  std::string out = absl::StrJoin(head, ",") + "\n";
  for (const auto& r : results["runs"]) {
    std::vector<std::string> row;
    for (const auto& c : head) row.push_back(r.contains(c) ? CsvField(r[c]) : "");
    out += absl::StrJoin(row, ",") + "\n";
  }
  return out;
}

std::map<std::string, int> TopThree(const std::map<std::string, double>& cells) {
  std::map<std::string, int> out;
  for (const auto& [m, v] : cells) {
    int better = 0;
    for (const auto& [m2, v2] : cells)
      if (v2 > v) ++better;
    if (better < 3) out[m] = better + 1;
  }
  return out;
}

std::string RenderMarkdown(const nlohmann::json& results, const MarkdownOptions& options) {
  const auto& suite = results["suite"];
  const auto& runs = results["runs"];
  std::string md = "# " + options.title + "\n\n";
  const auto& counts = results.value("counts", nlohmann::json::object());
  md += absl::StrFormat(
      "Suite `%s`, commit `%s`, generated %s; %d runs: %d ok, %d failed, %d pending "
      "(training time of the trained runs %.0f s; this invocation %.0f s).\n\n",
      suite.value("name", "?"), results.value("git_commit", "unknown"),
      results.value("generated_at", "?"), static_cast<int>(runs.size()), counts.value("ok", 0),
      counts.value("failed", 0), counts.value("pending", 0), results.value("train_seconds", 0.0),
      results.value("sweep_seconds", 0.0));
  if (!results.value("command", "").empty())
    md += "Regenerate with:\n\n```sh\n" + results["command"].get<std::string>() + "\n```\n\n";
  if (!options.results_link.empty() || !options.csv_link.empty())
    md += "Raw numbers: [results.json](" + options.results_link + "), [results.csv](" +
          options.csv_link + ").\n\n";
  std::vector<std::string> lrs;
  for (const auto& lr : suite["lrs"]) lrs.push_back(FormatNumber(lr.get<double>()));
  md += "Cells: test AUC of the learning rate with the best validation AUC (grid {" +
        absl::StrJoin(lrs, ", ") +
        "}, methods.md §1.5). **bold**<sup>k</sup>: top 3 of the column among methods that "
        "reach the budget (the baseline is a reference, not ranked). `0.7812 (12%)`: the "
        "method cannot reach the budget; the value is at its real inference-memory ratio "
        "(in parentheses) and is not ranked. *not available*: not registered in this build. "
        "*not run*: available but outside this sweep. *failed*: see "
        "[Failed runs](#failed-runs).\n\n";

  // Index runs: selected ok runs by key, and any run by key for status.
  using Key = std::tuple<std::string, std::string, std::string, double, int>;
  std::map<Key, const nlohmann::json*> selected;
  std::map<Key, std::string> status;  // worst status among the lr grid
  std::set<std::string> swept_methods;
  for (const auto& r : runs) {
    Key k{r["dataset"], r["model"], r["method"], r["budget"].get<double>(), r["dim"].get<int>()};
    swept_methods.insert(r["method"].get<std::string>());
    if (r.value("selected", false)) selected[k] = &r;
    std::string st = r.value("status", "pending");
    auto& cur = status[k];
    if (cur.empty() || st == "failed" || (st == "pending" && cur == "ok")) cur = st;
  }
  std::vector<Column> columns;
  for (const auto& d : suite["datasets"])
    for (const auto& b : suite["budgets"]) columns.push_back({d, b.get<double>()});

  for (const auto& model : suite["models"]) {
    for (const auto& dimj : suite["dims"]) {
      const int dim = dimj.get<int>();
      const std::string m = model.get<std::string>();
      md += absl::StrFormat("## %s, d = %d\n\n", ModelName(m), dim);
      // Which run answers a (method, column): baseline methods ran at budget 1.
      auto lookup = [&](const nlohmann::json& meth, const Column& c) -> Key {
        const bool baseline = meth.value("family", "") == "baseline";
        return Key{c.dataset, m, meth["name"], baseline ? 1.0 : c.budget, dim};
      };
      // Top 3 per column.
      std::vector<std::map<std::string, int>> ranks;
      for (const auto& c : columns) {
        std::map<std::string, double> cand;
        for (const auto& meth : results["methods"]) {
          if (meth.value("family", "") == "baseline") continue;
          auto it = selected.find(lookup(meth, c));
          if (it == selected.end() || !ReachesBudget(*it->second)) continue;
          const double auc = Num(*it->second, "test_auc");
          if (!std::isnan(auc)) cand[meth["name"]] = auc;
        }
        ranks.push_back(TopThree(cand));
      }
      md += "| family | method |";
      for (const auto& c : columns) md += " " + c.dataset + " " + Percent(c.budget) + " |";
      md += "\n|---|---|";
      for (size_t i = 0; i < columns.size(); ++i) md += "---|";
      md += "\n";
      std::string last_family;
      for (const auto& meth : results["methods"]) {
        const std::string name = meth["name"], family = meth.value("family", "");
        md += "| " + (family == last_family ? std::string() : family) + " | " + name + " |";
        last_family = family;
        for (size_t ci = 0; ci < columns.size(); ++ci) {
          const Key k = lookup(meth, columns[ci]);
          std::string cell;
          auto sel = selected.find(k);
          if (!meth.value("available", false)) {
            cell = "*not available*";
          } else if (sel != selected.end()) {
            const auto& r = *sel->second;
            const std::string auc = absl::StrFormat("%.5f", Num(r, "test_auc"));
            auto rk = ranks[ci].find(name);
            if (rk != ranks[ci].end()) {
              cell = absl::StrFormat("**%s**<sup>%d</sup>", auc, rk->second);
            } else if (family != "baseline" && !ReachesBudget(r)) {
              cell = auc + " (" + Percent(Num(r, "inference_memory_ratio")) + ")";
            } else {
              cell = auc;
            }
          } else if (status.count(k)) {
            cell = "*" + status[k] + "*";
          } else {
            cell = "*not run*";
          }
          md += " " + cell + " |";
        }
        md += "\n";
      }
      md += "\n";
    }
  }

  // Every metric of the selected runs.
  md +=
      "## Selected runs: all metrics\n\n"
      "Memory ratios are of the full fp32 table (4·n·d bytes); training memory is the "
      "embedding side with optimizer state. Time is wall time over all stages.\n\n"
      "| dataset | model | d | method | budget | lr | val AUC | test AUC | test logloss | "
      "inference memory | training memory | train time (s) | stages (s) | latency (ms/batch) "
      "| throughput (samples/s) | network (B/sample) |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : runs) {
    if (!r.value("selected", false)) continue;
    const double net = Num(r, "network_bytes_per_sample");
    md += absl::StrFormat(
        "| %s | %s | %d | %s | %s | %s | %.5f | %.5f | %.5f | %s (%s) | %s (%s) | %.1f | %s | "
        "%.3f | %.0f | %s |\n",
        r["dataset"].get<std::string>(), ModelName(r["model"]), r["dim"].get<int>(),
        r["method"].get<std::string>(), Percent(r["budget"].get<double>()),
        FormatNumber(r["lr"].get<double>()), Num(r, "val_auc"), Num(r, "test_auc"),
        Num(r, "test_logloss"), Bytes(Num(r, "inference_memory_bytes")),
        Percent(Num(r, "inference_memory_ratio")), Bytes(Num(r, "training_memory_bytes")),
        Percent(Num(r, "training_memory_ratio")), Num(r, "train_time_seconds"),
        Cell(r.value("stage_seconds", "")), Num(r, "latency_ms_per_batch"),
        Num(r, "throughput_samples_per_s"),
        std::isnan(net) ? std::string("local") : absl::StrFormat("%.0f", net));
  }
  md += "\n";

  // train.online_eval: the windows of every selected run that has them, one
  // column per run (the drift table of results.md "Tracking drift").
  std::vector<const nlohmann::json*> online;
  for (const auto& r : runs)
    if (r.value("selected", false) && r.contains("online") && r["online"].is_array() &&
        !r["online"].empty())
      online.push_back(&r);
  if (!online.empty()) {
    md +=
        "## Online AUC per window\n\n"
        "Progressive validation (`train.online_eval`, docs/cli.md): every training batch of the "
        "first epoch scored before it is trained on, the exact AUC of each window of rows. "
        "Rows: the position in the train split at the window's end.\n\n| rows |";
    size_t windows = 0;
    for (const auto* r : online) {
      md += absl::StrFormat(" %s %s %s %s d%d |", (*r)["dataset"].get<std::string>(),
                            ModelName((*r)["model"]), (*r)["method"].get<std::string>(),
                            Percent((*r)["budget"].get<double>()), (*r)["dim"].get<int>());
      windows = std::max(windows, (*r)["online"].size());
    }
    md += "\n|---|";
    for (size_t i = 0; i < online.size(); ++i) md += "---|";
    md += "\n";
    std::vector<double> sum(online.size(), 0);
    std::vector<int> count(online.size(), 0);
    for (size_t w = 0; w < windows; ++w) {
      std::string rows;
      std::string cells;
      for (size_t i = 0; i < online.size(); ++i) {
        const auto& ws = (*online[i])["online"];
        if (w >= ws.size()) {
          cells += " |";
          continue;
        }
        if (rows.empty()) rows = absl::StrFormat("%.0f", Num(ws[w], "end_row"));
        const double auc = Num(ws[w], "auc");
        cells += absl::StrFormat(" %.4f |", auc);
        if (!std::isnan(auc)) {
          sum[i] += auc;
          ++count[i];
        }
      }
      md += "| " + rows + " |" + cells + "\n";
    }
    md += "| mean |";
    for (size_t i = 0; i < online.size(); ++i)
      md += count[i] > 0 ? absl::StrFormat(" %.4f |", sum[i] / count[i]) : std::string(" |");
    md += "\n\n";
  }

  md += "## Plots\n\n";
  if (!options.plot_error.empty()) md += "Plots were not rendered: " + options.plot_error + "\n\n";
  for (const auto& p : options.plots)
    md += "### " + p.title + "\n\n![" + p.title + "](" + p.file + ")\n\n";
  if (options.plots.empty() && options.plot_error.empty()) md += "No plots (no finished runs).\n\n";

  md += "## Failed runs\n\n";
  int failed = 0;
  std::string rows;
  for (const auto& r : runs) {
    const std::string st = r.value("status", "");
    if (st == "ok") continue;
    ++failed;
    rows += "| " + r.value("id", "") + " | " + st + " | " + std::to_string(r.value("attempts", 0)) +
            " | " + Cell(r.value("error", "")) + " | `" + r.value("dir", "") + "/stderr.log` |\n";
  }
  if (failed == 0) {
    md += "None: every run of the sweep finished.\n\n";
  } else {
    md +=
        "Rerun the same command to retry them (finished runs are kept).\n\n"
        "| run | status | attempts | error | log |\n|---|---|---|---|---|\n" +
        rows + "\n";
  }

  md += "## Methods\n\n| family | method | status | description |\n|---|---|---|---|\n";
  for (const auto& meth : results["methods"]) {
    const std::string name = meth["name"];
    std::string st = !meth.value("available", false) ? "not available"
                     : swept_methods.count(name)     ? "swept"
                                                     : "available, not swept";
    md += "| " + meth.value("family", "") + " | " + name + " | " + st + " | " +
          Cell(meth.value("description", "")) + " |\n";
  }
  return md;
}

}  // namespace ecps::bench
