// Flag handling and exit codes of `ecps gen-data` / `ecps preprocess`.
#include <string>
#include <vector>

#include "common/file_util.h"
#include "gtest/gtest.h"
#include "tests/data/data_test_util.h"
#include "tools/commands.h"
#include "worker/data/dataset.h"

namespace ecps::tools {
namespace {

using testing_data::TempDir;
using testing_data::WriteText;

TEST(CmdDataTest, GenDataThenPreprocess) {
  TempDir dir;
  std::string raw = dir.File("raw.gz");
  std::string cache = dir.File("d.cache");
  EXPECT_EQ(RunGenData({"--format", "criteo", "--rows", "5000", "--features", "20000", "--seed",
                        "4", "--out", raw, "--gzip"}),
            kExitOk);
  EXPECT_EQ(RunPreprocess({"--input", raw, "--format", "criteo", "--out", cache, "--split", "ratio",
                           "--val-ratio", "0.1", "--test-ratio", "0.2", "--min-count", "2",
                           "--on-malformed", "fail"}),
            kExitOk);
  auto ds = Dataset::Open(cache);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->NumRows(Split::kTrain), 3500u);
  EXPECT_EQ((*ds)->NumRows(Split::kValidation), 500u);
  EXPECT_EQ((*ds)->NumRows(Split::kTest), 1000u);
}

TEST(CmdDataTest, ExitCodes) {
  TempDir dir;
  EXPECT_EQ(RunGenData({"--help"}), kExitOk);
  EXPECT_EQ(RunPreprocess({"--help"}), kExitOk);
  EXPECT_EQ(RunGenData({"--rows", "10"}), kExitUsage);  // --out missing
  EXPECT_EQ(RunGenData({"--bogus"}), kExitUsage);
  EXPECT_EQ(RunGenData({"--rows", "ten", "--out", dir.File("x")}), kExitUsage);
  // Issue 14: negatives were wrapped (--rows -5: 1.8e19 rows) or ignored (--threads -3).
  EXPECT_EQ(RunGenData({"--rows", "-5", "--out", dir.File("x")}), kExitUsage);
  EXPECT_EQ(RunGenData({"--features=-1", "--out", dir.File("x")}), kExitUsage);
  EXPECT_EQ(RunGenData({"--seed", "18446744073709551616", "--out", dir.File("x")}), kExitUsage);
  EXPECT_EQ(RunGenData({"--threads", "-3", "--rows", "10", "--out", dir.File("x")}), kExitUsage);
  EXPECT_FALSE(FileExists(dir.File("x")));
  EXPECT_EQ(
      RunPreprocess({"--input", dir.File("none.txt"), "--min-count", "-2", "--out", dir.File("c")}),
      kExitUsage);
  EXPECT_EQ(RunGenData({"--format", "csv", "--out", dir.File("x")}), kExitUsage);
  EXPECT_EQ(RunGenData({"--rows", "10", "--out", "/nonexistent/dir/x"}), kExitFailure);
  EXPECT_EQ(RunPreprocess({"--out", dir.File("c")}), kExitUsage);  // --input missing
  EXPECT_EQ(RunPreprocess({"--input", dir.File("none.txt"), "--out", dir.File("c")}), kExitUsage);
  WriteText(dir.File("bad.txt"), "1\t2\n");
  EXPECT_EQ(RunPreprocess(
                {"--input", dir.File("bad.txt"), "--out", dir.File("c"), "--on-malformed", "fail"}),
            kExitUsage);
  EXPECT_EQ(RunPreprocess({"--input", dir.File("bad.txt"), "--out", dir.File("c"), "--on-malformed",
                           "maybe"}),
            kExitUsage);
}

TEST(CmdDataTest, PreprocessSeparateFilesAndLibfm) {
  TempDir dir;
  WriteText(dir.File("train.libfm"), "1 3:1 950:1\r\n-1 5:1 943:1\r\n+1 3:1 943:1\r\n");
  WriteText(dir.File("val.libfm"), "0 5:1 950:1\r\n");
  WriteText(dir.File("test.libfm"), "1 3:1 943:1\r\n0 5:1\r\n");
  const std::string cache = dir.File("ml.cache");
  EXPECT_EQ(
      RunPreprocess({"--train", dir.File("train.libfm"), "--validation", dir.File("val.libfm"),
                     "--test", dir.File("test.libfm"), "--format", "libfm", "--out", cache}),
      kExitOk);
  auto ds = Dataset::Open(cache);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->NumRows(Split::kTrain), 3u);
  EXPECT_EQ((*ds)->NumRows(Split::kValidation), 1u);
  EXPECT_EQ((*ds)->NumRows(Split::kTest), 2u);
  EXPECT_EQ((*ds)->schema().format, "libfm");
  // --train with an explicit other split, or libsvm under the default days split, is refused.
  EXPECT_EQ(RunPreprocess({"--train", dir.File("train.libfm"), "--split", "ratio", "--format",
                           "libfm", "--out", cache}),
            kExitUsage);
  EXPECT_EQ(RunPreprocess({"--input", dir.File("train.libfm"), "--format", "libsvm", "--out",
                           dir.File("days.cache")}),
            kExitUsage);
}

}  // namespace
}  // namespace ecps::tools
