// `ecps bench recommend` on the fixed results file: the pick follows the
// budget and the limits, uses validation AUC, explains itself, and exits 1
// when nothing fits.
#include <gtest/gtest.h>

#include "tests/cli/bench_test_util.h"
#include "tools/bench/recommend.h"
#include "tools/bench/results.h"

namespace ecps::bench {
namespace {

const std::string kFixed = std::string(TESTDATA) + "/results_fixed.json";

Constraints Limits(double budget, double max_latency_ms = 0, double max_train_time_s = 0) {
  Constraints c;
  c.budget = budget;
  c.max_latency_ms = max_latency_ms;
  c.max_train_time_s = max_train_time_s;
  return c;
}

std::string Pick(const Constraints& c) {
  auto results = LoadResults(kFixed);
  EXPECT_TRUE(results.ok());
  auto rec = Recommend(*results, c);
  if (!rec.found) return "";
  return rec.json["picks"][0]["method"];
}

TEST(BenchRecommend, FollowsBudgetAndLimits) {
  // 50%: int8 has the best validation AUC (dedup is better but uses 62%).
  EXPECT_EQ(Pick(Limits(0.5)), "int8");
  EXPECT_EQ(Pick(Limits(0.5, 1.0)), "int8");
  // int8 trains for 30 s: with a 20 s limit hash (val 0.80) wins.
  EXPECT_EQ(Pick(Limits(0.5, 0, 20)), "hash");
  // 10%: robe (val 0.776) > compoemb (0.775) > hash (0.77); robe is slow.
  EXPECT_EQ(Pick(Limits(0.1)), "robe");
  EXPECT_EQ(Pick(Limits(0.1, 2.0)), "compoemb");
  EXPECT_EQ(Pick(Limits(0.0001)), "");
}

TEST(BenchRecommend, ExplainsTheChoice) {
  auto results = LoadResults(kFixed);
  ASSERT_TRUE(results.ok());
  auto rec = Recommend(*results, Limits(0.1, 2.0));
  ASSERT_TRUE(rec.found);
  for (const char* needle :
       {"recommended: compoemb", "runner-up hash", "excluded: robe (latency 2.5 ms > 2 ms)",
        "excluded: dedup (memory 62% > 10%)", "excluded: full (memory 100% > 10%)",
        "not available in the measured build: doublehash"})
    EXPECT_NE(rec.text.find(needle), std::string::npos) << needle << "\n" << rec.text;
}

TEST(BenchRecommend, Cli) {
  const std::string dir = testing::FreshDir();
  auto r = testing::RunEcps({"bench", "recommend", "--results", kFixed, "--budget", "10%",
                             "--max-latency-ms", "2", "--max-train-time", "1m"},
                            dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("recommended: compoemb"), std::string::npos) << r.out;
  auto none =
      testing::RunEcps({"bench", "recommend", "--results", kFixed, "--budget", "0.01%"}, dir);
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.out.find("no measured method fits"), std::string::npos) << none.out;
  auto json = testing::RunEcps(
      {"bench", "recommend", "--results", kFixed, "--budget", "0.5", "--json"}, dir);
  EXPECT_EQ(nlohmann::json::parse(json.out)["picks"][0]["method"], "int8");
  EXPECT_EQ(testing::RunEcps({"bench", "recommend", "--results", kFixed}, dir).exit_code, 2);
}

TEST(BenchRecommend, Durations) {
  EXPECT_EQ(ParseDuration("90"), 90);
  EXPECT_EQ(ParseDuration("90s"), 90);
  EXPECT_EQ(ParseDuration("15m"), 900);
  EXPECT_EQ(ParseDuration("2h"), 7200);
  EXPECT_LT(ParseDuration("x"), 0);
}

}  // namespace
}  // namespace ecps::bench
