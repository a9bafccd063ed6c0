// OpenTrainingData's cache reuse: a cache in data.cache_dir serves a run only
// when it was built from the same inputs (path, size, mtime, head/tail hash)
// and options (issue 13, item 1); each kind of staleness rebuilds.
#include "worker/data_source.h"

#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/data/data_test_util.h"
#include "worker/data/cache_format.h"
#include "worker/data/cache_identity.h"
#include "worker/train_config.h"

namespace ecps {
namespace {

using testing_data::TempDir;
using testing_data::WriteText;

// Criteo row: label `label`, I1 = v, C1 = hex of v, everything else empty.
std::string CriteoRow(int label, int v) {
  std::string s = std::to_string(label) + "\t" + std::to_string(v);
  for (int j = 1; j < 13; ++j) s += "\t";
  char hex[16];
  std::snprintf(hex, sizeof(hex), "%08x", v);
  s += std::string("\t") + hex;
  for (int j = 1; j < 26; ++j) s += "\t";
  return s + "\n";
}
std::string CriteoRows(int n, int label_offset = 0) {
  std::string s;
  for (int i = 0; i < n; ++i) s += CriteoRow((i + label_offset) % 2, i);
  return s;
}

StatusOr<std::unique_ptr<Dataset>> Open(const TempDir& dir, const std::string& raw,
                                        std::vector<std::string> extra = {}) {
  std::vector<std::string> sets = {
      "data.source=raw",  "data.raw=" + raw,    "data.cache_dir=" + dir.File("cache"),
      "data.split=ratio", "data.val_ratio=0.1", "data.test_ratio=0.1"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  auto cfg = LoadTrainConfig("", sets);
  if (!cfg.ok()) return cfg.status();
  return OpenTrainingData(*cfg);
}

uint64_t Rows(const Dataset& d) {
  return d.NumRows(Split::kTrain) + d.NumRows(Split::kValidation) + d.NumRows(Split::kTest);
}

TEST(DataSourceTest, ReusesAnUnchangedCacheAndRecordsItsIdentity) {
  TempDir dir;
  WriteText(dir.File("train.txt"), CriteoRows(20));
  auto a = Open(dir, dir.File("train.txt"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(Rows(**a), 20u);
  const std::string identity = (*a)->schema().identity;
  EXPECT_NE(identity.find("data.format=criteo"), std::string::npos) << identity;
  EXPECT_NE(identity.find(dir.File("train.txt")), std::string::npos) << identity;
  EXPECT_NE(CacheIdentityDigest(identity), 0u);
  const auto cache = *std::filesystem::directory_iterator(dir.File("cache"));
  const auto written = std::filesystem::last_write_time(cache.path());
  auto b = Open(dir, dir.File("train.txt"), {"data.cache_mismatch=fail"});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->schema().identity, identity);
  EXPECT_EQ(std::filesystem::last_write_time(cache.path()), written) << "rebuilt needlessly";
}

TEST(DataSourceTest, AnotherDataSetSharingTheCacheDirRebuilds) {
  TempDir dir;
  std::filesystem::create_directories(dir.File("criteo"));
  std::filesystem::create_directories(dir.File("other"));
  WriteText(dir.File("criteo/train.txt"), CriteoRows(20));
  WriteText(dir.File("other/train.txt"), CriteoRows(30));  // same file name, same cache name
  ASSERT_TRUE(Open(dir, dir.File("criteo/train.txt")).ok());
  auto fail = Open(dir, dir.File("other/train.txt"), {"data.cache_mismatch=fail"});
  ASSERT_FALSE(fail.ok());
  EXPECT_EQ(fail.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(fail.status().message().find("input[0]"), std::string::npos) << fail.status();
  EXPECT_NE(fail.status().message().find("data.cache_mismatch=fail"), std::string::npos);
  auto b = Open(dir, dir.File("other/train.txt"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(Rows(**b), 30u);
}

// data.vocabulary (issue 13 item 6): train (the default) gives the values of
// the 4 validation and test rows the OOV id; all gives them rows. Each keeps
// its own cache, and the identity names the rule.
TEST(DataSourceTest, VocabularyFromTrainByDefaultAndAllOnRequest) {
  TempDir dir;
  WriteText(dir.File("train.txt"), CriteoRows(20));  // 20 distinct C1 values
  auto a = Open(dir, dir.File("train.txt"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->schema().cardinalities[0], 17u);  // OOV + the 16 train values
  EXPECT_NE((*a)->schema().identity.find("data.vocabulary=train"), std::string::npos);
  auto b = Open(dir, dir.File("train.txt"), {"data.vocabulary=all"});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->schema().cardinalities[0], 20u);
  EXPECT_NE((*b)->schema().identity.find("data.vocabulary=all"), std::string::npos);
  int caches = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.File("cache")))
    caches += e.path().extension() == ".ecache";
  EXPECT_EQ(caches, 2);
  // The first is still there and still the train-only one.
  auto c = Open(dir, dir.File("train.txt"), {"data.cache_mismatch=fail"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->schema().cardinalities[0], 17u);
}

TEST(DataSourceTest, AFileAddedToDataRawRebuilds) {
  TempDir dir;
  WriteText(dir.File("a.txt"), CriteoRows(20));
  WriteText(dir.File("b.txt"), CriteoRows(10));
  ASSERT_TRUE(Open(dir, dir.File("a.txt")).ok());
  auto b = Open(dir, dir.File("a.txt") + "," + dir.File("b.txt"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(Rows(**b), 30u);
}

TEST(DataSourceTest, AnotherFormatRebuilds) {
  TempDir dir;
  WriteText(dir.File("x.txt"), CriteoRows(20));
  ASSERT_TRUE(Open(dir, dir.File("x.txt")).ok());
  auto fail = Open(dir, dir.File("x.txt"), {"data.format=avazu", "data.cache_mismatch=fail"});
  ASSERT_FALSE(fail.ok());
  EXPECT_NE(fail.status().message().find("data.format: criteo -> avazu"), std::string::npos)
      << fail.status();
  // Rebuilt as Avazu, Criteo lines are all malformed: an error, never the Criteo rows.
  auto b = Open(dir, dir.File("x.txt"), {"data.format=avazu"});
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("no valid rows"), std::string::npos) << b.status();
}

TEST(DataSourceTest, AnInputRewrittenInPlaceWithTheSameSizeAndMtimeRebuilds) {
  TempDir dir;
  const std::string path = dir.File("x.txt");
  WriteText(path, CriteoRows(20));
  auto a = Open(dir, path);
  ASSERT_TRUE(a.ok()) << a.status();
  std::vector<uint64_t> first = {0};
  Batch before;
  (*a)->Gather(Split::kTrain, first, &before);
  EXPECT_EQ(before.labels[0], 0.0f);
  const auto mtime = std::filesystem::last_write_time(path);
  const uint64_t size = std::filesystem::file_size(path);
  WriteText(path, CriteoRows(20, /*label_offset=*/1));  // every label flipped
  std::filesystem::last_write_time(path, mtime);
  ASSERT_EQ(std::filesystem::file_size(path), size);
  auto b = Open(dir, path);
  ASSERT_TRUE(b.ok()) << b.status();
  Batch after;
  (*b)->Gather(Split::kTrain, first, &after);
  EXPECT_EQ(after.labels[0], 1.0f) << "the old cache was reused";
  EXPECT_NE((*b)->schema().identity, (*a)->schema().identity);
}

TEST(DataSourceTest, SeparateTrainValidationAndTestFiles) {
  TempDir dir;
  WriteText(dir.File("train.txt"), CriteoRows(20));
  WriteText(dir.File("val.txt"), CriteoRows(5));
  WriteText(dir.File("test.txt"), CriteoRows(7));
  auto cfg = LoadTrainConfig(
      "", {"data.source=raw", "data.train=" + dir.File("train.txt"),
           "data.validation=" + dir.File("val.txt"), "data.test=" + dir.File("test.txt"),
           "data.cache_dir=" + dir.File("cache")});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto d = OpenTrainingData(*cfg);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)->NumRows(Split::kTrain), 20u);
  EXPECT_EQ((*d)->NumRows(Split::kValidation), 5u);
  EXPECT_EQ((*d)->NumRows(Split::kTest), 7u);
  EXPECT_NE((*d)->schema().identity.find("validation[0]=" + dir.File("val.txt")),
            std::string::npos);
  // Another test file: rebuilt, not reused.
  WriteText(dir.File("test2.txt"), CriteoRows(3));
  cfg = LoadTrainConfig(
      "", {"data.source=raw", "data.train=" + dir.File("train.txt"),
           "data.validation=" + dir.File("val.txt"), "data.test=" + dir.File("test2.txt"),
           "data.cache_dir=" + dir.File("cache")});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  d = OpenTrainingData(*cfg);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)->NumRows(Split::kTest), 3u);
}

TEST(DataSourceTest, SplitByFilesConfigConflictsNameTheKeys) {
  struct Case {
    std::vector<std::string> sets;
    std::string part;
  };
  const std::vector<Case> cases = {
      {{"data.source=raw", "data.validation=v.txt", "data.raw=a.txt"}, "'data.validation'"},
      {{"data.train=t.txt"}, "needs data.source=raw"},
      {{"data.source=raw", "data.train=t.txt", "data.raw=a.txt"}, "'data.raw' and 'data.train'"},
      {{"data.source=raw", "data.train=t.txt", "data.split=ratio"}, "'data.split' is 'ratio'"},
      {{"data.source=raw", "data.raw=a.txt", "data.split=files"}, "needs 'data.train'"},
      {{"data.source=raw"}, "'data.raw' (or 'data.train') is required"},
  };
  for (const Case& c : cases) {
    auto cfg = LoadTrainConfig("", c.sets);
    ASSERT_FALSE(cfg.ok()) << c.part;
    EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(cfg.status().message().find(c.part), std::string::npos) << cfg.status();
  }
  EXPECT_TRUE(
      LoadTrainConfig("", {"data.source=raw", "data.train=t.txt", "data.split=files"}).ok());
}

TEST(DataSourceTest, AOneDayAvazuSampleNamesTheEmptyTrainSplit) {
  TempDir dir;
  std::string text =
      "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,"
      "app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,"
      "C16,C17,C18,C19,C20,C21\n";
  for (int i = 0; i < 30; ++i) {
    text += std::to_string(i) + "," + std::to_string(i % 2) + ",14102100,1005,0,s";
    for (int c = 6; c < 24; ++c) text += "," + std::to_string(c);
    text += "\n";
  }
  WriteText(dir.File("avazu.csv"), text);
  auto cfg = LoadTrainConfig("", {"data.source=raw", "data.raw=" + dir.File("avazu.csv"),
                                  "data.format=avazu", "data.cache_dir=" + dir.File("cache")});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto d = OpenTrainingData(*cfg);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("the train split is empty"), std::string::npos) << d.status();
  EXPECT_EQ(d.status().message().find("batch_size"), std::string::npos) << d.status();
}

TEST(DataSourceTest, ACacheWithoutTrainRowsIsRefusedNamingIt) {
  TempDir dir;
  DatasetSchema s;
  s.format = "test";
  s.num_fields = 1;
  s.field_names = {"a"};
  s.cardinalities = {1};
  s.offsets = {0};
  CacheWriter::Layout layout;
  layout.num_rows = 2;
  layout.split_kind = SplitKind::kRatio;
  layout.split_rows[1] = 2;  // every row is validation
  const std::string path = dir.File("v.cache");
  auto w = CacheWriter::Open(path, s, layout);
  ASSERT_TRUE(w.ok()) << w.status();
  const uint32_t rows[4] = {0, 0, 0, 0};  // (label 0.0f, id 0) twice
  ASSERT_TRUE((*w)->AppendRows(rows, 2).ok());
  const std::vector<uint32_t> counts = {0};
  ASSERT_TRUE((*w)->Finish(counts).ok());
  auto cfg = LoadTrainConfig("", {"data.source=cache", "data.cache=" + path});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto d = OpenTrainingData(*cfg);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("the train split of '" + path + "' is empty"),
            std::string::npos)
      << d.status();
}

// data.feature_values changes a libFM cache (its identity: rebuilt), and a
// given cache with values is not silently used as if they were 1.
TEST(DataSourceTest, FeatureValuesRebuildAndAValuedCacheIsNotIgnoredSilently) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 20; ++i)
    text += std::to_string(i % 2) + " 3:0.5 " + std::to_string(i) + ":1\n";
  WriteText(dir.File("v.libfm"), text);
  auto weighted = Open(dir, dir.File("v.libfm"), {"data.format=libfm"});
  ASSERT_TRUE(weighted.ok()) << weighted.status();
  EXPECT_TRUE((*weighted)->schema().has_values);
  auto ignored =
      Open(dir, dir.File("v.libfm"), {"data.format=libfm", "data.feature_values=ignore"});
  ASSERT_TRUE(ignored.ok()) << ignored.status();
  EXPECT_FALSE((*ignored)->schema().has_values);
  // The same path now holds the ignore build; weight rebuilds it again.
  weighted = Open(dir, dir.File("v.libfm"), {"data.format=libfm"});
  ASSERT_TRUE(weighted.ok()) << weighted.status();
  ASSERT_TRUE((*weighted)->schema().has_values);
  std::string cache;
  for (const auto& e : std::filesystem::directory_iterator(dir.File("cache")))
    if (e.path().extension() == ".ecache") cache = e.path().string();
  ASSERT_FALSE(cache.empty());
  auto cfg = LoadTrainConfig(
      "", {"data.source=cache", "data.cache=" + cache, "data.feature_values=ignore"});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto d = OpenTrainingData(*cfg);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("'data.feature_values' is ignore"), std::string::npos)
      << d.status();
  EXPECT_NE(d.status().message().find(cache), std::string::npos) << d.status();
}

}  // namespace
}  // namespace ecps
