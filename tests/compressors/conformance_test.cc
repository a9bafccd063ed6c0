// The conformance suite: one parameterised test over every entry of
// CompressorRegistry(), named by method, that a method passes the moment it
// is registered. It checks the contract of compressors/compressor.h that the
// embedding layer, the stores and the trainer rely on:
//   - Encode/Decode shapes: a plan names rows of Tables() (or kNoRow) with
//     per_key[t] rows per key, or any number for a packed table
//     (kPackedRows, compressors/lookup_plan.h); Decode writes N x dim finite values, in eval
//     and training mode; DecodeBackward writes every row-gradient element;
//   - save/load: SaveState -> LoadState into a fresh Init'ed instance ->
//     SaveState gives the same bytes, and the same outputs through a layer;
//     another method's blob, random bytes, truncated and corrupted blobs are
//     refused with an error naming the method; another Init's blob is
//     refused unless the state is the same;
//   - Memory() against Tables() by an explicit rule (MemoryMatchesTables);
//   - determinism: two Inits with one seed give the same tables, state and
//     initial rows;
//   - the budget on Criteo's cardinalities at 50%, 10%, 1% and 0.1%, against
//     a per-method expectation table (Expectations()) that says why a method
//     cannot reach a budget;
//   - configs/compressors/<name>.yaml exists and validates;
//   - 50 training steps in one process equal 1 server + 1 worker bit for bit.
// A method without an entry in Expectations() fails (it has to state its
// budget behaviour), it is never skipped.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/rng.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"
#include "embedding/row_store.h"
#include "launch/cluster_config.h"
#include "launch/simulate.h"
#include "tests/testing/feature_space.h"
#include "tests/testing/small_dataset.h"
#include "tests/testing/status_testing.h"
#include "worker/train_config.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

using testing::Space;

// ------------------------------------------------------ per-method table --

// What a method's inference memory does at a budget, on Criteo (d = 16).
struct BudgetExpectation {
  enum Kind {
    kReach,        // within [0.99 budget, budget]
    kAtMost,       // <= budget, possibly far below (discrete ratios)
    kFixed,        // exactly `ratio`, whatever the budget (above it or not)
    kUnreachable,  // > budget: compressed as far as it goes, at about `ratio`
  };
  Kind kind = kReach;
  double ratio = 0;
};
constexpr double kBudgets[] = {0.5, 0.1, 0.01, 0.001};

struct MethodExpectations {
  std::vector<BudgetExpectation> budgets;  // one per kBudgets entry
  // The budget of the 1 server + 1 worker comparison (a budget the method
  // reaches with its tables of interest non-empty).
  double cluster_budget = 0.1;
  // Later stages' tables come from the trained rows (Dedup keeps the blocks
  // it could not map), so a report before them is the budget's plan, not the
  // outcome: MemoryMatchesTables holds only the final report exact.
  bool memory_forecast = false;
};

BudgetExpectation Reach() { return {BudgetExpectation::kReach, 0}; }
BudgetExpectation AtMost() { return {BudgetExpectation::kAtMost, 0}; }
BudgetExpectation Fixed(double r) { return {BudgetExpectation::kFixed, r}; }
BudgetExpectation Unreachable(double r) { return {BudgetExpectation::kUnreachable, r}; }

const std::map<std::string, MethodExpectations>& Expectations() {
  static const auto* const kTable = new std::map<std::string, MethodExpectations>{
      // The baseline ignores the budget (docs/methods.md §2.1).
      {"full", {{Fixed(1), Fixed(1), Fixed(1), Fixed(1)}, 1.0}},
      // m = floor(n·CR) rows: every budget to within a row (§2.2).
      {"hash", {{Reach(), Reach(), Reach(), Reach()}}},
      // solver=fill: shared c, then per-field c_f spend the slack; reaches
      // 0.1% with per-field c (the authors' shared c cannot, §2.3).
      {"compoemb", {{Reach(), Reach(), Reach(), Reach()}}},
      // Shared k rows per column, then the slack to the largest fields; at
      // 0.1% the packed codes alone (one bit per feature and column; one
      // column there, chunks from the budget) exceed the budget (§2.3b).
      {"cce", {{Reach(), Reach(), Reach(), Unreachable(0.0019550)}}},
      // F rows, map and per-field H filled to within a row per field (§2.4).
      {"doublehash", {{Reach(), Reach(), Reach(), Reach()}}},
      // The per-id w and b alone are 2/d = 12.5% (§2.5.5): below that the
      // table is one hashed row plus the scalars.
      {"memcom", {{Reach(), Unreachable(0.125), Unreachable(0.125), Unreachable(0.125)}, 0.5}},
      // Discrete ratios (a field is full or t blocks of ~2^(L/t) rows,
      // §2.6.6): within the budget, the slack spent but not to 1%.
      {"binarycode", {{AtMost(), AtMost(), AtMost(), AtMost()}}},
      // One integer rank R shared by every field (§2.7): R = 376 / 157 / 46
      // land within 1%; at 0.1% R = 13 gives 0.095% and R = 14 is 9% over.
      {"tt_rec", {{Reach(), Reach(), Reach(), AtMost()}}},
      // Shared width h by bisection, then h + 1 for the largest fields while
      // the slack allows: within 1% (Criteo h = 3625 / 1370 / 268 / 24, §2.8).
      {"dhe", {{Reach(), Reach(), Reach(), Reach()}}},
      // L floats: any budget (§2.9.5).
      {"robe", {{Reach(), Reach(), Reach(), Reach()}}},
      // Before the dedup, the rows the budget asks for (the stop rule), in
      // blocks of 10,240 rows (655,360 B, 0.03% of the table): 1% and 0.1%
      // land up to one block below the budget (§2.10).
      {"dedup", {{Reach(), Reach(), AtMost(), AtMost()}, 0.1, /*memory_forecast=*/true}},
      // Codes of ceil(log2 32) = 5 bits per part, the most parts P dividing d
      // that fit (§2.11): P = 16 (10 B a feature, 15.6%) at 50%, 8 (7.8%) at
      // 10%; 1% and 0.1% are below one byte a feature (1/64 + the codebook).
      {"dpq", {{AtMost(), AtMost(), Unreachable(0.0156261), Unreachable(0.0156261)}}},
      // DPQ per field with 8-bit codes for the top 10% of each field's ids
      // and 6-bit ones for the rest, 4 B per frequent id (§2.12): P = 16
      // (20.0%) at 50%, 4 (5.5%) at 10%; P = 1 is 2.2%, above 1% and 0.1%.
      {"mgqe", {{AtMost(), AtMost(), Unreachable(0.0220345), Unreachable(0.0220345)}, 0.5}},
      // Fixed-ratio storage (§2.16-§2.19): the real ratio at every budget.
      {"fp16", {{Fixed(0.5), Fixed(0.5), Fixed(0.5), Fixed(0.5)}, 1.0}},
      {"int8", {{Fixed(0.25), Fixed(0.25), Fixed(0.25), Fixed(0.25)}, 1.0}},
      // 16 bits where 50% fits, else 8 bits.
      {"int16", {{Fixed(0.5), Fixed(0.25), Fixed(0.25), Fixed(0.25)}, 1.0}},
      // 56.25% (16 bits + a 4-byte scale per row) misses 50%: 31.25% (8 bits).
      {"alpt", {{Fixed(0.3125), Fixed(0.3125), Fixed(0.3125), Fixed(0.3125)}, 1.0}},
      // 4-bit codes + fp16 scale and bias: 12 of 64 bytes a row.
      {"post4bits", {{Fixed(0.1875), Fixed(0.1875), Fixed(0.1875), Fixed(0.1875)}, 1.0}},
      // One byte per row and subspace, m dividing d: m = 16 (25%) at 50%, 4
      // (6.25%) at 10%; 1% and 0.1% are below m = 1 (1/64 and the 4·d·256 B
      // of codebooks, §2.19c).
      {"pq", {{AtMost(), AtMost(), Unreachable(0.0156326), Unreachable(0.0156326)}, 0.5}},
      // INT8 rows with fp16 scale pairs are 20 of 64 bytes (31.25%); the
      // budget above that buys fp32 cache rows (§2.19b.5).
      {"mixedprec",
       {{Reach(), Unreachable(0.3125), Unreachable(0.3125), Unreachable(0.3125)}, 0.4}},
      // alpha bisected, then the slack raises the largest fields a power of
      // two while it fits: 10% within 1%, 50% at 46.6% (the next power of two
      // of the largest field is 7.5%); below 1/d every field but the smallest
      // has one dimension (alpha = 1): unreachable (§2.20).
      {"mde", {{AtMost(), Reach(), Unreachable(0.0625016), Unreachable(0.0625016)}, 0.3}},
      // Not controllable by the budget (§2.21): before the search its memory is
      // the retrain forecast from the initial alpha's argmax (seed 1; with the
      // fields' shard_align gaps), the same at every budget; the trained ratio
      // is reported.
      {"autodim",
       {{Fixed(0.57397209342166033), Fixed(0.57397209342166033), Fixed(0.57397209342166033),
         Fixed(0.57397209342166033)},
        1.0,
        /*memory_forecast=*/true}},  // the retrain dimensions come from the searched alpha
      // The most nonzeros whose exact bytes fit (§1.8 format, u8 columns, CSR
      // row pointers or COO rows): every budget within a nonzero. The sparse
      // stage keeps at most that many (the trained threshold decides how
      // many: the earlier reports are the plan).
      {"deeplight", {{Reach(), Reach(), Reach(), Reach()}, 0.1, /*memory_forecast=*/true}},
      // As deeplight: the mask of the search (capped at the budget's
      // nonzeros) decides how many are kept.
      {"pep", {{Reach(), Reach(), Reach(), Reach()}, 0.1, /*memory_forecast=*/true}},
      // As pep: the mask of the search (the K largest auxiliary |a|)
      // decides how many are kept.
      {"ham", {{Reach(), Reach(), Reach(), Reach()}, 0.1, /*memory_forecast=*/true}},
      // As deeplight: the pruned E ⊙ alpha keeps at most the budget's
      // nonzeros (the searched alpha decides which).
      {"autosrh", {{Reach(), Reach(), Reach(), Reach()}, 0.1, /*memory_forecast=*/true}},
      // Not controllable by the budget (§2.22): before the supernet trains its
      // thresholds the forecast keeps every row and dimension, plus the remap
      // (4 B per feature) and widths; the searched ratio is reported.
      {"optembed",
       {{Fixed(1.0625000481302123), Fixed(1.0625000481302123), Fixed(1.0625000481302123),
         Fixed(1.0625000481302123)},
        1.0,
        /*memory_forecast=*/true}},
      // Every field keeps its most salient column, then columns by saliency
      // while they fit (§2.21b): before the search the forecast at zero
      // saliency, within 1% at 50% and 10%; below 1/d every field has one
      // dimension (4n + its projection): unreachable. The retrain tables
      // follow the measured saliency.
      {"sseds",
       {{Reach(), Reach(), Unreachable(0.0625008182), Unreachable(0.0625008182)},
        0.3,
        /*memory_forecast=*/true}},
      // A precision per frequency group within the budget (§2.21c): 128
      // groups, so the slack left is below one group's cheapest raise
      // (0.146%): 50% and 10% within 1%, 1% just below it (the class map of
      // 4 bits + a rank directory per feature is 0.98%); at 0.1% the map alone
      // is over, every group at 0 bits. The retrain classes follow the
      // searched distribution (uniform before it).
      {"mpe",
       {{Reach(), Reach(), AtMost(), Unreachable(0.0097656)}, 0.3, /*memory_forecast=*/true}},
      // Keyed tables (§2.14, §2.14b): m rows of 4d bytes plus 16 B of map per
      // slot row, the largest m that fits.
      {"adaptemb", {{Reach(), Reach(), Reach(), Reach()}}},
      {"cafe", {{Reach(), Reach(), Reach(), Reach()}}},
      // The assignment is one int32 per feature (1/d = 6.25% at d = 16):
      // 50% and 10% within a row, below 1/d the assignment and one row per
      // partition (§2.15).
      {"cel", {{Reach(), Reach(), Unreachable(0.0625), Unreachable(0.0625)}, 0.3}},
      {"mch", {{Reach(), Reach(), Reach(), Reach()}}},
  };
  return *kTable;
}

std::vector<std::string> MethodNames() {
  std::vector<std::string> names;
  for (const CompressorInfo& info : CompressorRegistry()) names.push_back(info.name);
  return names;
}

// ----------------------------------------------------------------- setup --

// A small space with a one-value field, fields smaller than any sensible
// compression and a few larger ones; d = 8.
const FeatureSpace& Small() {
  static const FeatureSpace* const kSpace =
      new FeatureSpace(Space({9, 1, 250, 33, 2, 1000, 4097}, 8));
  return *kSpace;
}

// Zipf-like train counts with every 7th id never seen.
std::vector<uint32_t> ZipfCounts(const FeatureSpace& s) {
  std::vector<uint32_t> c(s.total());
  for (int f = 0; f < s.num_fields(); ++f)
    for (uint64_t x = 0; x < s.cardinalities[f]; ++x)
      c[s.offsets[f] + x] = x % 7 == 6 ? 0 : static_cast<uint32_t>(1 + 1000 / (x + 1));
  return c;
}

const std::vector<uint32_t>& SmallCounts() {
  static const auto* const kCounts = new std::vector<uint32_t>(ZipfCounts(Small()));
  return *kCounts;
}

const CompressorInfo& Info(const std::string& method) {
  const CompressorInfo* info = FindCompressor(method);
  EXPECT_NE(info, nullptr) << method;
  return *info;
}

CompressorContext Context(const FeatureSpace& s, double budget, uint64_t seed,
                          std::span<const uint32_t> counts) {
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  ctx.seed = seed;
  ctx.train_counts = counts;
  ctx.sparse_lr = 0.01;
  return ctx;
}

// An Init'ed method with its default parameters (no store).
std::unique_ptr<Compressor> MakeMethod(const std::string& method, const CompressorContext& ctx) {
  const CompressorInfo& info = Info(method);
  ParamSet params(&info.schema);
  std::unique_ptr<Compressor> c = info.create();
  const Status st = c->Init(ctx, params);
  EXPECT_TRUE(st.ok()) << method << ": " << st;
  return c;
}

// An Init'ed layer (method + LocalRowStore with Adam).
std::unique_ptr<EmbeddingLayer> MakeLayer(const std::string& method, const CompressorContext& ctx) {
  const CompressorInfo& info = Info(method);
  ParamSet params(&info.schema);
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  auto layer = std::make_unique<EmbeddingLayer>(info.create(), NewLocalRowStore(opt));
  const Status st = layer->Init(ctx, params);
  EXPECT_TRUE(st.ok()) << method << ": " << st;
  return layer;
}

using testing::Keys;
using testing::Normal;

void Train(EmbeddingLayer* l, const FeatureSpace& s, int steps, uint64_t seed) {
  Rng rng(seed);
  for (int t = 1; t <= steps; ++t) {
    const std::vector<uint32_t> keys = Keys(s, 16, &rng);
    std::vector<float> out(keys.size() * s.dim);
    ECPS_ASSERT_OK(l->Forward(keys, out.data(), true));
    ECPS_ASSERT_OK(l->Backward(Normal(out.size(), &rng).data(), t));
  }
}

// Every row of every table, decoded.
std::vector<std::vector<float>> AllRows(EmbeddingLayer& l) {
  std::vector<std::vector<float>> rows;
  for (const RowTableSpec& t : l.store().StoredTables()) {
    rows.emplace_back(t.rows * static_cast<uint64_t>(t.width));
    const Status st =
        l.store().ReadRows(static_cast<int>(rows.size() - 1), 0, t.rows, rows.back().data());
    EXPECT_TRUE(st.ok()) << st;
  }
  return rows;
}

// Evaluation outputs of every value of every field.
std::vector<float> AllOutputs(EmbeddingLayer& l, const FeatureSpace& s) {
  std::vector<uint32_t> batch;
  const uint64_t maxc = s.max_cardinality();
  for (uint64_t k = 0; k < maxc; ++k)
    for (int f = 0; f < s.num_fields(); ++f)
      batch.push_back(static_cast<uint32_t>(std::min<uint64_t>(k, s.cardinalities[f] - 1)));
  std::vector<float> out(batch.size() * s.dim);
  const Status st = l.Forward(batch, out.data(), false);
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

bool AllFinite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

// A refused blob: DataLoss (not this method's, or damaged) or
// FailedPrecondition (another Init's), with the method named.
void ExpectRefused(const Status& st, const std::string& method, const std::string& what) {
  EXPECT_FALSE(st.ok()) << method << ": " << what << " was accepted";
  EXPECT_TRUE(st.code() == absl::StatusCode::kDataLoss ||
              st.code() == absl::StatusCode::kFailedPrecondition)
      << method << ": " << what << ": " << st;
  EXPECT_NE(std::string(st.message()).find(method), std::string::npos)
      << method << ": " << what << ": the error does not name the method: " << st;
}

class ConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  // The generated data of the training check.
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_conformance_test", /*rows=*/12000,
                                        /*features=*/6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  const std::string& method() const { return GetParam(); }
  CompressorContext SmallContext(double budget = 0.1, uint64_t seed = 42) const {
    return Context(Small(), budget, seed, SmallCounts());
  }
};

// ---------------------------------------------------------------- shapes --

TEST_P(ConformanceTest, EncodeDecodeShapes) {
  const FeatureSpace& s = Small();
  auto layer = MakeLayer(method(), SmallContext());
  Compressor& c = layer->compressor();
  Rng rng(3);
  for (bool training : {false, true}) {
    const std::vector<uint32_t> keys = Keys(s, 13, &rng);
    const int n = static_cast<int>(keys.size());
    LookupPlan plan;
    plan.training = training;
    plan.noise_seed = 99;
    c.Encode(keys, &plan);
    const std::vector<RowTableSpec> tables = c.Tables();
    EXPECT_EQ(plan.num_keys, n);
    ASSERT_EQ(plan.per_key.size(), tables.size());
    ASSERT_EQ(plan.rows.size(), tables.size());
    for (size_t t = 0; t < tables.size(); ++t) {
      ASSERT_TRUE(plan.per_key[t] >= 0 || plan.per_key[t] == kPackedRows)
          << tables[t].name << ": per_key " << plan.per_key[t];
      if (plan.per_key[t] != kPackedRows) {
        ASSERT_EQ(plan.rows[t].size(), static_cast<size_t>(n) * plan.per_key[t]) << tables[t].name;
      }
      // A keyed table's plan holds keys (compressors/key_mapping.h).
      uint64_t bound = tables[t].rows;
      for (const KeyMappingSpec& km : c.KeyMappings())
        if (km.data_table == static_cast<int>(t))
          bound = km.keys != 0 ? km.keys : tables[km.key_table].rows;
      for (uint64_t r : plan.rows[t]) {
        ASSERT_TRUE(r == kNoRow || r < bound) << tables[t].name << ": row " << r << " of " << bound;
      }
    }
    FetchedRows values;
    ECPS_ASSERT_OK(layer->store().Gather(plan, &values));
    std::vector<float> out(static_cast<size_t>(n) * s.dim, std::nanf(""));
    c.Decode(plan, values, out.data());
    EXPECT_TRUE(AllFinite(out)) << "Decode left elements unwritten or non-finite";

    // Every row-gradient element is written (they arrive as NaN here).
    FetchedRows grads;
    grads.values.resize(values.values.size());
    for (size_t t = 0; t < values.values.size(); ++t)
      grads.values[t].assign(values.values[t].size(), std::nanf(""));
    const std::vector<float> g = Normal(out.size(), &rng);
    c.DecodeBackward(plan, values, g.data(), &grads);
    for (size_t t = 0; t < grads.values.size(); ++t) {
      ASSERT_EQ(grads.values[t].size(), values.values[t].size()) << tables[t].name;
      EXPECT_TRUE(AllFinite(grads.values[t])) << tables[t].name << ": unwritten row gradient";
    }
    const std::span<float> dense = c.DenseGrads();
    EXPECT_EQ(dense.size(), c.DenseParams().size());
    EXPECT_TRUE(std::all_of(dense.begin(), dense.end(), [](float x) { return std::isfinite(x); }));
  }
}

// ------------------------------------------------------------- save/load --

TEST_P(ConformanceTest, SaveLoadRoundTripIsBitIdentical) {
  const FeatureSpace& s = Small();
  const CompressorContext ctx = SmallContext();
  auto a = MakeLayer(method(), ctx);
  Train(a.get(), s, 5, 1);
  const std::vector<StageSpec> stages = a->compressor().Stages();
  for (size_t stage = 0; stage < stages.size(); ++stage) {
    SCOPED_TRACE("stage " + std::to_string(stage));
    if (stage > 0) ECPS_ASSERT_OK(a->BeginStage(static_cast<int>(stage)));
    // The method alone: into a fresh instance and back.
    const std::string state = a->compressor().SaveState();
    ASSERT_FALSE(state.empty()) << "a method without state still writes a tagged blob";
    std::unique_ptr<Compressor> fresh = MakeMethod(method(), ctx);
    ECPS_ASSERT_OK(fresh->LoadState(state));
    EXPECT_EQ(fresh->SaveState(), state);
    EXPECT_EQ(fresh->Tables(), a->compressor().Tables());
    // With the rows, through a layer: same bytes, same outputs.
    auto blob = a->Save();
    ASSERT_TRUE(blob.ok()) << blob.status();
    auto b = MakeLayer(method(), ctx);
    ECPS_ASSERT_OK(b->Load(*blob));
    // The dense decoder parameters and buffers (DHE's MLP and BatchNorm
    // running statistics) travel beside the layer's blob, in the trainer's
    // MDNS and MDBF checkpoint sections: copied as the trainer restores them.
    std::ranges::copy(a->compressor().DenseParams(), b->compressor().DenseParams().begin());
    std::ranges::copy(a->compressor().DenseBuffers(), b->compressor().DenseBuffers().begin());
    auto again = b->Save();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *blob);
    EXPECT_EQ(AllOutputs(*b, s), AllOutputs(*a, s));
  }
}

TEST_P(ConformanceTest, ForeignTruncatedAndOtherInitBlobsAreRefused) {
  const CompressorContext ctx = SmallContext();
  std::unique_ptr<Compressor> m = MakeMethod(method(), ctx);
  const std::string state = m->SaveState();
  // Every other method's state, from the same space.
  for (const std::string& other : MethodNames()) {
    if (other == method()) continue;
    ExpectRefused(m->LoadState(MakeMethod(other, ctx)->SaveState()), method(),
                  "the state of '" + other + "'");
  }
  // Random bytes, empty, truncated, corrupted.
  Rng rng(5);
  for (size_t n : {size_t{0}, size_t{7}, size_t{64}, size_t{1000}}) {
    std::string junk(n, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng.Below(256));
    ExpectRefused(m->LoadState(junk), method(), std::to_string(n) + " random bytes");
  }
  for (size_t keep : {state.size() - 1, state.size() / 2, size_t{12}})
    ExpectRefused(m->LoadState(state.substr(0, keep)), method(),
                  "the blob cut to " + std::to_string(keep) + " bytes");
  for (size_t at : {size_t{3}, size_t{10}, state.size() / 2, state.size() - 2}) {
    std::string bad = state;
    bad[at] ^= 0x20;
    ExpectRefused(m->LoadState(bad), method(),
                  "the blob with byte " + std::to_string(at) + " flipped");
  }
  // A feature space of another shape, and another budget: refused where the
  // state differs (accepted only if it is byte for byte this Init's).
  const FeatureSpace wider = Space({9, 1, 250, 33, 2, 1000, 4097, 17}, 8);
  const std::vector<uint32_t> wider_counts = ZipfCounts(wider);
  ExpectRefused(
      m->LoadState(MakeMethod(method(), Context(wider, 0.1, 42, wider_counts))->SaveState()),
      method(), "the state of another feature space");
  const FeatureSpace narrower = Space({9, 1, 250, 33, 2, 1000, 4097}, 4);
  ExpectRefused(
      m->LoadState(MakeMethod(method(), Context(narrower, 0.1, 42, SmallCounts()))->SaveState()),
      method(), "the state of another dim");
  for (double budget : {0.5, 0.01}) {
    const std::string other = MakeMethod(method(), SmallContext(budget))->SaveState();
    if (other == state) {
      ECPS_EXPECT_OK(m->LoadState(other));
    } else {
      const Status st = m->LoadState(other);
      ExpectRefused(st, method(), "the state of budget " + std::to_string(budget));
      EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
    }
  }
  // After all that, its own state still loads.
  ECPS_EXPECT_OK(m->LoadState(state));
  EXPECT_EQ(m->SaveState(), state);
}

// ---------------------------------------------------------------- memory --

// The rule (docs/methods.md §1.6), for every method at every stage:
//   parameter_bytes  = the rows of every stage's tables as stored, i.e. the
//                      sum over the distinct table lists of Stages() of
//                      rows * StoredRowBytes(spec) (the parameters of all
//                      stages' embedding-side structures: Post4Bits holds the
//                      trained fp32 table and its 4-bit form);
//   inference_bytes  = the final stage's tables as stored + auxiliary_bytes
//                      (maps, hash constants, collisions, cache index: what a
//                      lookup needs besides rows);
// and the store holds exactly the current stage's tables.
TEST_P(ConformanceTest, MemoryMatchesTables) {
  for (double budget : {1.0, 0.3, 0.05}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    auto layer = MakeLayer(method(), SmallContext(budget));
    auto bytes = [](const std::vector<RowTableSpec>& tables) {
      uint64_t b = 0;
      for (const RowTableSpec& t : tables) b += t.rows * StoredRowBytes(t);
      return b;
    };
    const size_t stages = layer->compressor().Stages().size();
    std::vector<std::vector<RowTableSpec>> lists = {layer->compressor().Tables()};
    std::vector<MemoryReport> reports = {layer->Memory()};
    EXPECT_EQ(layer->store().parameter_bytes(), bytes(lists.back()));
    for (size_t i = 1; i < stages; ++i) {
      ECPS_ASSERT_OK(layer->BeginStage(static_cast<int>(i)));
      if (layer->compressor().Tables() != lists.back())
        lists.push_back(layer->compressor().Tables());
      reports.push_back(layer->Memory());
      EXPECT_EQ(layer->store().parameter_bytes(), bytes(layer->compressor().Tables()))
          << "stage " << i;
    }
    uint64_t all_stages = 0;
    for (const auto& l : lists) all_stages += bytes(l);
    const uint64_t final_tables = bytes(lists.back());
    // Every report is exact, but for a method whose later tables come from
    // the trained rows or a search (memory_forecast: Dedup keeps the blocks it
    // could not map, with this fixture's random rows all of them; AutoDim's
    // retrain dimensions follow alpha): there an earlier
    // report is the plan and must count at least its own stage's tables.
    auto it = Expectations().find(method());
    ASSERT_NE(it, Expectations().end());
    for (size_t i = 0; i < reports.size(); ++i) {
      const MemoryReport& r = reports[i];
      if (i + 1 == reports.size() || !it->second.memory_forecast) {
        EXPECT_EQ(r.parameter_bytes, all_stages) << "stage " << i;
        // Keyed tables (compressors/key_mapping.h): the mapping's state
        // tables are training state; a served model keeps the data table
        // and the map (mapping_bytes).
        uint64_t want = final_tables + r.auxiliary_bytes;
        for (const KeyMappingSpec& km : layer->compressor().KeyMappings()) {
          for (int t : {km.key_table, km.row_table})
            want -= bytes(std::vector<RowTableSpec>{lists.back()[t]});
          want += r.mapping_bytes;
        }
        EXPECT_EQ(r.inference_bytes, want) << "stage " << i;
      } else {
        EXPECT_GE(r.parameter_bytes, bytes(lists[std::min(i, lists.size() - 1)]))
            << "stage " << i << " reports less than its own tables";
      }
      EXPECT_GT(r.inference_bytes, 0u);
    }
  }
}

// ----------------------------------------------------------- determinism --

TEST_P(ConformanceTest, SameSeedSameModel) {
  const CompressorContext ctx = SmallContext(0.1, 7);
  auto a = MakeLayer(method(), ctx);
  auto b = MakeLayer(method(), ctx);
  EXPECT_EQ(a->compressor().Tables(), b->compressor().Tables());
  EXPECT_EQ(a->compressor().SaveState(), b->compressor().SaveState());
  EXPECT_EQ(AllRows(*a), AllRows(*b));
  auto sa = a->Save(), sb = b->Save();
  ASSERT_TRUE(sa.ok() && sb.ok());
  EXPECT_EQ(*sa, *sb);
  // And training keeps them equal.
  Train(a.get(), Small(), 3, 11);
  Train(b.get(), Small(), 3, 11);
  EXPECT_EQ(AllRows(*a), AllRows(*b));
}

// ---------------------------------------------------------------- budget --

// Criteo's 26 field cardinalities (docs/methods.md §1.1), d = 16. Only Init
// runs: no table is built.
const FeatureSpace& Criteo() {
  static const FeatureSpace* const kSpace =
      new FeatureSpace(Space({1460,  583,  10131227, 2202608, 305, 24,     12517,   633,   3,
                              93145, 5683, 8351593,  3194,    27,  14992,  5461306, 10,    5652,
                              2173,  4,    7046547,  18,      15,  286181, 105,     142572},
                             16));
  return *kSpace;
}

TEST_P(ConformanceTest, BudgetOnCriteo) {
  auto it = Expectations().find(method());
  ASSERT_NE(it, Expectations().end())
      << "'" << method() << "' has no entry in Expectations(): state what its inference memory "
      << "does at each budget (and why, if it cannot reach one)";
  const MethodExpectations& want = it->second;
  ASSERT_EQ(want.budgets.size(), std::size(kBudgets));
  static const auto* const kCounts = new std::vector<uint32_t>(ZipfCounts(Criteo()));
  const double full = 4.0 * static_cast<double>(Criteo().total()) * Criteo().dim;
  for (size_t i = 0; i < std::size(kBudgets); ++i) {
    const double b = kBudgets[i];
    std::unique_ptr<Compressor> m = MakeMethod(method(), Context(Criteo(), b, 1, *kCounts));
    const double r = static_cast<double>(m->Memory().inference_bytes) / full;
    const BudgetExpectation& e = want.budgets[i];
    std::printf("%-11s budget %-6g ratio %.6f\n", method().c_str(), b, r);
    switch (e.kind) {
      case BudgetExpectation::kReach:
        EXPECT_LE(r, b) << "budget " << b;
        EXPECT_GE(r, 0.99 * b) << "budget " << b;
        break;
      case BudgetExpectation::kAtMost:
        EXPECT_LE(r, b) << "budget " << b;
        EXPECT_GT(r, 0.0);
        break;
      case BudgetExpectation::kFixed:
        EXPECT_DOUBLE_EQ(r, e.ratio) << "budget " << b;
        break;
      case BudgetExpectation::kUnreachable:
        EXPECT_GT(r, b) << "budget " << b << " was expected to be out of reach";
        EXPECT_NEAR(r, e.ratio, 1e-3 * e.ratio) << "budget " << b;
        break;
    }
  }
}

// ---------------------------------------------------------------- config --

TEST_P(ConformanceTest, ConfigExistsAndValidates) {
  const std::string path =
      std::string(ECPS_SOURCE_DIR) + "/configs/compressors/" + method() + ".yaml";
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing";
  auto cfg = LoadTrainConfig(path, {});
  ASSERT_TRUE(cfg.ok()) << path << ": " << cfg.status();
  EXPECT_EQ(cfg->method(), method()) << path;
}

// --------------------------------------------------------------- cluster --

// 50 steps: the single-process trainer and 1 server + 1 worker (in-process
// transport, launch/simulate.h) give the same model bit for bit: the same
// test AUC and log loss and validation history. One virtual shard, so that
// the server rounds coded tables with the single-process rounding stream
// (with 64 virtual shards each has its own stream: close, not identical).
TEST_P(ConformanceTest, SingleProcessEqualsOneServerOneWorker) {
  auto it = Expectations().find(method());
  ASSERT_NE(it, Expectations().end()) << "'" << method() << "' has no entry in Expectations()";
  std::vector<std::string> sets = ds_->FastConfig("conf_single_" + method());
  const std::vector<std::string> common = {
      "embedding.method=" + method(),
      "embedding.budget=" + std::to_string(it->second.cluster_budget), "train.max_steps=50",
      "train.evals_per_epoch=2", "train.latency_batches=1",
      // Keyed tables partition by the virtual shards in one process too.
      "cluster.virtual_shards=1"};
  sets.insert(sets.end(), common.begin(), common.end());
  auto single_cfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(single_cfg.ok()) << single_cfg.status();
  auto single = Trainer::Create(*single_cfg, ds_->data());
  ASSERT_TRUE(single.ok()) << single.status();
  auto a = (*single)->Run(false);
  ASSERT_TRUE(a.ok()) << a.status();

  std::vector<std::string> csets = ds_->FastConfig("conf_sim11_" + method());
  csets.insert(csets.end(), common.begin(), common.end());
  csets.insert(csets.end(), {"cluster.servers=1", "cluster.workers=1"});
  auto cluster_cfg = LoadTrainConfig("", csets);
  ASSERT_TRUE(cluster_cfg.ok()) << cluster_cfg.status();
  auto shape = launch::ClusterShapeFromConfig(*cluster_cfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto b = launch::RunSimulation(*cluster_cfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(b.ok()) << b.status();

  EXPECT_EQ((*a)["steps"], (*b)["steps"]);
  EXPECT_EQ((*a)["test_auc"], (*b)["test_auc"]) << (*a)["test_auc"] << " vs " << (*b)["test_auc"];
  EXPECT_EQ((*a)["test_logloss"], (*b)["test_logloss"]);
  EXPECT_EQ((*a)["val_auc"], (*b)["val_auc"]);
  ASSERT_EQ((*a)["history"].size(), (*b)["history"].size());
  for (size_t i = 0; i < (*a)["history"].size(); ++i)
    EXPECT_EQ((*a)["history"][i]["val_auc"], (*b)["history"][i]["val_auc"]) << i;
  // train.max_steps caps each stage: 50 steps per stage that trains, fewer
  // where the method ended a stage (CCE's stage_evals); a stage not run (the
  // data spent before a continuing stage) takes none.
  int64_t training_stages = 0;
  const std::vector<StageSpec> specs = MakeMethod(method(), SmallContext())->Stages();
  ASSERT_EQ((*a)["stages"].size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i)
    training_stages += specs[i].post_training || specs[i].evaluation_search ||
                               !(*a)["stages"][i]["run"].get<bool>()
                           ? 0
                           : 1;
  bool method_ended_a_stage = false;
  for (const auto& h : (*a)["history"]) method_ended_a_stage |= h.contains("stage_complete");
  if (method_ended_a_stage) {
    EXPECT_LE((*a)["steps"].get<int64_t>(), 50 * training_stages);
    EXPECT_GE((*a)["steps"].get<int64_t>(), training_stages);
  } else {
    EXPECT_EQ((*a)["steps"].get<int64_t>(), 50 * training_stages);
  }
  EXPECT_GT((*b)["test_auc"].get<double>(), 0.5) << "the run learned nothing";
  std::printf("%-11s steps %s test_auc %.6f (single) %.6f (1+1)\n", method().c_str(),
              (*a)["steps"].dump().c_str(), (*a)["test_auc"].get<double>(),
              (*b)["test_auc"].get<double>());
}

INSTANTIATE_TEST_SUITE_P(Registry, ConformanceTest, ::testing::ValuesIn(MethodNames()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ecps
