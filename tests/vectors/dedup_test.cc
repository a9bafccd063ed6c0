// The retrieval codec `dedup` (docs/methods.md §6.8): planted near-duplicate
// 2-D blocks are found and shared, everything else is stored as is, memory
// is exactly the kept blocks plus the block map, the budget stops the visit,
// and damaged payloads are refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/blob.h"
#include "common/rng.h"
#include "tests/vectors/test_util.h"
#include "vectors/codec.h"
#include "vectors/eval.h"
#include "vectors/internal/methods.h"

namespace ecps::vectors {
namespace {

using ::testing::HasSubstr;
using testing::RandomVectors;
using testing::TempDir;

constexpr int kD = 32, kR = 4, kC = 8, kColBlocks = kD / kC;

// Block b of an n x 32 matrix in blocks of 4 x 8: rows 4·(b / 4) ..,
// columns 8·(b % 4) ...
struct Block {
  uint64_t row;
  int col;
};
Block At(uint64_t b) { return {(b / kColBlocks) * kR, static_cast<int>(b % kColBlocks) * kC}; }

// n x 32 random rows with `count` planted duplicates: block dst (odd, in
// ascending order) gets block src's values (an even block before it, each
// source used once) plus noise within ±noise. Returns dst -> src.
std::map<uint64_t, uint64_t> Plant(VectorSet* x, int count, float noise, uint64_t seed) {
  const uint64_t full = (x->n / kR) * kColBlocks;
  Rng rng(seed);
  std::map<uint64_t, uint64_t> planted;
  std::set<uint64_t> used;
  while (static_cast<int>(planted.size()) < count) {
    const uint64_t dst = 2 * rng.Below(full / 2 - 1) + 3;  // odd, >= 3
    const uint64_t src = 2 * rng.Below((dst + 1) / 2);     // even, < dst
    if (planted.count(dst) || used.count(src)) continue;
    planted[dst] = src;
    used.insert(src);
  }
  for (const auto& [dst, src] : planted) {
    const Block d = At(dst), s = At(src);
    for (int i = 0; i < kR; ++i)
      for (int c = 0; c < kC; ++c)
        x->values[(d.row + i) * kD + d.col + c] = x->values[(s.row + i) * kD + s.col + c] +
                                                  static_cast<float>(rng.Uniform(-noise, noise));
  }
  return planted;
}

CodecParams P(std::map<std::string, std::string> kv) { return CodecParams(std::move(kv)); }

CodecParams Blocks() {
  return CodecParams({{"block_rows", std::to_string(kR)}, {"block_cols", std::to_string(kC)}});
}

std::unique_ptr<VectorCodec> MustCompress(const VectorSet& x, double budget, CodecParams p) {
  CompressOptions o;
  o.budget = budget;
  o.params = std::move(p);
  o.seed = 3;
  StatusOr<std::unique_ptr<VectorCodec>> c = Compress(x, "dedup", o);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

// The naive reference: every block of x, the mapped ones replaced by their
// sources' values.
VectorSet Reference(const VectorSet& x, const std::map<uint64_t, uint64_t>& mapped) {
  VectorSet want = x;
  for (const auto& [dst, src] : mapped) {
    const Block d = At(dst), s = At(src);
    for (int i = 0; i < kR; ++i)
      for (int c = 0; c < kC; ++c)
        want.values[(d.row + i) * kD + d.col + c] = x.values[(s.row + i) * kD + s.col + c];
  }
  return want;
}

// 202 rows: 50 full row blocks and a partial one of 2 rows (kept as is).
TEST(DedupCodecTest, PlantedDuplicatesAreSharedAndNothingElse) {
  VectorSet x = RandomVectors(202, kD, 4);
  const std::map<uint64_t, uint64_t> planted = Plant(&x, 30, 0.01f, 5);
  // A low budget: the visit maps every duplicate it finds.
  std::unique_ptr<VectorCodec> c = MustCompress(x, 0.01, Blocks());
  ASSERT_NE(c, nullptr);
  const uint64_t blocks = 51 * kColBlocks;
  EXPECT_EQ(c->Params(),
            "block_rows=4 block_cols=8 blocks=204 kept=" + std::to_string(blocks - planted.size()));
  // Memory: the kept full blocks, the 4 partial blocks of 2 rows, the map.
  EXPECT_EQ(
      c->MemoryBytes(),
      4 * ((200 / kR * kColBlocks - planted.size()) * kR * kC + kColBlocks * 2 * kC) + 4 * blocks);
  const VectorSet got = DecodeAll(*c);
  // Every planted duplicate found (recall 1) and no other block mapped:
  // the decode is exactly the reference's.
  EXPECT_EQ(got.values, Reference(x, planted).values);
  // Within the tolerance of the original everywhere, so search barely moves.
  float worst = 0;
  for (size_t i = 0; i < x.values.size(); ++i)
    worst = std::max(worst, std::fabs(got.values[i] - x.values[i]));
  EXPECT_LE(worst, 0.02f);
  EXPECT_GT(worst, 0.0f);
  const VectorSet queries = RandomVectors(50, kD, 9);
  EvalOptions eo;
  eo.timed = 1;
  eo.warmup = 0;
  eo.batch = 16;
  const EvalReport report = Evaluate(x, *c, queries, eo);
  EXPECT_GE(report.recall, 0.99);
  EXPECT_EQ(report.memory_bytes, c->MemoryBytes());
}

// The visit stops once the budget is met: the first `needed` planted
// duplicates in block order are mapped, the later ones kept.
TEST(DedupCodecTest, BudgetStopsTheVisit) {
  VectorSet x = RandomVectors(200, kD, 6);
  const std::map<uint64_t, uint64_t> planted = Plant(&x, 20, 0.01f, 7);
  const uint64_t blocks = 50 * kColBlocks;
  // needed = ceil((4nd + 4·blocks − floor(4nd·B)) / (4RC)) = 10.
  const double full = 4.0 * 200 * kD;
  const double cap = full + 4.0 * blocks - 10 * 4 * kR * kC;
  std::unique_ptr<VectorCodec> c = MustCompress(x, (cap + 0.5) / full, Blocks());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->MemoryBytes(), 4 * (blocks - 10) * kR * kC + 4 * blocks);
  EXPECT_LE(c->Ratio(), (cap + 0.5) / full);
  std::map<uint64_t, uint64_t> first;
  for (const auto& [dst, src] : planted)
    if (first.size() < 10) first[dst] = src;
  EXPECT_EQ(DecodeAll(*c).values, Reference(x, first).values);
  // Budget 1: the block map's bytes must come out of the blocks too
  // (ceil(4·blocks / (4RC)) = 7 blocks mapped).
  std::unique_ptr<VectorCodec> one = MustCompress(x, 1.0, Blocks());
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->MemoryBytes(), 4 * (blocks - 7) * kR * kC + 4 * blocks);
  EXPECT_LE(one->Ratio(), 1.0);
}

// No duplicates: nothing shared whatever the budget, the decode exact.
TEST(DedupCodecTest, RandomRowsHaveNoDuplicates) {
  const VectorSet x = RandomVectors(300, kD, 8);
  std::unique_ptr<VectorCodec> c = MustCompress(x, 0.1, Blocks());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(DecodeAll(*c).values, x.values);
  EXPECT_GT(c->Ratio(), 1.0);
  // The default blocks: 16 rows x the largest divisor of d up to 100.
  std::unique_ptr<VectorCodec> d = MustCompress(x, 0.1, {});
  ASSERT_NE(d, nullptr);
  EXPECT_THAT(d->Params(), HasSubstr("block_rows=16 block_cols=32 blocks=19 "));
}

TEST(DedupCodecTest, BadParametersAreRefused) {
  const VectorSet x = RandomVectors(40, kD, 1);
  CompressOptions o;
  o.params = P({{"block_cols", "5"}});
  EXPECT_THAT(std::string(Compress(x, "dedup", o).status().message()),
              HasSubstr("--param block_cols=5: must divide the dimension 32"));
  o.params = P({{"sim", "0"}});
  EXPECT_THAT(std::string(Compress(x, "dedup", o).status().message()), HasSubstr("--param sim=0"));
  o.params = P({{"block_rows", "2100"}, {"bands", "1024"}});  // 2100·32·1024 > 2^26
  EXPECT_THAT(std::string(Compress(RandomVectors(2100, kD, 1), "dedup", o).status().message()),
              HasSubstr("projection directions exceed"));
  o.params = P({{"rank", "3"}});
  EXPECT_THAT(std::string(Compress(x, "dedup", o).status().message()),
              HasSubstr("method dedup takes block_rows"));
}

// A payload whose map or sizes disagree with the geometry is refused.
TEST(DedupCodecTest, LoadChecksTheMap) {
  auto load = [](uint64_t rows, int32_t cols, uint64_t kept, std::vector<int32_t> map,
                 size_t floats) {
    BlobWriter w("TESTDDUP", 1);
    w.Pod<uint64_t>(rows);
    w.Pod<int32_t>(cols);
    w.Pod<uint64_t>(kept);
    w.Vec(map);
    w.Vec(std::vector<float>(floats, 1.0f));
    const std::string blob = w.Finish();
    BlobReader r;
    EXPECT_TRUE(r.Open(blob, "TESTDDUP", 1, "test").ok());
    return internal::LoadDedup(&r, 5, 4);  // 5 x 4 in blocks of 2 x 2: 3 row blocks
  };
  // Full blocks 0..3 (two kept), partial blocks 4 and 5 on kept 2 and 3.
  EXPECT_TRUE(load(2, 2, 4, {0, 1, 0, 1, 2, 3}, 2 * 4 + 2 * 2).ok());
  EXPECT_THAT(std::string(load(2, 2, 4, {0, 2, 0, 1, 2, 3}, 12).status().message()),
              HasSubstr("block 1 maps to kept block 2"));
  EXPECT_THAT(std::string(load(2, 2, 4, {0, 1, 0, 1, 3, 2}, 12).status().message()),
              HasSubstr("block 4 maps"));
  EXPECT_THAT(std::string(load(2, 2, 4, {0, 1, 0, 1, 2, 3}, 11).status().message()),
              HasSubstr("11 values for 4 kept blocks"));
  EXPECT_THAT(std::string(load(2, 3, 4, {0, 1, 0, 1, 2, 3}, 12).status().message()),
              HasSubstr("columns"));
  EXPECT_THAT(std::string(load(2, 2, 4, {0, 1, 0, 1, 2}, 12).status().message()),
              HasSubstr("5 block map entries for 6 blocks"));
  EXPECT_FALSE(load(2, 2, 9, {0, 1, 0, 1, 2, 3}, 12).ok());
}

// The compressed file carries the shared blocks.
TEST(DedupCodecTest, FileRoundTrip) {
  TempDir dir("vectors_dedup");
  VectorSet x = RandomVectors(120, kD, 2);
  Plant(&x, 8, 0.01f, 3);
  std::unique_ptr<VectorCodec> c = MustCompress(x, 0.5, Blocks());
  ASSERT_NE(c, nullptr);
  ASSERT_LT(c->MemoryBytes(), 4u * 120 * kD);  // something was shared
  CompressedHeader h;
  h.method = "dedup";
  h.budget = 0.5;
  h.source_checksum = SourceChecksum(x);
  const std::string path = dir.File("x.ecv");
  ASSERT_TRUE(WriteCompressed(path, h, *c).ok());
  StatusOr<CompressedFile> f = ReadCompressed(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->codec->MemoryBytes(), c->MemoryBytes());
  EXPECT_EQ(f->codec->Params(), c->Params());
  EXPECT_EQ(DecodeAll(*f->codec).values, DecodeAll(*c).values);
}

}  // namespace
}  // namespace ecps::vectors
