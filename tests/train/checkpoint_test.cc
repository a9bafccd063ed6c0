#include "worker/checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/file_util.h"

namespace ecps {
namespace {

std::string TempPath(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / "ecps_checkpoint_test";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

TEST(CheckpointTest, RoundTrip) {
  CheckpointWriter w;
  w.Add("CONF", "a: 1\n");
  w.Add("DENS", std::string("\0\1\2\3", 4));
  std::string path = TempPath("rt.ckpt");
  ASSERT_TRUE(w.Write(path).ok());
  auto r = CheckpointReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r->Get("CONF"), "a: 1\n");
  EXPECT_EQ(r->Get("DENS")->size(), 4u);
  EXPECT_FALSE(r->Get("NOPE").ok());
  EXPECT_NE(r->Get("NOPE").status().message().find("NOPE"), std::string::npos);
}

TEST(CheckpointTest, CorruptionIsDetectedAndNamed) {
  CheckpointWriter w;
  w.Add("DENS", std::string(1000, 'x'));
  std::string path = TempPath("bad.ckpt");
  ASSERT_TRUE(w.Write(path).ok());
  std::string bytes = *ReadFile(path);
  // Flip a payload byte.
  std::string flipped = bytes;
  flipped[100] ^= 0x40;
  ASSERT_TRUE(AtomicWriteFile(path, flipped).ok());
  auto r = CheckpointReader::Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find(path), std::string::npos);
  EXPECT_NE(r.status().message().find("DENS"), std::string::npos) << r.status();
  // Truncate.
  ASSERT_TRUE(AtomicWriteFile(path, bytes.substr(0, bytes.size() / 2)).ok());
  r = CheckpointReader::Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status();
  // Not a checkpoint at all.
  ASSERT_TRUE(AtomicWriteFile(path, std::string(64, 'z')).ok());
  r = CheckpointReader::Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("magic"), std::string::npos);
  // Missing file.
  EXPECT_EQ(CheckpointReader::Open(TempPath("missing.ckpt")).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ecps
