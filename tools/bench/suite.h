// A bench suite: what `ecps bench` sweeps. Datasets x models x methods x
// budgets x embedding dims x learning rates, plus the `ecps train` keys every
// run shares. Suites are YAML files (configs/bench/*.yaml); the profiles
// `quick` and `paper` are those two files, embedded in the binary at build
// time so that `--profile` works from any directory.
//
// Suite YAML (every key optional except datasets):
//   name: quick
//   config: path.yaml            # base `ecps train --config` (relative to the suite file)
//   datasets:                    # each: a name and the data.* keys that make it
//     - name: gen50k
//       set: {data.generate: {rows: 50000, features: 20000}}
//   models: [dlrm, wdl, dcn]
//   methods: all                 # or a list of config names
//   budgets: [0.5, 0.1, 1%]      # fractions of the full fp32 table ("1%" = 0.01)
//   dims: [16]
//   lrs: [0.001, 0.01, 0.1]      # grid; the best validation AUC is reported
//   set: {train: {max_steps: 200}}   # keys for every run (nesting = dots)
//   method_set: {dhe: {embedding.params.mlp: "64,64"}}   # keys for one method
//   retries: 1                   # extra attempts of a crashed run per invocation
//   jobs: 1                      # runs at a time
//   timeout_s: 0                 # per-attempt limit (0 = none)
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "tools/bench/methods.h"

namespace ecps::bench {

struct DatasetSpec {
  std::string name;               // report column prefix and run-id part
  std::vector<std::string> sets;  // "key=value" for `ecps train --set`
};

struct Suite {
  std::string name = "custom";
  std::string config;  // base config file ("" = the trainer's defaults)
  std::vector<DatasetSpec> datasets;
  std::vector<std::string> models = {"dlrm"};
  std::vector<std::string> methods;  // empty = every registered method
  std::vector<double> budgets = {0.5, 0.1, 0.01, 0.001};
  std::vector<int> dims = {16};
  std::vector<double> lrs = {0.001, 0.01, 0.1};
  std::vector<std::string> sets;  // "key=value" for every run, before the sweep keys
  std::map<std::string, std::vector<std::string>> method_sets;
  // `ecps bench --set`: applied after everything the suite file sets
  // (suite, dataset and method sets), so the command line always wins. May
  // not name a sweep key (model.name, embedding.method/budget/dim,
  // optimizer.lr): those are the --models/... axes.
  std::vector<std::string> override_sets;
  int retries = 1;
  int jobs = 1;
  double timeout_s = 0;
};

// Parses suite YAML; errors name `origin` and the key. Relative `config`
// paths are resolved against `base_dir`.
StatusOr<Suite> ParseSuite(const std::string& yaml, const std::string& origin,
                           const std::string& base_dir = "");
StatusOr<Suite> LoadSuiteFile(const std::string& path);
// The embedded configs/bench/<name>.yaml (quick, paper).
StatusOr<Suite> LoadProfile(const std::string& name);
std::vector<std::string> ProfileNames();

// "1%" -> 0.01, "0.5" -> 0.5. Rejects values outside (0, 1].
StatusOr<double> ParseBudget(const std::string& text);
// "0.5,10%,1%" -> {0.5, 0.1, 0.01}.
StatusOr<std::vector<double>> ParseBudgetList(const std::string& text);

// One `ecps train` process of the sweep.
struct RunSpec {
  std::string dataset, model, method, family;
  double budget = 1;
  int dim = 16;
  double lr = 0.001;
  // Stable, readable and unique: "<dataset>/<model>/<method>/d<dim>-b<budget>-lr<lr>";
  // also the run's folder under <out>/runs/.
  std::string id;
  std::string config;             // --config ("" = none)
  std::vector<std::string> sets;  // every --set, in order (output.* excluded)
};

// The sweep's runs, in the order they execute: dataset, model, dim, method
// (report order), budget (largest first), lr. Baseline methods (IsBaseline) run once at
// budget 1. Requested methods that are not available are skipped here (the
// report lists them as "not available").
std::vector<RunSpec> ExpandRuns(const Suite& suite, const std::vector<MethodInfo>& methods);

// Number formatting shared by run ids and reports: shortest exact form
// ("0.001", "0.5", "1").
std::string FormatNumber(double v);

}  // namespace ecps::bench
