// `ecps compress` through the real binary: a trained full model compressed
// after training to int8, int16, fp16 and post4bits bundles, the AUC of each
// next to the original's, the reported bytes equal to the bundle's, the
// bundle predicting what compress evaluated, and the refusals.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/cli/bench_test_util.h"

namespace ecps::bench::testing {
namespace {

namespace fs = std::filesystem;

class CompressTest : public ::testing::Test {
 protected:
  // One trained full model for every test of the suite (training is the slow part).
  static void SetUpTestSuite() {
    dir_ = (fs::path(::testing::TempDir()) / "ecps_compress_cli_test").string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::vector<std::string> args = {"train", "--log-level", "warn"};
    for (const std::string& s :
         {std::string("data.generate.rows=20000"), std::string("data.generate.features=5000"),
          "data.cache_dir=" + dir_ + "/data", std::string("model.bottom=16"),
          std::string("model.top=16"), std::string("train.max_steps=600"),
          std::string("train.latency_batches=3"), "output.dir=" + dir_ + "/run",
          std::string("output.progress=none")})
      args.insert(args.end(), {"--set", s});
    CliResult r = RunEcps(args, dir_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const auto& e : fs::directory_iterator(dir_ + "/data"))
      if (e.path().extension() == ".ecache") cache_ = e.path().string();
  }
  static std::string dir_, cache_;
};
std::string CompressTest::dir_, CompressTest::cache_;

struct Case {
  const char* method;
  const char* budget;
  double ratio;  // of the fp32 table, at d = 16
  double max_auc_change;
};

TEST_F(CompressTest, EveryPostTrainingMethodScoresNearTheFullModel) {
  ASSERT_FALSE(cache_.empty());
  const std::string ckpt = dir_ + "/run/best.ckpt";
  // int8 within the 0.002 (the paper: INT8 -0.0016 on Criteo);
  // post4bits' 4 bits cost more.
  for (const Case& c : {Case{"int8", "0.25", 0.25, 0.002}, Case{"int16", "50%", 0.5, 0.0005},
                        Case{"fp16", "0.5", 0.5, 0.0005}, Case{"post4bits", "0.2", 0.1875, 0.01}}) {
    SCOPED_TRACE(c.method);
    const std::string out = dir_ + "/" + c.method + ".bundle";
    CliResult r = RunEcps({"compress", "--model", ckpt, "--method", c.method, "--budget", c.budget,
                           "--out", out, "--eval", cache_, "--json"},
                          dir_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["method"], c.method);
    EXPECT_NEAR(j["ratio"].get<double>(), c.ratio, 1e-9);
    EXPECT_TRUE(j["within_budget"].get<bool>());
    // The reported bytes are the bundle's tables (its header, as inspect reads it).
    CliResult h = RunEcps({"checkpoint", "inspect", "--json", out}, dir_);
    ASSERT_EQ(h.exit_code, 0) << h.err;
    const nlohmann::json header = nlohmann::json::parse(h.out);
    EXPECT_EQ(j["table_bytes"], header["table_bytes"]) << h.out;
    EXPECT_EQ(header["method"], c.method);
    EXPECT_EQ(j["bytes"], fs::file_size(out));
    const nlohmann::json& e = j["eval"];
    EXPECT_EQ(e["split"], "test");
    EXPECT_GT(e["rows"].get<uint64_t>(), 0u);
    EXPECT_GT(e["original"]["auc"].get<double>(), 0.5);
    EXPECT_NEAR(e["compressed"]["auc"].get<double>(), e["original"]["auc"].get<double>(),
                c.max_auc_change);
    EXPECT_DOUBLE_EQ(e["auc_change"].get<double>(),
                     e["compressed"]["auc"].get<double>() - e["original"]["auc"].get<double>());
    // The bundle predicts what compress evaluated, bit for bit.
    CliResult p = RunEcps({"predict", "--model", out, "--input", cache_, "--out", dir_ + "/p.txt",
                           "--json", "--progress", "none"},
                          dir_);
    ASSERT_EQ(p.exit_code, 0) << p.err;
    const nlohmann::json pj = nlohmann::json::parse(p.out);
    EXPECT_EQ(pj["auc"], e["compressed"]["auc"]);
    EXPECT_EQ(pj["method"], c.method);
  }
  // The original, scored by predict, is compress's "original".
  CliResult p = RunEcps({"predict", "--model", ckpt, "--input", cache_, "--out", dir_ + "/o.txt",
                         "--json", "--progress", "none"},
                        dir_);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  CliResult r = RunEcps({"compress", "--in", ckpt, "--method", "int8", "--budget", "0.25", "--out",
                         dir_ + "/again.bundle", "--eval", cache_, "--json"},
                        dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(p.out)["auc"],
            nlohmann::json::parse(r.out)["eval"]["original"]["auc"]);
}

TEST_F(CompressTest, MethodsThatNeedTrainingAndOtherBadInputsAreRefused) {
  const std::string ckpt = dir_ + "/run/best.ckpt";
  const std::string out = dir_ + "/refused.bundle";
  CliResult r = RunEcps(
      {"compress", "--model", ckpt, "--method", "hash", "--budget", "0.1", "--out", out}, dir_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("learns its tables in training"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("int8, int16, fp16, post4bits"), std::string::npos) << r.err;
  r = RunEcps({"compress", "--model", ckpt, "--method", "nosuch", "--budget", "0.1", "--out", out},
              dir_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not a registered method"), std::string::npos) << r.err;
  r = RunEcps({"compress", "--model", ckpt, "--method", "int8", "--out", out}, dir_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--budget"), std::string::npos) << r.err;
  r = RunEcps({"compress", "--model", dir_ + "/none.ckpt", "--method", "int8", "--budget", "0.25",
               "--out", out},
              dir_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(fs::exists(out));
  // A model that is already compressed: compress starts from full rows.
  const std::string int8 = dir_ + "/first.bundle";
  r = RunEcps({"compress", "--model", ckpt, "--method", "int8", "--budget", "0.25", "--out", int8},
              dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunEcps(
      {"compress", "--model", int8, "--method", "post4bits", "--budget", "0.2", "--out", out},
      dir_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'int8' model"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace ecps::bench::testing
