// `ecps compress` through the real binary: a trained full model compressed
// after training to int8, int16, fp16, post4bits, pq, dedup and pruned
// (CSR/COO) bundles, the AUC of each next to the original's, the reported
// bytes equal to the bundle's, the bundle predicting what compress evaluated,
// and the refusals (methods that need training, bad and unreachable budgets).
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
  double ratio;  // of the fp32 table, at d = 16 (0: at most the budget, within 2%)
  double max_auc_change;
  const char* bundle_method = nullptr;  // the bundle's embedding.method (null: `method`)
  std::vector<std::string> params = {};
};

// Compresses best.ckpt with `c` and checks what every method must give: the
// reported bytes are the bundle's header's, the ratio is the inference bytes
// over the fp32 table's, the AUC of the compressed model is within
// c.max_auc_change of the original's on the test split, and `ecps predict`
// of the bundle scores exactly what compress evaluated. Returns the summary.
nlohmann::json CompressAndCheck(const std::string& dir, const std::string& cache, const Case& c) {
  const std::string ckpt = dir + "/run/best.ckpt";
  const std::string out = dir + "/" + c.method + "_" + c.budget + ".bundle";
  std::vector<std::string> args = {"compress", "--model", ckpt, "--method", c.method, "--budget",
                                   c.budget,   "--out",   out,  "--eval",   cache,    "--json"};
  for (const std::string& p : c.params) args.insert(args.end(), {"--param", p});
  CliResult r = RunEcps(args, dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return {};
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const std::string bundle_method = c.bundle_method != nullptr ? c.bundle_method : c.method;
  EXPECT_EQ(j["method"], c.method);
  EXPECT_EQ(j["bundle_method"], bundle_method);
  const double ratio = j["ratio"].get<double>();
  if (c.ratio > 0) {
    EXPECT_NEAR(ratio, c.ratio, 1e-9);
  } else {
    EXPECT_LE(ratio, j["budget"].get<double>() * 1.02);
  }
  EXPECT_TRUE(j["within_budget"].get<bool>());
  EXPECT_DOUBLE_EQ(
      ratio, j["inference_memory_bytes"].get<double>() / j["original_table_bytes"].get<double>());
  // The reported bytes are the bundle's tables and inference memory (its
  // header, as inspect reads it).
  CliResult h = RunEcps({"checkpoint", "inspect", "--json", out}, dir);
  EXPECT_EQ(h.exit_code, 0) << h.err;
  const nlohmann::json header = nlohmann::json::parse(h.out);
  EXPECT_EQ(j["table_bytes"], header["table_bytes"]) << h.out;
  EXPECT_EQ(j["inference_memory_bytes"], header["inference_memory_bytes"]) << h.out;
  EXPECT_EQ(header["method"], bundle_method);
  EXPECT_EQ(j["bytes"], fs::file_size(out));
  const nlohmann::json& e = j["eval"];
  EXPECT_EQ(e["split"], "test");
  EXPECT_GT(e["rows"].get<uint64_t>(), 0u);
  EXPECT_GT(e["original"]["auc"].get<double>(), 0.5);
  EXPECT_NEAR(e["compressed"]["auc"].get<double>(), e["original"]["auc"].get<double>(),
              c.max_auc_change);
  EXPECT_DOUBLE_EQ(e["auc_change"].get<double>(),
                   e["compressed"]["auc"].get<double>() - e["original"]["auc"].get<double>());
  std::printf("%-9s budget %-5s ratio %.6f AUC %.6f -> %.6f (%+.6f)\n", c.method, c.budget, ratio,
              e["original"]["auc"].get<double>(), e["compressed"]["auc"].get<double>(),
              e["auc_change"].get<double>());
  // The bundle predicts what compress evaluated, bit for bit.
  CliResult p = RunEcps({"predict", "--model", out, "--input", cache, "--out", dir + "/p.txt",
                         "--json", "--progress", "none"},
                        dir);
  EXPECT_EQ(p.exit_code, 0) << p.err;
  if (p.exit_code != 0) return j;
  const nlohmann::json pj = nlohmann::json::parse(p.out);
  EXPECT_EQ(pj["auc"], e["compressed"]["auc"]);
  EXPECT_EQ(pj["method"], bundle_method);
  nlohmann::json all = j;
  all["header"] = header;
  return all;
}

TEST_F(CompressTest, EveryPostTrainingMethodScoresNearTheFullModel) {
  ASSERT_FALSE(cache_.empty());
  const std::string ckpt = dir_ + "/run/best.ckpt";
  // int8 within the 0.002 (the paper: INT8 -0.0016 on Criteo);
  // post4bits' 4 bits cost more.
  for (const Case& c : {Case{"int8", "0.25", 0.25, 0.002}, Case{"int16", "50%", 0.5, 0.0005},
                        Case{"fp16", "0.5", 0.5, 0.0005}, Case{"post4bits", "0.2", 0.1875, 0.01}}) {
    SCOPED_TRACE(c.method);
    CompressAndCheck(dir_, cache_, c);
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

// The methods that restructure the table, at half of it: PQ codes with their
// codebooks, Dedup's merged blocks with their map, and magnitude pruning to
// CSR (50%: budget x d = 8 >= 3) and COO (10%: 1.6), each with the bytes
// a lookup needs besides its tables (docs/methods.md §2.19c, §2.10, §1.8).
TEST_F(CompressTest, PqDedupAndPruningScoreNearTheFullModel) {
  ASSERT_FALSE(cache_.empty());
  const uint64_t d = 16;
  uint64_t n = 0;
  {
    SCOPED_TRACE("pq");
    // m = 16 one-byte codes per row (25%) and 16 x 256 x 1 floats of codebooks.
    const nlohmann::json j = CompressAndCheck(dir_, cache_, {"pq", "50%", 0, 0.003});
    ASSERT_TRUE(j.contains("header"));
    n = j["original_table_bytes"].get<uint64_t>() / (4 * d);
    ASSERT_GT(n, 0u);
    const nlohmann::json& t = j["header"]["tables"];
    ASSERT_EQ(t.size(), 1u) << t;
    EXPECT_EQ(t[0]["name"], "codes");
    EXPECT_EQ(t[0]["rows"], n);
    EXPECT_EQ(t[0]["width"], 16);
    EXPECT_EQ(t[0]["dtype"], "u8");
    EXPECT_EQ(j["table_bytes"], n * 16);
    EXPECT_EQ(j["inference_memory_bytes"].get<uint64_t>(), n * 16 + 4 * d * 256);
  }
  for (const char* budget : {"0.5", "0.1"}) {
    SCOPED_TRACE(std::string("prune ") + budget);
    const bool csr = std::string(budget) == "0.5";
    const nlohmann::json j =
        CompressAndCheck(dir_, cache_, {"prune", budget, 0, csr ? 0.005 : 0.01, "deeplight"});
    ASSERT_TRUE(j.contains("header"));
    const nlohmann::json& t = j["header"]["tables"];
    ASSERT_EQ(t.size(), 2u) << t;
    EXPECT_EQ(t[0]["name"], "values");
    EXPECT_EQ(t[1]["name"], "columns");
    EXPECT_EQ(t[1]["dtype"], "u8");
    const uint64_t nnz = t[0]["rows"].get<uint64_t>();
    EXPECT_EQ(t[1]["rows"], nnz);
    EXPECT_EQ(j["table_bytes"], 5 * nnz);
    // CSR: n + 1 row pointers; COO: a row per nonzero (uint32).
    EXPECT_EQ(j["inference_memory_bytes"].get<uint64_t>(), 5 * nnz + 4 * (csr ? n + 1 : nnz));
    // Within a nonzero's bytes of the budget: the threshold keeps the most
    // that fit (ties at the threshold are rare in trained rows).
    EXPECT_GE(j["ratio"].get<double>(), j["budget"].get<double>() * 0.98);
  }
  {
    SCOPED_TRACE("dedup");
    // Blocks of 64 rows (the default at this size): at the default fp = 0.01
    // no block of this model agrees with another in 70% of its positions
    // (refused as unreachable, below); at fp = 0.05 the 24 blocks the budget
    // needs merge. Without Dedup's fine-tune stage the merged blocks' rows
    // are other features' rows: about -0.10 AUC here (docs/results.md).
    const nlohmann::json j =
        CompressAndCheck(dir_, cache_, {"dedup", "50%", 0, 0.12, nullptr, {"fp=0.05"}});
    ASSERT_TRUE(j.contains("header"));
    const nlohmann::json& t = j["header"]["tables"];
    ASSERT_EQ(t.size(), 1u) << t;
    EXPECT_EQ(t[0]["name"], "E");
    EXPECT_LT(t[0]["rows"].get<uint64_t>(), n);
    EXPECT_EQ(j["inference_memory_bytes"].get<uint64_t>(),
              j["table_bytes"].get<uint64_t>() + 4 * ((n + 63) / 64));
  }
}

TEST_F(CompressTest, BadAndUnreachableBudgetsAreRefused) {
  const std::string ckpt = dir_ + "/run/best.ckpt";
  const std::string out = dir_ + "/budget.bundle";
  struct Refusal {
    const char* method;
    const char* budget;
    const char* says;
  };
  for (const Refusal& c :
       {Refusal{"pq", "0", "is not a fraction in (0, 1]"},
        Refusal{"prune", "1.5", "is not a fraction in (0, 1]"},
        Refusal{"dedup", "half", "is not a fraction in (0, 1]"},
        Refusal{"prune", "-10%", "is not a fraction in (0, 1]"},
        // m = 1 (1/64) and the codebooks are over 1%.
        Refusal{"pq", "1%", "of the fp32 table"}, Refusal{"int8", "0.1", "of the fp32 table"},
        Refusal{"post4bits", "10%", "of the fp32 table"},
        // No block similar enough at the default fp (above).
        Refusal{"dedup", "50%", "too few similar blocks"}}) {
    SCOPED_TRACE(std::string(c.method) + " " + c.budget);
    CliResult r = RunEcps(
        {"compress", "--model", ckpt, "--method", c.method, "--budget", c.budget, "--out", out},
        dir_);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.err.find("--budget"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
  }
  // A method parameter the method refuses names its key.
  CliResult r = RunEcps({"compress", "--model", ckpt, "--method", "pq", "--budget", "0.5",
                         "--param", "m=3", "--out", out},
                        dir_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("embedding.params.m"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  r = RunEcps({"compress", "--model", ckpt, "--method", "pq", "--budget", "0.5", "--param", "m",
               "--out", out},
              dir_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--param needs KEY=VALUE"), std::string::npos) << r.err;
}

TEST_F(CompressTest, MethodsThatNeedTrainingAndOtherBadInputsAreRefused) {
  const std::string ckpt = dir_ + "/run/best.ckpt";
  const std::string out = dir_ + "/refused.bundle";
  CliResult r = RunEcps(
      {"compress", "--model", ckpt, "--method", "hash", "--budget", "0.1", "--out", out}, dir_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("learns its tables in training"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("int8, int16, fp16, post4bits, pq, dedup, prune"), std::string::npos)
      << r.err;
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
