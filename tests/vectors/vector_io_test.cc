// Vector file readers (docs/formats.md "Vector files"): round trips, the
// sift5k TSV layout, and every malformed input refused with the file named.
#include "vectors/vector_io.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "common/file_util.h"
#include "tests/vectors/test_util.h"

namespace ecps::vectors {
namespace {

using ::testing::HasSubstr;
using testing::RandomVectors;
using testing::TempDir;

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(VectorIoTest, NpyAndFvecsRoundTrip) {
  TempDir dir("vector_io_rt");
  const VectorSet v = RandomVectors(37, 12, 3);
  for (const char* name : {"x.npy", "x.fvecs"}) {
    ASSERT_TRUE(WriteVectors(dir.File(name), v).ok());
    StatusOr<VectorSet> r = ReadVectors(dir.File(name));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->n, 37u);
    EXPECT_EQ(r->dim, 12);
    EXPECT_EQ(r->values, v.values) << name;
  }
}

TEST(VectorIoTest, NpyHeaderIsNumpysFormat) {
  TempDir dir("vector_io_hdr");
  ASSERT_TRUE(WriteVectors(dir.File("x.npy"), RandomVectors(3, 2, 1)).ok());
  const std::string bytes = *ReadFile(dir.File("x.npy"));
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ((bytes.size() - 3 * 2 * 4) % 64, 0u);  // data aligned, as numpy writes it
  EXPECT_THAT(bytes, HasSubstr("'shape': (3, 2)"));
}

TEST(VectorIoTest, TsvWithAndWithoutIds) {
  TempDir dir("vector_io_tsv");
  // The sift5k layout: d values, then an integer id.
  WriteText(dir.File("base.tsv"), "1\t2\t3\t100001\n4\t5.5\t-6\t100002\n");
  ReadOptions o;
  o.dim = 3;
  StatusOr<VectorSet> r = ReadVectors(dir.File("base.tsv"), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->n, 2u);
  EXPECT_EQ(r->values, (std::vector<float>{1, 2, 3, 4, 5.5f, -6}));
  // Without a dimension every field is a component.
  r = ReadVectors(dir.File("base.tsv"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dim, 4);
  WriteText(dir.File("q.tsv"), "1\t2\t3\n");
  r = ReadVectors(dir.File("q.tsv"), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->n, 1u);
}

TEST(VectorIoTest, WrongDimensionNamesTheFile) {
  TempDir dir("vector_io_dim");
  ASSERT_TRUE(WriteVectors(dir.File("x.npy"), RandomVectors(4, 8, 1)).ok());
  ASSERT_TRUE(WriteVectors(dir.File("x.fvecs"), RandomVectors(4, 8, 1)).ok());
  ReadOptions o;
  o.dim = 16;
  for (const char* name : {"x.npy", "x.fvecs"}) {
    StatusOr<VectorSet> r = ReadVectors(dir.File(name), o);
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(dir.File(name)));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("dimension 8, expected 16"));
  }
  WriteText(dir.File("x.tsv"), "1\t2\t3\n4\t5\n");
  StatusOr<VectorSet> r = ReadVectors(dir.File("x.tsv"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(dir.File("x.tsv") + ":2: 2 fields"));
  // A trailing non-integer is not an id.
  WriteText(dir.File("y.tsv"), "1\t2\t3\t0.5\n");
  o.dim = 3;
  EXPECT_FALSE(ReadVectors(dir.File("y.tsv"), o).ok());
  // An fvecs record of another dimension.
  std::string bytes = *ReadFile(dir.File("x.fvecs"));
  const int32_t bad = 7;
  std::memcpy(bytes.data() + 2 * (4 + 32), &bad, 4);
  WriteText(dir.File("z.fvecs"), bytes);
  r = ReadVectors(dir.File("z.fvecs"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("vector 2 has dimension 7"));
}

TEST(VectorIoTest, TruncatedFilesAreRefused) {
  TempDir dir("vector_io_trunc");
  ASSERT_TRUE(WriteVectors(dir.File("x.npy"), RandomVectors(5, 4, 1)).ok());
  ASSERT_TRUE(WriteVectors(dir.File("x.fvecs"), RandomVectors(5, 4, 1)).ok());
  for (const char* name : {"x.npy", "x.fvecs"}) {
    std::string bytes = *ReadFile(dir.File(name));
    bytes.resize(bytes.size() - 6);
    const std::string cut = dir.File(std::string("cut.") + (name + 2));
    WriteText(cut, bytes);
    StatusOr<VectorSet> r = ReadVectors(cut);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(cut));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("truncated"));
  }
  WriteText(dir.File("h.npy"), std::string("\x93NUMPY\x01\x00\x76\x00{'descr'", 17));
  EXPECT_FALSE(ReadVectors(dir.File("h.npy")).ok());
}

TEST(VectorIoTest, NanAndInfinityAreRefused) {
  TempDir dir("vector_io_nan");
  VectorSet v = RandomVectors(3, 4, 1);
  v.values[6] = std::numeric_limits<float>::quiet_NaN();
  ASSERT_TRUE(WriteVectors(dir.File("x.npy"), v).ok());
  StatusOr<VectorSet> r = ReadVectors(dir.File("x.npy"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr(dir.File("x.npy") + ": vector 1 component 2 is nan"));
  v.values[6] = std::numeric_limits<float>::infinity();
  ASSERT_TRUE(WriteVectors(dir.File("x.fvecs"), v).ok());
  EXPECT_FALSE(ReadVectors(dir.File("x.fvecs")).ok());
  WriteText(dir.File("x.tsv"), "1\t2\n3\tnan\n");
  r = ReadVectors(dir.File("x.tsv"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(dir.File("x.tsv") + ":2: field 2"));
  WriteText(dir.File("w.tsv"), "1\t2\n3\tabc\n");
  EXPECT_FALSE(ReadVectors(dir.File("w.tsv")).ok());
}

TEST(VectorIoTest, OtherDtypesAndLayoutsAreRefused) {
  TempDir dir("vector_io_dtype");
  ASSERT_TRUE(WriteVectors(dir.File("x.npy"), RandomVectors(2, 2, 1)).ok());
  const std::string bytes = *ReadFile(dir.File("x.npy"));
  std::string f8 = bytes;
  f8.replace(f8.find("<f4"), 3, "<f8");
  WriteText(dir.File("f8.npy"), f8);
  StatusOr<VectorSet> r = ReadVectors(dir.File("f8.npy"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("dtype '<f8'"));
  std::string fortran = bytes;
  fortran.replace(fortran.find("False"), 5, "True ");
  WriteText(dir.File("fo.npy"), fortran);
  EXPECT_FALSE(ReadVectors(dir.File("fo.npy")).ok());
  EXPECT_EQ(ReadVectors(dir.File("missing.npy")).status().code(), absl::StatusCode::kNotFound);
  WriteText(dir.File("x.csv"), "1,2\n");
  EXPECT_FALSE(ReadVectors(dir.File("x.csv")).ok());
}

}  // namespace
}  // namespace ecps::vectors
