// `ecps checkpoint verify` as an operator runs it, on checkpoints written by
// real (small) training runs: a simulated 2-server cluster and a single
// process. Intact checkpoints verify with a summary; a damaged, truncated or
// missing part is named and the exit code is non-zero.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/cli/bench_test_util.h"
#include "worker/checkpoint.h"

namespace ecps::bench::testing {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> SmallRun(const std::string& dir, bool cluster) {
  std::vector<std::string> args = {"train",
                                   "--set",
                                   "data.generate.rows=20000",
                                   "--set",
                                   "data.generate.features=5000",
                                   "--set",
                                   "data.cache_dir=" + dir + "/data",
                                   "--set",
                                   "model.bottom=16",
                                   "--set",
                                   "model.top=16",
                                   "--set",
                                   "train.max_steps=20",
                                   "--set",
                                   "train.latency_batches=3",
                                   "--set",
                                   "output.checkpoint_every=10",
                                   "--set",
                                   "output.dir=" + dir + "/run",
                                   "--set",
                                   "output.progress=none",
                                   "--log-level",
                                   "warn"};
  if (cluster)
    for (const char* s : {"cluster.simulate=true", "cluster.servers=2", "cluster.virtual_shards=4"})
      args.insert(args.end(), {"--set", s});
  return args;
}

// Trains a small run in this test's own folder (ctest runs every test in a
// process of its own, in parallel) and returns its output.dir.
std::string Train(bool cluster) {
  const std::string dir = FreshDir();
  CliResult r = RunEcps(SmallRun(dir, cluster), dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? dir + "/run" : "";
}

nlohmann::json VerifyJson(const std::string& ckpt, int* exit_code) {
  CliResult r = RunEcps({"checkpoint", "verify", "--json", ckpt}, fs::path(ckpt).parent_path());
  *exit_code = r.exit_code;
  return nlohmann::json::parse(r.out);
}

TEST(CheckpointCliTest, IntactClusterCheckpointFromTwoServersVerifies) {
  const std::string run = Train(/*cluster=*/true);
  ASSERT_FALSE(run.empty());
  const std::string ckpt = run + "/last.ckpt";
  CliResult text = RunEcps({"checkpoint", "verify", ckpt}, run);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("intact"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("2 server(s)"), std::string::npos) << text.out;

  int rc = -1;
  nlohmann::json j = VerifyJson(ckpt, &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(j["ok"].get<bool>());
  EXPECT_EQ(j["format"], "cluster");
  EXPECT_EQ(j["name"], "last");
  EXPECT_GE(j["generation"].get<int>(), 1);
  EXPECT_EQ(j["servers"], 2);
  EXPECT_EQ(j["workers"], 1);
  EXPECT_EQ(j["virtual_shards"], 4);
  EXPECT_EQ(j["method"], "full");
  EXPECT_EQ(j["step"], 20);
  EXPECT_TRUE(j["problems"].empty());
  // The manifest, one file per virtual shard and the dense part; every byte counted.
  ASSERT_EQ(j["parts"].size(), 6u);
  uint64_t on_disk = 0;
  int shards = 0;
  for (const auto& p : j["parts"]) {
    EXPECT_EQ(fs::file_size(run + "/" + p["file"].get<std::string>()), p["bytes"].get<uint64_t>());
    on_disk += p["bytes"].get<uint64_t>();
    shards += p["kind"] == "shard";
  }
  EXPECT_EQ(shards, 4);
  EXPECT_EQ(j["total_bytes"].get<uint64_t>(), on_disk);
  // `full`: one fp32 table of every feature, 4 bytes per element.
  ASSERT_EQ(j["tables"].size(), 1u);
  const auto& t = j["tables"][0];
  EXPECT_EQ(t["dtype"], "f32");
  EXPECT_GT(t["rows"].get<uint64_t>(), 1000u);
  EXPECT_EQ(t["bytes"].get<uint64_t>(), t["rows"].get<uint64_t>() * t["width"].get<uint64_t>() * 4);
  EXPECT_EQ(j["parameter_bytes"], t["bytes"]);
  EXPECT_EQ(j["optimizer_bytes"].get<uint64_t>(), 2 * t["bytes"].get<uint64_t>());  // Adam m, v
}

TEST(CheckpointCliTest, DamagedTruncatedAndMissingShardsAreNamed) {
  const std::string run = Train(/*cluster=*/true);
  ASSERT_FALSE(run.empty());
  int rc = -1;
  nlohmann::json j = VerifyJson(run + "/last.ckpt", &rc);
  ASSERT_EQ(rc, 0);
  std::vector<std::string> shards;
  for (const auto& p : j["parts"])
    if (p["kind"] == "shard") shards.push_back(p["file"].get<std::string>());
  ASSERT_EQ(shards.size(), 4u);
  {  // shard 1: one byte flipped in the middle
    std::fstream f(run + "/" + shards[1], std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(fs::file_size(run + "/" + shards[1]) / 2));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(fs::file_size(run + "/" + shards[1]) / 2));
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  fs::resize_file(run + "/" + shards[2], fs::file_size(run + "/" + shards[2]) - 7);
  fs::remove(run + "/" + shards[3]);

  CliResult r = RunEcps({"checkpoint", "verify", run + "/last.ckpt"}, run);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.find(shards[0]), std::string::npos) << r.err;  // intact
  for (int v = 1; v < 4; ++v) EXPECT_NE(r.err.find(shards[v]), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("checksum mismatch"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the manifest says"), std::string::npos) << r.err;  // truncated
  EXPECT_NE(r.err.find("unreadable"), std::string::npos) << r.err;         // missing

  j = VerifyJson(run + "/last.ckpt", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_FALSE(j["ok"].get<bool>());
  EXPECT_EQ(j["problems"].size(), 3u) << j.dump();
  EXPECT_EQ(j["servers"], 2);  // what could be read is still summarised

  // A damaged dense part is named the same way.
  ASSERT_EQ(j["parts"].back()["kind"], "dense");
  const std::string dense = j["parts"].back()["file"].get<std::string>();
  fs::resize_file(run + "/" + dense, fs::file_size(run + "/" + dense) - 1);
  r = RunEcps({"checkpoint", "verify", run + "/last.ckpt"}, run);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(dense), std::string::npos) << r.err;
}

TEST(CheckpointCliTest, SingleProcessCheckpointVerifiesAndDamageIsNamed) {
  const std::string run = Train(/*cluster=*/false);
  ASSERT_FALSE(run.empty());
  int rc = -1;
  nlohmann::json j = VerifyJson(run + "/last.ckpt", &rc);
  EXPECT_EQ(rc, 0) << j.dump();
  EXPECT_EQ(j["format"], "single-process");
  EXPECT_EQ(j["method"], "full");
  EXPECT_EQ(j["step"], 20);
  ASSERT_EQ(j["tables"].size(), 1u);
  EXPECT_GT(j["tables"][0]["rows"].get<uint64_t>(), 1000u);
  EXPECT_EQ(j["total_bytes"].get<uint64_t>(), fs::file_size(run + "/last.ckpt"));
  // The data --resume will insist on (20000 generated rows, split by days).
  ASSERT_TRUE(j["data"].is_object()) << j.dump();
  EXPECT_GT(j["data"]["train_rows"].get<uint64_t>(), 10000u);
  EXPECT_EQ(j["data"]["train_rows"].get<uint64_t>() + j["data"]["val_rows"].get<uint64_t>() +
                j["data"]["test_rows"].get<uint64_t>(),
            20000u);
  EXPECT_EQ(j["data"]["identity_digest"].get<std::string>().size(), 16u);
  CliResult text = RunEcps({"checkpoint", "verify", run + "/last.ckpt"}, run);
  EXPECT_NE(text.out.find("rows (train/val/test)"), std::string::npos) << text.out;

  fs::resize_file(run + "/last.ckpt", fs::file_size(run + "/last.ckpt") - 3);
  CliResult r = RunEcps({"checkpoint", "verify", run + "/last.ckpt"}, run);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(run + "/last.ckpt"), std::string::npos) << r.err;
}

// Issue 14 item 5: a crafted config section (valid checksums) aborted
// `checkpoint verify`; it is checked as a config file is, and named.
TEST(CheckpointCliTest, CraftedConfigSectionIsAProblemNamedNotACrash) {
  const std::string run = Train(/*cluster=*/false);
  ASSERT_FALSE(run.empty());
  auto intact = CheckpointReader::Open(run + "/last.ckpt");
  ASSERT_TRUE(intact.ok()) << intact.status();
  const std::string conf(*intact->Get("CONF"));
  std::string bomb = "a0: &a0 {x: 1, y: 2}\n";
  for (int i = 1; i <= 9; ++i) {
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " {";
    for (int j = 0; j < 10; ++j)
      bomb += (j ? ", k" : "k") + std::to_string(j) + ": *a" + std::to_string(i - 1);
    bomb += "}\n";
  }
  struct Case {
    std::string conf, expect;
  };
  std::string nan_eps = conf;
  const size_t at = nan_eps.find("eps: ");
  ASSERT_NE(at, std::string::npos) << conf;
  nan_eps.replace(at, nan_eps.find('\n', at) - at, "eps: nan");
  for (const Case& c : {Case{"? [a, b]\n: 1\n", "config keys are plain names"},
                        Case{bomb, "more than 100000 YAML nodes"},
                        Case{nan_eps, "config key 'optimizer.eps': value 'nan'"}}) {
    CheckpointWriter w;
    for (const auto& [tag, payload] : intact->sections())
      w.Add(tag, tag == "CONF" ? c.conf : payload);
    ASSERT_TRUE(w.Write(run + "/crafted.ckpt").ok());
    CliResult r = RunEcps({"checkpoint", "verify", run + "/crafted.ckpt"}, run);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("checkpoint '" + run + "/crafted.ckpt' (CONF)"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
  }
}

TEST(CheckpointCliUsageTest, MissingOrForeignFilesAndBadUsageExitTwo) {
  const std::string dir = FreshDir();
  EXPECT_EQ(RunEcps({"checkpoint", "verify", "--help"}, dir).exit_code, 0);
  EXPECT_EQ(RunEcps({"checkpoint"}, dir).exit_code, 2);
  EXPECT_EQ(RunEcps({"checkpoint", "verify"}, dir).exit_code, 2);
  EXPECT_EQ(RunEcps({"checkpoint", "inspect", "x"}, dir).exit_code, 2);
  CliResult r = RunEcps({"checkpoint", "verify", dir + "/none.ckpt"}, dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("none.ckpt"), std::string::npos) << r.err;
  ASSERT_TRUE(AtomicWriteFile(dir + "/notes.txt", "hello").ok());
  r = RunEcps({"checkpoint", "verify", dir + "/notes.txt"}, dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not an ecps checkpoint"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ecps::bench::testing
