// The operator verbs on checkpoints of small real runs, through the ecps
// binary: `checkpoint inspect` (per-shard and per-server bytes, stage names,
// config), `checkpoint export` (a decoded table as .npy) and `predict`
// (batch scoring equal to the training job's own test evaluation) and
// `checkpoint convert` (a servable bundle that predicts the same), and
// `checkpoint reshard` (2 -> 3 servers, then resume).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/file_util.h"
#include "tests/cli/bench_test_util.h"
#include "vectors/vector_io.h"

namespace ecps::bench::testing {
namespace {

namespace fs = std::filesystem;

// Trains a small run (20000 generated rows) in `dir`/run with `sets` added.
std::string Train(const std::string& dir, const std::vector<std::string>& sets) {
  fs::create_directories(dir);
  std::vector<std::string> args = {"train", "--log-level", "warn"};
  std::vector<std::string> all = {"data.generate.rows=20000",
                                  "data.generate.features=5000",
                                  "data.cache_dir=" + dir + "/data",
                                  "model.bottom=16",
                                  "model.top=16",
                                  "train.max_steps=30",
                                  "train.latency_batches=3",
                                  "output.checkpoint_every=10",
                                  "output.dir=" + dir + "/run",
                                  "output.progress=none"};
  all.insert(all.end(), sets.begin(), sets.end());
  for (const std::string& s : all) args.insert(args.end(), {"--set", s});
  CliResult r = RunEcps(args, dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? dir + "/run" : "";
}

const std::vector<std::string> kCluster = {"cluster.simulate=true", "cluster.servers=2",
                                           "cluster.virtual_shards=4"};

nlohmann::json InspectJson(const std::string& ckpt) {
  CliResult r = RunEcps({"checkpoint", "inspect", "--json", ckpt}, fs::path(ckpt).parent_path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(CheckpointInspectTest, ClusterShowsEveryShardServerAndTheConfig) {
  const std::string dir = FreshDir();
  const std::string run = Train(dir, kCluster);
  ASSERT_FALSE(run.empty());
  const nlohmann::json j = InspectJson(run + "/last.ckpt");
  EXPECT_EQ(j["format"], "cluster");
  EXPECT_EQ(j["method"], "full");
  EXPECT_EQ(j["step"], 30);
  EXPECT_EQ(j["stage_name"], "train");
  EXPECT_EQ(j["stages"], nlohmann::json::array({"train"}));
  EXPECT_EQ(j["model"], "dlrm");
  EXPECT_EQ(j["dim"], 16);
  // The build that trained it (recorded in the checkpoint's STAT section).
  ASSERT_TRUE(j["git_commit"].is_string());
  EXPECT_FALSE(j["git_commit"].get<std::string>().empty());
  ASSERT_EQ(j["tables"].size(), 1u);
  const auto& t = j["tables"][0];
  ASSERT_EQ(t["shards"].size(), 4u);
  uint64_t rows = 0, bytes = 0;
  for (const auto& s : t["shards"]) {
    rows += s["rows"].get<uint64_t>();
    bytes += s["bytes"].get<uint64_t>();
    EXPECT_EQ(s["bytes"].get<uint64_t>(), s["rows"].get<uint64_t>() * 16 * 4);  // f32 x dim 16
  }
  EXPECT_EQ(rows, t["rows"].get<uint64_t>());
  EXPECT_EQ(bytes, t["bytes"].get<uint64_t>());
  // Virtual shard v on server v mod 2.
  ASSERT_EQ(j["server_bytes"].size(), 2u);
  EXPECT_EQ(j["server_bytes"][0].get<uint64_t>(),
            t["shards"][0]["bytes"].get<uint64_t>() + t["shards"][2]["bytes"].get<uint64_t>());
  EXPECT_EQ(j["server_bytes"][1].get<uint64_t>(),
            t["shards"][1]["bytes"].get<uint64_t>() + t["shards"][3]["bytes"].get<uint64_t>());
  // The whole effective config of the run.
  const std::string config = j["config"].get<std::string>();
  EXPECT_NE(config.find("virtual_shards: 4"), std::string::npos) << config;
  EXPECT_NE(config.find("max_steps: 30"), std::string::npos) << config;

  CliResult text = RunEcps({"checkpoint", "inspect", run + "/last.ckpt"}, run);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("by server       server 0 "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("stage           0 'train' of 1"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("    train:"), std::string::npos) << text.out;
}

TEST(CheckpointInspectTest, SingleProcessPostTrainingStageIsNamed) {
  const std::string dir = FreshDir();
  const std::string run = Train(dir, {"embedding.method=post4bits"});
  ASSERT_FALSE(run.empty());
  const nlohmann::json j = InspectJson(run + "/best.ckpt");
  EXPECT_EQ(j["format"], "single-process");
  EXPECT_EQ(j["stages"], nlohmann::json::array({"train", "quantize"}));
  EXPECT_EQ(j["stage"], 1);
  EXPECT_EQ(j["stage_name"], "quantize");
  ASSERT_EQ(j["tables"].size(), 1u);
  EXPECT_EQ(j["tables"][0]["dtype"], "u4");
  ASSERT_EQ(j["tables"][0]["shards"].size(), 1u);
  EXPECT_EQ(j["server_bytes"], nlohmann::json::array({j["parameter_bytes"]}));
}

vectors::VectorSet Export(const std::string& ckpt, const std::string& table,
                          const std::string& out) {
  CliResult r =
      RunEcps({"checkpoint", "export", "--table", table, "--format", "npy", "--out", out, ckpt},
              fs::path(ckpt).parent_path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto v = vectors::ReadVectors(out);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : vectors::VectorSet{};
}

// The simulation trains to the same rows as one process (same seed, BSP), so
// the cluster's table reassembled from its 4 shards equals the single
// process's, row for row: the shard interleaving is undone exactly.
TEST(CheckpointExportTest, ClusterTableReassemblesToTheSingleProcessTable) {
  const std::string dir = FreshDir();
  const std::string single = Train(dir + "/single", {});
  const std::string cluster = Train(dir + "/cluster", kCluster);
  ASSERT_FALSE(single.empty());
  ASSERT_FALSE(cluster.empty());
  const vectors::VectorSet a = Export(single + "/last.ckpt", "E", dir + "/single.npy");
  const vectors::VectorSet b = Export(cluster + "/last.ckpt", "E", dir + "/cluster.npy");
  const nlohmann::json j = InspectJson(single + "/last.ckpt");
  EXPECT_EQ(a.n, j["tables"][0]["rows"].get<uint64_t>());
  EXPECT_EQ(a.dim, 16);
  ASSERT_EQ(a.n, b.n);
  ASSERT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.values, b.values);
  // The documented layout: NumPy format 1.0, little-endian float32, C order, 2-D.
  auto bytes = ReadFile(dir + "/cluster.npy");
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_NE(bytes->find("'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(a.n) +
                        ", 16)"),
            std::string::npos);
}

TEST(CheckpointExportTest, QuantisedTableIsDecodedAndBadRequestsAreRefused) {
  const std::string dir = FreshDir();
  const std::string run = Train(dir, {"embedding.method=int8"});
  ASSERT_FALSE(run.empty());
  const vectors::VectorSet v = Export(run + "/best.ckpt", "E", dir + "/e.npy");
  ASSERT_GT(v.n, 1000u);
  // int8 stores 8-bit codes on one global grid: at most 256 distinct decoded
  // values, each the grid's first value plus a whole number of steps.
  std::vector<float> u = v.values;
  std::sort(u.begin(), u.end());
  u.erase(std::unique(u.begin(), u.end()), u.end());
  ASSERT_GT(u.size(), 2u);
  ASSERT_LE(u.size(), 256u);
  float step = u[1] - u[0];
  for (size_t i = 2; i < u.size(); ++i) step = std::min(step, u[i] - u[i - 1]);
  for (float x : u) {
    const double k = (x - u[0]) / step;
    ASSERT_NEAR(k, std::round(k), 1e-3) << x;
  }
  CliResult r = RunEcps(
      {"checkpoint", "export", "--table", "Q", "--out", dir + "/q.npy", run + "/best.ckpt"}, dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no table 'Q' (its tables: E)"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/q.npy"));
  r = RunEcps({"checkpoint", "export", "--table", "E", "--format", "csv", "--out", dir + "/e.csv",
               run + "/best.ckpt"},
              dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(RunEcps({"checkpoint", "export", "--table", "E", run + "/best.ckpt"}, dir).exit_code,
            2);
}

// `predict` of the run's test split equals the test evaluation the training
// job reported (results.json), for every method of the issue.
void ExpectPredictEqualsTraining(const std::vector<std::string>& sets) {
  const std::string dir = FreshDir();
  const std::string run = Train(dir, sets);
  ASSERT_FALSE(run.empty());
  auto results_text = ReadFile(run + "/results.json");
  ASSERT_TRUE(results_text.ok());
  const nlohmann::json results = nlohmann::json::parse(*results_text);
  CliResult r = RunEcps({"predict", "--model", run + "/best.ckpt", "--out", dir + "/p.txt",
                         "--json", "--progress", "log"},
                        dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json p = nlohmann::json::parse(r.out);
  EXPECT_EQ(p["method"], results["method"]);
  EXPECT_EQ(p["rows"], results["dataset"]["test_rows"]);
  EXPECT_NEAR(p["auc"].get<double>(), results["test_auc"].get<double>(), 1e-12);
  EXPECT_NEAR(p["logloss"].get<double>(), results["test_logloss"].get<double>(), 1e-9);
  EXPECT_EQ(p["inference_memory_bytes"], results["inference_memory_bytes"]);
  EXPECT_GT(p["rows_per_s"].get<double>(), 0);
  EXPECT_NE(r.err.find("predict: "), std::string::npos) << r.err;  // the progress line
  // One probability per test row.
  std::ifstream in(dir + "/p.txt");
  uint64_t lines = 0;
  for (double prob; in >> prob; ++lines) {
    ASSERT_GT(prob, 0.0);
    ASSERT_LT(prob, 1.0);
  }
  EXPECT_EQ(lines, results["dataset"]["test_rows"].get<uint64_t>());

  // The servable bundle of the same checkpoint predicts the same, line for
  // line, and holds no optimizer state (smaller than the checkpoint).
  r = RunEcps(
      {"checkpoint", "convert", "--json", "--out", dir + "/model.bundle", run + "/best.ckpt"}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json conv = nlohmann::json::parse(r.out);
  EXPECT_EQ(conv["bytes"].get<uint64_t>(), fs::file_size(dir + "/model.bundle"));
  EXPECT_EQ(conv["inference_memory_bytes"], results["inference_memory_bytes"]);
  r = RunEcps({"predict", "--model", dir + "/model.bundle", "--out", dir + "/b.txt", "--json",
               "--progress", "none"},
              dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json b = nlohmann::json::parse(r.out);
  EXPECT_EQ(b["auc"], p["auc"]);
  EXPECT_EQ(b["logloss"], p["logloss"]);
  EXPECT_EQ(b["inference_memory_bytes"], results["inference_memory_bytes"]);
  EXPECT_EQ(ReadFile(dir + "/b.txt").value_or("b"), ReadFile(dir + "/p.txt").value_or("p"));
  // inspect reads the bundle's header: these methods hold nothing beside
  // their tables, so the tables' bytes are the reported inference memory.
  r = RunEcps({"checkpoint", "inspect", "--json", dir + "/model.bundle"}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json h = nlohmann::json::parse(r.out);
  EXPECT_EQ(h["format"], "ecps-bundle");
  EXPECT_EQ(h["method"], results["method"]);
  EXPECT_EQ(h["table_bytes"], results["inference_memory_bytes"]);
  EXPECT_EQ(h["bytes"].get<uint64_t>(), fs::file_size(dir + "/model.bundle"));
  EXPECT_FALSE(h["converted_by_git_commit"].get<std::string>().empty());
}

TEST(PredictTest, FullEqualsTheTrainingJobsTestEvaluation) { ExpectPredictEqualsTraining({}); }
TEST(PredictTest, HashEqualsTheTrainingJobsTestEvaluation) {
  ExpectPredictEqualsTraining({"embedding.method=hash", "embedding.budget=0.25"});
}
TEST(PredictTest, Int8EqualsTheTrainingJobsTestEvaluation) {
  ExpectPredictEqualsTraining({"embedding.method=int8"});
}
TEST(PredictTest, Post4bitsEqualsTheTrainingJobsTestEvaluation) {
  ExpectPredictEqualsTraining({"embedding.method=post4bits"});
}
TEST(PredictTest, ClusterCheckpointEqualsTheTrainingJobsTestEvaluation) {
  std::vector<std::string> sets = kCluster;
  sets.insert(sets.end(), {"embedding.method=int8"});
  ExpectPredictEqualsTraining(sets);
}
// Per-row scales (u4 codes with f16 pairs) reassembled from 4 shards.
TEST(PredictTest, ClusterPost4bitsEqualsTheTrainingJobsTestEvaluation) {
  std::vector<std::string> sets = kCluster;
  sets.insert(sets.end(), {"embedding.method=post4bits"});
  ExpectPredictEqualsTraining(sets);
}

TEST(ConvertTest, DamagedBundleAndOtherDataAreRefused) {
  const std::string dir = FreshDir();
  const std::string run = Train(dir, {"embedding.method=int8"});
  ASSERT_FALSE(run.empty());
  ASSERT_EQ(RunEcps({"checkpoint", "convert", "--out", dir + "/m.bundle", run + "/best.ckpt"}, dir)
                .exit_code,
            0);
  // No optimizer state: far smaller than the checkpoint (Adam's m and v are
  // 8 bytes per element of the int8 table's 1).
  EXPECT_LT(fs::file_size(dir + "/m.bundle"), fs::file_size(run + "/best.ckpt") / 2);
  {  // one byte flipped
    const auto at = static_cast<std::streamoff>(fs::file_size(dir + "/m.bundle") / 2);
    std::fstream f(dir + "/m.bundle", std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(at);
    char c = 0;
    f.read(&c, 1);
    f.seekp(at);
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  CliResult r = RunEcps({"predict", "--model", dir + "/m.bundle", "--out", dir + "/p.txt"}, dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bundle '" + dir + "/m.bundle': checksum mismatch"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir + "/p.txt"));
  r = RunEcps({"checkpoint", "verify", dir + "/m.bundle"}, dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("checksum mismatch"), std::string::npos) << r.err;
  // Converting against data the model was not trained on is refused.
  const std::string other = dir + "/other";
  ASSERT_FALSE(Train(other, {"data.generate.seed=7"}).empty());
  std::string other_cache;
  for (const auto& e : fs::directory_iterator(other + "/data"))
    if (e.path().extension() == ".ecache") other_cache = e.path().string();
  r = RunEcps({"checkpoint", "convert", "--data", other_cache, "--out", dir + "/o.bundle",
               run + "/best.ckpt"},
              dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("the data"), std::string::npos) << r.err;  // features or identity
  EXPECT_FALSE(fs::exists(dir + "/o.bundle"));
  EXPECT_EQ(RunEcps({"checkpoint", "convert", run + "/best.ckpt"}, dir).exit_code, 2);
}

TEST(PredictTest, ExplicitCacheAndBadInputs) {
  const std::string dir = FreshDir();
  const std::string run = Train(dir, {"embedding.method=hash", "embedding.budget=0.25"});
  ASSERT_FALSE(run.empty());
  std::string cache;
  for (const auto& e : fs::directory_iterator(dir + "/data"))
    if (e.path().extension() == ".ecache") cache = e.path().string();
  ASSERT_FALSE(cache.empty());
  // The same cache named explicitly, its validation split, the first 100 rows.
  CliResult r = RunEcps({"predict", "--model", run + "/best.ckpt", "--input", cache, "--split",
                         "validation", "--max-rows", "100", "--out", dir + "/v.txt", "--json"},
                        dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["rows"], 100);
  // A cache of another vocabulary is refused, naming both sizes.
  const std::string other = dir + "/other";
  ASSERT_FALSE(Train(other, {"data.generate.features=3000"}).empty());
  std::string other_cache;
  for (const auto& e : fs::directory_iterator(other + "/data"))
    if (e.path().extension() == ".ecache") other_cache = e.path().string();
  r = RunEcps(
      {"predict", "--model", run + "/best.ckpt", "--input", other_cache, "--out", dir + "/o.txt"},
      dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("features; the model"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/o.txt"));
  // Usage errors and missing files: exit 2.
  EXPECT_EQ(RunEcps({"predict", "--model", run + "/best.ckpt"}, dir).exit_code, 2);
  EXPECT_EQ(RunEcps({"predict", "--model", dir + "/none.ckpt", "--out", dir + "/x"}, dir).exit_code,
            2);
  EXPECT_EQ(
      RunEcps({"predict", "--model", run + "/best.ckpt", "--out", dir + "/x", "--split", "dev"},
              dir)
          .exit_code,
      2);
  // Without --input the model's own training data is used only while it is
  // still that data: a rewritten input (mtime) rebuilds the cache under the
  // same config, and the model refuses it.
  std::string text;
  for (const auto& e : fs::directory_iterator(dir + "/data"))
    if (e.path().extension() == ".txt") text = e.path().string();
  ASSERT_FALSE(text.empty());
  fs::last_write_time(text, fs::last_write_time(text) + std::chrono::hours(1));
  r = RunEcps({"predict", "--model", run + "/best.ckpt", "--out", dir + "/s.txt"}, dir);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("is not the data"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/s.txt"));
  // A damaged model is not used.
  fs::resize_file(run + "/best.ckpt", fs::file_size(run + "/best.ckpt") - 5);
  r = RunEcps({"predict", "--model", run + "/best.ckpt", "--out", dir + "/d.txt"}, dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(fs::exists(dir + "/d.txt"));
}

}  // namespace
}  // namespace ecps::bench::testing

namespace ecps::bench::testing {
namespace {

nlohmann::json ResumeOntoThree(const std::string& dir, const std::string& out) {
  std::vector<std::string> args = {"train", "--resume", "--json", "--log-level", "warn"};
  for (const std::string& s : std::vector<std::string>{
           "data.generate.rows=20000", "data.generate.features=5000",
           "data.cache_dir=" + dir + "/data", "model.bottom=16", "model.top=16",
           "train.max_steps=40", "train.latency_batches=3", "output.checkpoint_every=10",
           "output.dir=" + out, "output.progress=none", "cluster.simulate=true",
           "cluster.servers=3", "cluster.virtual_shards=4"})
    args.insert(args.end(), {"--set", s});
  CliResult r = RunEcps(args, dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
}

// Issue 19: reshard from 2 to 3 servers, then resume, gives the result of
// resuming the 2-server checkpoint onto 3 servers directly.
TEST(ReshardTest, TwoToThreeServersThenResumeEqualsResumingOntoThree) {
  const std::string dir = FreshDir();
  std::vector<std::string> sets = kCluster;
  sets.push_back("train.max_steps=20");
  const std::string run = Train(dir, sets);
  ASSERT_FALSE(run.empty());
  fs::copy(run, dir + "/direct", fs::copy_options::recursive);
  CliResult r = RunEcps(
      {"checkpoint", "reshard", "--servers", "3", "--out", dir + "/three", run + "/last.ckpt"},
      dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("last.ckpt: 4 virtual shards for 3 server(s), verified"), std::string::npos)
      << r.out;
  const nlohmann::json j = InspectJson(dir + "/three/last.ckpt");
  EXPECT_EQ(j["servers"], 3);
  EXPECT_EQ(j["server_bytes"].size(), 3u);
  EXPECT_NE(j["config"].get<std::string>().find("servers: 3"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir + "/three/best.ckpt"));

  const nlohmann::json resharded = ResumeOntoThree(dir, dir + "/three");
  const nlohmann::json direct = ResumeOntoThree(dir, dir + "/direct");
  ASSERT_FALSE(resharded.is_null());
  ASSERT_FALSE(direct.is_null());
  EXPECT_EQ(resharded["steps"], 40);
  EXPECT_EQ(resharded["test_auc"], direct["test_auc"]);
  EXPECT_EQ(resharded["test_logloss"], direct["test_logloss"]);
  EXPECT_EQ(resharded["history"], direct["history"]);

  // More servers than virtual shards, a non-empty --out, a single-process
  // checkpoint: refused, nothing written.
  r = RunEcps(
      {"checkpoint", "reshard", "--servers", "5", "--out", dir + "/five", run + "/last.ckpt"}, dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("exceeds the 4 virtual shards"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/five"));
  r = RunEcps(
      {"checkpoint", "reshard", "--servers", "2", "--out", dir + "/three", run + "/last.ckpt"},
      dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("already holds checkpoint file"), std::string::npos) << r.err;
  const std::string single = Train(dir + "/single", {});
  ASSERT_FALSE(single.empty());
  r = RunEcps(
      {"checkpoint", "reshard", "--servers", "2", "--out", dir + "/s2", single + "/last.ckpt"},
      dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not a cluster manifest"), std::string::npos) << r.err;
}

// A damaged shard is refused by reshard, naming it, and nothing of the
// resharded checkpoint is left in --out (shards are copied a chunk at a time
// and committed only with the manifest's size and checksum).
TEST(ReshardTest, DamagedShardIsNamedAndNothingIsWritten) {
  const std::string dir = FreshDir();
  std::vector<std::string> sets = kCluster;
  sets.push_back("train.max_steps=20");
  const std::string run = Train(dir, sets);
  ASSERT_FALSE(run.empty());
  std::string shard;
  for (const auto& e : fs::directory_iterator(run))
    if (e.path().extension() == ".shard") shard = e.path().string();
  ASSERT_FALSE(shard.empty());
  std::string bytes = ReadFile(shard).value_or("");
  ASSERT_GT(bytes.size(), 100u);
  bytes[bytes.size() / 2] ^= 0x10;
  ASSERT_TRUE(AtomicWriteFile(shard, bytes).ok());
  CliResult r = RunEcps(
      {"checkpoint", "reshard", "--servers", "3", "--out", dir + "/three", run + "/last.ckpt"},
      dir);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find(fs::path(shard).filename().string()), std::string::npos) << r.err;
  size_t files = 0;
  if (fs::exists(dir + "/three"))
    for (const auto& e : fs::directory_iterator(dir + "/three"))
      files +=
          e.path().filename().string().rfind("ckpt.g", 0) == 0 || e.path().extension() == ".ckpt";
  EXPECT_EQ(files, 0u);
}

}  // namespace
}  // namespace ecps::bench::testing
