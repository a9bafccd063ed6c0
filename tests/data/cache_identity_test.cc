#include "worker/data/cache_identity.h"

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "tests/data/data_test_util.h"
#include "worker/data/cache_format.h"
#include "worker/data/dataset.h"
#include "worker/data/preprocess.h"

namespace ecps {
namespace {

using testing_data::TempDir;
using testing_data::WriteText;

std::string Text(const PreprocessOptions& o) {
  auto id = ComputeCacheIdentity(o);
  EXPECT_TRUE(id.ok()) << id.status();
  return id.ok() ? id->ToText() : "";
}

TEST(CacheIdentityTest, CoversContentFormatAndOptions) {
  TempDir dir;
  WriteText(dir.File("a.txt"), "1 0:1\n");
  PreprocessOptions o;
  o.inputs = {dir.File("a.txt")};
  o.format = "libsvm";
  const std::string base = Text(o);
  EXPECT_EQ(Text(o), base) << "deterministic";
  EXPECT_NE(base.find("input[0]=" + dir.File("a.txt") + " size 6 "), std::string::npos) << base;

  PreprocessOptions f = o;
  f.format = "libffm";
  EXPECT_EQ(DescribeIdentityChange(base, Text(f)), "data.format: libsvm -> libffm");
  PreprocessOptions r = o;
  r.split = "ratio";
  const std::string ratio = Text(r);
  r.val_ratio = 0.05000000000000001;  // any bit of a ratio counts
  EXPECT_NE(Text(r), ratio);
  PreprocessOptions m = o;
  m.min_count = 3;
  EXPECT_EQ(DescribeIdentityChange(base, Text(m)), "data.min_count: 0 -> 3");
  // The vocabulary rule changes every id of a value unseen in train.
  PreprocessOptions v = o;
  v.vocabulary_from_train = false;
  EXPECT_EQ(DescribeIdentityChange(base, Text(v)), "data.vocabulary: train -> all");

  // Same size, same mtime, other content.
  const auto mtime = std::filesystem::last_write_time(dir.File("a.txt"));
  WriteText(dir.File("a.txt"), "0 0:1\n");
  std::filesystem::last_write_time(dir.File("a.txt"), mtime);
  const std::string rewritten = Text(o);
  EXPECT_NE(rewritten, base);
  const std::string content = DescribeIdentityChange(base, rewritten);
  EXPECT_EQ(content.rfind("input[0] " + dir.File("a.txt") + ": head_tail_xxh3 ", 0), 0u) << content;
  EXPECT_EQ(content.find("size"), std::string::npos) << "only what differs: " << content;

  // A file added to the list.
  WriteText(dir.File("b.txt"), "1 0:1\n");
  PreprocessOptions two = o;
  two.inputs.push_back(dir.File("b.txt"));
  const std::string change = DescribeIdentityChange(rewritten, Text(two));
  EXPECT_NE(change.find("input[1]: (none) -> " + dir.File("b.txt")), std::string::npos) << change;
  EXPECT_NE(change.find("input_files: 1 -> 2"), std::string::npos) << change;

  // Roles are part of the identity: the same file as train or as input differs.
  PreprocessOptions files;
  files.format = "libsvm";
  files.split = "files";
  files.train_inputs = {dir.File("a.txt")};
  EXPECT_NE(Text(files).find("train[0]="), std::string::npos);

  o.inputs = {dir.File("missing.txt")};
  auto missing = ComputeCacheIdentity(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("missing.txt"), std::string::npos);
}

TEST(CacheIdentityTest, TailOfALargeFileIsHashed) {
  TempDir dir;
  std::string big(3 << 20, 'x');
  WriteText(dir.File("big.txt"), big);
  PreprocessOptions o;
  o.inputs = {dir.File("big.txt")};
  const std::string base = Text(o);
  big[big.size() - 10] = 'y';
  WriteText(dir.File("big.txt"), big);
  EXPECT_NE(Text(o), base);
}

TEST(CacheIdentityTest, PreprocessStoresItAndReadCacheSchemaReturnsIt) {
  TempDir dir;
  // Two Criteo rows: label, 13 empty integers, 26 empty categories.
  const std::string row = std::string("1") + std::string(39, '\t') + "\n";
  WriteText(dir.File("a.txt"), row + row);
  PreprocessOptions o;
  o.inputs = {dir.File("a.txt")};
  o.split = "ratio";
  o.output = dir.File("a.cache");
  auto r = Preprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  auto schema = ReadCacheSchema(o.output);
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_EQ(schema->identity, Text(o));
  auto ds = Dataset::Open(o.output);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->schema().identity, schema->identity);
  EXPECT_EQ(ReadCacheSchema(dir.File("none.cache")).status().code(), absl::StatusCode::kNotFound);
  const std::string bytes = testing_data::ReadAll(o.output);
  WriteText(dir.File("short.cache"), bytes.substr(0, bytes.size() - 40));
  auto truncated = ReadCacheSchema(dir.File("short.cache"));
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos)
      << truncated.status();
  std::string flipped = bytes;
  flipped[sizeof(CacheHeader) + 4] ^= 1;  // inside the schema section
  WriteText(dir.File("flipped.cache"), flipped);
  EXPECT_EQ(ReadCacheSchema(dir.File("flipped.cache")).status().code(),
            absl::StatusCode::kDataLoss);
  WriteText(dir.File("junk.cache"), std::string(300, 'j'));
  EXPECT_EQ(ReadCacheSchema(dir.File("junk.cache")).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace ecps
