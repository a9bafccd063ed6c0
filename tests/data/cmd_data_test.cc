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
  // --drift is a percentage of the rows.
  EXPECT_EQ(RunGenData({"--rows", "10", "--drift", "150", "--out", dir.File("x")}), kExitUsage);
  EXPECT_EQ(RunGenData({"--rows", "2000", "--drift", "10", "--out", dir.File("d")}), kExitOk);
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

// gen-data --format libffm|libsvm (issue 13): the written files read back
// through preprocess; --values and --signed-labels outside the libSVM family
// are usage errors naming the flag's meaning.
TEST(CmdDataTest, GenDataLibsvmFamilyThenPreprocess) {
  TempDir dir;
  const std::string raw = dir.File("g.libffm"), cache = dir.File("g.cache");
  ASSERT_EQ(RunGenData({"--format", "libffm", "--rows", "3000", "--features", "20000", "--seed",
                        "4", "--values", "--signed-labels", "--crlf", "--out", raw}),
            kExitOk);
  const std::string text = testing_data::ReadAll(raw);
  EXPECT_TRUE(text.rfind("-1 0:0:", 0) == 0 || text.rfind("+1 0:0:", 0) == 0 ||
              text.rfind("-1 1:1:", 0) == 0 || text.rfind("+1 1:1:", 0) == 0)
      << text.substr(0, 40);
  EXPECT_NE(text.find("\r\n"), std::string::npos);
  ASSERT_EQ(RunPreprocess({"--input", raw, "--format", "libffm", "--split", "ratio", "--out", cache,
                           "--on-malformed", "fail"}),
            kExitOk);
  auto ds = Dataset::Open(cache);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->schema().format, "libffm");
  EXPECT_TRUE((*ds)->schema().has_values);
  EXPECT_EQ((*ds)->NumRows(Split::kTrain) + (*ds)->NumRows(Split::kValidation) +
                (*ds)->NumRows(Split::kTest),
            3000u);
  ASSERT_EQ(RunGenData({"--format", "libsvm", "--rows", "3000", "--features", "20000", "--out",
                        dir.File("g.libsvm")}),
            kExitOk);
  ASSERT_EQ(RunPreprocess({"--input", dir.File("g.libsvm"), "--format", "libsvm", "--split",
                           "ratio", "--out", dir.File("s.cache"), "--on-malformed", "fail"}),
            kExitOk);
  auto s = Dataset::Open(dir.File("s.cache"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE((*s)->schema().has_values);  // every value is 1 without --values
  EXPECT_EQ(RunGenData({"--format", "criteo", "--rows", "10", "--values", "--out", dir.File("x")}),
            kExitUsage);
  EXPECT_EQ(
      RunGenData({"--format", "avazu", "--rows", "10", "--signed-labels", "--out", dir.File("x")}),
      kExitUsage);
  EXPECT_FALSE(FileExists(dir.File("x")));
}

// --vocabulary is data.vocabulary of ecps train: a value first seen in test
// maps to its field's OOV id 0 under train (the default), gets its own id
// under all, and the cache's identity records which.
TEST(CmdDataTest, PreprocessVocabularyFlag) {
  TempDir dir;
  WriteText(dir.File("train.libfm"), "1 3:1 950:1\n0 5:1 950:1\n1 3:1 943:1\n");
  WriteText(dir.File("test.libfm"), "1 7:1 950:1\n");
  auto build = [&](const std::vector<std::string>& extra, const std::string& out) {
    std::vector<std::string> args = {"--train",  dir.File("train.libfm"),
                                     "--test",   dir.File("test.libfm"),
                                     "--format", "libfm",
                                     "--out",    out};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunPreprocess(args);
  };
  const std::string by_train = dir.File("train.cache"), by_all = dir.File("all.cache");
  ASSERT_EQ(build({}, by_train), kExitOk);
  ASSERT_EQ(build({"--vocabulary", "all"}, by_all), kExitOk);
  auto t = Dataset::Open(by_train);
  auto a = Dataset::Open(by_all);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_TRUE(a.ok()) << a.status();
  // Field 0: 3 and 5 in train, 7 only in test.
  const std::vector<uint64_t> train_rows = {0, 1, 2};
  const uint64_t row = 0;
  Batch bt, ba, tt, ta;
  (*t)->Gather(Split::kTest, {&row, 1}, &bt);
  (*a)->Gather(Split::kTest, {&row, 1}, &ba);
  (*t)->Gather(Split::kTrain, train_rows, &tt);
  (*a)->Gather(Split::kTrain, train_rows, &ta);
  EXPECT_EQ(bt.sparse[0], 0u);  // the OOV id, which no train value has
  EXPECT_NE(ba.sparse[0], bt.sparse[0]);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(tt.sparse[i * 2], 0u);
    EXPECT_NE(ta.sparse[i * 2], ba.sparse[0]);  // 7 has an id of its own
  }
  EXPECT_NE((*t)->schema().identity.find("data.vocabulary=train\n"), std::string::npos);
  EXPECT_NE((*a)->schema().identity.find("data.vocabulary=all\n"), std::string::npos);
  // An explicit --vocabulary train is the default.
  ASSERT_EQ(build({"--vocabulary", "train"}, dir.File("train2.cache")), kExitOk);
  EXPECT_EQ(testing_data::ReadAll(dir.File("train2.cache")), testing_data::ReadAll(by_train));
  EXPECT_EQ(build({"--vocabulary", "test"}, dir.File("bad.cache")), kExitUsage);
  EXPECT_FALSE(FileExists(dir.File("bad.cache")));
}

}  // namespace
}  // namespace ecps::tools
