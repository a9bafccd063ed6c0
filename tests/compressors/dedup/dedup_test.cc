// Dedup (docs/methods.md §2.10): planted duplicate blocks are found and
// mapped, the budget's stop rule, the lookup after the dedup against the
// naive reference (tests/compressors/reference/dedup_reference.h), a partial
// last block, save/load with the block map, determinism, and end-to-end
// training single process and on 2 servers + 2 workers.
#include "compressors/dedup/dedup.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/rng.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"
#include "embedding/row_store.h"
#include "launch/cluster_config.h"
#include "launch/simulate.h"
#include "tests/compressors/reference/dedup_reference.h"
#include "tests/testing/feature_space.h"
#include "tests/testing/small_dataset.h"
#include "tests/testing/status_testing.h"
#include "worker/train_config.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

using testing::Space;

constexpr uint64_t kBlock = 32;

// 1024 ids (32 blocks of 32 rows) or 1000 (31 + a partial block of 8), d = 4.
const FeatureSpace& Even() {
  static const FeatureSpace* const kSpace = new FeatureSpace(Space({700, 300, 24}, 4));
  return *kSpace;
}
const FeatureSpace& Ragged() {
  static const FeatureSpace* const kSpace = new FeatureSpace(Space({700, 300}, 4));
  return *kSpace;
}

struct Planted {
  std::unique_ptr<EmbeddingLayer> layer;
  std::vector<float> table;  // the rows written before the dedup
  DedupEmbedding& method() { return static_cast<DedupEmbedding&>(layer->compressor()); }
};

std::unique_ptr<EmbeddingLayer> MakeLayer(const FeatureSpace& s, double budget, uint64_t seed,
                                          const std::vector<std::string>& sets = {}) {
  const CompressorInfo* info = FindCompressor("dedup");
  EXPECT_NE(info, nullptr);
  ParamSet params(&info->schema);
  EXPECT_TRUE(params.Set("block_rows", std::to_string(kBlock)).ok());
  EXPECT_TRUE(params.ApplyOverrides(sets).ok());
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  auto layer = std::make_unique<EmbeddingLayer>(info->create(), NewLocalRowStore(opt));
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  ctx.seed = seed;
  const Status st = layer->Init(ctx, params);
  EXPECT_TRUE(st.ok()) << st;
  return layer;
}

// Block b holds 0.3 + 0.02·b + U(±0.01): well separated 75th percentiles,
// and no two blocks agree within fp = 0.01 in more than ~12% of positions.
// Each planted pair (orig, copy) makes `copy` orig + U(0.004, 0.006): every
// position agrees, and its percentile is above the original's, so it is
// visited after it and mapped to it.
std::vector<float> PlantedTable(const FeatureSpace& s,
                                const std::vector<std::pair<uint32_t, uint32_t>>& pairs,
                                uint64_t seed) {
  const uint64_t n = s.total();
  const int d = s.dim;
  Rng rng(seed);
  std::vector<float> t(n * d);
  for (uint64_t r = 0; r < n; ++r)
    for (int c = 0; c < d; ++c)
      t[r * d + c] = static_cast<float>(0.3 + 0.02 * (r / kBlock) + rng.Uniform(-0.01, 0.01));
  for (const auto& [orig, copy] : pairs)
    for (uint64_t i = 0; i < kBlock && copy * kBlock + i < n; ++i)
      for (int c = 0; c < d; ++c)
        t[(copy * kBlock + i) * d + c] =
            t[(orig * kBlock + i) * d + c] + static_cast<float>(rng.Uniform(0.004, 0.006));
  return t;
}

Planted Make(const FeatureSpace& s, double budget, const std::vector<float>& table,
             uint64_t seed = 5) {
  Planted out;
  out.layer = MakeLayer(s, budget, seed);
  out.table = table;
  const Status st = out.layer->store().WriteRows(0, 0, s.total(), table.data());
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

std::vector<uint32_t> AllKeys(const FeatureSpace& s) {
  std::vector<uint32_t> keys;
  for (uint64_t k = 0; k < s.max_cardinality(); ++k)
    for (int f = 0; f < s.num_fields(); ++f)
      keys.push_back(static_cast<uint32_t>(std::min<uint64_t>(k, s.cardinalities[f] - 1)));
  return keys;
}

std::vector<float> Outputs(EmbeddingLayer& l, const std::vector<uint32_t>& keys, int d) {
  std::vector<float> out(keys.size() * d);
  const Status st = l.Forward(keys, out.data(), false);
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

// The reference's greedy with the exact percentiles' visit order.
dedup_ref::Result Reference(const Planted& s, const FeatureSpace& space) {
  const auto& m = static_cast<const DedupEmbedding&>(s.layer->compressor());
  const std::vector<uint32_t> order = dedup_ref::VisitOrder(
      dedup_ref::BlockPercentiles75(s.table, space.total(), space.dim, kBlock));
  return dedup_ref::Deduplicate(m, s.table, space.total(), space.dim, order);
}

const std::vector<std::pair<uint32_t, uint32_t>> kPairs = {{5, 20}, {9, 14}, {2, 27}};

// Where the values are dense (a block's 10,240 x d are), within a bin width.
TEST(DedupTest, HistogramPercentileIsWithinOneBin) {
  Rng rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    const int bins = 64;
    const double lo = -1, hi = 2, w = (hi - lo) / bins;
    std::vector<double> v(2000 + rng.Below(5000));  // dense, as a block's values are
    for (double& x : v) x = rng.Uniform(lo, hi);
    std::vector<double> h(bins + 2, 0.0);
    for (double x : v) h[1 + std::min(bins - 1, static_cast<int>((x - lo) / w))] += 1;
    std::vector<double> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    const double pos = 0.75 * (v.size() - 1);
    const size_t i = static_cast<size_t>(pos);
    const double exact =
        i + 1 < v.size() ? sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
    EXPECT_NEAR(DedupEmbedding::HistogramPercentile(h.data(), bins, lo, hi, 0.75), exact, w)
        << v.size() << " values";
  }
}

TEST(DedupTest, NeededFollowsTheBudget) {
  // full 16384 B + a 128 B map (so 100% needs a block); a block is 512 B.
  for (const auto& [budget, needed] : std::vector<std::pair<double, uint64_t>>{
           {1.01, 0}, {1.0, 1}, {0.995, 1}, {0.95, 2}, {0.915, 3}, {0.85, 6}, {0.0001, 31}}) {
    auto layer = MakeLayer(Even(), budget, 1);
    const auto& m = static_cast<const DedupEmbedding&>(layer->compressor());
    EXPECT_EQ(m.num_blocks(), 32u);
    EXPECT_EQ(m.needed(), needed) << "budget " << budget;
    // The planned inference memory fits the budget where it is reachable.
    if (needed < 31) {
      EXPECT_LE(m.Memory().inference_bytes, static_cast<uint64_t>(16384 * budget)) << budget;
    }
  }
}

TEST(DedupTest, PlantedDuplicatesAreMappedAndLookupsMatchTheReference) {
  Planted s = Make(Even(), 0.915, PlantedTable(Even(), kPairs, 11));
  const std::vector<uint32_t> keys = AllKeys(Even());
  const std::vector<float> before = Outputs(*s.layer, keys, Even().dim);
  EXPECT_EQ(before, dedup_ref::Lookup(
                        Even(), kBlock, s.table,
                        [] {
                          std::vector<uint32_t> k(32);
                          for (uint32_t b = 0; b < 32; ++b) k[b] = b;
                          return k;
                        }(),
                        std::vector<int32_t>([] {
                          std::vector<int32_t> m(32);
                          for (int b = 0; b < 32; ++b) m[b] = b;
                          return m;
                        }()),
                        keys));
  ECPS_ASSERT_OK(s.layer->BeginStage(1));
  DedupEmbedding& m = s.method();
  EXPECT_TRUE(m.stats().reached);
  EXPECT_EQ(m.stats().mapped, 3u);
  ASSERT_EQ(m.block_map().size(), 32u);
  for (const auto& [orig, copy] : kPairs) EXPECT_EQ(m.block_map()[copy], m.block_map()[orig]);
  EXPECT_EQ(m.kept_blocks().size(), 29u);
  EXPECT_EQ(s.layer->store().StoredTables()[0].rows, 29 * kBlock);
  // The naive reference: the same map, and the same lookups.
  const dedup_ref::Result ref = Reference(s, Even());
  EXPECT_EQ(m.block_map(), ref.map);
  EXPECT_EQ(m.kept_blocks(), ref.kept);
  EXPECT_EQ(m.stats().visited, ref.visited);
  EXPECT_EQ(Outputs(*s.layer, keys, Even().dim),
            dedup_ref::Lookup(Even(), kBlock, s.table, ref.kept, ref.map, keys));
  // Memory: the kept rows and the map, within the budget.
  const MemoryReport mem = s.layer->Memory();
  EXPECT_EQ(mem.inference_bytes, 29 * kBlock * 16 + 32 * 4);
  EXPECT_EQ(mem.auxiliary_bytes, 32u * 4);
  EXPECT_EQ(mem.parameter_bytes, 1024u * 16 + 29 * kBlock * 16);
  EXPECT_LE(mem.inference_bytes, static_cast<uint64_t>(16384 * 0.915));
}

TEST(DedupTest, TheGreedyStopsWhenTheBudgetIsMet) {
  // Two blocks are enough at 95%: the third planted pair stays.
  Planted s = Make(Even(), 0.95, PlantedTable(Even(), kPairs, 11));
  ECPS_ASSERT_OK(s.layer->BeginStage(1));
  EXPECT_TRUE(s.method().stats().reached);
  EXPECT_EQ(s.method().stats().mapped, 2u);
  EXPECT_LT(s.method().stats().visited, 32u);
  EXPECT_EQ(s.method().kept_blocks().size(), 30u);
  const dedup_ref::Result ref = Reference(s, Even());
  EXPECT_EQ(s.method().block_map(), ref.map);
  EXPECT_EQ(s.method().stats().visited, ref.visited);
}

TEST(DedupTest, AnUnreachableBudgetReportsTheRealRatio) {
  // 85% needs 6 blocks mapped; only 3 are similar.
  Planted s = Make(Even(), 0.85, PlantedTable(Even(), kPairs, 11));
  const MemoryReport planned = s.layer->Memory();
  EXPECT_LE(planned.inference_bytes, static_cast<uint64_t>(16384 * 0.85));
  ECPS_ASSERT_OK(s.layer->BeginStage(1));
  EXPECT_FALSE(s.method().stats().reached);
  EXPECT_EQ(s.method().stats().mapped, 3u);
  EXPECT_EQ(s.method().stats().visited, 32u);
  EXPECT_EQ(s.layer->Memory().inference_bytes, 29 * kBlock * 16 + 32 * 4);
  // Nothing similar at all: every block kept, the store keeps its rows.
  Planted none = Make(Even(), 0.85, PlantedTable(Even(), {}, 11));
  ECPS_ASSERT_OK(none.layer->BeginStage(1));
  EXPECT_EQ(none.method().stats().mapped, 0u);
  EXPECT_EQ(none.layer->store().StoredTables()[0].rows, 1024u);
  EXPECT_EQ(Outputs(*none.layer, AllKeys(Even()), 4),
            dedup_ref::Lookup(Even(), kBlock, none.table, Reference(none, Even()).kept,
                              Reference(none, Even()).map, AllKeys(Even())));
}

TEST(DedupTest, APartialLastBlockMapsIntoAFullBlockAndIsNeverATarget) {
  // Block 31 holds 8 rows: a near-copy (+0.008) of block 4's first 8 rows,
  // whose other rows are ~0 so that the projections of the two collide.
  std::vector<float> t = PlantedTable(Ragged(), {{9, 14}}, 13);
  const int d = Ragged().dim;
  Rng rng(21);
  for (uint64_t i = 8; i < kBlock; ++i)
    for (int c = 0; c < d; ++c)
      t[(4 * kBlock + i) * d + c] = static_cast<float>(rng.Uniform(-1e-5, 1e-5));
  for (uint64_t i = 0; i < 8; ++i)
    for (int c = 0; c < d; ++c)
      t[(31 * kBlock + i) * d + c] =
          t[(4 * kBlock + i) * d + c] + static_cast<float>(rng.Uniform(0.007, 0.009));
  // Needs both: 2 x 32 rows are more than the 40 the budget asks.
  Planted s = Make(Ragged(), 0.96, t);
  EXPECT_EQ(s.method().num_blocks(), 32u);
  EXPECT_EQ(s.method().needed(), 2u);
  ECPS_ASSERT_OK(s.layer->BeginStage(1));
  const DedupEmbedding& m = s.method();
  EXPECT_EQ(m.stats().mapped, 2u);
  EXPECT_FALSE(m.stats().reached);  // the partial block frees 8 rows, not 32
  EXPECT_EQ(m.block_map()[31], m.block_map()[4]);
  EXPECT_EQ(m.block_map()[14], m.block_map()[9]);
  EXPECT_EQ(s.layer->store().StoredTables()[0].rows, 30 * kBlock);
  const dedup_ref::Result ref = Reference(s, Ragged());
  EXPECT_EQ(m.block_map(), ref.map);
  const std::vector<uint32_t> keys = AllKeys(Ragged());
  EXPECT_EQ(Outputs(*s.layer, keys, d),
            dedup_ref::Lookup(Ragged(), kBlock, s.table, ref.kept, ref.map, keys));
  // A kept partial block is the last block of the new table (no padding).
  Planted keep = Make(Ragged(), 0.98, PlantedTable(Ragged(), {{9, 14}}, 13));
  ECPS_ASSERT_OK(keep.layer->BeginStage(1));
  EXPECT_EQ(keep.method().kept_blocks().back(), 31u);
  EXPECT_EQ(keep.layer->store().StoredTables()[0].rows, 1000 - kBlock);
  const std::vector<RowCopy> copies = keep.method().StageCopies(1);
  ASSERT_FALSE(copies.empty());
  EXPECT_EQ(copies.back().src_begin + copies.back().count, 1000u);
  EXPECT_EQ(Outputs(*keep.layer, keys, d),
            dedup_ref::Lookup(Ragged(), kBlock, keep.table, Reference(keep, Ragged()).kept,
                              Reference(keep, Ragged()).map, keys));
}

// 256 blocks of 8 rows, block b at 1e-4·b + U(±1e-5) (rows barely moved
// from a tiny init): every block agrees everywhere with the blocks within
// fp = 0.01 and collides with them, so a visited block has up to ~150
// candidates. The comparisons stop at the first candidate that agrees in
// every position, with the map of comparing all of them.
TEST(DedupTest, ManyCandidatesStopAtTheFirstPerfectMatch) {
  const FeatureSpace s = Space({1500, 548}, 4);
  std::vector<float> t(s.total() * 4);
  Rng rng(8);
  for (uint64_t r = 0; r < s.total(); ++r)
    for (int c = 0; c < 4; ++c)
      t[r * 4 + c] = static_cast<float>(1e-4 * (r / 8) + rng.Uniform(-1e-5, 1e-5));
  Planted p;
  p.layer = MakeLayer(s, 0.25, 3, {"block_rows=8"});
  p.table = t;
  ECPS_ASSERT_OK(p.layer->store().WriteRows(0, 0, s.total(), t.data()));
  const auto& m = static_cast<const DedupEmbedding&>(p.layer->compressor());
  ASSERT_EQ(m.num_blocks(), 256u);
  ECPS_ASSERT_OK(p.layer->BeginStage(1));
  EXPECT_TRUE(m.stats().reached);
  const std::vector<uint32_t> order = dedup_ref::VisitOrder(
      dedup_ref::BlockPercentiles75(p.table, s.total(), s.dim, m.block_rows()));
  const dedup_ref::Result ref = dedup_ref::Deduplicate(m, p.table, s.total(), s.dim, order);
  EXPECT_EQ(m.block_map(), ref.map);
  EXPECT_EQ(m.stats().visited, ref.visited);
  // Every visited block compared at most its first round (a neighbour agrees
  // everywhere), not all of its up to 200 candidates.
  EXPECT_EQ(ref.pairs, 200u * 201 / 2);
  EXPECT_LE(m.stats().candidate_pairs, DedupEmbedding::kFirstPairRound * m.stats().visited)
      << "the rounds compared " << m.stats().candidate_pairs << " of " << ref.pairs << " pairs";
  const std::vector<uint32_t> keys = AllKeys(s);
  EXPECT_EQ(Outputs(*p.layer, keys, 4),
            dedup_ref::Lookup(s, m.block_rows(), p.table, ref.kept, ref.map, keys));
}

// The range search widens past [-1, 1) (values near 40) and stops on a
// table of one value; the maps are the reference's.
TEST(DedupTest, TablesFarFromZeroOrConstantAreOrdered) {
  std::vector<float> far = PlantedTable(Even(), kPairs, 11);
  for (float& x : far) x += 40.0f;
  Planted f = Make(Even(), 0.915, far);
  ECPS_ASSERT_OK(f.layer->BeginStage(1));
  EXPECT_EQ(f.method().stats().mapped, 3u);
  EXPECT_GT(f.method().stats().reductions, 3u);  // several range passes
  EXPECT_EQ(f.method().block_map(), Reference(f, Even()).map);
  Planted c = Make(Even(), 0.915, std::vector<float>(1024 * 4, -0.25f));
  ECPS_ASSERT_OK(c.layer->BeginStage(1));
  EXPECT_TRUE(c.method().stats().reached);
  EXPECT_EQ(c.method().block_map(), Reference(c, Even()).map);
  EXPECT_EQ(Outputs(*c.layer, AllKeys(Even()), 4),
            std::vector<float>(AllKeys(Even()).size() * 4, -0.25f));
}

TEST(DedupTest, CopiesMergeRunsOfKeptBlocks) {
  Planted s = Make(Even(), 0.915, PlantedTable(Even(), kPairs, 11));
  ECPS_ASSERT_OK(s.layer->BeginStage(1));
  // Blocks 14, 20, 27 go: runs [0, 14), [15, 20), [21, 27), [28, 32).
  const std::vector<RowCopy> c = s.method().StageCopies(1);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0], (RowCopy{0, 0, 0, 0, 14 * kBlock}));
  EXPECT_EQ(c[1], (RowCopy{0, 15 * kBlock, 0, 14 * kBlock, 5 * kBlock}));
  EXPECT_EQ(c[2], (RowCopy{0, 21 * kBlock, 0, 19 * kBlock, 6 * kBlock}));
  EXPECT_EQ(c[3], (RowCopy{0, 28 * kBlock, 0, 25 * kBlock, 4 * kBlock}));
  EXPECT_TRUE(s.method().StageCopies(0).empty());
}

TEST(DedupTest, SaveLoadKeepsTheBlockMap) {
  Planted s = Make(Even(), 0.915, PlantedTable(Even(), kPairs, 11));
  ECPS_ASSERT_OK(s.layer->BeginStage(1));
  auto blob = s.layer->Save();
  ASSERT_TRUE(blob.ok()) << blob.status();
  auto fresh = MakeLayer(Even(), 0.915, 5);
  ECPS_ASSERT_OK(fresh->Load(*blob));
  const auto& m = static_cast<const DedupEmbedding&>(fresh->compressor());
  EXPECT_EQ(m.stage(), 1);
  EXPECT_EQ(m.block_map(), s.method().block_map());
  EXPECT_EQ(m.kept_blocks(), s.method().kept_blocks());
  EXPECT_EQ(Outputs(*fresh, AllKeys(Even()), 4), Outputs(*s.layer, AllKeys(Even()), 4));
  // Another seed's LSH, another budget's stop rule: refused.
  auto other_seed = MakeLayer(Even(), 0.915, 6);
  EXPECT_EQ(other_seed->compressor().LoadState(s.method().SaveState()).code(),
            absl::StatusCode::kFailedPrecondition);
  auto other_budget = MakeLayer(Even(), 0.5, 5);
  EXPECT_EQ(other_budget->compressor().LoadState(s.method().SaveState()).code(),
            absl::StatusCode::kFailedPrecondition);
  // Stage 0's state (no map) into the deduplicated instance: back to stage 0.
  auto stage0 = MakeLayer(Even(), 0.915, 5);
  ECPS_EXPECT_OK(fresh->compressor().LoadState(stage0->compressor().SaveState()));
  EXPECT_EQ(m.stage(), 0);
  EXPECT_TRUE(m.block_map().empty());
}

TEST(DedupTest, SameSeedSameMap) {
  const std::vector<float> t = PlantedTable(Even(), kPairs, 11);
  Planted a = Make(Even(), 0.915, t, 9), b = Make(Even(), 0.915, t, 9);
  ECPS_ASSERT_OK(a.layer->BeginStage(1));
  ECPS_ASSERT_OK(b.layer->BeginStage(1));
  EXPECT_EQ(a.method().block_map(), b.method().block_map());
  EXPECT_EQ(a.method().SaveState(), b.method().SaveState());
}

TEST(DedupTest, BadParametersAreRefusedNamingThem) {
  const CompressorInfo* info = FindCompressor("dedup");
  ASSERT_NE(info, nullptr);
  ParamSet params(&info->schema);
  ECPS_ASSERT_OK(params.Set("block_rows", "1000000000"));
  auto m = info->create();
  CompressorContext ctx;
  ctx.space = Even();
  const Status st = m->Init(ctx, params);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(std::string(st.message()).find("embedding.params.block_rows"), std::string::npos) << st;
  EXPECT_FALSE(params.Set("sim", "1.5").ok());
  EXPECT_FALSE(params.Set("bands", "0").ok());
}

// The default block size keeps about 3,298 blocks at every table size: CODE's
// granularity on Criteo (10,240 rows there), never so few blocks that none
// can be mapped, always a multiple of the 64 default virtual shards.
TEST(DedupTest, DefaultBlockRowsScaleWithTheTable) {
  EXPECT_EQ(DedupEmbedding::AutoBlockRows(33762577), 10240u);  // Criteo Kaggle
  EXPECT_EQ(DedupEmbedding::AutoBlockRows(130000), 64u);
  EXPECT_EQ(DedupEmbedding::AutoBlockRows(10), 64u);
  for (uint64_t n : {uint64_t{1} << 20, uint64_t{45840617}, uint64_t{1} << 32}) {
    const uint64_t r = DedupEmbedding::AutoBlockRows(n);
    EXPECT_EQ(r % 64, 0u) << n;
    const double blocks = static_cast<double>(n) / static_cast<double>(r);
    EXPECT_GT(blocks, 3298 * 0.99) << n;
    EXPECT_LT(blocks, 3298 * 1.01) << n;
  }
  // Init uses it when block_rows is left at its default.
  const CompressorInfo* info = FindCompressor("dedup");
  ASSERT_NE(info, nullptr);
  ParamSet params(&info->schema);
  auto m = info->create();
  CompressorContext ctx;
  ctx.space = Even();
  ctx.budget = 0.5;
  ECPS_ASSERT_OK(m->Init(ctx, params));
  EXPECT_EQ(static_cast<DedupEmbedding*>(m.get())->block_rows(),
            DedupEmbedding::AutoBlockRows(Even().total()));
}

// ------------------------------------------------------------ end to end --

class DedupTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_dedup_train_test", /*rows=*/12000,
                                        /*features=*/6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  static std::vector<std::string> Sets(const std::string& out) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    // Blocks of 64 rows (a multiple of the 2-server run's 64 virtual
    // shards), a relaxed fp so that blocks of rare rows near their init
    // are similar, 120 steps a stage.
    sets.insert(sets.end(),
                {"embedding.method=dedup", "embedding.budget=0.5", "embedding.params.block_rows=64",
                 "embedding.params.fp=0.05", "train.max_steps=120", "train.evals_per_epoch=2",
                 "train.latency_batches=1"});
    return sets;
  }
  static void CheckResults(const nlohmann::json& r) {
    ASSERT_EQ(r["stages"].size(), 2u) << r.dump(2);
    EXPECT_EQ(r["stages"][0]["name"], "pretrain");
    EXPECT_EQ(r["stages"][1]["name"], "finetune");
    EXPECT_TRUE(r["stages"][1].contains("transition_seconds")) << r["stages"].dump();
    EXPECT_GE(r["stages"][1]["transition_seconds"].get<double>(), 0.0);
    EXPECT_GT(r["test_auc"].get<double>(), 0.6) << r.dump(2);
    const double ratio = r["inference_memory_ratio"].get<double>();
    // Within the budget, less one block of the 43 (64 rows of ~2,750).
    EXPECT_LE(ratio, 0.5) << "the greedy found too few similar blocks: " << r.dump(2);
    EXPECT_GE(ratio, 0.5 - 1.0 / 40);
  }
  static void Print(const char* what, const nlohmann::json& r) {
    std::printf("dedup %s: test_auc %.4f inference_memory_ratio %.5f transition %.3f s\n", what,
                r["test_auc"].get<double>(), r["inference_memory_ratio"].get<double>(),
                r["stages"][1]["transition_seconds"].get<double>());
  }
};

TEST_F(DedupTrainTest, TrainsSingleProcess) {
  auto cfg = LoadTrainConfig("", Sets("single"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto r = (*t)->Run(false);
  ASSERT_TRUE(r.ok()) << r.status();
  CheckResults(*r);
  Print("single process", *r);
}

// With one server holding every row in one virtual shard, the servers'
// reductions sum in the single process's order: the same block map, the same
// model bit for bit.
TEST_F(DedupTrainTest, OneServerOneWorkerEqualsSingleProcess) {
  auto single_cfg = LoadTrainConfig("", Sets("eq_single"));
  ASSERT_TRUE(single_cfg.ok()) << single_cfg.status();
  auto single = Trainer::Create(*single_cfg, ds_->data());
  ASSERT_TRUE(single.ok()) << single.status();
  auto a = (*single)->Run(false);
  ASSERT_TRUE(a.ok()) << a.status();
  std::vector<std::string> sets = Sets("eq_sim11");
  sets.insert(sets.end(), {"cluster.servers=1", "cluster.workers=1", "cluster.virtual_shards=1"});
  auto cfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto shape = launch::ClusterShapeFromConfig(*cfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto b = launch::RunSimulation(*cfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*a)["inference_memory_ratio"], (*b)["inference_memory_ratio"]);
  EXPECT_EQ((*a)["test_auc"], (*b)["test_auc"]);
  ASSERT_EQ((*a)["history"].size(), (*b)["history"].size());
  for (size_t i = 0; i < (*a)["history"].size(); ++i)
    EXPECT_EQ((*a)["history"][i]["val_auc"], (*b)["history"][i]["val_auc"]) << i;
}

// A run that stopped in the finetune stage resumes there: the checkpoint's
// method state holds the block map, STAT the transition's seconds.
TEST_F(DedupTrainTest, ResumesInTheFinetuneStage) {
  auto first_cfg = LoadTrainConfig("", Sets("resume"));
  ASSERT_TRUE(first_cfg.ok()) << first_cfg.status();
  auto first = Trainer::Create(*first_cfg, ds_->data());
  ASSERT_TRUE(first.ok()) << first.status();
  auto a = (*first)->Run(false);
  ASSERT_TRUE(a.ok()) << a.status();
  std::vector<std::string> sets = Sets("resume");
  sets.push_back("train.max_steps=150");
  auto cfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto second = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(second.ok()) << second.status();
  auto b = (*second)->Run(true);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)["steps"].get<int64_t>(), 120 + 150);
  EXPECT_EQ((*b)["stages"][1]["transition_seconds"], (*a)["stages"][1]["transition_seconds"]);
  EXPECT_EQ((*b)["inference_memory_ratio"], (*a)["inference_memory_ratio"]);
}

TEST_F(DedupTrainTest, TrainsOnTwoServersAndTwoWorkers) {
  std::vector<std::string> sets = Sets("sim22");
  sets.insert(sets.end(), {"cluster.servers=2", "cluster.workers=2"});
  auto cfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto shape = launch::ClusterShapeFromConfig(*cfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto r = launch::RunSimulation(*cfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(r.ok()) << r.status();
  CheckResults(*r);
  Print("2 servers + 2 workers", *r);
}

}  // namespace
}  // namespace ecps
