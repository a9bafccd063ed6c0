// The results document of a sweep (results.json) and the derived views every
// output reads: the flat per-run rows of results.csv and the learning-rate
// selection of docs/methods.md §1.5.
//
// results.json (format "ecps-bench-results/1"):
//   suite    {name, datasets[], models[], budgets[], dims[], lrs[]}
//   methods  [{name, family, available, in_paper, description}]   report order
//   runs     [{id, dataset, model, method, family, budget, dim, lr,
//              status: ok|failed|pending, selected, attempts, error, dir,
//              <every metric of MetricColumns()>, stages[], config, git_commit,
//              same_as (only for a run copied from a trained one, runner.h)}]
//   command, git_commit (every commit the trained runs came from, comma-separated),
//   generated_at, sweep_seconds (this invocation), train_seconds (sum over trained
//   runs), counts {ok, failed, pending}
// A run is "selected" when it is the ok run with the best validation AUC of
// its (dataset, model, method, budget, dim) group, i.e. its learning rate
// wins the grid; reports and recommendations use selected runs only.
#pragma once

#include <string>
#include <vector>

#include "common/budget.h"
#include "nlohmann/json.hpp"
#include "tools/bench/methods.h"
#include "tools/bench/runner.h"
#include "tools/bench/suite.h"

namespace ecps::bench {

// Metric columns copied (flattened) from a trainer results.json into a run
// record, in CSV order.
const std::vector<std::string>& MetricColumns();

// Builds the document. `command` is the command line that produced it.
nlohmann::json BuildResults(const Suite& suite, const std::vector<MethodInfo>& methods,
                            const SweepSummary& sweep, const std::string& command,
                            double sweep_seconds);

// Recomputes every run's "selected" flag (idempotent). Done on load too, so a
// hand-edited or older results file is judged by the same rule.
void MarkSelected(nlohmann::json* results);

// Loads and validates a results.json (the format tag and the arrays).
StatusOr<nlohmann::json> LoadResults(const std::string& path);

// True when a run's real inference-memory ratio is within its budget: the
// trainer's rule (common/budget.h) applied to a run record.
bool ReachesBudget(const nlohmann::json& run);
using ecps::ReachesBudget;

// Numeric field or NaN.
double Num(const nlohmann::json& run, const char* key);

}  // namespace ecps::bench
