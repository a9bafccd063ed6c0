// `ecps vectors` (docs/cli.md): compress then eval through the binary, the
// JSON report, unreachable budgets, and bad or mismatched inputs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/file_util.h"
#include "tests/cli/bench_test_util.h"
#include "tests/vectors/test_util.h"
#include "vectors/vector_io.h"

namespace ecps::vectors {
namespace {

using bench::testing::CliResult;
using bench::testing::FreshDir;
using bench::testing::RunEcps;
using ::testing::HasSubstr;

class VectorsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshDir();
    ASSERT_TRUE(WriteVectors(dir_ + "/x.npy", testing::RandomVectors(3000, 16, 1)).ok());
    ASSERT_TRUE(WriteVectors(dir_ + "/q.fvecs", testing::RandomVectors(40, 16, 2)).ok());
  }
  std::string dir_;
};

TEST_F(VectorsCliTest, CompressThenEvalReportsEveryField) {
  CliResult c = RunEcps({"vectors", "compress", "--in", dir_ + "/x.npy", "--method", "svd",
                         "--budget", "25%", "--out", dir_ + "/x.ecv"},
                        dir_);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_THAT(c.out, HasSubstr("svd rank=3, 3000 x 16"));
  CliResult e = RunEcps({"vectors", "eval", "--original", dir_ + "/x.npy", "--compressed",
                         dir_ + "/x.ecv", "--queries", dir_ + "/q.fvecs", "--json"},
                        dir_);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const nlohmann::json j = nlohmann::json::parse(e.out);
  EXPECT_EQ(j["method"], "svd");
  EXPECT_EQ(j["params"], "rank=3");
  EXPECT_EQ(j["n"], 3000);
  EXPECT_EQ(j["k"], 10);
  EXPECT_EQ(j["queries"], 40);
  EXPECT_EQ(j["memory_bytes"], (3000 + 16) * 3 * 4);
  EXPECT_TRUE(j["budget_reached"].get<bool>());
  EXPECT_GT(j["recall_at_k"].get<double>(), 0.0);
  EXPECT_LT(j["recall_at_k"].get<double>(), 1.0);
  EXPECT_GT(j["mse"].get<double>(), 0.0);
  EXPECT_GT(j["compress_s"].get<double>(), 0.0);
  EXPECT_GT(j["decode_ns_per_vector"].get<double>(), 0.0);
  // The text report.
  e = RunEcps({"vectors", "eval", "--original", dir_ + "/x.npy", "--compressed", dir_ + "/x.ecv",
               "--queries", dir_ + "/q.fvecs", "--k", "5"},
              dir_);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_THAT(e.out, HasSubstr("recall@5"));
  EXPECT_THAT(e.out, HasSubstr("per batch of 1024"));
}

TEST_F(VectorsCliTest, UnreachableBudgetIsReportedAtTheRealRatio) {
  CliResult c = RunEcps({"vectors", "compress", "--in", dir_ + "/x.npy", "--method", "int8",
                         "--budget", "0.1", "--out", dir_ + "/x.ecv"},
                        dir_);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_THAT(c.out, HasSubstr("ratio 25.0042% of float32, budget 10.0000%: unreachable"));
  CliResult e = RunEcps({"vectors", "eval", "--original", dir_ + "/x.npy", "--compressed",
                         dir_ + "/x.ecv", "--queries", dir_ + "/q.fvecs", "--json"},
                        dir_);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_FALSE(nlohmann::json::parse(e.out)["budget_reached"].get<bool>());
}

TEST_F(VectorsCliTest, MismatchedAndBadInputsAreRefused) {
  ASSERT_EQ(RunEcps({"vectors", "compress", "--in", dir_ + "/x.npy", "--method", "int16",
                     "--budget", "0.5", "--out", dir_ + "/x.ecv"},
                    dir_)
                .exit_code,
            0);
  // Other vectors of the same shape: refused by checksum.
  ASSERT_TRUE(WriteVectors(dir_ + "/y.npy", testing::RandomVectors(3000, 16, 9)).ok());
  CliResult e = RunEcps({"vectors", "eval", "--original", dir_ + "/y.npy", "--compressed",
                         dir_ + "/x.ecv", "--queries", dir_ + "/q.fvecs"},
                        dir_);
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_THAT(e.err, HasSubstr("was compressed from other vectors than " + dir_ + "/y.npy"));
  // Queries of another dimension.
  ASSERT_TRUE(WriteVectors(dir_ + "/q8.npy", testing::RandomVectors(5, 8, 2)).ok());
  e = RunEcps({"vectors", "eval", "--original", dir_ + "/x.npy", "--compressed", dir_ + "/x.ecv",
               "--queries", dir_ + "/q8.npy"},
              dir_);
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_THAT(e.err, HasSubstr(dir_ + "/q8.npy: vectors of dimension 8, expected 16"));
  // A damaged compressed file: a runtime failure naming it.
  std::string bytes = *ReadFile(dir_ + "/x.ecv");
  bytes[100] ^= 1;
  std::ofstream(dir_ + "/bad.ecv", std::ios::binary) << bytes;
  e = RunEcps({"vectors", "eval", "--original", dir_ + "/x.npy", "--compressed", dir_ + "/bad.ecv",
               "--queries", dir_ + "/q.fvecs"},
              dir_);
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_THAT(e.err, HasSubstr(dir_ + "/bad.ecv"));
  // Usage errors name the flag.
  CliResult c = RunEcps({"vectors", "compress", "--in", dir_ + "/x.npy", "--method", "zip",
                         "--budget", "0.5", "--out", dir_ + "/z.ecv"},
                        dir_);
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_THAT(c.err, HasSubstr("--method zip"));
  c = RunEcps({"vectors", "compress", "--in", dir_ + "/x.npy", "--method", "pq", "--budget", "2",
               "--out", dir_ + "/z.ecv"},
              dir_);
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_THAT(c.err, HasSubstr("--budget 2"));
  c = RunEcps({"vectors", "compress", "--in", dir_ + "/x.npy", "--method", "pq", "--budget", "0.5",
               "--out", dir_ + "/z.ecv", "--param", "m=3"},
              dir_);
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_THAT(c.err, HasSubstr("--param m=3"));
  EXPECT_FALSE(FileExists(dir_ + "/z.ecv"));
}

TEST_F(VectorsCliTest, TsvWithIdsNeedsItsDimension) {
  std::ofstream(dir_ + "/s.tsv") << "1\t2\t3\t100001\n4\t5\t6\t100002\n7\t8\t9\t100003\n";
  CliResult c = RunEcps({"vectors", "compress", "--in", dir_ + "/s.tsv", "--dim", "3", "--method",
                         "pruning", "--budget", "1", "--out", dir_ + "/s.ecv"},
                        dir_);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_THAT(c.out, HasSubstr("3 x 3"));
  std::ofstream(dir_ + "/sq.tsv") << "1\t2\t3\n";
  CliResult e = RunEcps({"vectors", "eval", "--original", dir_ + "/s.tsv", "--compressed",
                         dir_ + "/s.ecv", "--queries", dir_ + "/sq.tsv", "--k", "2", "--json"},
                        dir_);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(nlohmann::json::parse(e.out)["recall_at_k"], 1.0);
}

// `gen` writes the base set and its queries, the same for the same seed;
// a bad flag exits 2 naming it.
TEST_F(VectorsCliTest, GenWritesBaseAndQueries) {
  for (const char* kind : {"sift", "lowrank"}) {
    const std::string out = dir_ + "/" + kind + ".npy";
    CliResult g = RunEcps({"vectors", "gen", "--kind", kind, "--n", "500", "--dim", "32",
                           "--queries", "7", "--rank", "8", "--out", out},
                          dir_);
    ASSERT_EQ(g.exit_code, 0) << g.err;
    EXPECT_THAT(g.out, HasSubstr("500 x 32"));
    StatusOr<VectorSet> x = ReadVectors(out);
    StatusOr<VectorSet> q = ReadVectors(dir_ + "/" + kind + ".queries.npy");
    ASSERT_TRUE(x.ok() && q.ok());
    EXPECT_EQ(x->n, 500u);
    EXPECT_EQ(x->dim, 32);
    EXPECT_EQ(q->n, 7u);
    // Compressible as any other input.
    CliResult c = RunEcps({"vectors", "compress", "--in", out, "--method", "int8", "--budget",
                           "100%", "--out", dir_ + "/g.ecv"},
                          dir_);
    EXPECT_EQ(c.exit_code, 0) << c.err;
  }
  CliResult bad = RunEcps(
      {"vectors", "gen", "--kind", "gauss", "--n", "5", "--dim", "4", "--out", dir_ + "/b.npy"},
      dir_);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--kind gauss"));
  bad = RunEcps(
      {"vectors", "gen", "--kind", "sift", "--n", "5", "--dim", "4", "--out", dir_ + "/b.txt"},
      dir_);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("must end in .npy"));
}

}  // namespace
}  // namespace ecps::vectors
