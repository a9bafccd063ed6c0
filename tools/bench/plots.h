// PNG plots of a results document, rendered by gnuplot (pngcairo):
//   AUC vs inference memory (log scale), one series per method
//   training time vs budget, inference latency vs budget
//   AUC vs embedding dimension at each budget (Figure 5 style; only when
//   the sweep has more than one dim)
// one of each per (dataset, model), from the selected runs (results.h) at
// the suite's main dim (16 when swept, else the first). For each plot the
// data (.dat) and script (.gp) are kept next to the PNG so a figure can be
// restyled by hand.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "nlohmann/json.hpp"
#include "tools/bench/report.h"

namespace ecps::bench {

// Renders every plot into `dir` (created). PlotRef::file is "<link_prefix><name>.png".
// Fails (with the gnuplot error) when gnuplot is missing or a plot does not
// render; plots without data are skipped silently.
StatusOr<std::vector<PlotRef>> RenderPlots(const nlohmann::json& results, const std::string& dir,
                                           const std::string& link_prefix);

// First executable named `name` on $PATH ("" if none).
std::string FindInPath(const std::string& name);

}  // namespace ecps::bench
