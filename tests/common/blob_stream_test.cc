// The streaming blob framing (common/blob.h): the same bytes as BlobWriter,
// read back piecewise, damage found; the chunked file sink and source.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/blob.h"
#include "common/file_util.h"

namespace ecps {
namespace {

constexpr char kMagic[9] = "ECPSTEST";

std::string TempDir() {
  auto dir = std::filesystem::temp_directory_path() /
             ("ecps_blob_stream_test." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

// A payload with a part larger than one stream chunk.
std::vector<float> BigVector() {
  std::vector<float> v(kStreamChunkBytes / sizeof(float) * 2 + 123);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.5f;
  return v;
}

TEST(BlobStreamTest, WritesTheBytesOfBlobWriter) {
  const std::vector<float> big = BigVector();
  BlobWriter w(kMagic, 3);
  w.Pod<int32_t>(-7);
  w.Str("name");
  w.Vec(big);
  const std::string expected = w.Finish();

  std::string streamed;
  StringSink sink(&streamed);
  BlobStreamWriter s(&sink, kMagic, 3);
  s.Pod<int32_t>(-7);
  s.Str("name");
  s.Vec(big);
  ASSERT_TRUE(s.Finish().ok());
  EXPECT_EQ(streamed, expected);
  // A counting pass (its checksum skipped) counts exactly those bytes.
  CountingSink count;
  BlobStreamWriter c(&count, kMagic, 3);
  c.Pod<int32_t>(-7);
  c.Str("name");
  c.Vec(big);
  ASSERT_TRUE(c.Finish().ok());
  EXPECT_TRUE(count.discards());
  EXPECT_EQ(count.bytes(), expected.size());

  StringSource src(streamed);
  BlobStreamReader r;
  ASSERT_TRUE(r.Open(&src, kMagic, 3, "test blob").ok());
  int32_t i = 0;
  std::string name;
  std::vector<float> back;
  ASSERT_TRUE(r.Pod(&i) && r.Str(&name) && r.Vec(&back));
  EXPECT_EQ(r.remaining(), 0u);
  ASSERT_TRUE(r.Finish().ok());
  EXPECT_EQ(i, -7);
  EXPECT_EQ(name, "name");
  EXPECT_EQ(back, big);
}

TEST(BlobStreamTest, DamageIsFoundByFinish) {
  std::string blob;
  StringSink sink(&blob);
  BlobStreamWriter s(&sink, kMagic, 1);
  s.Str("payload");
  ASSERT_TRUE(s.Finish().ok());
  blob[22] ^= 1;  // inside the string (after magic, version and its length)
  StringSource src(blob);
  BlobStreamReader r;
  ASSERT_TRUE(r.Open(&src, kMagic, 1, "test blob").ok());
  std::string p;
  ASSERT_TRUE(r.Str(&p));
  const Status st = r.Finish();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("test blob"), std::string::npos) << st;

  StringSource other(blob);
  BlobStreamReader r2;
  const Status magic = r2.Open(&other, "ECPSOTHR", 1, "other blob");
  EXPECT_NE(magic.message().find("bad magic"), std::string::npos) << magic;
}

TEST(BlobStreamTest, NestedBlobIsPartOfTheOuterChecksum) {
  std::string blob;
  StringSink sink(&blob);
  BlobStreamWriter outer(&sink, kMagic, 1);
  outer.Pod<uint64_t>(20 + 8);
  BlobStreamWriter inner(outer.payload_sink(), "ECPSINNR", 1);
  inner.Pod<uint64_t>(42);
  ASSERT_TRUE(inner.Finish().ok());
  ASSERT_TRUE(outer.Finish().ok());

  StringSource src(blob);
  BlobStreamReader r;
  ASSERT_TRUE(r.Open(&src, kMagic, 1, "outer").ok());
  uint64_t n = 0;
  ASSERT_TRUE(r.Pod(&n));
  ASSERT_EQ(n, r.remaining());
  BlobStreamReader in;
  ASSERT_TRUE(in.Open(r.Nested(n), "ECPSINNR", 1, "inner").ok());
  uint64_t v = 0;
  ASSERT_TRUE(in.Pod(&v));
  ASSERT_TRUE(in.Finish().ok());
  EXPECT_EQ(v, 42u);
  EXPECT_TRUE(r.Finish().ok());
}

TEST(BlobStreamTest, FileSinkAndSourceRoundTripInChunks) {
  const std::string path = TempDir() + "/stream.bin";
  const std::vector<float> big = BigVector();
  {
    ASSERT_TRUE(AtomicWriteFile(path, "previous").ok());
    auto sink = AtomicFileSink::Open(path);
    ASSERT_TRUE(sink.ok()) << sink.status();
    ASSERT_TRUE((*sink)->Write("ab", 2).ok());
    ASSERT_TRUE((*sink)->Write(big.data(), big.size() * sizeof(float)).ok());
    // Not committed: the previous file stays, the temporary goes.
  }
  EXPECT_EQ(*ReadFile(path), "previous");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(TempDir()), {}), 1);

  auto sink = AtomicFileSink::Open(path);
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Write("ab", 2).ok());
  ASSERT_TRUE((*sink)->Write(big.data(), big.size() * sizeof(float)).ok());
  ASSERT_TRUE((*sink)->Write("z", 1).ok());
  ASSERT_TRUE((*sink)->Commit().ok());
  const std::string whole = *ReadFile(path);
  EXPECT_EQ(whole.size(), 3 + big.size() * sizeof(float));
  EXPECT_EQ((*sink)->bytes(), whole.size());
  EXPECT_EQ((*sink)->checksum(), Checksum64(whole.data(), whole.size()));
  auto digest = DigestFile(path);
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(digest->bytes, whole.size());
  EXPECT_EQ(digest->checksum, (*sink)->checksum());

  auto src = FileSource::Open(path);
  ASSERT_TRUE(src.ok()) << src.status();
  char ab[2];
  ASSERT_TRUE((*src)->Read(ab, 2).ok());
  std::vector<float> back(big.size());
  ASSERT_TRUE((*src)->Read(back.data(), back.size() * sizeof(float)).ok());
  EXPECT_EQ(back, big);
  char z = 0;
  ASSERT_TRUE((*src)->Read(&z, 1).ok());
  EXPECT_EQ(z, 'z');
  const Status past = (*src)->Read(&z, 1);
  EXPECT_EQ(past.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(past.message().find(path), std::string::npos) << past;
  // A range of the file, small reads served from one chunk.
  ASSERT_TRUE((*src)->Seek(1, 5).ok());
  std::string five(5, '\0');
  ASSERT_TRUE((*src)->Read(five.data(), 5).ok());
  EXPECT_EQ(five, whole.substr(1, 5));
  EXPECT_FALSE((*src)->Seek(whole.size(), 1).ok());
  std::filesystem::remove_all(TempDir());
}

}  // namespace
}  // namespace ecps
