// `ecps bench --profile quick` end to end with the real trainer (label
// integration): every output exists, every registered method was swept and
// appears in the report, every run finished.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "tests/cli/bench_test_util.h"
#include "tools/bench/methods.h"

namespace ecps::bench {
namespace {

namespace fs = std::filesystem;

TEST(BenchQuickProfile, ProducesCsvJsonMarkdownAndPlots) {
  const std::string dir = testing::FreshDir();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = testing::RunEcps({"bench", "--profile", "quick", "--out", dir + "/out"}, dir);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("quick profile: %.0f s\n%s", secs, r.out.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_LT(secs, 600) << "the quick profile must stay under 10 minutes";
  for (const char* f : {"results.csv", "results.json", "report.md"})
    ASSERT_TRUE(fs::exists(dir + "/out/" + f)) << f;
  int pngs = 0;
  for (const auto& e : fs::directory_iterator(dir + "/out/report"))
    if (e.path().extension() == ".png" && fs::file_size(e.path()) > 1000) ++pngs;
  EXPECT_GE(pngs, 5) << "AUC/memory, time, latency and two AUC/dim figures";

  auto results = testing::ReadJson(dir + "/out/results.json");
  EXPECT_EQ(results["counts"]["failed"], 0);
  EXPECT_EQ(results["counts"]["pending"], 0);
  const std::string md = ReadFile(dir + "/out/report.md").value_or("");
  ExitInfo info;
  auto listing = RunAndCapture({ECPS_BIN, "train", "--list-methods", "--json"}, &info);
  ASSERT_TRUE(listing.ok());
  auto registered = ParseMethodList(*listing);
  ASSERT_TRUE(registered.ok()) << registered.status();
  for (const auto& m : *registered) {
    EXPECT_NE(md.find("| " + m.name + " |"), std::string::npos) << m.name;
    bool swept = false;
    for (const auto& run : results["runs"]) swept |= run["method"] == m.name;
    EXPECT_TRUE(swept) << m.name << " was not swept";
  }
  for (const auto& run : results["runs"]) {
    EXPECT_TRUE(run.contains("test_auc")) << run["id"];
    EXPECT_TRUE(run.contains("config")) << run["id"];
  }
}

}  // namespace
}  // namespace ecps::bench
