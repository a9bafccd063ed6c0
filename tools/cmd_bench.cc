// `ecps bench`: sweeps, reports and recommendations (docs/cli.md).
//   ecps bench [run] --suite FILE | --profile NAME --out DIR [overrides]
//   ecps bench report --results FILE --out DIR
//   ecps bench recommend --results FILE --budget 1% [limits]
// The work lives in tools/bench/; this file is flag parsing and wiring.
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/cpu.h"
#include "common/file_util.h"
#include "tools/bench/methods.h"
#include "tools/bench/plots.h"
#include "tools/bench/process.h"
#include "tools/bench/recommend.h"
#include "tools/bench/report.h"
#include "tools/bench/results.h"
#include "tools/bench/runner.h"
#include "tools/bench/suite.h"
#include "tools/commands.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace ecps::tools {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true); }

int Fail(const char* sub, const Status& s) {
  std::fprintf(stderr, "ecps bench%s: %s\n", sub, std::string(s.message()).c_str());
  return s.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
}

int Usage(const char* sub, const std::string& msg) {
  std::fprintf(stderr, "ecps bench%s: %s (try ecps bench%s --help)\n", sub, msg.c_str(), sub);
  return kExitUsage;
}

std::vector<std::string> SplitList(const std::string& s) {
  return absl::StrSplit(s, ',', absl::SkipWhitespace());
}

// The command line as one shell-pasteable string (recorded in reports).
std::string CommandLine(const std::vector<std::string>& args) {
  std::string out = "./build/ecps bench";
  for (const auto& a : args) {
    const bool plain = a.find_first_of(" \t'\"$%*?&;|<>()") == std::string::npos && !a.empty();
    out += " " + (plain ? a : "'" + a + "'");
  }
  return out;
}

std::string Relative(const fs::path& target, const fs::path& from_dir) {
  std::error_code ec;
  auto r = fs::relative(fs::absolute(target), fs::absolute(from_dir), ec);
  return ec ? target.string() : r.string();
}

// Writes results.json/.csv into `out_dir`, the plots next to `report_md`
// (folder <report without .md>/) and the markdown itself.
Status WriteOutputs(nlohmann::json results, const fs::path& out_dir, const fs::path& report_md,
                    bool plots, const std::string& title) {
  RETURN_IF_ERROR(MakeDirs(out_dir.string()));
  const std::string json = results.dump(2) + "\n", csv = bench::RenderCsv(results);
  RETURN_IF_ERROR(AtomicWriteFile((out_dir / "results.json").string(), json));
  RETURN_IF_ERROR(AtomicWriteFile((out_dir / "results.csv").string(), csv));
  fs::path md_dir = report_md.parent_path().empty() ? fs::path(".") : report_md.parent_path();
  fs::path asset_dir = report_md;
  asset_dir.replace_extension();
  RETURN_IF_ERROR(MakeDirs(md_dir.string()));
  bench::MarkdownOptions opt;
  opt.title = title;
  // A report published outside the sweep folder (docs/) carries its own copy
  // of the raw numbers so its links never point into runs/.
  fs::path json_path = out_dir / "results.json", csv_path = out_dir / "results.csv";
  if (fs::absolute(md_dir).lexically_normal() != fs::absolute(out_dir).lexically_normal()) {
    RETURN_IF_ERROR(MakeDirs(asset_dir.string()));
    json_path = asset_dir / "results.json";
    csv_path = asset_dir / "results.csv";
    RETURN_IF_ERROR(AtomicWriteFile(json_path.string(), json));
    RETURN_IF_ERROR(AtomicWriteFile(csv_path.string(), csv));
  }
  opt.results_link = Relative(json_path, md_dir);
  opt.csv_link = Relative(csv_path, md_dir);
  if (plots) {
    auto rendered =
        bench::RenderPlots(results, asset_dir.string(), Relative(asset_dir, md_dir) + "/");
    if (rendered.ok()) {
      opt.plots = *rendered;
    } else {
      opt.plot_error = std::string(rendered.status().message());
      std::fprintf(stderr, "ecps bench: warning: %s\n", opt.plot_error.c_str());
    }
  }
  return AtomicWriteFile(report_md.string(), bench::RenderMarkdown(results, opt));
}

int RunSweepCommand(const std::vector<std::string>& args) {
  po::options_description desc(
      "usage: ecps bench [run] (--suite FILE | --profile quick|paper) --out DIR [options]\n\n"
      "Sweeps datasets x models x methods x budgets x dims x learning rates, one\n"
      "`ecps train` process per run, and writes DIR/results.{json,csv}, the markdown\n"
      "report (DIR/report.md) and its PNG plots (DIR/report/). Rerunning the same command\n"
      "skips finished runs and retries the rest. Exit code 1 when a run failed or the\n"
      "sweep stopped early (the report is written either way).\n\n"
      "options");
  std::string suite_file, profile, out, report, models, methods, budgets, dims, lrs, datasets, ecps,
      title;
  std::vector<std::string> sets;
  int jobs = 0, retries = -1, max_runs = -1;
  double timeout = -1;
  desc.add_options()("help,h", "show this help")("suite", po::value(&suite_file),
                                                 "suite YAML (configs/bench/*.yaml)")(
      "profile", po::value(&profile), "embedded suite: quick (CI smoke test) or paper")(
      "out", po::value(&out), "folder that receives every output (required)")(
      "report", po::value(&report),
      "markdown report path (default DIR/report.md); plots go to its folder minus .md")(
      "title", po::value(&title), "report title")("datasets", po::value(&datasets),
                                                  "only these suite datasets (comma list)")(
      "models", po::value(&models), "override: dlrm,wdl,dcn")(
      "methods", po::value(&methods), "override: comma list of methods, or 'all'")(
      "budgets", po::value(&budgets), "override: e.g. 0.5,10%,1%")("dims", po::value(&dims),
                                                                   "override: e.g. 8,16")(
      "lrs", po::value(&lrs), "override: learning-rate grid, e.g. 0.001,0.01,0.1")(
      "set", po::value(&sets)->composing(), "ecps train key=value for every run (repeatable)")(
      "jobs", po::value(&jobs), "runs at a time (default: the suite's)")(
      "retries", po::value(&retries), "extra attempts of a failed run (default: the suite's)")(
      "timeout", po::value(&timeout), "seconds per attempt (0 = none)")(
      "max-runs", po::value(&max_runs), "start at most N unfinished runs, then stop")(
      "ecps", po::value(&ecps), "trainer binary (default: this ecps)")(
      "dry-run", "list the runs and whether each is done or a copy, run nothing")(
      "no-plots", "skip the gnuplot PNGs");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return Usage("", e.what());
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return kExitOk;
  }
  if (out.empty()) return Usage("", "--out DIR is required");
  if (suite_file.empty() == profile.empty())
    return Usage("", "give exactly one of --suite FILE and --profile NAME");
  auto suite = suite_file.empty() ? bench::LoadProfile(profile) : bench::LoadSuiteFile(suite_file);
  if (!suite.ok()) return Fail("", suite.status());
  if (!datasets.empty()) {
    std::vector<bench::DatasetSpec> keep;
    for (const auto& name : SplitList(datasets)) {
      auto it = std::find_if(suite->datasets.begin(), suite->datasets.end(),
                             [&](const auto& d) { return d.name == name; });
      if (it == suite->datasets.end()) return Usage("", "--datasets: no dataset '" + name + "'");
      keep.push_back(*it);
    }
    suite->datasets = keep;
  }
  if (!models.empty()) suite->models = SplitList(models);
  if (!methods.empty())
    suite->methods = methods == "all" ? std::vector<std::string>{} : SplitList(methods);
  if (!budgets.empty()) {
    auto b = bench::ParseBudgetList(budgets);
    if (!b.ok()) return Usage("", "--budgets: " + std::string(b.status().message()));
    suite->budgets = *b;
  }
  auto numbers = [](const std::string& text, std::vector<double>* v) {
    v->clear();
    for (const auto& p : SplitList(text)) {
      double x = 0;
      if (!absl::SimpleAtod(p, &x) || !(x > 0)) return false;
      v->push_back(x);
    }
    return !v->empty();
  };
  if (!dims.empty()) {
    std::vector<double> v;
    if (!numbers(dims, &v)) return Usage("", "--dims: expected positive integers");
    suite->dims.assign(v.begin(), v.end());
  }
  if (!lrs.empty() && !numbers(lrs, &suite->lrs))
    return Usage("", "--lrs: expected positive numbers");
  for (const std::string& kv : sets)
    for (const char* axis : {"model.name=", "embedding.method=", "embedding.budget=",
                             "embedding.dim=", "optimizer.lr="})
      if (kv.rfind(axis, 0) == 0)
        return Usage("", absl::StrCat("--set ", kv,
                                      ": that key is a sweep axis; use --models, --methods, "
                                      "--budgets, --dims or --lrs"));
  suite->override_sets.insert(suite->override_sets.end(), sets.begin(), sets.end());
  if (jobs > 0) suite->jobs = jobs;
  if (retries >= 0) suite->retries = retries;
  if (timeout >= 0) suite->timeout_s = timeout;
  if (suite->jobs > 1) {
    // Concurrent runs share the cores instead of each taking all of them.
    bool has_threads = false;
    for (const auto* list : {&suite->sets, &suite->override_sets})
      for (const auto& kv : *list) has_threads |= kv.rfind("model.threads=", 0) == 0;
    if (!has_threads) {
      const int per = std::max(1, UsableCpus() / suite->jobs);
      suite->sets.push_back("model.threads=" + std::to_string(per));
    }
  }

  if (ecps.empty()) ecps = bench::SelfExecutable();
  bench::ExitInfo info;
  auto listing = bench::RunAndCapture({ecps, "train", "--list-methods", "--json"}, &info);
  if (!listing.ok()) return Fail("", listing.status());
  if (!info.ok())
    return Fail("",
                IoError("'", ecps, " train --list-methods --json' failed (", info.Describe(), ")"));
  auto registered = bench::ParseMethodList(*listing);
  if (!registered.ok())
    return Fail(
        "", IoError("'", ecps, " train --list-methods --json': ", registered.status().message()));
  auto method_list = bench::MergeMethods(*registered);
  for (const auto& m : suite->methods)
    if (std::none_of(method_list.begin(), method_list.end(),
                     [&](const auto& x) { return x.name == m; })) {
      std::fprintf(stderr,
                   "ecps bench: warning: method '%s' is unknown; reported as not available\n",
                   m.c_str());
      method_list.push_back({m, "other", "requested by the suite", false, false});
    }
  const auto specs = bench::ExpandRuns(*suite, method_list);

  bench::RunnerOptions ropt;
  ropt.ecps = ecps;
  ropt.out_dir = out;
  ropt.retries = suite->retries;
  ropt.jobs = suite->jobs;
  ropt.max_new_runs = max_runs;
  ropt.timeout_s = suite->timeout_s;
  ropt.stop = &g_stop;

  if (specs.empty()) return Usage("", "the sweep has no runs (no available method selected?)");
  // Validate the first run's config before spending time: a bad key would
  // otherwise fail every run the same way.
  {
    auto argv = bench::TrainArgv(specs[0], ropt);
    argv.push_back("--print-config");
    // One log per process: concurrent sweeps (and the test suite under
    // ctest -j) must not read each other's check output.
    const std::string err =
        (fs::temp_directory_path() / ("ecps-bench-check-" + std::to_string(::getpid()) + ".log"))
            .string();
    fs::remove(err);
    auto check = bench::RunAndCapture(argv, &info, err);
    auto text = ReadFile(err);
    std::error_code ignored;
    fs::remove(err, ignored);
    if (!check.ok()) return Fail("", check.status());
    if (!info.ok()) {
      std::fprintf(stderr, "ecps bench: the suite's config is rejected by ecps train:\n%s",
                   text.ok() ? text->c_str() : "");
      return info.exit_code == kExitUsage ? kExitUsage : kExitFailure;
    }
  }
  if (vm.count("dry-run")) {
    // "copy": not trained, its results will be those of a done run that
    // misses a larger budget (runner.h); later copies show up once the runs
    // they depend on are done.
    for (const auto& p : bench::PlanSweep(specs, ropt)) {
      const char* state = p.done ? "done" : p.same_as.empty() ? "todo" : "copy";
      std::printf("%-4s %s%s\n", state, p.spec.id.c_str(),
                  p.same_as.empty() ? "" : (" (same as " + p.same_as + ")").c_str());
    }
    std::printf("%zu runs\n", specs.size());
    return kExitOk;
  }

  std::printf("ecps bench: suite '%s', %zu runs (%zu methods available of %zu listed), out %s\n",
              suite->name.c_str(), specs.size(),
              static_cast<size_t>(std::count_if(method_list.begin(), method_list.end(),
                                                [](const auto& m) { return m.available; })),
              method_list.size(), out.c_str());
  std::fflush(stdout);
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  auto sweep = bench::RunSweep(specs, ropt);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);

  auto results = bench::BuildResults(*suite, method_list, sweep, CommandLine(args), secs);
  const fs::path report_md = report.empty() ? fs::path(out) / "report.md" : fs::path(report);
  if (Status s = WriteOutputs(results, out, report_md, !vm.count("no-plots"),
                              title.empty() ? "ecps benchmark: " + suite->name : title);
      !s.ok())
    return Fail("", s);
  const auto& counts = results["counts"];
  std::printf(
      "ecps bench: %d ok, %d failed, %d pending; ran %d and copied %d now in %.0f s\n"
      "  %s/results.csv, %s/results.json, %s\n",
      counts["ok"].get<int>(), counts["failed"].get<int>(), counts["pending"].get<int>(), sweep.ran,
      sweep.copied, secs, out.c_str(), out.c_str(), report_md.string().c_str());
  if (counts["failed"].get<int>() > 0 || counts["pending"].get<int>() > 0) {
    std::printf("  rerun the same command to retry failed and pending runs\n");
    return kExitFailure;
  }
  return kExitOk;
}

int RunReportCommand(const std::vector<std::string>& args) {
  po::options_description desc(
      "usage: ecps bench report --results FILE --out DIR [--report PATH.md] [--no-plots]\n\n"
      "Rewrites results.{json,csv}, the markdown report and the plots from a results.json.\n\n"
      "options");
  std::string results_path, out, report, title;
  desc.add_options()("help,h", "show this help")("results", po::value(&results_path),
                                                 "results.json of a sweep")(
      "out", po::value(&out), "output folder")("report", po::value(&report),
                                               "markdown path (default DIR/report.md)")(
      "title", po::value(&title), "report title")("no-plots", "skip the gnuplot PNGs");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return Usage(" report", e.what());
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return kExitOk;
  }
  if (results_path.empty() || out.empty())
    return Usage(" report", "--results and --out are required");
  auto results = bench::LoadResults(results_path);
  if (!results.ok()) return Fail(" report", results.status());
  const fs::path report_md = report.empty() ? fs::path(out) / "report.md" : fs::path(report);
  if (Status s = WriteOutputs(
          *results, out, report_md, !vm.count("no-plots"),
          title.empty() ? "ecps benchmark: " + (*results)["suite"].value("name", std::string())
                        : title);
      !s.ok())
    return Fail(" report", s);
  std::printf("ecps bench report: %s\n", report_md.string().c_str());
  return kExitOk;
}

int RunRecommendCommand(const std::vector<std::string>& args) {
  po::options_description desc(
      "usage: ecps bench recommend --results FILE --budget 1% [--max-latency-ms X]\n"
      "                            [--max-train-time T] [--dataset D] [--model M] [--dim N]\n\n"
      "Picks the method with the best validation AUC among the measured runs that fit the\n"
      "inference-memory budget and limits, and explains the choice. Exit code 1 when\n"
      "nothing fits.\n\n"
      "options");
  std::string results_path, budget, max_time;
  bench::Constraints c;
  desc.add_options()("help,h", "show this help")("results", po::value(&results_path),
                                                 "results.json of a sweep")(
      "budget", po::value(&budget), "memory budget: fraction (0.01) or percentage (1%)")(
      "max-latency-ms", po::value(&c.max_latency_ms), "latency limit per batch (ms)")(
      "max-train-time", po::value(&max_time), "training-time limit: 900, 90s, 15m, 2h")(
      "dataset", po::value(&c.dataset), "only this dataset")("model", po::value(&c.model),
                                                             "only this model")(
      "dim", po::value(&c.dim), "only this embedding dim")("json", "print the answer as JSON");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return Usage(" recommend", e.what());
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return kExitOk;
  }
  if (results_path.empty() || budget.empty())
    return Usage(" recommend", "--results and --budget are required");
  auto b = bench::ParseBudget(budget);
  if (!b.ok()) return Usage(" recommend", "--budget: " + std::string(b.status().message()));
  c.budget = *b;
  if (!max_time.empty()) {
    c.max_train_time_s = bench::ParseDuration(max_time);
    if (c.max_train_time_s < 0) return Usage(" recommend", "--max-train-time '" + max_time + "'");
  }
  auto results = bench::LoadResults(results_path);
  if (!results.ok()) return Fail(" recommend", results.status());
  auto rec = bench::Recommend(*results, c);
  if (vm.count("json")) {
    std::cout << rec.json.dump(2) << std::endl;
  } else {
    std::cout << rec.text;
  }
  return rec.found ? kExitOk : kExitFailure;
}

}  // namespace

int RunBench(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "report") return RunReportCommand({args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "recommend")
    return RunRecommendCommand({args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "run") return RunSweepCommand({args.begin() + 1, args.end()});
  return RunSweepCommand(args);
}

}  // namespace ecps::tools
