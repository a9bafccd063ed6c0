#include "tools/bench/plots.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "tools/bench/process.h"
#include "tools/bench/results.h"
#include "tools/bench/suite.h"

namespace fs = std::filesystem;

namespace ecps::bench {

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    std::string p = std::string(dir) + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

namespace {

struct Point {
  double x, y;
};
using Series = std::vector<std::pair<std::string, std::vector<Point>>>;  // method -> points

struct PlotSpec {
  std::string name, title, xlabel, ylabel;
  bool logx = false, logy = false;
  Series series;
  bool bytes_x = false;
  std::string xtics;  // explicit tick list, e.g. ("1%" 0.01, "10%" 0.1); "" = automatic
};

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Writes <dir>/<name>.dat and .gp, runs gnuplot, checks the PNG.
Status Render(const PlotSpec& p, const fs::path& dir, const std::string& gnuplot) {
  std::string dat;
  for (const auto& [method, points] : p.series) {
    dat += "# " + method + "\n";
    for (const auto& pt : points) dat += absl::StrFormat("%.10g %.10g\n", pt.x, pt.y);
    dat += "\n\n";
  }
  const fs::path dat_path = dir / (p.name + ".dat"), gp_path = dir / (p.name + ".gp"),
                 png_path = dir / (p.name + ".png");
  RETURN_IF_ERROR(AtomicWriteFile(dat_path.string(), dat));
  std::string gp;
  gp += "set terminal pngcairo size 1200,700 font 'Sans,11' linewidth 1.5\n";
  gp += "set output " + Quote(png_path.string()) + "\n";
  gp += "set title " + Quote(p.title) + " noenhanced font 'Sans,13'\n";
  gp += "set xlabel " + Quote(p.xlabel) + " noenhanced\n";
  gp += "set ylabel " + Quote(p.ylabel) + " noenhanced\n";
  gp += "set grid xtics ytics mxtics mytics lc rgb '#dddddd'\n";
  gp += "set key outside right top noenhanced spacing 1.2\n";
  gp +=
      "set border 3\nset tics nomirror\nset offsets graph 0.03, graph 0.03, graph 0.05, graph "
      "0.05\n";
  if (p.logx) gp += "set logscale x\nset autoscale xfix\n";
  // Bytes read best with SI prefixes ("100 kB", "1 MB").
  gp += p.bytes_x ? "set format x '%.0s %cB'\n" : p.logx ? "set format x '%g'\n" : "";
  if (p.logy) gp += "set logscale y\nset format y '%g'\n";
  if (!p.xtics.empty()) gp += "set xtics " + p.xtics + "\nset mxtics 1\n";
  // 8 distinct colours x dash patterns x point shapes, so 25+ methods stay
  // distinguishable.
  static const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  gp += "plot ";
  for (size_t i = 0; i < p.series.size(); ++i) {
    if (i) gp += ", \\\n     ";
    gp += absl::StrFormat(
        "%s index %d using 1:2 with linespoints lc rgb '%s' dt %d pt %d ps 1.4 title %s",
        Quote(dat_path.string()), static_cast<int>(i), kColours[i % 8],
        1 + static_cast<int>(i / 8) % 4, 1 + static_cast<int>(i % 13), Quote(p.series[i].first));
  }
  gp += "\n";
  RETURN_IF_ERROR(AtomicWriteFile(gp_path.string(), gp));
  std::error_code ec;
  fs::remove(png_path, ec);
  const std::string log = (dir / "gnuplot.log").string();
  ExitInfo info;
  auto child = ChildProcess::Start({gnuplot, gp_path.string()}, "", log);
  if (!child.ok()) return child.status();
  info = child->Wait();
  if (!info.ok() || !fs::exists(png_path) || fs::file_size(png_path) == 0)
    return IoError("gnuplot failed on ", gp_path.string(), " (", info.Describe(), "; see ", log,
                   ")");
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<PlotRef>> RenderPlots(const nlohmann::json& results, const std::string& dir,
                                           const std::string& link_prefix) {
  const auto& suite = results["suite"];
  std::vector<int> dims;
  for (const auto& d : suite["dims"]) dims.push_back(d.get<int>());
  if (dims.empty()) return std::vector<PlotRef>{};
  const int main_dim = std::find(dims.begin(), dims.end(), 16) != dims.end() ? 16 : dims[0];
  std::vector<std::string> method_order;
  for (const auto& m : results["methods"]) method_order.push_back(m["name"]);

  // Ticks at the swept values: budgets as percentages, dims as integers.
  std::string budget_tics = "(", dim_tics = "(";
  for (const auto& b : suite["budgets"])
    budget_tics += absl::StrFormat("%s\"%g%%%%\" %g", budget_tics.size() > 1 ? ", " : "",
                                   100 * b.get<double>(), b.get<double>());
  budget_tics += ", \"100%%\" 1)";  // gnuplot reads '%' in a tic label as a format
  for (int d : dims) dim_tics += absl::StrFormat("%s%d", dim_tics.size() > 1 ? ", " : "", d);
  dim_tics += ")";
  std::vector<PlotSpec> specs;
  for (const auto& dsj : suite["datasets"]) {
    for (const auto& mj : suite["models"]) {
      const std::string ds = dsj, model = mj;
      const std::string tag = ds + "-" + model;
      // Series builders over the selected runs of this dataset and model.
      auto collect = [&](auto&& accept, auto&& xy) {
        Series s;
        for (const auto& name : method_order) {
          std::vector<Point> pts;
          for (const auto& r : results["runs"]) {
            if (!r.value("selected", false) || r["dataset"] != ds || r["model"] != model ||
                r["method"] != name || !accept(r))
              continue;
            Point p = xy(r);
            if (std::isfinite(p.x) && std::isfinite(p.y) && p.x > 0) pts.push_back(p);
          }
          std::sort(pts.begin(), pts.end(), [](Point a, Point b) { return a.x < b.x; });
          if (!pts.empty()) s.push_back({name, pts});
        }
        return s;
      };
      auto at_main_dim = [&](const nlohmann::json& r) { return r["dim"] == main_dim; };
      const std::string where = absl::StrFormat("%s, %s, d = %d", ds, model, main_dim);
      specs.push_back({"auc_vs_memory-" + tag, "Test AUC vs inference memory (" + where + ")",
                       "inference memory of the embedding (log scale)", "test AUC", true, false,
                       collect(at_main_dim,
                               [](const nlohmann::json& r) {
                                 return Point{Num(r, "inference_memory_bytes"), Num(r, "test_auc")};
                               }),
                       true, ""});
      specs.push_back({"train_time_vs_budget-" + tag, "Training time vs budget (" + where + ")",
                       "memory budget (fraction of the full table, log scale)",
                       "training time, all stages (s)", true, false,
                       collect(at_main_dim,
                               [](const nlohmann::json& r) {
                                 return Point{Num(r, "budget"), Num(r, "train_time_seconds")};
                               }),
                       false, budget_tics});
      specs.push_back({"latency_vs_budget-" + tag, "Inference latency vs budget (" + where + ")",
                       "memory budget (fraction of the full table, log scale)",
                       "latency per batch, median (ms)", true, false,
                       collect(at_main_dim,
                               [](const nlohmann::json& r) {
                                 return Point{Num(r, "budget"), Num(r, "latency_ms_per_batch")};
                               }),
                       false, budget_tics});
      // train.online_eval: AUC per window against the rows seen, one series
      // per selected run that has windows (a method at each budget).
      Series online;
      for (const auto& name : method_order) {
        for (const auto& r : results["runs"]) {
          if (!r.value("selected", false) || r["dataset"] != ds || r["model"] != model ||
              r["method"] != name || !r.contains("online") || !r["online"].is_array())
            continue;
          std::vector<Point> pts;
          for (const auto& w : r["online"]) pts.push_back({Num(w, "end_row"), Num(w, "auc")});
          if (pts.empty()) continue;
          const bool baseline = r.value("family", "") == "baseline";
          online.push_back(
              {baseline ? name
                        : absl::StrFormat("%s %g%% d%d", name, 100 * r["budget"].get<double>(),
                                          r["dim"].get<int>()),
               pts});
        }
      }
      specs.push_back(
          {"online_auc-" + tag,
           absl::StrFormat("Online AUC per window, progressive validation (%s, %s)", ds, model),
           "training rows seen (end of the window)", "AUC of the window", false, false, online,
           false, ""});
      if (dims.size() > 1) {
        for (const auto& bj : suite["budgets"]) {
          const double b = bj.get<double>();
          // The baseline ran at budget 1 only; it joins every budget's figure.
          auto at_budget = [&](const nlohmann::json& r) {
            return r["budget"].get<double>() == b || r.value("family", "") == "baseline";
          };
          specs.push_back({"auc_vs_dim-" + tag + "-b" + FormatNumber(b),
                           absl::StrFormat("Test AUC vs embedding dimension (%s, %s, budget %g%%)",
                                           ds, model, 100 * b),
                           "embedding dimension d (log scale)", "test AUC", true, false,
                           collect(at_budget,
                                   [](const nlohmann::json& r) {
                                     return Point{Num(r, "dim"), Num(r, "test_auc")};
                                   }),
                           false, dim_tics});
        }
      }
    }
  }
  std::vector<PlotRef> out;
  bool any = false;
  for (const auto& s : specs) any = any || !s.series.empty();
  if (!any) return out;
  const std::string gnuplot = FindInPath("gnuplot");
  if (gnuplot.empty())
    return FailedPrecondition("gnuplot not found on PATH (scripts/setup.sh installs gnuplot-nox)");
  RETURN_IF_ERROR(MakeDirs(dir));
  std::error_code ec;
  fs::remove(fs::path(dir) / "gnuplot.log", ec);
  for (const auto& s : specs) {
    if (s.series.empty()) continue;
    RETURN_IF_ERROR(Render(s, dir, gnuplot));
    out.push_back({s.title, link_prefix + s.name + ".png"});
  }
  return out;
}

}  // namespace ecps::bench
