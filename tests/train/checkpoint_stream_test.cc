// Checkpoint format version 2 (worker/checkpoint.h, docs/formats.md
// "Checkpoint"): sections streamed in verified chunks, version 1 files still
// read, and a table larger than a set memory allowance written and read back
// with the process's peak RSS growing by far less than the table.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/blob.h"
#include "common/byte_io.h"
#include "common/file_util.h"
#include "common/process_memory.h"
#include "embedding/row_store.h"
#include "tests/testing/small_dataset.h"
#include "worker/checkpoint.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

class CheckpointStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("ecps_checkpoint_stream_test." + std::to_string(::getpid())))
               .string();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

// A payload of `n` bytes spanning several stream chunks.
std::string Payload(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131) ^ (i >> 9));
  return s;
}

// The version 1 encoder (worker/checkpoint.cc before version 2), kept here to
// write a checkpoint of the old format: magic, version, count, then each
// section as tag, length, checksum, payload, then the file checksum.
std::string EncodeVersion1(const std::map<std::string, std::string>& sections) {
  std::string out(kCheckpointMagic, 8);
  bytes::Put<uint32_t>(&out, 1);
  bytes::Put<uint32_t>(&out, static_cast<uint32_t>(sections.size()));
  for (const auto& [tag, payload] : sections) {
    out.append(tag);
    bytes::Put<uint64_t>(&out, payload.size());
    bytes::Put<uint64_t>(&out, Checksum64(payload.data(), payload.size()));
    out.append(payload);
  }
  bytes::Put<uint64_t>(&out, Checksum64(out.data(), out.size()));
  return out;
}

TEST_F(CheckpointStreamTest, StreamedSectionRoundTripsInChunks) {
  const std::string big = Payload(2 * kStreamChunkBytes + 1000);  // kept on disk by Open
  const std::string mid = Payload(kStreamChunkBytes);             // exactly one chunk
  CheckpointWriter w;
  w.Add("CONF", "a: 1\n");
  w.Add("MIDL", mid);
  w.Add("ZERO", "");
  w.AddStream("BIGS", [&](ByteSink* sink) {
    // Written in odd-sized pieces: chunks are the writer's, not the producer's.
    for (size_t off = 0; off < big.size(); off += 777777)
      RETURN_IF_ERROR(sink->Write(big.data() + off, std::min<size_t>(777777, big.size() - off)));
    return OkStatus();
  });
  ASSERT_TRUE(w.Write(Path("v2.ckpt")).ok());
  EXPECT_EQ(*ReadFile(Path("v2.ckpt")), w.Encode());

  auto r = CheckpointReader::Open(Path("v2.ckpt"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->version(), 2u);
  EXPECT_EQ(r->tags(), (std::vector<std::string>{"BIGS", "CONF", "MIDL", "ZERO"}));
  EXPECT_EQ(r->SectionSize("BIGS"), big.size());
  EXPECT_EQ(*r->Get("CONF"), "a: 1\n");
  EXPECT_EQ(*r->Get("MIDL"), mid);
  EXPECT_EQ(*r->Get("ZERO"), "");
  auto src = r->OpenSection("BIGS");
  ASSERT_TRUE(src.ok()) << src.status();
  std::string back(big.size(), '\0');
  ASSERT_TRUE((*src)->Read(back.data(), 5).ok());
  ASSERT_TRUE((*src)->Read(back.data() + 5, back.size() - 5).ok());
  EXPECT_EQ(back, big);
  EXPECT_EQ((*src)->remaining(), 0u);
  EXPECT_EQ(*r->Get("BIGS"), big);  // and whole, for the readers that need it

  // The same file parsed from memory.
  auto parsed = CheckpointReader::Parse("mem.ckpt", w.Encode());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed->Get("BIGS"), big);
}

TEST_F(CheckpointStreamTest, DamagedChunkIsNamed) {
  // Larger than kCheckpointInMemoryBytes: Open() leaves it in the file.
  const std::string big = Payload(5 * kStreamChunkBytes);
  ASSERT_GT(big.size(), kCheckpointInMemoryBytes);
  CheckpointWriter w;
  w.Add("CONF", "a: 1\n");
  w.AddStream("BIGS", [&](ByteSink* sink) { return sink->Write(big.data(), big.size()); });
  std::string bytes = w.Encode();
  // CONF: 20 header + 4 + 12 + 5 + 8 + 8; BIGS header 12, then chunk 0 and its
  // checksum: a byte inside chunk 1.
  const size_t chunk1 = 20 + (4 + 8 + 5 + 8 + 8) + (4 + 8) + kStreamChunkBytes + 8 + 10;
  bytes[chunk1] ^= 0x40;
  ASSERT_TRUE(AtomicWriteFile(Path("bad.ckpt"), bytes).ok());
  auto r = CheckpointReader::Open(Path("bad.ckpt"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("section 'BIGS' chunk 1"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("bad.ckpt"), std::string::npos) << r.status();

  // Truncated: named, never read past.
  ASSERT_TRUE(AtomicWriteFile(Path("short.ckpt"), w.Encode().substr(0, kStreamChunkBytes)).ok());
  auto s = CheckpointReader::Open(Path("short.ckpt"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << s.status();

  // Intact when opened, changed on disk before its large section is read:
  // the chunk read is refused, not handed out.
  ASSERT_TRUE(AtomicWriteFile(Path("changed.ckpt"), w.Encode()).ok());
  auto c = CheckpointReader::Open(Path("changed.ckpt"));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(AtomicWriteFile(Path("changed.ckpt"), bytes).ok());
  auto src = c->OpenSection("BIGS");
  ASSERT_TRUE(src.ok());
  std::string back(big.size(), '\0');
  const Status st = (*src)->Read(back.data(), back.size());
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("changed while it was read"), std::string::npos) << st;
}

TEST_F(CheckpointStreamTest, Version1CheckpointsStillLoad) {
  const std::map<std::string, std::string> sections = {
      {"CONF", "a: 1\n"}, {"DENS", std::string("\0\1\2\3", 4)}, {"EMBD", Payload(20000)}};
  ASSERT_TRUE(AtomicWriteFile(Path("v1.ckpt"), EncodeVersion1(sections)).ok());
  auto r = CheckpointReader::Open(Path("v1.ckpt"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->version(), 1u);
  for (const auto& [tag, payload] : sections) EXPECT_EQ(*r->Get(tag), payload) << tag;
  auto src = r->OpenSection("EMBD");
  ASSERT_TRUE(src.ok());
  std::string back(20000, '\0');
  ASSERT_TRUE((*src)->Read(back.data(), back.size()).ok());
  EXPECT_EQ(back, sections.at("EMBD"));
  // Damage in a version 1 file is still found.
  std::string bad = EncodeVersion1(sections);
  bad[40] ^= 1;
  ASSERT_TRUE(AtomicWriteFile(Path("v1bad.ckpt"), bad).ok());
  EXPECT_EQ(CheckpointReader::Open(Path("v1bad.ckpt")).status().code(),
            absl::StatusCode::kDataLoss);
  // A version from the future is named.
  std::string future = EncodeVersion1(sections);
  future[8] = 9;
  ASSERT_TRUE(AtomicWriteFile(Path("v9.ckpt"), future).ok());
  auto f = CheckpointReader::Open(Path("v9.ckpt"));
  EXPECT_EQ(f.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(f.status().message().find("version 9"), std::string::npos) << f.status();
}

// A table of 128 MiB (2M rows x 16 fp32) against an allowance of 24 MiB:
// writing its checkpoint and reading it back (into the same store, as the
// trainer's final reload of best.ckpt does) each grow the peak RSS by less
// than the allowance, so neither holds a copy of the table.
TEST_F(CheckpointStreamTest, TableLargerThanTheAllowanceStreamsBothWays) {
  if (!ResetPeakRss()) GTEST_SKIP() << "this kernel does not reset VmHWM (/proc/self/clear_refs)";
  constexpr uint64_t kAllowance = 24ull << 20;
  constexpr uint64_t kRows = 2'000'000;
  constexpr int kWidth = 16;
  SparseOptimizerConfig opt;
  opt.kind = SparseOptimizerKind::kSgd;
  std::unique_ptr<RowStore> store = NewLocalRowStore(opt);
  RowTableSpec spec;
  spec.name = "E";
  spec.rows = kRows;
  spec.width = kWidth;
  spec.init_bound = 0.05;
  ASSERT_TRUE(store->Reset({spec}, 7).ok());
  const uint64_t table_bytes = store->parameter_bytes();
  ASSERT_GT(table_bytes, 4 * kAllowance);
  const std::vector<uint64_t> probe = {0, 1, kRows / 2, kRows - 1};
  std::vector<float> before(probe.size() * kWidth), after(probe.size() * kWidth);
  ASSERT_TRUE(store->ReadRowsAt(0, probe, before.data()).ok());

  const std::string path = Path("big.ckpt");
  ASSERT_TRUE(ResetPeakRss());
  const uint64_t base_write = PeakRssBytes();
  {
    CheckpointWriter w;
    w.Add("CONF", "a: 1\n");
    w.AddStream("EMBD", [&](ByteSink* sink) { return store->SaveTo(sink); });
    ASSERT_TRUE(w.Write(path).ok());
  }
  const uint64_t write_growth = PeakRssBytes() - base_write;
  EXPECT_LT(write_growth, kAllowance) << "writing a " << table_bytes << "-byte table";
  EXPECT_GT(std::filesystem::file_size(path), table_bytes);

  // Other values in the store, then the checkpoint's back in place.
  std::vector<float> zeros(kWidth, 0.0f);
  for (uint64_t r : probe) ASSERT_TRUE(store->WriteRows(0, r, 1, zeros.data()).ok());
  ASSERT_TRUE(ResetPeakRss());
  const uint64_t base_read = PeakRssBytes();
  {
    auto r = CheckpointReader::Open(path);
    ASSERT_TRUE(r.ok()) << r.status();
    auto src = r->OpenSection("EMBD");
    ASSERT_TRUE(src.ok()) << src.status();
    ASSERT_TRUE(store->LoadFrom(src->get()).ok());
  }
  const uint64_t read_growth = PeakRssBytes() - base_read;
  EXPECT_LT(read_growth, kAllowance) << "reading a " << table_bytes << "-byte table";
  ASSERT_TRUE(store->ReadRowsAt(0, probe, after.data()).ok());
  EXPECT_EQ(after, before);

  // `ecps checkpoint verify`'s reader describes the rows without keeping them.
  ASSERT_TRUE(ResetPeakRss());
  const uint64_t base_describe = PeakRssBytes();
  {
    auto r = CheckpointReader::Open(path);
    ASSERT_TRUE(r.ok());
    auto src = r->OpenSection("EMBD");
    ASSERT_TRUE(src.ok());
    auto contents = DescribeRowStore(src->get(), opt.kind);
    ASSERT_TRUE(contents.ok()) << contents.status();
    ASSERT_EQ(contents->tables.size(), 1u);
    EXPECT_EQ(contents->tables[0], spec);
  }
  EXPECT_LT(PeakRssBytes() - base_describe, kAllowance);
}

// A run interrupted at step 250 whose last.ckpt and best.ckpt are rewritten
// in the version 1 format (by the old encoder above) resumes exactly as the
// uninterrupted run: old checkpoints keep loading through the trainer.
TEST(CheckpointCompatTest, ResumeFromVersion1CheckpointsContinuesExactly) {
  auto ds = testing::SmallDataset::Create("ecps_checkpoint_compat_test");
  auto config = [&](const std::string& out, const std::string& steps) {
    std::vector<std::string> sets = ds->FastConfig(out);
    sets.push_back("train.evals_per_epoch=4");
    sets.push_back("train.max_steps=" + steps);
    auto cfg = LoadTrainConfig("", sets);
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    return *cfg;
  };
  auto full = Trainer::Create(config("full", "300"), ds->data());
  ASSERT_TRUE(full.ok()) << full.status();
  auto rf = (*full)->Run(false);
  ASSERT_TRUE(rf.ok()) << rf.status();

  auto first = Trainer::Create(config("split", "250"), ds->data());
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->Run(false).ok());
  for (const char* name : {"last.ckpt", "best.ckpt"}) {
    const std::string path = ds->dir() + "/split/" + name;
    auto r = CheckpointReader::Open(path);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->version(), 2u);
    ASSERT_TRUE(AtomicWriteFile(path, EncodeVersion1(r->sections())).ok());
    ASSERT_EQ(CheckpointReader::Open(path)->version(), 1u);
  }
  auto second = Trainer::Create(config("split", "300"), ds->data());
  ASSERT_TRUE(second.ok());
  auto rs = (*second)->Run(true);
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_EQ((*second)->global_step(), (*full)->global_step());
  const auto a = (*second)->model().params(), b = (*full)->model().params();
  EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end()));
  EXPECT_EQ((*rs)["val_auc"], (*rf)["val_auc"]);
  EXPECT_EQ((*rs)["test_auc"], (*rf)["test_auc"]);
}

}  // namespace
}  // namespace ecps
