// Human- and machine-readable reports of a results document (results.h):
// results.csv and the markdown report in the paper's layout.
//
// Markdown layout: one section per (model, embedding dim). Its table has one
// row per method, grouped by family in report order (methods.h), and one
// column per (dataset, budget). A cell is the test AUC of the selected run
// (best validation AUC over the lr grid) and reads:
//   **0.78123**<sup>k</sup>  top 3 (k = 1, 2, 3) of the column among methods
//                            that reach the budget (the baseline is a
//                            reference and is not ranked)
//   0.78123 (12.5%)          the method cannot reach the budget: the value at
//                            its real inference-memory ratio; not ranked
//   not available            not registered in the build that ran the sweep
//   not run                  available but not part of this sweep
//   failed / pending         see "Failed runs" (error and log per run)
// Then a table with every metric of the selected runs, the plots, the failed
// and pending runs with their errors, and the method list.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace ecps::bench {

// A rendered plot; `file` is relative to the markdown file's folder.
struct PlotRef {
  std::string title;
  std::string file;
};

// One row per run (every status), MetricColumns() after the key columns.
std::string RenderCsv(const nlohmann::json& results);

// Ranks of the top-3 cells of one column: method -> 1..3. `cells` maps
// method -> test AUC of the ranked candidates (already filtered). Equal
// values share a rank (competition ranking: 1, 1, 3).
std::map<std::string, int> TopThree(const std::map<std::string, double>& cells);

struct MarkdownOptions {
  std::string title = "ecps benchmark report";
  std::vector<PlotRef> plots;
  std::string plot_error;    // why plots are missing, if they are
  std::string results_link;  // relative link to results.json ("" = none)
  std::string csv_link;      // relative link to results.csv
};

std::string RenderMarkdown(const nlohmann::json& results, const MarkdownOptions& options);

}  // namespace ecps::bench
