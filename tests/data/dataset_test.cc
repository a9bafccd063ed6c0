#include "worker/data/dataset.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/data/data_test_util.h"
#include "worker/data/cache_format.h"

namespace ecps {
namespace {

using testing_data::ReadAll;
using testing_data::TempDir;
using testing_data::WriteText;

// Writes a small cache directly through CacheWriter: 2 dense, 2 fields
// (cardinalities 3 and 2), rows r = 0..9 with label r%2, dense {r, -r},
// sparse {r%3, r%2}; splits train 0..5, validation 6..7, test 8..9.
std::string MakeCache(const TempDir& dir) {
  DatasetSchema s;
  s.format = "test";
  s.num_dense = 2;
  s.num_fields = 2;
  s.field_names = {"a", "b"};
  s.cardinalities = {3, 2};
  s.offsets = {0, 3};
  CacheWriter::Layout layout;
  layout.num_rows = 10;
  layout.split_kind = SplitKind::kRatio;
  layout.split_begin[0] = 0;
  layout.split_rows[0] = 6;
  layout.split_begin[1] = 6;
  layout.split_rows[1] = 2;
  layout.split_begin[2] = 8;
  layout.split_rows[2] = 2;
  std::string path = dir.File("c.cache");
  auto w = CacheWriter::Open(path, s, layout);
  EXPECT_TRUE(w.ok()) << w.status();
  for (int r = 0; r < 10; ++r) {
    float f[3] = {static_cast<float>(r % 2), static_cast<float>(r), static_cast<float>(-r)};
    uint32_t ids[2] = {static_cast<uint32_t>(r % 3), static_cast<uint32_t>(r % 2)};
    char rec[20];
    std::memcpy(rec, f, 12);
    std::memcpy(rec + 12, ids, 8);
    EXPECT_TRUE((*w)->AppendRows(rec, 1).ok());
  }
  std::vector<uint32_t> counts = {2, 2, 2, 3, 3};
  EXPECT_TRUE((*w)->Finish(counts).ok());
  return path;
}

TEST(DatasetTest, OpensAndGathers) {
  TempDir dir;
  std::string path = MakeCache(dir);
  auto ds = Dataset::Open(path);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->schema().total_features(), 5u);
  EXPECT_EQ((*ds)->NumRows(Split::kTrain), 6u);
  EXPECT_EQ((*ds)->NumRows(Split::kValidation), 2u);
  EXPECT_EQ((*ds)->NumRows(Split::kTest), 2u);
  Batch b;
  std::vector<uint64_t> rows = {1, 0};
  (*ds)->Gather(Split::kTest, rows, &b);  // rows 9, 8
  EXPECT_EQ(b.size, 2);
  EXPECT_EQ(b.labels, (std::vector<float>{1, 0}));
  EXPECT_EQ(b.dense, (std::vector<float>{9, -9, 8, -8}));
  EXPECT_EQ(b.sparse, (std::vector<uint32_t>{0, 1, 2, 0}));
  auto c = (*ds)->train_counts();
  EXPECT_EQ(std::vector<uint32_t>(c.begin(), c.end()), (std::vector<uint32_t>{2, 2, 2, 3, 3}));
}

// Issue 14: a cache crafted with valid checksums but an id at or beyond its
// field's cardinality (or a non-finite feature value) is refused naming the
// cache, the row and the field, instead of indexing past a table later.
TEST(DatasetTest, IdsBeyondTheCardinalityAreRefusedEvenWithValidChecksums) {
  TempDir dir;
  auto write = [&](const std::string& name, uint32_t id_b, float value) {
    DatasetSchema s;
    s.format = "libfm";
    s.num_fields = 2;
    s.field_names = {"f0", "f1"};
    s.cardinalities = {3, 2};
    s.offsets = {0, 3};
    s.has_values = true;
    CacheWriter::Layout layout;
    layout.num_rows = 2;
    layout.split_rows[0] = 2;
    const std::string path = dir.File(name);
    auto w = CacheWriter::Open(path, s, layout);
    EXPECT_TRUE(w.ok()) << w.status();
    for (int r = 0; r < 2; ++r) {
      // label, ids {1, id_b on row 1}, values {0.5, value on row 1}
      const uint32_t ids[2] = {1, r == 1 ? id_b : 0u};
      const float label = 1, values[2] = {0.5f, r == 1 ? value : 1.0f};
      char rec[20];
      std::memcpy(rec, &label, 4);
      std::memcpy(rec + 4, ids, 8);
      std::memcpy(rec + 12, values, 8);
      EXPECT_TRUE((*w)->AppendRows(rec, 1).ok());
    }
    std::vector<uint32_t> counts(5, 1);
    EXPECT_TRUE((*w)->Finish(counts).ok());
    return path;
  };
  auto good = Dataset::Open(write("good.cache", 1, 3.0f));
  ASSERT_TRUE(good.ok()) << good.status();
  const std::vector<uint64_t> rows = {0, 1};
  Batch b;
  (*good)->Gather(Split::kTrain, rows, &b);
  EXPECT_EQ(b.values, (std::vector<float>{0.5f, 1, 0.5f, 3}));
  for (bool verify : {true, false}) {
    auto bad = Dataset::Open(write("ids.cache", 2, 1.0f), verify);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
    const std::string m(bad.status().message());
    EXPECT_NE(m.find(dir.File("ids.cache")), std::string::npos) << m;
    EXPECT_NE(m.find("row 1 has id 2 in field 1 (f1), beyond the field's cardinality 2"),
              std::string::npos)
        << m;
  }
  auto nan = Dataset::Open(write("nan.cache", 1, std::nanf("")));
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.status().message().find("non-finite value"), std::string::npos) << nan.status();
  EXPECT_NE(nan.status().message().find("field 1 (f1)"), std::string::npos) << nan.status();
}

TEST(DatasetTest, WriterRejectsWrongRowCounts) {
  TempDir dir;
  DatasetSchema s;
  s.format = "test";
  s.num_fields = 1;
  s.field_names = {"a"};
  s.cardinalities = {1};
  s.offsets = {0};
  CacheWriter::Layout layout;
  layout.num_rows = 2;
  auto w = CacheWriter::Open(dir.File("x.cache"), s, layout);
  ASSERT_TRUE(w.ok());
  char rec[8] = {};
  ASSERT_TRUE((*w)->AppendRows(rec, 1).ok());
  std::vector<uint32_t> counts = {1};
  EXPECT_FALSE((*w)->Finish(counts).ok());
  w->reset();
  EXPECT_FALSE(FileExists(dir.File("x.cache")));  // unfinished: no file
}

// Every single-region corruption or truncation is detected with an error
// that names the file.
TEST(DatasetTest, CorruptionAndTruncationAreDataLoss) {
  TempDir dir;
  std::string path = MakeCache(dir);
  const std::string good = ReadAll(path);
  CacheHeader h;
  std::memcpy(&h, good.data(), sizeof(h));
  struct Case {
    std::string name;
    std::string bytes;
    absl::StatusCode code;
    std::string part;
  };
  auto flip = [&](size_t at) {
    std::string s = good;
    s[at] ^= 0x40;
    return s;
  };
  std::vector<Case> cases = {
      {"empty", "", absl::StatusCode::kDataLoss, "only 0 bytes"},
      {"truncated", good.substr(0, good.size() - 7), absl::StatusCode::kDataLoss, "header says"},
      {"truncated_header", good.substr(0, 100), absl::StatusCode::kDataLoss, "only 100 bytes"},
      {"extended", good + "xx", absl::StatusCode::kDataLoss, "header says"},
      {"magic", flip(0), absl::StatusCode::kDataLoss, "bad magic"},
      {"num_rows", flip(24), absl::StatusCode::kDataLoss, "corrupt"},
      {"split", flip(80), absl::StatusCode::kDataLoss, "corrupt"},
      {"schema", flip(h.schema_offset + 5), absl::StatusCode::kDataLoss, "checksum"},
      {"row", flip(h.rows_offset + 13), absl::StatusCode::kDataLoss, "rows checksum"},
      {"counts", flip(h.counts_offset + 1), absl::StatusCode::kDataLoss, "counts checksum"},
      {"footer", flip(good.size() - 3), absl::StatusCode::kDataLoss, "end magic"},
  };
  for (const Case& c : cases) {
    std::string p = dir.File(c.name + ".cache");
    WriteText(p, c.bytes);
    auto ds = Dataset::Open(p);
    ASSERT_FALSE(ds.ok()) << c.name;
    EXPECT_EQ(ds.status().code(), c.code) << c.name << ": " << ds.status();
    EXPECT_NE(ds.status().message().find(p), std::string::npos) << c.name << ": " << ds.status();
    EXPECT_NE(ds.status().message().find(c.part), std::string::npos)
        << c.name << ": " << ds.status();
  }
}

TEST(DatasetTest, VersionMismatchIsReportedAndRowCheckCanBeSkipped) {
  TempDir dir;
  std::string path = MakeCache(dir);
  std::string bytes = ReadAll(path);
  CacheHeader h;
  std::memcpy(&h, bytes.data(), sizeof(h));
  std::string other = bytes;
  other[8] = static_cast<char>(kCacheVersion + 1);
  WriteText(dir.File("v2.cache"), other);
  auto ds = Dataset::Open(dir.File("v2.cache"));
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(ds.status().message().find(absl::StrCat("version ", kCacheVersion + 1)),
            std::string::npos)
      << ds.status();
  // A cache of the previous version (before the identity) is refused the same way.
  other[8] = static_cast<char>(kCacheVersion - 1);
  WriteText(dir.File("v1.cache"), other);
  EXPECT_EQ(Dataset::Open(dir.File("v1.cache")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadCacheSchema(dir.File("v1.cache")).status().code(),
            absl::StatusCode::kFailedPrecondition);

  std::string bad_row = bytes;
  bad_row[h.rows_offset + 2] ^= 1;
  WriteText(dir.File("r.cache"), bad_row);
  EXPECT_FALSE(Dataset::Open(dir.File("r.cache")).ok());
  EXPECT_TRUE(Dataset::Open(dir.File("r.cache"), /*verify_row_checksum=*/false).ok());

  auto missing = Dataset::Open(dir.File("nope.cache"));
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.cache"), std::string::npos);
}

TEST(DatasetDeathTest, GatherOutOfRangeAborts) {
  TempDir dir;
  auto ds = Dataset::Open(MakeCache(dir));
  ASSERT_TRUE(ds.ok());
  Batch b;
  std::vector<uint64_t> rows = {2};
  EXPECT_DEATH((*ds)->Gather(Split::kTest, rows, &b), "out of range");
}

}  // namespace
}  // namespace ecps
