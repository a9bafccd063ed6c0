#include "worker/data/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/data/data_test_util.h"
#include "worker/data/cache_format.h"
#include "worker/data/dataset.h"

namespace ecps {
namespace {

using testing_data::TempDir;
using testing_data::WriteGzip;
using testing_data::WriteText;

// Row i: label i%2, I1 = i, I2 = -i, C1 cycles {c, a, missing, b}, C2 = "ff",
// the rest empty.
std::string CriteoRow(int i) {
  static const char* kC1[4] = {"0000000c", "0000000a", "", "0000000b"};
  std::string s = std::to_string(i % 2) + "\t" + std::to_string(i) + "\t" + std::to_string(-i);
  for (int j = 2; j < 13; ++j) s += "\t";
  s += std::string("\t") + kC1[i % 4] + "\tff";
  for (int j = 2; j < 26; ++j) s += "\t";
  return s + "\n";
}
std::string CriteoRows(int begin, int end) {
  std::string s;
  for (int i = begin; i < end; ++i) s += CriteoRow(i);
  return s;
}
// Expected final C1 id of row i with min_count 0: missing 0, a 1, b 2, c 3.
uint32_t ExpectedC1(int i) {
  static const uint32_t kIds[4] = {3, 1, 0, 2};
  return kIds[i % 4];
}

std::unique_ptr<Dataset> OpenOk(const std::string& path) {
  auto ds = Dataset::Open(path);
  EXPECT_TRUE(ds.ok()) << ds.status();
  return ds.ok() ? std::move(*ds) : nullptr;
}

TEST(PreprocessTest, CriteoRoundTripWithDaysSplit) {
  TempDir dir;
  WriteText(dir.File("in.txt"), CriteoRows(0, 14));
  PreprocessOptions o;
  // Ids of every split's values (data.vocabulary=all): this test checks
  // the encoding; TrainOnlyVocabulary* test the default.
  o.vocabulary_from_train = false;
  o.inputs = {dir.File("in.txt")};
  o.output = dir.File("out.cache");
  auto r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->lines, 14u);
  EXPECT_EQ(r->rows_written, 14u);
  EXPECT_EQ(r->malformed.total(), 0u);
  // 14 rows = 7 days of 2: train 12, day 7 = test (row 12) then validation (row 13).
  EXPECT_EQ(r->train_rows, 12u);
  EXPECT_EQ(r->test_rows, 1u);
  EXPECT_EQ(r->val_rows, 1u);
  EXPECT_EQ(r->features, 4u + 1u + 24u);
  EXPECT_GT(r->input_bytes, 0u);
  // Only the cache and its vocabulary (docs/formats.md "Vocabulary", since
  // 6f81e11) remain in the directory: no temporary files.
  std::vector<std::string> files;
  for (auto& e : std::filesystem::directory_iterator(dir.File("")))
    if (e.is_regular_file()) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"in.txt", "out.cache", "out.cache.vocab"}));

  auto ds = OpenOk(o.output);
  ASSERT_NE(ds, nullptr);
  const DatasetSchema& s = ds->schema();
  EXPECT_EQ(s.format, "criteo");
  EXPECT_EQ(s.num_dense, 13);
  EXPECT_EQ(s.num_fields, 26);
  EXPECT_EQ(s.field_names[0], "C1");
  EXPECT_EQ(s.cardinalities[0], 4u);
  EXPECT_EQ(s.cardinalities[1], 1u);
  EXPECT_EQ(s.offsets[1], 4u);
  EXPECT_EQ(s.offsets[25], 4u + 1u + 23u);
  EXPECT_EQ(ds->NumRows(Split::kTrain), 12u);
  EXPECT_EQ(ds->NumRows(Split::kTest), 1u);
  EXPECT_EQ(ds->NumRows(Split::kValidation), 1u);

  std::vector<uint64_t> idx;
  for (uint64_t i = 0; i < 12; ++i) idx.push_back(11 - i);  // any order
  Batch b;
  ds->Gather(Split::kTrain, idx, &b);
  ASSERT_EQ(b.size, 12);
  for (int k = 0; k < 12; ++k) {
    int i = static_cast<int>(idx[k]);
    EXPECT_EQ(b.labels[k], static_cast<float>(i % 2));
    EXPECT_FLOAT_EQ(b.dense[k * 13 + 0], i > 0 ? static_cast<float>(std::log(i + 1.0)) : 0.0f);
    EXPECT_EQ(b.dense[k * 13 + 1], 0.0f) << "negative ints become 0";
    EXPECT_EQ(b.dense[k * 13 + 2], 0.0f) << "empty ints become 0";
    EXPECT_EQ(b.sparse[k * 26 + 0], ExpectedC1(i)) << "row " << i;
    EXPECT_EQ(b.sparse[k * 26 + 1], 0u);
    EXPECT_EQ(b.sparse[k * 26 + 25], 0u);
  }
  std::vector<uint64_t> zero = {0};
  ds->Gather(Split::kTest, zero, &b);
  EXPECT_EQ(b.dense[0], static_cast<float>(std::log(13.0)));  // row 12
  EXPECT_EQ(b.sparse[0], ExpectedC1(12));
  ds->Gather(Split::kValidation, zero, &b);
  EXPECT_EQ(b.dense[0], static_cast<float>(std::log(14.0)));  // row 13
  EXPECT_EQ(b.labels[0], 1.0f);

  // Train counts over rows 0..11: each C1 value 3 times, C2 "ff" 12 times.
  auto counts = ds->train_counts();
  ASSERT_EQ(counts.size(), s.total_features());
  for (uint32_t id = 0; id < 4; ++id) EXPECT_EQ(counts[id], 3u) << id;
  EXPECT_EQ(counts[s.offsets[1]], 12u);
  EXPECT_EQ(counts[s.offsets[25]], 12u);
}

TEST(PreprocessTest, DaysSplitPutsExtraRowsInEarlyDays) {
  for (auto [n, train, test, val] : std::vector<std::array<int, 4>>{
           {20, 18, 1, 1}, {21, 18, 2, 1}, {7, 6, 1, 0}, {3, 3, 0, 0}}) {
    TempDir dir;
    WriteText(dir.File("in.txt"), CriteoRows(0, n));
    PreprocessOptions o;
    o.inputs = {dir.File("in.txt")};
    o.output = dir.File("out.cache");
    auto r = Preprocess(o);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->train_rows, static_cast<uint64_t>(train)) << n;
    EXPECT_EQ(r->test_rows, static_cast<uint64_t>(test)) << n;
    EXPECT_EQ(r->val_rows, static_cast<uint64_t>(val)) << n;
  }
}

TEST(PreprocessTest, RatioSplitIsTrainThenValidationThenTest) {
  TempDir dir;
  WriteText(dir.File("in.txt"), CriteoRows(0, 14));
  PreprocessOptions o;
  // Ids of every split's values (data.vocabulary=all): this test checks
  // the encoding; TrainOnlyVocabulary* test the default.
  o.vocabulary_from_train = false;
  o.inputs = {dir.File("in.txt")};
  o.output = dir.File("out.cache");
  o.split = "ratio";
  o.val_ratio = 0.2;   // round(2.8) = 3
  o.test_ratio = 0.3;  // round(4.2) = 4
  auto r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->train_rows, 7u);
  EXPECT_EQ(r->val_rows, 3u);
  EXPECT_EQ(r->test_rows, 4u);
  auto ds = OpenOk(o.output);
  ASSERT_NE(ds, nullptr);
  Batch b;
  std::vector<uint64_t> rows = {0, 1};
  ds->Gather(Split::kValidation, rows, &b);
  EXPECT_FLOAT_EQ(b.dense[0], static_cast<float>(std::log(8.0)));   // row 7
  EXPECT_FLOAT_EQ(b.dense[13], static_cast<float>(std::log(9.0)));  // row 8
  std::vector<uint64_t> last = {3};
  ds->Gather(Split::kTest, last, &b);
  EXPECT_FLOAT_EQ(b.dense[0], static_cast<float>(std::log(14.0)));  // row 13
  // Train counts cover rows 0..6 only: c, a, missing twice, b once.
  EXPECT_EQ(std::vector<uint32_t>(ds->train_counts().begin(), ds->train_counts().begin() + 4),
            (std::vector<uint32_t>{2, 2, 1, 2}));
}

TEST(PreprocessTest, MinCountMapsRareValuesToOov) {
  TempDir dir;
  WriteText(dir.File("in.txt"), CriteoRows(0, 14));
  PreprocessOptions o;
  // Ids of every split's values (data.vocabulary=all): this test checks
  // the encoding; TrainOnlyVocabulary* test the default.
  o.vocabulary_from_train = false;
  o.inputs = {dir.File("in.txt")};
  o.output = dir.File("out.cache");
  o.min_count = 4;  // c and a occur 4 times; missing and b 3 times
  auto r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  auto ds = OpenOk(o.output);
  ASSERT_NE(ds, nullptr);
  const DatasetSchema& s = ds->schema();
  EXPECT_EQ(s.cardinalities[0], 3u);  // OOV, a, c
  EXPECT_EQ(s.cardinalities[1], 2u);  // OOV, ff
  EXPECT_EQ(s.cardinalities[2], 2u);  // OOV, missing (14 times)
  EXPECT_EQ(r->oov_values, 2u);       // C1's missing and b
  std::vector<uint64_t> idx = {0, 1, 2, 3};
  Batch b;
  ds->Gather(Split::kTrain, idx, &b);
  EXPECT_EQ(b.sparse[0 * 26], 2u);  // c
  EXPECT_EQ(b.sparse[1 * 26], 1u);  // a
  EXPECT_EQ(b.sparse[2 * 26], 0u);  // missing -> OOV
  EXPECT_EQ(b.sparse[3 * 26], 0u);  // b -> OOV
  EXPECT_EQ(b.sparse[1], 1u);       // ff
  EXPECT_EQ(b.sparse[2], 1u);       // missing C3
  // OOV count over train rows 0..11: missing 3 + b 3.
  EXPECT_EQ(ds->train_counts()[0], 6u);
}

TEST(PreprocessTest, IdsDoNotDependOnInputSplitAcrossFilesOrGzip) {
  TempDir dir;
  WriteText(dir.File("all.txt"), CriteoRows(0, 14));
  WriteText(dir.File("part1.txt"), CriteoRows(0, 5));
  WriteGzip(dir.File("part2.dat"), CriteoRows(5, 14));  // gzip without .gz name
  PreprocessOptions a;
  a.inputs = {dir.File("all.txt")};
  a.output = dir.File("a.cache");
  PreprocessOptions b = a;
  b.inputs = {dir.File("part1.txt"), dir.File("part2.dat")};
  b.output = dir.File("b.cache");
  ASSERT_TRUE(Preprocess(a).ok());
  auto rb = Preprocess(b);
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(rb->rows_written, 14u);
  // The caches are byte-identical after the schema's identity (which names the
  // inputs): same ids, values, splits and counts.
  auto da = OpenOk(a.output), db = OpenOk(b.output);
  ASSERT_TRUE(da && db);
  EXPECT_NE(da->schema().identity, db->schema().identity);
  auto after_schema = [](const std::string& path) {
    std::string bytes = testing_data::ReadAll(path);
    CacheHeader h;
    std::memcpy(&h, bytes.data(), sizeof(h));
    // Rows, counts and the footer without its meta checksum.
    return bytes.substr(h.rows_offset, bytes.size() - 32 - h.rows_offset) +
           bytes.substr(bytes.size() - 24);
  };
  EXPECT_EQ(after_schema(a.output), after_schema(b.output));
}

TEST(PreprocessTest, SkipPolicyCountsEveryKindAndReportsFileLine) {
  TempDir dir;
  std::string text = CriteoRow(0);
  text += "1\t2\n";                                                    // line 2: columns
  text += "7" + CriteoRow(1).substr(1);                                // line 3: label
  text += "1\tabc" + CriteoRow(1).substr(CriteoRow(1).find('\t', 2));  // line 4: integer
  text += CriteoRow(2);
  std::string bad_hex = CriteoRow(3);
  bad_hex.replace(bad_hex.find("\tff\t"), 4, "\tqq\t");  // line 6: hex
  text += bad_hex;
  text += "\r\n";  // line 7: empty line -> wrong column count
  text += CriteoRow(4);
  WriteText(dir.File("in.txt"), text);
  PreprocessOptions o;
  o.inputs = {dir.File("in.txt")};
  o.output = dir.File("out.cache");
  o.report_first = 1;
  auto r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->lines, 8u);
  EXPECT_EQ(r->rows_written, 3u);
  EXPECT_EQ(r->malformed.wrong_column_count, 2u);
  EXPECT_EQ(r->malformed.bad_label, 1u);
  EXPECT_EQ(r->malformed.bad_integer, 1u);
  EXPECT_EQ(r->malformed.bad_hex, 1u);
  EXPECT_EQ(r->malformed.total() + r->rows_written, r->lines);
  // report_first = 1: one example per kind, 4 kinds.
  ASSERT_EQ(r->examples.size(), 4u);
  const std::string f = dir.File("in.txt");
  EXPECT_EQ(r->examples[0].rfind(f + ":2: wrong_column_count", 0), 0u) << r->examples[0];
  EXPECT_EQ(r->examples[1].rfind(f + ":3: bad_label", 0), 0u) << r->examples[1];
  EXPECT_EQ(r->examples[2].rfind(f + ":4: bad_integer", 0), 0u) << r->examples[2];
  EXPECT_EQ(r->examples[3].rfind(f + ":6: bad_hex", 0), 0u) << r->examples[3];
}

TEST(PreprocessTest, FailPolicyNamesFileAndLine) {
  TempDir dir;
  WriteText(dir.File("in.txt"), CriteoRows(0, 3) + "1\tnot-a-row\n" + CriteoRows(3, 5));
  PreprocessOptions o;
  o.inputs = {dir.File("in.txt")};
  o.output = dir.File("out.cache");
  o.on_malformed = MalformedPolicy::kFail;
  auto r = Preprocess(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(dir.File("in.txt") + ":4:"), std::string::npos) << r.status();
  EXPECT_FALSE(std::filesystem::exists(o.output));
}

TEST(PreprocessTest, MaxRowsAndErrors) {
  TempDir dir;
  WriteText(dir.File("in.txt"), CriteoRows(0, 14));
  PreprocessOptions o;
  o.inputs = {dir.File("in.txt")};
  o.output = dir.File("out.cache");
  o.max_rows = 7;
  auto r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows_written, 7u);
  EXPECT_EQ(r->train_rows, 6u);

  WriteText(dir.File("empty.txt"), "");
  o.inputs = {dir.File("empty.txt")};
  EXPECT_EQ(Preprocess(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.inputs = {dir.File("missing.txt")};
  auto missing = Preprocess(o);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("missing.txt"), std::string::npos);
  o.inputs = {dir.File("in.txt")};
  o.split = "weeks";
  EXPECT_EQ(Preprocess(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.split = "ratio";
  o.val_ratio = 0.6;
  o.test_ratio = 0.5;
  EXPECT_EQ(Preprocess(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.split = "days";
  o.format = "csv";
  EXPECT_EQ(Preprocess(o).status().code(), absl::StatusCode::kInvalidArgument);
}

std::string AvazuLine(int i, const std::string& hour, const std::string& site) {
  std::string s =
      std::to_string(1000 + i) + "," + std::to_string(i % 3 == 0) + "," + hour + ",1005,0," + site;
  for (int c = 6; c < 24; ++c) s += "," + std::to_string(c);
  return s + "\r\n";
}

TEST(PreprocessTest, AvazuDaysSplitUsesTheLastDayOfHour) {
  TempDir dir;
  std::string header =
      "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,"
      "app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,"
      "C16,C17,C18,C19,C20,C21\r\n";
  std::string a = header, b = header;
  for (int i = 0; i < 6; ++i) a += AvazuLine(i, "1410210" + std::to_string(i % 3), "s1");
  for (int i = 6; i < 10; ++i) b += AvazuLine(i, "14102105", i % 2 ? "s2" : "");
  for (int i = 10; i < 15; ++i) b += AvazuLine(i, "14102201", "s3");
  WriteText(dir.File("a.csv"), a);
  WriteGzip(dir.File("b.csv.gz"), b);
  PreprocessOptions o;
  // Ids of every split's values (data.vocabulary=all): this test checks
  // the encoding; TrainOnlyVocabulary* test the default.
  o.vocabulary_from_train = false;
  o.inputs = {dir.File("a.csv"), dir.File("b.csv.gz")};
  o.format = "avazu";
  o.output = dir.File("out.cache");
  auto r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows_written, 15u);
  EXPECT_EQ(r->malformed.total(), 0u);
  EXPECT_EQ(r->lines, 17u);  // two headers
  EXPECT_EQ(r->train_rows, 10u);
  EXPECT_EQ(r->test_rows, 3u);
  EXPECT_EQ(r->val_rows, 2u);
  auto ds = OpenOk(o.output);
  ASSERT_NE(ds, nullptr);
  const DatasetSchema& s = ds->schema();
  EXPECT_EQ(s.num_dense, 0);
  EXPECT_EQ(s.num_fields, 22);
  EXPECT_EQ(s.field_names[3], "site_id");
  EXPECT_EQ(s.cardinalities[0], 5u);  // 5 distinct hours
  EXPECT_EQ(s.cardinalities[3], 4u);  // s1, s2, s3, missing
  EXPECT_EQ(s.cardinalities[1], 1u);
  // Train counts of site_id over rows 0..9: s1 6, s2 2, missing 2, s3 0.
  std::vector<uint32_t> site(ds->train_counts().begin() + s.offsets[3],
                             ds->train_counts().begin() + s.offsets[3] + 4);
  std::sort(site.begin(), site.end());
  EXPECT_EQ(site, (std::vector<uint32_t>{0, 2, 2, 6}));
  EXPECT_EQ(site[0] + site[1] + site[2] + site[3], 10u);

  o.last_day_rows = 4;  // explicit override
  auto r2 = Preprocess(o);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->train_rows, 11u);
  EXPECT_EQ(r2->test_rows, 2u);
  EXPECT_EQ(r2->val_rows, 2u);
}

TEST(PreprocessTest, LibffmFieldsGrowAndAbsentFieldsAreMissing) {
  TempDir dir;
  WriteText(dir.File("in.svm"),
            "1 0:5:1\r\n"
            "0 0:7:1 1:3:1\r\n"
            "bad 0:1:1\r\n"
            "1 1:3:1 0:5:1 2:9:1\r\n"
            "0 2:x:1\n"
            "0 0:7:1\n");
  PreprocessOptions o;
  // Ids of every split's values (data.vocabulary=all): this test checks
  // the encoding; TrainOnlyVocabulary* test the default.
  o.vocabulary_from_train = false;
  o.inputs = {dir.File("in.svm")};
  o.format = "libffm";
  o.output = dir.File("out.cache");
  o.split = "ratio";
  o.val_ratio = 0;
  o.test_ratio = 0;
  auto r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows_written, 4u);
  EXPECT_EQ(r->malformed.bad_label, 1u);
  EXPECT_EQ(r->malformed.bad_libsvm_token, 1u);
  auto ds = OpenOk(o.output);
  ASSERT_NE(ds, nullptr);
  const DatasetSchema& s = ds->schema();
  ASSERT_EQ(s.num_fields, 3);
  EXPECT_EQ(s.field_names[2], "f2");
  EXPECT_EQ(s.cardinalities[0], 2u);  // 5, 7
  EXPECT_EQ(s.cardinalities[1], 2u);  // missing, 3
  EXPECT_EQ(s.cardinalities[2], 2u);  // missing, 9
  std::vector<uint64_t> idx = {0, 1, 2, 3};
  Batch b;
  ds->Gather(Split::kTrain, idx, &b);
  // Field 0: 5 -> 0, 7 -> 1 (feature order). Fields 1, 2: missing -> 0.
  EXPECT_EQ(std::vector<uint32_t>(b.sparse.begin(), b.sparse.begin() + 3),
            (std::vector<uint32_t>{0, 0, 0}));
  EXPECT_EQ(std::vector<uint32_t>(b.sparse.begin() + 3, b.sparse.begin() + 6),
            (std::vector<uint32_t>{1, 1, 0}));
  EXPECT_EQ(std::vector<uint32_t>(b.sparse.begin() + 6, b.sparse.begin() + 9),
            (std::vector<uint32_t>{0, 1, 1}));
  EXPECT_EQ(std::vector<uint32_t>(b.sparse.begin() + 9, b.sparse.begin() + 12),
            (std::vector<uint32_t>{1, 0, 0}));
  EXPECT_EQ(b.labels, (std::vector<float>{1, 0, 1, 0}));
  // Missing counts: field 1 missing in rows 0 and 3, field 2 in rows 0, 1, 3.
  EXPECT_EQ(ds->train_counts()[s.offsets[1] + 0], 2u);
  EXPECT_EQ(ds->train_counts()[s.offsets[2] + 0], 3u);
}

// Issue 13: libFM values other than 1 reach the cache (a value per field
// after the ids, DatasetSchema::has_values) and the batch; a missing field's
// value is 1. data.feature_values=ignore reads them as 1, with a warning.
TEST(PreprocessTest, FeatureValuesReachTheBatch) {
  TempDir dir;
  WriteText(dir.File("valued.libfm"), "1 3:1 9:0.5\r\n0 3:2\r\n-1 5:0.25 9:1\r\n");
  PreprocessOptions o;
  o.format = "libfm";
  o.output = dir.File("weight.cache");
  o.split = "ratio";
  o.val_ratio = 0;
  o.test_ratio = 0;
  o.inputs = {dir.File("valued.libfm")};
  auto r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->has_values);
  auto ds = Dataset::Open(o.output);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_TRUE((*ds)->schema().has_values);
  EXPECT_NE((*ds)->schema().identity.find("data.feature_values=weight\n"), std::string::npos);
  const std::vector<uint64_t> rows = {0, 1, 2};
  Batch b;
  (*ds)->Gather(Split::kTrain, rows, &b);
  EXPECT_EQ(b.values, (std::vector<float>{1, 0.5f, 2, 1, 0.25f, 1}));
  EXPECT_EQ(b.labels, (std::vector<float>{1, 0, 0}));

  o.weight_values = false;
  o.output = dir.File("ignore.cache");
  r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->has_values);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("3 rows have feature values other than 1"), std::string::npos)
      << r->warnings[0];
  auto ignored = Dataset::Open(o.output);
  ASSERT_TRUE(ignored.ok()) << ignored.status();
  EXPECT_FALSE((*ignored)->schema().has_values);
  EXPECT_NE((*ignored)->schema().identity.find("data.feature_values=ignore\n"), std::string::npos);
  Batch bi;
  (*ignored)->Gather(Split::kTrain, rows, &bi);
  EXPECT_TRUE(bi.values.empty());
  EXPECT_EQ(bi.sparse, b.sparse);  // the same ids either way
}

// Issue 14: one libFFM line with field 4095 made every row 4096 fields wide
// (a 1.5 MB file became a 328 MB cache) without a word; now a warning names
// the size, the rare fields and the highest one. A dense file does not warn.
TEST(PreprocessTest, AHighFieldIndexThatBlowsUpTheCacheIsWarned) {
  TempDir dir;
  std::string dense, sparse;
  for (int i = 0; i < 300; ++i) dense += absl::StrCat(i % 2, " 0:", i % 7, ":1 1:", i % 5, ":1\n");
  sparse = dense + "1 4095:3:1\n";
  WriteText(dir.File("dense.ffm"), dense);
  WriteText(dir.File("sparse.ffm"), sparse);
  PreprocessOptions o;
  o.format = "libffm";
  o.split = "ratio";
  o.inputs = {dir.File("sparse.ffm")};
  o.output = dir.File("sparse.cache");
  auto r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string warning;
  for (const std::string& w : r->warnings)
    if (w.find("the cache will be") != std::string::npos) warning = w;
  EXPECT_NE(warning.find("every row stores all 4096 fields, and 4094 of them occur on fewer than "
                         "1% of the rows; the highest field, 4095, occurs on 1 of 301 rows"),
            std::string::npos)
      << warning;
  EXPECT_NE(warning.find("number them densely"), std::string::npos) << warning;
  o.inputs = {dir.File("dense.ffm")};
  o.output = dir.File("dense.cache");
  r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  for (const std::string& w : r->warnings)
    EXPECT_EQ(w.find("the cache will be"), std::string::npos) << w;
}

// Values of 1 (written as 1 or 1.0) give a cache without values: the rows,
// ids and counts of today's, so training is bit-identical.
TEST(PreprocessTest, ValuesOfOneGiveACacheWithoutValues) {
  TempDir dir;
  WriteText(dir.File("ones.libfm"), "1 3:1 9:1.0\n0 3:1\n1 5:1 9:1\n");
  WriteText(dir.File("plain.libfm"), "1 3:1 9:1\n0 3:1\n1 5:1 9:1\n");
  PreprocessOptions o;
  o.format = "libfm";
  o.split = "ratio";
  o.val_ratio = 0;
  o.test_ratio = 0;
  std::vector<Batch> batches(2);
  const std::vector<uint64_t> rows = {0, 1, 2};
  for (int i = 0; i < 2; ++i) {
    o.inputs = {dir.File(i == 0 ? "ones.libfm" : "plain.libfm")};
    o.output = dir.File(absl::StrCat("c", i, ".cache"));
    auto r = Preprocess(o);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->has_values);
    auto ds = Dataset::Open(o.output);
    ASSERT_TRUE(ds.ok()) << ds.status();
    EXPECT_FALSE((*ds)->schema().has_values);
    (*ds)->Gather(Split::kTrain, rows, &batches[i]);
    EXPECT_TRUE(batches[i].values.empty());
  }
  EXPECT_EQ(batches[0].sparse, batches[1].sparse);
  EXPECT_EQ(batches[0].labels, batches[1].labels);
  // Only the identity (another input file) differs: rows, counts and their
  // checksums are byte for byte those of the file written with plain 1s.
  std::string bytes[2];
  CacheHeader h[2];
  for (int i = 0; i < 2; ++i) {
    bytes[i] = testing_data::ReadAll(dir.File(absl::StrCat("c", i, ".cache")));
    ASSERT_GE(bytes[i].size(), sizeof(CacheHeader));
    std::memcpy(&h[i], bytes[i].data(), sizeof(CacheHeader));
    EXPECT_EQ(h[i].row_bytes, CacheRowBytes(0, 2));
  }
  // Rows and counts, then the footer without its meta checksum (the identity's).
  EXPECT_EQ(bytes[0].substr(h[0].rows_offset, bytes[0].size() - h[0].rows_offset - 32),
            bytes[1].substr(h[1].rows_offset, bytes[1].size() - h[1].rows_offset - 32));
  EXPECT_EQ(bytes[0].substr(bytes[0].size() - 24), bytes[1].substr(bytes[1].size() - 24));
}

}  // namespace
}  // namespace ecps

namespace ecps {
namespace {

TEST(PreprocessTest, AllMalformedInputNamesTheFirstReasons) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 8; ++i) text += "1\t2\t3\n";  // 3 columns, not 40
  WriteText(dir.File("bad.txt"), text);
  PreprocessOptions o;
  o.inputs = {dir.File("bad.txt")};
  o.output = dir.File("out.cache");
  o.report_first = 0;  // the first reasons are given anyway
  auto r = Preprocess(o);
  ASSERT_FALSE(r.ok());
  const std::string msg(r.status().message());
  EXPECT_NE(msg.find("8 lines, 8 malformed"), std::string::npos) << msg;
  EXPECT_NE(msg.find("first: " + dir.File("bad.txt") + ":1: wrong_column_count: expected 40"),
            std::string::npos)
      << msg;
  for (int line = 1; line <= 5; ++line)
    EXPECT_NE(msg.find(dir.File("bad.txt") + ":" + std::to_string(line) + ":"), std::string::npos)
        << line << ": " << msg;
  EXPECT_EQ(msg.find(dir.File("bad.txt") + ":6:"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(o.output));
}

}  // namespace
}  // namespace ecps

namespace ecps {
namespace {

TEST(PreprocessTest, LibsvmAndLibfmWithCrlfAndSignedLabels) {
  for (const char* format : {"libsvm", "libfm"}) {
    TempDir dir;
    // One-hot MovieLens-like rows: user (0..942), item (943..): field = position.
    WriteText(dir.File("ml.libfm"),
              "+1 3:1 950:1\r\n"
              "-1 5:1 943:1\r\n"
              "1 3:1 943:1\r\n"
              "0 5:1\r\n");
    PreprocessOptions o;
    // Ids of every split's values (data.vocabulary=all): this test checks
    // the encoding; TrainOnlyVocabulary* test the default.
    o.vocabulary_from_train = false;
    o.inputs = {dir.File("ml.libfm")};
    o.format = format;
    o.output = dir.File("out.cache");
    o.split = "ratio";
    o.val_ratio = 0;
    o.test_ratio = 0;
    auto r = Preprocess(o);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->rows_written, 4u);
    EXPECT_EQ(r->malformed.total(), 0u);
    auto ds = OpenOk(o.output);
    ASSERT_NE(ds, nullptr);
    const DatasetSchema& s = ds->schema();
    EXPECT_EQ(s.format, format);
    ASSERT_EQ(s.num_fields, 2);
    EXPECT_EQ(s.cardinalities[0], 2u);  // users 3, 5
    EXPECT_EQ(s.cardinalities[1], 3u);  // missing, items 943, 950
    std::vector<uint64_t> idx = {0, 1, 2, 3};
    Batch b;
    ds->Gather(Split::kTrain, idx, &b);
    EXPECT_EQ(b.labels, (std::vector<float>{1, 0, 1, 0}));
    EXPECT_EQ(b.sparse, (std::vector<uint32_t>{0, 2, 1, 1, 0, 1, 1, 0}));
  }
}

TEST(PreprocessTest, UnsupportedLinesStopEvenWhenSkipping) {
  TempDir dir;
  WriteText(dir.File("ffm.txt"), "1 0:3:1 1:9:1\n");
  PreprocessOptions o;
  o.format = "libsvm";
  o.output = dir.File("out.cache");
  o.split = "ratio";
  o.on_malformed = MalformedPolicy::kSkip;
  o.inputs = {dir.File("ffm.txt")};
  auto r = Preprocess(o);
  // A libFFM file read as libsvm (what 'libsvm' meant before) is refused, not reinterpreted.
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(dir.File("ffm.txt") + ":1:"), std::string::npos);
  EXPECT_NE(r.status().message().find("data.format=libffm"), std::string::npos) << r.status();
  o.format = "libffm";
  EXPECT_TRUE(Preprocess(o).ok());
}

}  // namespace
}  // namespace ecps

namespace ecps {
namespace {

TEST(PreprocessTest, RatioSplitRoundsToTheRequestedCounts) {
  TempDir dir;
  WriteText(dir.File("in.txt"), CriteoRows(0, 49));
  PreprocessOptions o;
  o.inputs = {dir.File("in.txt")};
  o.output = dir.File("out.cache");
  o.split = "ratio";
  o.val_ratio = 1.0 / 49;  // 49 * (1/49) = 0.99999999999999989: truncation gave 0
  o.test_ratio = 2.0 / 49;
  auto r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->val_rows, 1u);
  EXPECT_EQ(r->test_rows, 2u);
  EXPECT_EQ(r->train_rows, 46u);
  EXPECT_TRUE(r->warnings.empty());
}

TEST(PreprocessTest, FilesSplitTakesEachSplitFromItsFiles) {
  TempDir dir;
  WriteText(dir.File("train.txt"), CriteoRows(0, 10));
  WriteText(dir.File("val.txt"), CriteoRows(10, 13));
  WriteText(dir.File("test_a.txt"), CriteoRows(13, 14));
  WriteText(dir.File("test_b.txt"), CriteoRows(14, 17));
  PreprocessOptions o;
  // Ids of every split's values (data.vocabulary=all): this test checks
  // the encoding; TrainOnlyVocabulary* test the default.
  o.vocabulary_from_train = false;
  o.split = "files";
  o.train_inputs = {dir.File("train.txt")};
  o.val_inputs = {dir.File("val.txt")};
  o.test_inputs = {dir.File("test_a.txt"), dir.File("test_b.txt")};
  o.output = dir.File("out.cache");
  auto r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->train_rows, 10u);
  EXPECT_EQ(r->val_rows, 3u);
  EXPECT_EQ(r->test_rows, 4u);
  EXPECT_TRUE(r->warnings.empty());
  auto ds = OpenOk(o.output);
  ASSERT_NE(ds, nullptr);
  Batch b;
  std::vector<uint64_t> first = {0};
  ds->Gather(Split::kValidation, first, &b);
  EXPECT_FLOAT_EQ(b.dense[0], static_cast<float>(std::log(11.0)));  // row 10
  std::vector<uint64_t> last = {3};
  ds->Gather(Split::kTest, last, &b);
  EXPECT_FLOAT_EQ(b.dense[0], static_cast<float>(std::log(17.0)));  // row 16
  // Train counts cover the train file only: C2 "ff" 10 times.
  EXPECT_EQ(ds->train_counts()[ds->schema().offsets[1]], 10u);
  // Without validation or test files those splits are empty, by request.
  o.val_inputs.clear();
  o.test_inputs.clear();
  r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->val_rows + r->test_rows, 0u);
  EXPECT_TRUE(r->warnings.empty());
  // A list of files without split "files", or "files" without train files, is refused.
  o.split = "ratio";
  EXPECT_EQ(Preprocess(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.split = "files";
  o.train_inputs.clear();
  o.test_inputs = {dir.File("val.txt")};
  EXPECT_EQ(Preprocess(o).status().code(), absl::StatusCode::kInvalidArgument);
  // Train files without a valid row: the message names the train split.
  WriteText(dir.File("bad.txt"), "x\n");
  o.train_inputs = {dir.File("bad.txt")};
  r = Preprocess(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("train split is empty"), std::string::npos) << r.status();
}

TEST(PreprocessTest, DaysSplitOnlyWhereTheDataHasDays) {
  TempDir dir;
  WriteText(dir.File("in.svm"), "1 3:1\n0 4:1\n");
  PreprocessOptions o;
  o.inputs = {dir.File("in.svm")};
  o.output = dir.File("out.cache");
  o.format = "libsvm";
  auto r = Preprocess(o);  // split "days" is the default
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("split 'days' needs data with days"), std::string::npos)
      << r.status();
  EXPECT_NE(r.status().message().find("data.split=ratio"), std::string::npos);

  // A one-hour Avazu sample: every row is the last day; the error names the train split.
  std::string avazu =
      "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,"
      "app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,"
      "C16,C17,C18,C19,C20,C21\n";
  for (int i = 0; i < 20; ++i) avazu += AvazuLine(i, "14102100", "s1");
  WriteText(dir.File("hour.csv"), avazu);
  o.inputs = {dir.File("hour.csv")};
  o.format = "avazu";
  r = Preprocess(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("the train split is empty"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("one day in column hour (141021)"), std::string::npos)
      << r.status();
  EXPECT_EQ(r.status().message().find("batch"), std::string::npos);
  o.split = "ratio";
  EXPECT_TRUE(Preprocess(o).ok());

  // Criteo: 7 parts by row order; a row count other than the 7-day file's warns.
  WriteText(dir.File("sample.txt"), CriteoRows(0, 70));
  o.inputs = {dir.File("sample.txt")};
  o.format = "criteo";
  o.split = "days";
  r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("row ranges, not days"), std::string::npos) << r->warnings[0];
  EXPECT_NE(r->warnings[0].find("45840617"), std::string::npos);
  o.days_by_construction = true;  // gen-data's layout
  r = Preprocess(o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->warnings.empty());
  // Too few rows for a validation split: a warning that names it.
  WriteText(dir.File("six.txt"), CriteoRows(0, 6));
  o.inputs = {dir.File("six.txt")};
  r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_FALSE(r->warnings.empty());
  EXPECT_NE(r->warnings[0].find("the validation split is empty"), std::string::npos);
}

}  // namespace
}  // namespace ecps

namespace ecps {
namespace {

// Issue 13 item 6: by default the vocabulary is the train split's. A value
// first seen in validation (12 in field 0) or test (21 in field 1) maps to
// its field's OOV id 0, as a deployed model meets it; data.vocabulary=all
// gives it its own row (and memory). min_count counts train occurrences.
TEST(PreprocessTest, TrainOnlyVocabularyMapsValuesUnseenInTrainToOov) {
  TempDir dir;
  WriteText(dir.File("train.txt"), "1 10:1 20:1\n0 11:1 20:1\n1 10:1 20:1\n");
  WriteText(dir.File("val.txt"), "1 12:1 20:1\n");
  WriteText(dir.File("test.txt"), "0 10:1 21:1\n");
  PreprocessOptions o;
  o.format = "libfm";
  o.split = "files";
  o.train_inputs = {dir.File("train.txt")};
  o.val_inputs = {dir.File("val.txt")};
  o.test_inputs = {dir.File("test.txt")};
  o.output = dir.File("train_vocab.cache");
  auto r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->oov_values, 2u);  // 12 and 21
  auto ds = OpenOk(o.output);
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->schema().cardinalities, (std::vector<uint64_t>{3, 2}));  // OOV,10,11 / OOV,20
  Batch b;
  std::vector<uint64_t> first = {0};
  ds->Gather(Split::kValidation, first, &b);
  EXPECT_EQ(b.sparse, (std::vector<uint32_t>{0, 1}));  // 12 -> OOV, 20
  ds->Gather(Split::kTest, first, &b);
  EXPECT_EQ(b.sparse, (std::vector<uint32_t>{1, 0}));  // 10, 21 -> OOV
  std::vector<uint64_t> rows = {0, 1};
  ds->Gather(Split::kTrain, rows, &b);
  EXPECT_EQ(b.sparse, (std::vector<uint32_t>{1, 1, 2, 1}));

  // data.vocabulary=all: every split's values have their own ids.
  o.vocabulary_from_train = false;
  o.output = dir.File("all_vocab.cache");
  r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->oov_values, 0u);
  ds = OpenOk(o.output);
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->schema().cardinalities, (std::vector<uint64_t>{3, 2}));  // 10,11,12 / 20,21
  ds->Gather(Split::kValidation, first, &b);
  EXPECT_EQ(b.sparse, (std::vector<uint32_t>{2, 0}));
  ds->Gather(Split::kTest, first, &b);
  EXPECT_EQ(b.sparse, (std::vector<uint32_t>{0, 1}));

  // min_count over train rows: 10 twice, 11 once, 20 three times.
  o.vocabulary_from_train = true;
  o.min_count = 2;
  o.output = dir.File("train_vocab_m2.cache");
  r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  ds = OpenOk(o.output);
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->schema().cardinalities, (std::vector<uint64_t>{2, 2}));  // OOV,10 / OOV,20
  ds->Gather(Split::kTrain, rows, &b);
  EXPECT_EQ(b.sparse, (std::vector<uint32_t>{1, 1, 0, 1}));  // 11 -> OOV
}

// A ratio split's train rows are the first ones: the vocabulary is theirs.
TEST(PreprocessTest, TrainOnlyVocabularyOfARatioSplit) {
  TempDir dir;
  WriteText(dir.File("in.txt"), "1 1:1\n0 2:1\n1 1:1\n0 2:1\n1 3:1\n");
  PreprocessOptions o;
  o.format = "libsvm";
  o.split = "ratio";
  o.val_ratio = 0;
  o.test_ratio = 0.2;  // the last row, whose 3 train never saw
  o.inputs = {dir.File("in.txt")};
  o.output = dir.File("out.cache");
  auto r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  auto ds = OpenOk(o.output);
  ASSERT_NE(ds, nullptr);
  Batch b;
  std::vector<uint64_t> first = {0};
  ds->Gather(Split::kTest, first, &b);
  EXPECT_EQ(b.sparse[0], 0u);
  EXPECT_EQ(ds->schema().total_features(), 3u);  // OOV, 1, 2
}

}  // namespace
}  // namespace ecps

namespace ecps {
namespace {

// Replaces every "\n" (not already after "\r") by "\r\n".
std::string ToCrlf(const std::string& lf) {
  std::string s;
  for (size_t i = 0; i < lf.size(); ++i) {
    if (lf[i] == '\n' && (i == 0 || lf[i - 1] != '\r')) s.push_back('\r');
    s.push_back(lf[i]);
  }
  return s;
}

struct FormatFixture {
  std::string format;
  std::string lf;            // a good file, LF line ends, labels 0/1
  std::string twin;          // the same rows written as users bring them: CRLF, labels -1/+1
  std::string malformed;     // every line malformed
  std::string first_reason;  // kind and reason of its first line
};

std::vector<FormatFixture> EveryFormat() {
  const std::string avazu_header =
      "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,"
      "app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,"
      "C16,C17,C18,C19,C20,C21\n";
  std::string avazu = avazu_header;
  for (int i = 0; i < 6; ++i) avazu += AvazuLine(i, "1410210" + std::to_string(i % 3), "s1");
  avazu = absl::StrReplaceAll(avazu, {{"\r\n", "\n"}});
  const std::string svm = "1 3:1 950:0.5\n0 5:1 943:1\n1 3:2 943:1\n0 5:1\n";
  const std::string svm_pm1 = "+1 3:1 950:0.5\n-1 5:1 943:1\n+1 3:2 943:1\n-1 5:1\n";
  const std::string ffm = "1 0:3:1 1:950:0.5\n0 1:943:1 0:5:1\n1 0:3:2 2:7:1\n0 1:943:1\n";
  const std::string ffm_pm1 = "+1 0:3:1 1:950:0.5\n-1 1:943:1 0:5:1\n+1 0:3:2 2:7:1\n-1 1:943:1\n";
  return {
      {"criteo", CriteoRows(0, 6), CriteoRows(0, 6), "1\t2\t3\n0\t4\n1\n",
       "wrong_column_count: expected 40 tab-separated columns, got 3"},
      {"avazu", avazu, avazu, avazu_header + "1000,1,14102100\n1001,x\n", "wrong_column_count"},
      {"libsvm", svm, svm_pm1, "yes 3:1\n2 5:1\n", "bad_label: label must be 0, 1 or -1"},
      {"libfm", svm, svm_pm1, "1 3-1\n0 5\n", "bad_libsvm_token"},
      {"libffm", ffm, ffm_pm1, "1 3:1\n0 5:1\n", "bad_libsvm_token"},
  };
}

class EveryFormatTest : public ::testing::TestWithParam<FormatFixture> {};

// Issue 13, Done when: per format, a fixture as users bring it (CRLF, and for
// the libSVM family -1/+1 labels and valued features) gives exactly the rows
// of its LF 0/1 twin, and a file of which every line is malformed stops with
// the first reasons named (file:line: kind: reason), whatever report_first.
TEST_P(EveryFormatTest, CrlfAndSignedLabelsReadAsTheirTwinAndAllMalformedNamesTheReasons) {
  const FormatFixture& f = GetParam();
  TempDir dir;
  WriteText(dir.File("lf.txt"), f.lf);
  WriteText(dir.File("crlf.txt"), ToCrlf(f.twin));
  ASSERT_NE(ToCrlf(f.twin).find("\r\n"), std::string::npos);
  Batch want, got;
  uint64_t rows = 0;
  for (const std::string name : {"lf", "crlf"}) {
    PreprocessOptions o;
    o.vocabulary_from_train = false;
    o.inputs = {dir.File(name + ".txt")};
    o.format = f.format;
    o.output = dir.File(name + ".cache");
    o.split = "ratio";
    o.val_ratio = 0;
    o.test_ratio = 0;
    o.on_malformed = MalformedPolicy::kFail;
    auto r = Preprocess(o);
    ASSERT_TRUE(r.ok()) << name << ": " << r.status();
    EXPECT_EQ(r->malformed.total(), 0u);
    rows = r->rows_written;
    auto ds = OpenOk(o.output);
    ASSERT_NE(ds, nullptr);
    std::vector<uint64_t> idx(rows);
    for (uint64_t i = 0; i < rows; ++i) idx[i] = i;
    ds->Gather(Split::kTrain, idx, name == "lf" ? &want : &got);
  }
  EXPECT_GE(rows, 4u);
  EXPECT_EQ(got.labels, want.labels);
  EXPECT_NE(std::count(want.labels.begin(), want.labels.end(), 0.0f), 0);
  EXPECT_NE(std::count(want.labels.begin(), want.labels.end(), 1.0f), 0);
  EXPECT_EQ(got.dense, want.dense);
  EXPECT_EQ(got.sparse, want.sparse);
  EXPECT_EQ(got.values, want.values);
  if (f.format.rfind("lib", 0) == 0) {
    // The valued features reached the batch: 950:0.5 and 3:2.
    EXPECT_NE(std::count(got.values.begin(), got.values.end(), 0.5f), 0);
    EXPECT_NE(std::count(got.values.begin(), got.values.end(), 2.0f), 0);
  }

  const std::string bad = dir.File("bad.txt");
  WriteText(bad, ToCrlf(f.malformed));
  PreprocessOptions o;
  o.inputs = {bad};
  o.format = f.format;
  o.output = dir.File("bad.cache");
  o.split = "ratio";
  o.report_first = 0;
  auto r = Preprocess(o);
  ASSERT_FALSE(r.ok());
  const std::string msg(r.status().message());
  EXPECT_NE(msg.find("no valid rows"), std::string::npos) << msg;
  const int data_lines =
      f.format == "avazu"
          ? 2
          : static_cast<int>(std::count(f.malformed.begin(), f.malformed.end(), '\n'));
  EXPECT_NE(msg.find(absl::StrCat(data_lines, " malformed")), std::string::npos) << msg;
  const int first_line = f.format == "avazu" ? 2 : 1;  // after the header
  EXPECT_NE(msg.find(absl::StrCat("first: ", bad, ":", first_line, ": ", f.first_reason)),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(absl::StrCat(bad, ":", first_line + 1, ": ")), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(o.output));
}

INSTANTIATE_TEST_SUITE_P(Formats, EveryFormatTest, ::testing::ValuesIn(EveryFormat()),
                         [](const ::testing::TestParamInfo<FormatFixture>& info) {
                           return info.param.format;
                         });

}  // namespace
}  // namespace ecps
