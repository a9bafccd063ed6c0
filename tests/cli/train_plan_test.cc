// `ecps train --plan` through the binary: the memory it forecasts without
// training equals what the trained run reports (results.json), per method.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/cli/bench_test_util.h"

namespace ecps::bench::testing {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Args(const std::string& dir, const std::vector<std::string>& sets,
                              const std::string& verb_flag) {
  std::vector<std::string> args = {"train", verb_flag, "--log-level", "warn"};
  std::vector<std::string> all = {"data.generate.rows=20000",
                                  "data.generate.features=5000",
                                  "data.cache_dir=" + dir + "/data",
                                  "model.bottom=16",
                                  "model.top=16",
                                  "train.max_steps=20",
                                  "train.latency_batches=3",
                                  "output.dir=" + dir + "/run",
                                  "output.progress=none"};
  all.insert(all.end(), sets.begin(), sets.end());
  for (const std::string& s : all) args.insert(args.end(), {"--set", s});
  return args;
}

void ExpectPlanEqualsTrainedRun(const std::vector<std::string>& sets) {
  const std::string dir = FreshDir();
  // The plan first: it must not need (or write) anything of the run.
  std::vector<std::string> plan_args = Args(dir, sets, "--plan");
  plan_args.push_back("--json");
  CliResult plan = RunEcps(plan_args, dir);
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_FALSE(fs::exists(dir + "/run/last.ckpt"));
  const nlohmann::json p = nlohmann::json::parse(plan.out);
  CliResult run = RunEcps(Args(dir, sets, "--json"), dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json r = nlohmann::json::parse(run.out);
  EXPECT_EQ(p["method"], r["method"]);
  EXPECT_EQ(p["inference_memory_bytes"], r["inference_memory_bytes"]);
  EXPECT_EQ(p["inference_memory_ratio"], r["inference_memory_ratio"]);
  for (const char* key :
       {"embedding_parameter_bytes", "embedding_optimizer_bytes", "embedding_auxiliary_bytes",
        "embedding_dense_optimizer_bytes", "embedding_total_bytes", "dense_parameter_bytes",
        "dense_optimizer_bytes", "total_bytes"})
    EXPECT_EQ(p["training_memory"][key], r["training_memory"][key]) << key;
  // The tables add up to the parameters, the servers to the tables.
  uint64_t params = 0, per_server = 0;
  for (const auto& t : p["tables"]) params += t["parameter_bytes"].get<uint64_t>();
  for (const auto& s : p["servers"]) per_server += s["parameter_bytes"].get<uint64_t>();
  EXPECT_EQ(params, p["training_memory"]["embedding_parameter_bytes"].get<uint64_t>());
  EXPECT_EQ(per_server, params);
}

TEST(TrainPlanTest, FullEqualsTheTrainedRun) { ExpectPlanEqualsTrainedRun({}); }
TEST(TrainPlanTest, HashEqualsTheTrainedRun) {
  ExpectPlanEqualsTrainedRun({"embedding.method=hash", "embedding.budget=0.1"});
}
TEST(TrainPlanTest, Int8EqualsTheTrainedRun) {
  ExpectPlanEqualsTrainedRun({"embedding.method=int8"});
}
TEST(TrainPlanTest, DheWithDenseDecoderEqualsTheTrainedRun) {
  ExpectPlanEqualsTrainedRun({"embedding.method=dhe", "embedding.budget=0.1"});
}

TEST(TrainPlanTest, PerServerBytesFollowTheVirtualShards) {
  const std::string dir = FreshDir();
  std::vector<std::string> args =
      Args(dir, {"cluster.servers=3", "cluster.virtual_shards=6"}, "--plan");
  args.push_back("--json");
  CliResult plan = RunEcps(args, dir);
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  const nlohmann::json p = nlohmann::json::parse(plan.out);
  ASSERT_EQ(p["servers"].size(), 3u);
  ASSERT_EQ(p["tables"].size(), 1u);
  // Rows r with r mod 6 in {s, s + 3} live on server s: about a third each.
  const uint64_t rows = p["tables"][0]["rows"].get<uint64_t>();
  uint64_t sum = 0;
  for (const auto& s : p["servers"]) {
    const uint64_t b = s["parameter_bytes"].get<uint64_t>();
    EXPECT_LE(b, (rows / 3 + 2) * 64);  // 16 x f32 = 64 B per row
    EXPECT_GE(b, (rows / 3 - 2) * 64);
    EXPECT_EQ(s["optimizer_bytes"].get<uint64_t>(), 2 * b);  // Adam m, v
    sum += b;
  }
  EXPECT_EQ(sum, rows * 64);
  CliResult text =
      RunEcps(Args(dir, {"cluster.servers=3", "cluster.virtual_shards=6"}, "--plan"), dir);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("inference memory"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("server 2"), std::string::npos) << text.out;
}

}  // namespace
}  // namespace ecps::bench::testing
