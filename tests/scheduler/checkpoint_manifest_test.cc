// Manifests of sharded checkpoints (docs/formats.md "Sharded checkpoint"):
// round trip, damage detection, and the coordinator's commit: it refuses to
// name parts that are not in place, writes the manifests, and deletes only
// the parts of older generations that no manifest names.
#include "scheduler/checkpoint_manifest.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/file_util.h"
#include "scheduler/coordinator.h"

namespace ecps::scheduler {
namespace {

namespace fs = std::filesystem;

class CheckpointManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("ecps_manifest_test." + std::to_string(::getpid()) + "." +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes the parts of one generation (2 virtual shards + dense) and
  // returns its manifest.
  CheckpointManifest WriteParts(uint64_t gen) {
    CheckpointManifest m;
    m.generation = gen;
    m.servers = 2;
    m.workers = 1;
    m.virtual_shards = 2;
    m.config = "a: 1\n";
    const std::string stem = PartStem(gen);
    auto add = [&](const std::string& file, const std::string& kind, int v) {
      const std::string data = file + " contents";
      EXPECT_TRUE(AtomicWriteFile(dir_ + "/" + file, data).ok());
      m.parts.push_back({file, kind, v, data.size(), Checksum64(data.data(), data.size())});
    };
    add(stem + ".vs0.shard", "shard", 0);
    add(stem + ".vs1.shard", "shard", 1);
    add(stem + ".dense", "dense", -1);
    return m;
  }

  std::string dir_;
};

TEST_F(CheckpointManifestTest, RoundTripsAndDetectsDamage) {
  CheckpointManifest m = WriteParts(7);
  m.name = "last";
  const std::string bytes = EncodeManifest(m);
  auto back = DecodeManifest("x", bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->generation, 7u);
  EXPECT_EQ(back->virtual_shards, 2);
  EXPECT_EQ(back->config, "a: 1\n");
  ASSERT_EQ(back->parts.size(), 3u);
  EXPECT_EQ(back->parts[1].vshard, 1);
  EXPECT_EQ(back->parts[2].checksum, m.parts[2].checksum);
  for (const auto& p : back->parts) EXPECT_TRUE(ReadPart(dir_, p).ok()) << p.file;

  std::string bad = bytes;
  bad[bad.size() - 5] ^= 1;
  EXPECT_EQ(DecodeManifest("x", bad).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeManifest("x", "ECPSCKPT").status().code(), absl::StatusCode::kDataLoss);
  std::string other = bytes;
  other[9] = '9';  // "ECPSMANI 9 ..."
  EXPECT_EQ(DecodeManifest("x", other).status().code(), absl::StatusCode::kFailedPrecondition);

  // A damaged part is reported by name.
  ASSERT_TRUE(AtomicWriteFile(dir_ + "/" + m.parts[0].file, "ckpt.g7.vs0.shard contentz").ok());
  auto part = ReadPart(dir_, m.parts[0]);
  EXPECT_EQ(part.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(part.status().message().find("ckpt.g7.vs0.shard"), std::string::npos);
}

TEST_F(CheckpointManifestTest, CommitWritesManifestsAndDropsOnlyUnnamedOlderParts) {
  Coordinator c;
  EXPECT_EQ(NextGeneration(dir_), 1u);
  CheckpointManifest g1 = WriteParts(1);
  ASSERT_TRUE(c.CommitCheckpoint(EncodeCommitRequest(dir_, {"best", "last"}, g1)).ok());
  CheckpointManifest g2 = WriteParts(2);
  ASSERT_TRUE(c.CommitCheckpoint(EncodeCommitRequest(dir_, {"last"}, g2)).ok());
  // best still names generation 1: its parts stay.
  EXPECT_TRUE(fs::exists(dir_ + "/ckpt.g1.dense"));
  auto last = ReadManifest(ManifestPath(dir_, "last"));
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->name, "last");
  EXPECT_EQ(last->generation, 2u);
  // Generation 3 is written but never committed (a crash), and a temporary
  // file of it is left behind; generation 4 replaces best.
  WriteParts(3);
  ASSERT_TRUE(AtomicWriteFile(dir_ + "/ckpt.g3.dense.tmp.1.2", "x").ok());
  EXPECT_EQ(NextGeneration(dir_), 4u);
  CheckpointManifest g4 = WriteParts(4);
  ASSERT_TRUE(c.CommitCheckpoint(EncodeCommitRequest(dir_, {"best", "last"}, g4)).ok());
  EXPECT_EQ(c.checkpoints_committed(), 3);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir_)) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"best.ckpt", "ckpt.g4.dense", "ckpt.g4.vs0.shard",
                                            "ckpt.g4.vs1.shard", "last.ckpt"}));
}

TEST_F(CheckpointManifestTest, CommitRefusesPartsThatAreNotInPlace) {
  Coordinator c;
  CheckpointManifest g1 = WriteParts(1);
  ASSERT_TRUE(c.CommitCheckpoint(EncodeCommitRequest(dir_, {"last"}, g1)).ok());
  CheckpointManifest g2 = WriteParts(2);
  CheckpointManifest missing = g2;
  fs::remove(dir_ + "/ckpt.g2.vs1.shard");
  EXPECT_FALSE(c.CommitCheckpoint(EncodeCommitRequest(dir_, {"last"}, missing)).ok());
  CheckpointManifest no_shard = WriteParts(2);
  no_shard.parts.erase(no_shard.parts.begin());
  EXPECT_FALSE(c.CommitCheckpoint(EncodeCommitRequest(dir_, {"last"}, no_shard)).ok());
  CheckpointManifest escape = WriteParts(2);
  escape.parts[0].file = "../ckpt.g2.vs0.shard";
  EXPECT_FALSE(c.CommitCheckpoint(EncodeCommitRequest(dir_, {"last"}, escape)).ok());
  EXPECT_FALSE(c.CommitCheckpoint("{not json").ok());
  // The previous manifest is untouched.
  auto last = ReadManifest(ManifestPath(dir_, "last"));
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->generation, 1u);
}

}  // namespace
}  // namespace ecps::scheduler
