// The sweep runner through the real CLI (`ecps bench --ecps fake_ecps.sh`):
// resume after a cut-short or killed sweep runs only the missing runs, a
// crashed run is retried and then listed with its error without ending the
// sweep, a changed suite reruns what it changed, a bad key stops the sweep
// before any run, a run that misses its budget is copied (not trained) at
// every smaller budget of its group.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>

#include "absl/strings/str_split.h"
#include "tests/cli/bench_test_util.h"
#include "tools/bench/methods.h"
#include "tools/bench/suite.h"

namespace ecps::bench {
namespace {

namespace fs = std::filesystem;

class BenchRunner : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshDir();
    log_ = dir_ + "/trainer_calls.log";
    setenv("FAKE_ECPS_LOG", log_.c_str(), 1);
  }
  void WriteSuite(const std::string& methods, const std::string& budgets = "[0.5, 0.1]",
                  const std::string& lrs = "[0.001, 0.01]") {
    std::ofstream(dir_ + "/suite.yaml")
        << "name: t\n"
           "datasets: [{name: ds}]\n"
           "models: [dlrm]\n"
           "methods: "
        << methods << "\nbudgets: " << budgets << "\ndims: [16]\nlrs: " << lrs << "\nretries: 1\n";
  }
  std::vector<std::string> Args(std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"bench",  "--suite", dir_ + "/suite.yaml", "--out", dir_ + "/out",
                                  "--ecps", FAKE_ECPS, "--no-plots"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  testing::CliResult Bench(std::vector<std::string> extra = {}) {
    return testing::RunEcps(Args(extra), dir_);
  }
  std::vector<std::string> Calls() {
    std::string text = ReadFile(log_).value_or("");
    return absl::StrSplit(text, '\n', absl::SkipEmpty());
  }
  nlohmann::json Results() { return testing::ReadJson(dir_ + "/out/results.json"); }
  nlohmann::json Run(const std::string& id) {
    const nlohmann::json results = Results();
    for (const auto& r : results["runs"])
      if (r["id"] == id) return r;
    ADD_FAILURE() << "no run " << id;
    return {};
  }

  std::string dir_, log_;
};

TEST_F(BenchRunner, ResumeAfterCutShortRunsOnlyMissingRuns) {
  WriteSuite("[full, alpha, beta]");  // full: 1 budget x 2 lrs; alpha, beta: 2 x 2
  auto first = Bench({"--max-runs", "4"});
  EXPECT_EQ(first.exit_code, 1) << first.err;
  EXPECT_EQ(Calls().size(), 4u);
  auto r1 = Results();
  EXPECT_EQ(r1["counts"]["ok"], 4);
  EXPECT_EQ(r1["counts"]["pending"], 6);
  EXPECT_NE(first.out.find("rerun the same command"), std::string::npos);

  auto second = Bench();
  EXPECT_EQ(second.exit_code, 0) << second.err << second.out;
  auto calls = Calls();
  ASSERT_EQ(calls.size(), 10u) << "only the 6 missing runs execute";
  std::sort(calls.begin(), calls.end());
  EXPECT_EQ(std::unique(calls.begin(), calls.end()), calls.end()) << "no run executed twice";
  EXPECT_EQ(Results()["counts"]["ok"], 10);

  auto third = Bench();
  EXPECT_EQ(third.exit_code, 0);
  EXPECT_EQ(Calls().size(), 10u) << "a finished sweep reruns nothing";
  for (const char* f : {"results.json", "results.csv", "report.md"})
    EXPECT_TRUE(fs::exists(dir_ + "/out/" + f)) << f;
}

TEST_F(BenchRunner, ResumeAfterKillRetriesTheInterruptedRun) {
  WriteSuite("[alpha, slow]", "[0.5, 0.1]", "[0.01]");
  setenv("FAKE_SLOW_S", "30", 1);
  auto argv = Args();
  argv.insert(argv.begin(), ECPS_BIN);
  auto child = ChildProcess::Start(argv, dir_ + "/bench1.out", dir_ + "/bench1.err");
  ASSERT_TRUE(child.ok());
  // Interrupt while the first slow run trains.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    auto calls = Calls();
    if (!calls.empty() && calls.back().rfind("slow", 0) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(Calls().size(), 3u);
  child->Signal(SIGTERM);
  ExitInfo info = child->Wait();
  EXPECT_EQ(info.exit_code, 1) << info.Describe();
  EXPECT_EQ(Run("ds/dlrm/slow/d16-b0.5-lr0.01")["status"], "pending");
  EXPECT_EQ(Run("ds/dlrm/slow/d16-b0.1-lr0.01")["status"], "pending");
  EXPECT_EQ(Run("ds/dlrm/alpha/d16-b0.1-lr0.01")["status"], "ok");

  setenv("FAKE_SLOW_S", "0", 1);
  auto second = Bench();
  EXPECT_EQ(second.exit_code, 0) << second.err << second.out;
  EXPECT_EQ(Calls(),
            (std::vector<std::string>{"alpha 0.5 16 0.01", "alpha 0.1 16 0.01", "slow 0.5 16 0.01",
                                      "slow 0.5 16 0.01", "slow 0.1 16 0.01"}));
  EXPECT_EQ(Run("ds/dlrm/slow/d16-b0.5-lr0.01")["attempts"], 2);
}

TEST_F(BenchRunner, CrashedRunIsRetriedThenListedAndSweepContinues) {
  WriteSuite("[alpha, crashy, flaky]", "[0.5]", "[0.01]");
  auto r = Bench();
  EXPECT_EQ(r.exit_code, 1) << "a failed run makes the sweep fail";
  EXPECT_EQ(Calls(), (std::vector<std::string>{"alpha 0.5 16 0.01", "crashy 0.5 16 0.01",
                                               "crashy 0.5 16 0.01", "flaky 0.5 16 0.01",
                                               "flaky 0.5 16 0.01"}));
  auto crashy = Run("ds/dlrm/crashy/d16-b0.5-lr0.01");
  EXPECT_EQ(crashy["status"], "failed");
  EXPECT_EQ(crashy["attempts"], 2);
  EXPECT_EQ(crashy["error"], "exit code 1: ecps train: simulated crash");
  auto flaky = Run("ds/dlrm/flaky/d16-b0.5-lr0.01");
  EXPECT_EQ(flaky["status"], "ok") << "a crash (SIGSEGV) is retried";
  EXPECT_EQ(flaky["attempts"], 2);
  const std::string md = ReadFile(dir_ + "/out/report.md").value_or("");
  EXPECT_NE(md.find("| ds/dlrm/crashy/d16-b0.5-lr0.01 | failed | 2 | exit code 1: ecps train: "
                    "simulated crash |"),
            std::string::npos)
      << md;
  // Logs are kept per run, one marker per attempt.
  const std::string err =
      ReadFile(dir_ + "/out/runs/ds/dlrm/flaky/d16-b0.5-lr0.01/stderr.log").value_or("");
  EXPECT_NE(err.find("attempt 1"), std::string::npos);
  EXPECT_NE(err.find("attempt 2"), std::string::npos);

  // A rerun retries the failed run only.
  Bench();
  EXPECT_EQ(Calls().size(), 7u);
  EXPECT_EQ(Calls()[5], "crashy 0.5 16 0.01");
}

TEST_F(BenchRunner, ReportShowsEveryRegisteredAndPaperMethod) {
  WriteSuite("[full, alpha, beta]", "[0.5, 0.1]", "[0.01]");
  auto r = Bench();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string md = ReadFile(dir_ + "/out/report.md").value_or("");
  for (const char* m : {"full", "alpha", "beta", "crashy", "flaky", "slow"})
    EXPECT_NE(md.find(std::string("| ") + m + " |"), std::string::npos) << m;
  for (const auto& m : PaperMethods())
    EXPECT_NE(md.find("| " + m.name + " |"), std::string::npos) << m.name;
  EXPECT_NE(md.find("| quantization | fp16 | *not available* |"), std::string::npos);
  EXPECT_NE(md.find("| crashy | *not run* |"), std::string::npos);
  // beta cannot go below 25%: its real ratio, in parentheses.
  EXPECT_NE(md.find("(25%)"), std::string::npos);
  // Every run records the trainer's config and commit.
  const nlohmann::json results = Results();
  for (const auto& run : results["runs"]) {
    EXPECT_TRUE(run.contains("config")) << run["id"];
    EXPECT_EQ(run["git_commit"], "fake");
  }
}

TEST_F(BenchRunner, ChangedSuiteRerunsChangedRuns) {
  WriteSuite("[alpha]", "[0.5]", "[0.01]");
  ASSERT_EQ(Bench().exit_code, 0);
  ASSERT_EQ(Bench().exit_code, 0);
  EXPECT_EQ(Calls().size(), 1u);
  ASSERT_EQ(Bench({"--set", "train.max_steps=5"}).exit_code, 0);
  EXPECT_EQ(Calls().size(), 2u) << "different argv: the old results describe another config";
}

TEST_F(BenchRunner, BadConfigStopsBeforeAnyRun) {
  WriteSuite("[alpha]", "[0.5]", "[0.01]");
  auto r = Bench({"--set", "bad.key=1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.key"), std::string::npos) << r.err;
  EXPECT_TRUE(Calls().empty());
}

TEST_F(BenchRunner, UsageErrors) {
  EXPECT_EQ(testing::RunEcps({"bench", "--profile", "quick"}, dir_).exit_code, 2);
  EXPECT_EQ(testing::RunEcps({"bench", "--profile", "nope", "--out", dir_}, dir_).exit_code, 2);
  EXPECT_EQ(testing::RunEcps({"bench", "--help"}, dir_).exit_code, 0);
  WriteSuite("[alpha]", "[2]");
  EXPECT_EQ(Bench().exit_code, 2) << "budget outside (0, 1]";
}

TEST_F(BenchRunner, DryRunListsRunsAndTheirState) {
  WriteSuite("[full, alpha]", "[1%]", "[0.01]");
  auto r = Bench({"--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("todo ds/dlrm/alpha/d16-b0.01-lr0.01"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("todo ds/dlrm/full/d16-b1-lr0.01"), std::string::npos) << r.out;
  EXPECT_TRUE(Calls().empty());
}

// `fixed` is 62.5% at every budget, `beta` cannot go below 25%, `alpha`
// reaches every budget. The budgets are listed out of order on purpose: the
// sweep runs the larger ones first.
TEST_F(BenchRunner, UnreachableBudgetIsTrainedOnceAndCopied) {
  WriteSuite("[fixed, alpha, beta]", "[0.1, 0.01, 0.5]", "[0.01]");
  auto r = Bench();
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_EQ(Calls(), (std::vector<std::string>{"alpha 0.5 16 0.01", "alpha 0.1 16 0.01",
                                               "alpha 0.01 16 0.01", "beta 0.5 16 0.01",
                                               "beta 0.1 16 0.01", "fixed 0.5 16 0.01"}));
  const std::string fixed = "ds/dlrm/fixed/d16-b0.5-lr0.01", beta = "ds/dlrm/beta/d16-b0.1-lr0.01";
  EXPECT_NE(r.out.find("ds/dlrm/fixed/d16-b0.01-lr0.01 (same as " + fixed + ")"), std::string::npos)
      << r.out;
  for (const auto& [id, source, budget] : std::vector<std::tuple<std::string, std::string, double>>{
           {"ds/dlrm/fixed/d16-b0.1-lr0.01", fixed, 0.1},
           {"ds/dlrm/fixed/d16-b0.01-lr0.01", fixed, 0.01},
           {"ds/dlrm/beta/d16-b0.01-lr0.01", beta, 0.01}}) {
    auto run = Run(id);
    EXPECT_EQ(run["status"], "ok") << id;
    EXPECT_EQ(run["same_as"], source) << id;
    EXPECT_EQ(run["budget"], budget) << id;
    EXPECT_EQ(run["val_auc"], Run(source)["val_auc"]) << id;
    EXPECT_EQ(run["inference_memory_ratio"], Run(source)["inference_memory_ratio"]) << id;
    EXPECT_TRUE(run["selected"]) << id;
    auto copied = testing::ReadJson(dir_ + "/out/runs/" + id + "/results.json");
    EXPECT_EQ(copied["budget"], budget) << id;
    EXPECT_EQ(copied["same_as"], source) << id;
    EXPECT_EQ(testing::ReadJson(dir_ + "/out/runs/" + id + "/bench_run.json")["same_as"], source);
  }
  EXPECT_FALSE(Run(fixed).contains("same_as")) << "the trained run is no copy";
  EXPECT_FALSE(Run("ds/dlrm/alpha/d16-b0.01-lr0.01").contains("same_as"));
  EXPECT_EQ(Results()["counts"]["ok"], 9);
  // Reports show a copy like a trained run that misses the budget.
  const std::string md = ReadFile(dir_ + "/out/report.md").value_or("");
  EXPECT_NE(md.find("(62.5%)"), md.rfind("(62.5%)")) << "two cells at the real ratio\n" << md;
  const std::string csv = ReadFile(dir_ + "/out/results.csv").value_or("");
  EXPECT_NE(csv.find("," + fixed + "\n"), std::string::npos) << "same_as column";

  // Done is done: nothing reruns, and the listing names the copies.
  auto again = Bench();
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_EQ(Calls().size(), 6u);
  auto dry = Bench({"--dry-run"});
  EXPECT_NE(dry.out.find("done ds/dlrm/fixed/d16-b0.1-lr0.01 (same as " + fixed + ")"),
            std::string::npos)
      << dry.out;
  EXPECT_NE(dry.out.find("done " + fixed + "\n"), std::string::npos) << dry.out;
}

TEST_F(BenchRunner, DryRunNamesKnownCopies) {
  WriteSuite("[fixed]", "[0.5]", "[0.01]");
  ASSERT_EQ(Bench().exit_code, 0);
  WriteSuite("[fixed]", "[0.5, 0.1]", "[0.01]");
  auto dry = Bench({"--dry-run"});
  EXPECT_NE(dry.out.find("copy ds/dlrm/fixed/d16-b0.1-lr0.01 (same as "
                         "ds/dlrm/fixed/d16-b0.5-lr0.01)"),
            std::string::npos)
      << dry.out;
  EXPECT_FALSE(fs::exists(dir_ + "/out/runs/ds/dlrm/fixed/d16-b0.1-lr0.01")) << "dry run";
  ASSERT_EQ(Bench().exit_code, 0);
  EXPECT_EQ(Calls().size(), 1u) << "the new budget is a copy";
}

TEST_F(BenchRunner, ResumeKeepsCopiesAndRefreshesThemWithTheirSource) {
  WriteSuite("[fixed, alpha]", "[0.5, 0.1, 0.01]", "[0.01]");
  auto first = Bench({"--max-runs", "2"});
  EXPECT_EQ(first.exit_code, 1);
  EXPECT_EQ(Calls(), (std::vector<std::string>{"alpha 0.5 16 0.01", "alpha 0.1 16 0.01"}));
  // fixed comes after alpha in report order (hashing before quantization).
  EXPECT_EQ(Results()["counts"]["pending"], 4);

  auto second = Bench({"--max-runs", "2"});
  EXPECT_EQ(second.exit_code, 0) << second.out;
  EXPECT_EQ(Calls().size(), 4u) << "alpha 0.01 and fixed 0.5; the fixed copies start nothing";
  EXPECT_EQ(Results()["counts"]["ok"], 6);
  EXPECT_EQ(Run("ds/dlrm/fixed/d16-b0.01-lr0.01")["same_as"], "ds/dlrm/fixed/d16-b0.5-lr0.01");

  ASSERT_EQ(Bench().exit_code, 0);
  EXPECT_EQ(Calls().size(), 4u) << "copies are done runs";

  // The source's results changed (e.g. rerun by hand): its copies follow.
  const std::string source = dir_ + "/out/runs/ds/dlrm/fixed/d16-b0.5-lr0.01/results.json";
  auto j = testing::ReadJson(source);
  j["val_auc"] = 0.5;
  ASSERT_TRUE(AtomicWriteFile(source, j.dump()).ok());
  ASSERT_EQ(Bench().exit_code, 0);
  EXPECT_EQ(Calls().size(), 4u);
  EXPECT_EQ(Run("ds/dlrm/fixed/d16-b0.1-lr0.01")["val_auc"], 0.5);

  // The source lost its results: it trains again, then the copies are redone.
  fs::remove(source);
  auto last = Bench();
  ASSERT_EQ(last.exit_code, 0) << last.out;
  EXPECT_EQ(Calls().size(), 5u);
  EXPECT_EQ(Calls().back(), "fixed 0.5 16 0.01");
  EXPECT_NE(Run("ds/dlrm/fixed/d16-b0.1-lr0.01")["val_auc"], 0.5);
  EXPECT_EQ(Run("ds/dlrm/fixed/d16-b0.1-lr0.01")["same_as"], "ds/dlrm/fixed/d16-b0.5-lr0.01");
  EXPECT_NE(last.out.find("(same as ds/dlrm/fixed/d16-b0.5-lr0.01)"), std::string::npos);
}

TEST_F(BenchRunner, ConcurrentRunsWaitForTheLargerBudget) {
  WriteSuite("[fixed]", "[0.5, 0.1, 0.01]", "[0.001, 0.01]");
  // The first run prepares the data (later runs need not wait for it); it
  // is the source of the lr-0.001 copies, made although the sweep stopped.
  EXPECT_EQ(Bench({"--jobs", "2", "--max-runs", "1"}).exit_code, 1);
  EXPECT_EQ(Calls(), std::vector<std::string>{"fixed 0.5 16 0.001"});
  EXPECT_EQ(Results()["counts"]["ok"], 3);
  // With two slots, fixed 0.1 at lr 0.01 would start next to fixed 0.5 if it
  // did not wait for it, and train.
  auto second = Bench({"--jobs", "2"});
  EXPECT_EQ(second.exit_code, 0) << second.out;
  EXPECT_EQ(Calls(), (std::vector<std::string>{"fixed 0.5 16 0.001", "fixed 0.5 16 0.01"}));
  EXPECT_EQ(Results()["counts"]["ok"], 6);

  // Resume with two slots: the copies stay done.
  WriteSuite("[fixed, alpha]", "[0.5, 0.1, 0.01]", "[0.01]");
  EXPECT_EQ(Bench({"--jobs", "2", "--max-runs", "1"}).exit_code, 1);
  auto last = Bench({"--jobs", "2"});
  EXPECT_EQ(last.exit_code, 0) << last.out;
  auto calls = Calls();
  EXPECT_EQ(calls.size(), 5u);
  EXPECT_EQ(std::count_if(calls.begin(), calls.end(),
                          [](const std::string& c) { return c.rfind("fixed", 0) == 0; }),
            2);
  EXPECT_EQ(Results()["counts"]["ok"], 6);
  EXPECT_EQ(Run("ds/dlrm/fixed/d16-b0.1-lr0.01")["same_as"], "ds/dlrm/fixed/d16-b0.5-lr0.01");
  EXPECT_EQ(Run("ds/dlrm/fixed/d16-b0.01-lr0.01")["budget"], 0.01);
}

// The command line's --set wins over every set of the suite file (suite,
// dataset and method sets) but may not name a sweep axis.
TEST(BenchSuite, CommandLineSetsComeLast) {
  Suite suite;
  suite.datasets = {{"ds", {"data.generate.rows=100"}}};
  suite.sets = {"train.max_steps=5"};
  suite.method_sets["alpha"] = {"train.max_steps=6"};
  suite.override_sets = {"data.generate.rows=200", "train.max_steps=7"};
  suite.budgets = {0.5};
  suite.lrs = {0.01};
  const auto runs = ExpandRuns(suite, {{"alpha", "hashing", "", true, false}});
  ASSERT_EQ(runs.size(), 1u);
  auto last = [&](const std::string& key) {
    std::string v;
    for (const auto& kv : runs[0].sets)
      if (kv.rfind(key + "=", 0) == 0) v = kv.substr(key.size() + 1);
    return v;
  };
  EXPECT_EQ(last("data.generate.rows"), "200");
  EXPECT_EQ(last("train.max_steps"), "7");
  EXPECT_EQ(last("embedding.budget"), "0.5");
}

TEST_F(BenchRunner, SetOfASweepAxisIsAUsageError) {
  WriteSuite("[alpha]", "[0.5]", "[0.01]");
  auto r = Bench({"--set", "optimizer.lr=0.1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--lrs"), std::string::npos) << r.err;
  EXPECT_TRUE(Calls().empty());
}

}  // namespace
}  // namespace ecps::bench
