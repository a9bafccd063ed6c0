// `ecps allocation` through the real binary (docs/cli.md): on a small
// trained autosrh model every feature has a row with its train count (the
// cache's) and at most d parameters, and the parameters sum to the nonzeros
// of the final sparse layout (its inference bytes: 5 B a nonzero plus the
// CSR row pointers); a full model keeps d everywhere; the refusals.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "tests/cli/bench_test_util.h"

namespace ecps::bench::testing {
namespace {

struct Table {
  uint64_t rows = 0, params = 0, max_params = 0, count_sum = 0;
};

Table ReadTable(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  Table t;
  EXPECT_TRUE(std::getline(f, line));
  EXPECT_EQ(line, "field\tid\ttrain_count\tparams");
  while (std::getline(f, line)) {
    std::vector<std::string> cells = absl::StrSplit(line, '\t');
    EXPECT_EQ(cells.size(), 4u) << line;
    if (cells.size() != 4) continue;
    ++t.rows;
    t.count_sum += std::stoull(cells[2]);
    const uint64_t p = std::stoull(cells[3]);
    t.params += p;
    t.max_params = std::max(t.max_params, p);
  }
  return t;
}

CliResult Train(const std::string& dir, const std::string& method, const std::string& out) {
  std::vector<std::string> args = {"train", "--log-level", "warn"};
  for (const std::string& s :
       {std::string("data.generate.rows=20000"), std::string("data.generate.features=3000"),
        "data.cache_dir=" + dir + "/data", std::string("model.bottom=16"),
        std::string("model.top=16"), std::string("embedding.dim=8"), "embedding.method=" + method,
        std::string("embedding.budget=0.5"), std::string("train.max_steps=40"),
        std::string("train.evals_per_epoch=2"), std::string("train.latency_batches=1"),
        "output.dir=" + out, std::string("output.progress=none")})
    args.insert(args.end(), {"--set", s});
  return RunEcps(args, dir);
}

TEST(AllocationTest, KeptParametersPerFeatureOfAPrunedAndAFullModel) {
  const std::string dir = FreshDir();
  CliResult t = Train(dir, "autosrh", dir + "/autosrh");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  const nlohmann::json results = ReadJson(dir + "/autosrh/results.json");
  CliResult r = RunEcps({"allocation", "--model", dir + "/autosrh/best.ckpt", "--out",
                         dir + "/autosrh.tsv", "--json"},
                        dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["method"], "autosrh");
  const Table a = ReadTable(dir + "/autosrh.tsv");
  EXPECT_EQ(a.rows, j["features"].get<uint64_t>());
  EXPECT_EQ(a.params, j["params"].get<uint64_t>());
  EXPECT_LE(a.max_params, 8u);
  EXPECT_GT(a.params, 0u);
  // Every training row counted once per field: the train counts sum to
  // rows x fields (26).
  EXPECT_EQ(a.count_sum % 26, 0u);
  EXPECT_GT(a.count_sum, 0u);
  // CSR at 50% (CR·d = 4 >= 3): 5 B a nonzero + 4 (n + 1) B of row pointers.
  const uint64_t bytes = results["inference_memory_bytes"].get<uint64_t>();
  EXPECT_EQ(bytes, 5 * a.params + 4 * (a.rows + 1)) << results.dump(2);

  t = Train(dir, "full", dir + "/full");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  r = RunEcps({"allocation", "--model", dir + "/full/best.ckpt", "--out", dir + "/full.tsv"}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Table f = ReadTable(dir + "/full.tsv");
  EXPECT_EQ(f.rows, a.rows);
  EXPECT_EQ(f.params, 8 * f.rows) << "a full table keeps every element (U(±b) init, no zeros)";

  // Refusals: a missing model or data, no --out, an unknown flag.
  EXPECT_EQ(
      RunEcps({"allocation", "--model", dir + "/none.ckpt", "--out", dir + "/x"}, dir).exit_code,
      2);
  EXPECT_EQ(RunEcps({"allocation", "--model", dir + "/full/best.ckpt", "--data",
                     dir + "/none.ecache", "--out", dir + "/x"},
                    dir)
                .exit_code,
            2);
  EXPECT_EQ(RunEcps({"allocation", "--model", dir + "/full/best.ckpt"}, dir).exit_code, 2);
  const CliResult bad = RunEcps({"allocation", "--bogus"}, dir);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--bogus"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace ecps::bench::testing
