#include "tools/bench/recommend.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "tools/bench/results.h"
#include "tools/bench/suite.h"

namespace ecps::bench {

double ParseDuration(const std::string& text) {
  if (text.empty()) return -1;
  double scale = 1;
  std::string t = text;
  switch (t.back()) {
    case 's':
      t.pop_back();
      break;
    case 'm':
      scale = 60;
      t.pop_back();
      break;
    case 'h':
      scale = 3600;
      t.pop_back();
      break;
    default:
      break;
  }
  double v = 0;
  if (!absl::SimpleAtod(t, &v) || v < 0) return -1;
  return v * scale;
}

namespace {

std::string Pct(double r) { return absl::StrFormat("%.3g%%", 100 * r); }

}  // namespace

Recommendation Recommend(const nlohmann::json& results, const Constraints& c) {
  Recommendation rec;
  rec.json["constraints"] = {{"budget", c.budget},
                             {"max_latency_ms", c.max_latency_ms},
                             {"max_train_time_s", c.max_train_time_s},
                             {"dataset", c.dataset},
                             {"model", c.model},
                             {"dim", c.dim}};
  rec.json["picks"] = nlohmann::json::array();
  std::string& out = rec.text;
  out += absl::StrFormat("Constraints: inference memory <= %s of the full table", Pct(c.budget));
  if (c.max_latency_ms > 0) out += absl::StrFormat(", latency <= %g ms/batch", c.max_latency_ms);
  if (c.max_train_time_s > 0) out += absl::StrFormat(", training time <= %g s", c.max_train_time_s);
  out += ".\n";

  // Groups: (dataset, model).
  std::set<std::pair<std::string, std::string>> groups;
  for (const auto& r : results["runs"]) {
    if (!c.dataset.empty() && r["dataset"] != c.dataset) continue;
    if (!c.model.empty() && r["model"] != c.model) continue;
    groups.insert(std::make_pair(r["dataset"].get<std::string>(), r["model"].get<std::string>()));
  }
  if (groups.empty()) {
    out += "No runs match the dataset/model asked for.\n";
    return rec;
  }
  for (const auto& [ds, model] : groups) {
    out += absl::StrFormat("\n%s, %s:\n", ds, model);
    struct Cand {
      const nlohmann::json* run;
      double val, mem;
    };
    std::vector<Cand> fits;
    // method -> (rank, reason). The most telling reason wins: a run that fit
    // the memory but missed a limit (2) over one over budget (1) over a
    // failed run (0).
    std::map<std::string, std::pair<int, std::string>> why_not;
    auto note = [&](const std::string& m, int rank, const std::string& reason) {
      auto it = why_not.find(m);
      if (it == why_not.end() || it->second.first < rank) why_not[m] = {rank, reason};
    };
    std::set<std::string> seen;
    for (const auto& r : results["runs"]) {
      if (r["dataset"] != ds || r["model"] != model) continue;
      if (c.dim > 0 && r["dim"] != c.dim) continue;
      const std::string m = r["method"];
      seen.insert(m);
      if (r.value("status", "") != "ok") {
        note(m, 0, "run " + r.value("status", "") + ": " + r.value("error", ""));
        continue;
      }
      if (!r.value("selected", false)) continue;
      const double ratio = Num(r, "inference_memory_ratio"), lat = Num(r, "latency_ms_per_batch"),
                   time = Num(r, "train_time_seconds");
      if (!(ratio <= c.budget * 1.02)) {
        note(m, 1, "memory " + Pct(ratio) + " > " + Pct(c.budget));
        continue;
      }
      if (c.max_latency_ms > 0 && !(lat <= c.max_latency_ms)) {
        note(m, 2, absl::StrFormat("latency %.3g ms > %g ms", lat, c.max_latency_ms));
        continue;
      }
      if (c.max_train_time_s > 0 && !(time <= c.max_train_time_s)) {
        note(m, 2, absl::StrFormat("training time %.0f s > %g s", time, c.max_train_time_s));
        continue;
      }
      fits.push_back({&r, Num(r, "val_auc"), ratio});
    }
    std::sort(fits.begin(), fits.end(), [](const Cand& a, const Cand& b) {
      if (a.val != b.val) return a.val > b.val;
      return a.mem < b.mem;
    });
    // One entry per method: its best fitting run.
    std::vector<Cand> best;
    std::set<std::string> taken;
    for (const auto& f : fits)
      if (taken.insert((*f.run)["method"].get<std::string>()).second) best.push_back(f);
    if (best.empty()) {
      out += "  no measured method fits these constraints.\n";
    } else {
      rec.found = true;
      const auto& w = *best[0].run;
      out += absl::StrFormat(
          "  recommended: %s (budget %s, d = %d, lr %s): validation AUC %.5f, test AUC %.5f,\n"
          "    inference memory %s of full (%.0f bytes), latency %.3g ms/batch, training time "
          "%.0f s.\n",
          w["method"].get<std::string>(), Pct(w["budget"]), w["dim"].get<int>(),
          FormatNumber(w["lr"]), Num(w, "val_auc"), Num(w, "test_auc"),
          Pct(Num(w, "inference_memory_ratio")), Num(w, "inference_memory_bytes"),
          Num(w, "latency_ms_per_batch"), Num(w, "train_time_seconds"));
      out += "  why: highest validation AUC among the " + std::to_string(best.size()) +
             " method(s) that fit";
      if (best.size() > 1)
        out += absl::StrFormat("; runner-up %s is %.5f lower (test AUC %.5f)",
                               (*best[1].run)["method"].get<std::string>(),
                               best[0].val - best[1].val, Num(*best[1].run, "test_auc"));
      out += ".\n";
      nlohmann::json pick = {{"dataset", ds},
                             {"model", model},
                             {"method", w["method"]},
                             {"budget", w["budget"]},
                             {"dim", w["dim"]},
                             {"lr", w["lr"]},
                             {"val_auc", w.value("val_auc", 0.0)},
                             {"test_auc", w.value("test_auc", 0.0)},
                             {"inference_memory_ratio", w.value("inference_memory_ratio", 0.0)},
                             {"latency_ms_per_batch", w.value("latency_ms_per_batch", 0.0)},
                             {"train_time_seconds", w.value("train_time_seconds", 0.0)},
                             {"ranking", nlohmann::json::array()}};
      for (size_t i = 1; i < best.size(); ++i)
        out += absl::StrFormat("  also fits: %s (validation AUC %.5f, memory %s)\n",
                               (*best[i].run)["method"].get<std::string>(), best[i].val,
                               Pct(best[i].mem));
      for (const auto& b : best) pick["ranking"].push_back((*b.run)["method"]);
      rec.json["picks"].push_back(pick);
    }
    for (const auto& [m, reason] : why_not)
      if (!taken.count(m)) out += "  excluded: " + m + " (" + reason.second + ")\n";
    std::string missing;
    for (const auto& meth : results["methods"])
      if (!meth.value("available", false))
        missing += (missing.empty() ? "" : ", ") + meth["name"].get<std::string>();
    if (!missing.empty()) out += "  not available in the measured build: " + missing + "\n";
  }
  return rec;
}

}  // namespace ecps::bench
