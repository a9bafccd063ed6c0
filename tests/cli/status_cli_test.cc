// `ecps status --dir` through the real binary: a finished run (stage, step,
// last evaluation and results equal to its results.json), a running one (a
// live holder in its lock file), a killed one (a dead holder), and the
// refusals.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/cli/bench_test_util.h"

namespace ecps::bench::testing {
namespace {

namespace fs = std::filesystem;

std::string Host() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return host;
}

void WriteLockRecord(const std::string& run, long pid) {
  std::ofstream(run + "/.ecps-lock", std::ios::trunc)
      << "host=" << Host() << " pid=" << pid << " started=2026-01-02T03:04:05Z\n";
}

TEST(StatusTest, FinishedRunningAndKilledJobs) {
  const std::string dir = FreshDir();
  std::vector<std::string> args = {"train", "--log-level", "warn"};
  for (const std::string& s :
       {std::string("data.generate.rows=20000"), std::string("data.generate.features=5000"),
        "data.cache_dir=" + dir + "/data", std::string("model.bottom=16"),
        std::string("model.top=16"), std::string("train.max_steps=90"),
        std::string("train.evals_per_epoch=4"), std::string("train.latency_batches=3"),
        "output.dir=" + dir + "/run", std::string("output.progress=none")})
    args.insert(args.end(), {"--set", s});
  CliResult t = RunEcps(args, dir);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  const std::string run = dir + "/run";
  const nlohmann::json results = ReadJson(run + "/results.json");

  CliResult r = RunEcps({"status", "--dir", run, "--json"}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["state"], "finished");
  EXPECT_EQ(j["method"], "full");
  EXPECT_EQ(j["stage"]["name"], "train");
  EXPECT_EQ(j["step"], results["steps"]);
  ASSERT_TRUE(j.contains("last_evaluation")) << r.out;
  EXPECT_EQ(j["evaluations"], results["history"].size());
  EXPECT_EQ(j["last_evaluation"], results["history"].back());
  EXPECT_EQ(j["results"]["test_auc"], results["test_auc"]);
  EXPECT_EQ(j["results"]["stop_reason"], results["stop_reason"]);
  EXPECT_TRUE(j["results"]["from_this_run"].get<bool>());
  EXPECT_TRUE(j["checkpoints"].contains("best"));
  r = RunEcps({"status", "--dir", run}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("finished"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("last eval"), std::string::npos) << r.out;

  // A live holder (this test's own pid) is a running job; its results.json
  // is then an earlier run's.
  WriteLockRecord(run, static_cast<long>(getpid()));
  r = RunEcps({"status", "--dir", run, "--json"}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["state"], "running");
  EXPECT_EQ(j["holder"]["pid"], getpid());
  EXPECT_FALSE(j["results"]["from_this_run"].get<bool>());
  // A holder that has exited without emptying the record was killed.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  WriteLockRecord(run, static_cast<long>(child));
  r = RunEcps({"status", "--dir", run, "--json"}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["state"], "killed");
}

TEST(StatusTest, ADirectoryWithoutAJobIsRefused) {
  const std::string dir = FreshDir();
  CliResult r = RunEcps({"status", "--dir", dir}, dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("holds no ecps job"), std::string::npos) << r.err;
  EXPECT_EQ(RunEcps({"status", "--dir", dir + "/none"}, dir).exit_code, 2);
  EXPECT_EQ(RunEcps({"status"}, dir).exit_code, 2);
  // A damaged checkpoint is a runtime failure, naming it.
  std::ofstream(dir + "/last.ckpt") << "ECPSCKPT garbage";
  r = RunEcps({"status", "--dir", dir}, dir);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("last.ckpt"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ecps::bench::testing
