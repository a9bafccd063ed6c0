// Tests of CCE (docs/methods.md §2.3b): lookups against the naive reference
// of tests/compressors/reference/cce_reference.h before and after
// clusterings, every clustering checked against brute force (nearest
// centroid, mean residual per bucket), the k-means helper, the budget solver
// on Criteo, save/load with the cluster assignments, determinism, the stage
// schedule, and training end to end in one process and on 2 servers and 2
// workers.
#include "compressors/hashing/cce.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "common/fork_join.h"
#include "common/rng.h"
#include "compressors/internal/kmeans.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"
#include "launch/cluster_config.h"
#include "launch/simulate.h"
#include "tests/compressors/reference/cce_reference.h"
#include "tests/testing/feature_space.h"
#include "tests/testing/small_dataset.h"
#include "tests/testing/status_testing.h"
#include "worker/train_config.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

using cce_ref::TableValues;
using testing::Keys;
using testing::Normal;
using testing::Space;

// A one-value field, fields below any sensible compression and larger ones;
// d = 8 (w = 2 at the default 4 chunks).
FeatureSpace Small() { return Space({9, 1, 250, 33, 2, 1000, 4097}, 8); }

FeatureSpace Criteo() {
  return Space({1460,  583,  10131227, 2202608, 305, 24,     12517,   633,   3,
                93145, 5683, 8351593,  3194,    27,  14992,  5461306, 10,    5652,
                2173,  4,    7046547,  18,      15,  286181, 105,     142572},
               16);
}

ParamSet Params(const std::vector<std::string>& overrides) {
  static const ParamSchema* const kSchema = new ParamSchema(CceEmbedding::Schema());
  ParamSet p(kSchema);
  EXPECT_TRUE(p.ApplyOverrides(overrides).ok());
  return p;
}

CompressorContext Context(const FeatureSpace& s, double budget, uint64_t seed = 42) {
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  ctx.seed = seed;
  return ctx;
}

std::unique_ptr<EmbeddingLayer> MakeLayer(const CompressorContext& ctx,
                                          const std::vector<std::string>& overrides) {
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  auto layer = std::make_unique<EmbeddingLayer>(CceEmbedding::Create(), NewLocalRowStore(opt));
  const Status st = layer->Init(ctx, Params(overrides));
  EXPECT_TRUE(st.ok()) << st;
  return layer;
}

const CceEmbedding& Cce(EmbeddingLayer& l) {
  return dynamic_cast<const CceEmbedding&>(l.compressor());
}

TableValues ReadTables(EmbeddingLayer& l) {
  TableValues t;
  const std::vector<RowTableSpec> specs = l.store().StoredTables();
  for (size_t i = 0; i < specs.size(); ++i) {
    t.emplace_back(specs[i].rows * specs[i].width);
    EXPECT_TRUE(l.store().ReadRows(static_cast<int>(i), 0, specs[i].rows, t.back().data()).ok());
  }
  return t;
}

void Train(EmbeddingLayer* l, const FeatureSpace& s, int steps, uint64_t seed) {
  Rng rng(seed);
  for (int t = 1; t <= steps; ++t) {
    const std::vector<uint32_t> keys = Keys(s, 16, &rng);
    std::vector<float> out(keys.size() * s.dim);
    ECPS_ASSERT_OK(l->Forward(keys, out.data(), true));
    ECPS_ASSERT_OK(l->Backward(Normal(out.size(), &rng).data(), t));
  }
}

// The layer's eval output equals the naive reference on random keys.
void ExpectLookupMatchesReference(EmbeddingLayer& l, const FeatureSpace& s, uint64_t seed) {
  Rng rng(seed);
  const std::vector<uint32_t> keys = Keys(s, 40, &rng);
  std::vector<float> out(keys.size() * s.dim);
  ECPS_ASSERT_OK(l.Forward(keys, out.data(), false));
  EXPECT_EQ(out, cce_ref::CceLookup(Cce(l), s, ReadTables(l), keys));
}

// Every code of the method, field-major (for comparisons).
std::vector<uint32_t> AllCodes(const CceEmbedding& m, const FeatureSpace& s) {
  std::vector<uint32_t> codes;
  for (int f = 0; f < s.num_fields(); ++f) {
    if (m.rows_per_column(f) == 0) continue;
    for (uint64_t x = 0; x < s.cardinalities[f]; ++x)
      for (int i = 0; i < m.chunks(); ++i) codes.push_back(m.code(f, x, i));
  }
  return codes;
}

// Runs the clustering of stage `index` and applies it (as the trainer's first
// step of the stage does), then checks it against brute force.
void ClusterAndCheck(EmbeddingLayer* l, const FeatureSpace& s, int index) {
  const std::vector<float> before = cce_ref::AllVectors(Cce(*l), s, ReadTables(*l));
  const std::vector<uint32_t> old_codes = AllCodes(Cce(*l), s);
  ECPS_ASSERT_OK(l->BeginStage(index));
  // Pending: nothing visible changes until the next step.
  EXPECT_TRUE(Cce(*l).clustering_pending());
  EXPECT_EQ(AllCodes(Cce(*l), s), old_codes);
  EXPECT_EQ(cce_ref::AllVectors(Cce(*l), s, ReadTables(*l)), before);
  ASSERT_TRUE(l->AfterStep(1).ok());
  EXPECT_FALSE(Cce(*l).clustering_pending());
  EXPECT_EQ(Cce(*l).stage(), index);
  const cce_ref::ClusteringCheck c = cce_ref::CheckClustering(Cce(*l), s, ReadTables(*l), before);
  EXPECT_GT(c.codes, 0u);
  EXPECT_EQ(c.wrong_codes, 0u) << "of " << c.codes << " codes";
  EXPECT_LT(c.max_t1_error, 1e-6) << "over " << c.t1_rows << " T1 rows";
  // The clustering is a good summary: the vectors after it (centroid +
  // bucket mean) are closer to the ones before than the all-zero model.
  const std::vector<float> after = cce_ref::AllVectors(Cce(*l), s, ReadTables(*l));
  double err = 0, norm = 0;
  for (size_t j = 0; j < after.size(); ++j) {
    err += (after[j] - before[j]) * (after[j] - before[j]);
    norm += before[j] * before[j];
  }
  EXPECT_LT(err, norm);
}

// --------------------------------------------------------------- lookups --

TEST(CceTest, LookupEqualsReferenceAcrossClusterings) {
  const FeatureSpace s = Small();
  for (const std::vector<std::string>& p :
       std::vector<std::vector<std::string>>{{"kmeans_iters=10"},
                                             {"kmeans_iters=10", "chunks=1"},
                                             {"kmeans_iters=5", "chunks=8", "sample_factor=3"},
                                             {"kmeans_iters=10", "rows=5"}}) {
    SCOPED_TRACE(p.back());
    auto l = MakeLayer(Context(s, 0.1), p);
    const CceEmbedding& m = Cce(*l);
    int compressed = 0;
    for (int f = 0; f < s.num_fields(); ++f) compressed += m.rows_per_column(f) > 0;
    EXPECT_GT(compressed, 0);
    EXPECT_EQ(m.rows_per_column(1), 0u) << "a one-value field is kept full";
    ExpectLookupMatchesReference(*l, s, 1);
    Train(l.get(), s, 20, 2);
    ExpectLookupMatchesReference(*l, s, 3);
    for (int stage = 1; stage <= 2; ++stage) {
      SCOPED_TRACE("stage " + std::to_string(stage));
      ClusterAndCheck(l.get(), s, stage);
      ExpectLookupMatchesReference(*l, s, 4 + stage);
      Train(l.get(), s, 10, 10 + stage);
      ExpectLookupMatchesReference(*l, s, 20 + stage);
    }
  }
}

TEST(CceTest, BackwardTrainsBothTablesOfEveryColumn) {
  const FeatureSpace s = Small();
  auto l = MakeLayer(Context(s, 0.1), {});
  const TableValues before = ReadTables(*l);
  Train(l.get(), s, 5, 7);
  const TableValues after = ReadTables(*l);
  for (int t = 0; t < 3; ++t) EXPECT_NE(before[t], after[t]) << "table " << t;
}

// ---------------------------------------------------------------- kmeans --

TEST(CceTest, KMeansRecoversSeparatedClustersWithAnyThreads) {
  const int w = 3;
  const uint64_t k = 3, per = 150;
  Rng rng(1);
  std::vector<float> centers(k * w), points;
  for (float& c : centers) c = static_cast<float>(rng.Uniform(-10, 10));
  for (uint64_t p = 0; p < k * per; ++p)
    for (int j = 0; j < w; ++j)
      points.push_back(centers[(p % k) * w + j] + static_cast<float>(0.05 * rng.Normal()));
  const uint64_t m = k * per;
  ForkJoinPool pool(3);
  const std::vector<float> a = method_internal::KMeans(points, m, w, k, 30, 9, nullptr);
  const std::vector<float> b = method_internal::KMeans(points, m, w, k, 30, 9, &pool);
  EXPECT_EQ(a, b) << "the pool changed the result";
  // Every true center has a centroid next to it (with this seed the random
  // start finds all three).
  int found = 0;
  for (uint64_t c = 0; c < k; ++c) {
    const uint32_t r = method_internal::NearestCentroid(&centers[c * w], a.data(), k, w);
    found += method_internal::SquaredDistance(&centers[c * w], &a[r * w], w) < 0.01f;
  }
  EXPECT_EQ(found, static_cast<int>(k));
  // Fewer points than centroids: the points, then random rows.
  const std::vector<float> few = method_internal::KMeans(
      std::span<const float>(points.data(), 2 * w), 2, w, 4, 30, 9, nullptr);
  ASSERT_EQ(few.size(), 4u * w);
  EXPECT_TRUE(std::equal(points.begin(), points.begin() + 2 * w, few.begin()));
}

TEST(CceTest, TransposedNearestCentroidsEqualsThePlainLoop) {
  Rng rng(4);
  for (int w : {1, 2, 3, 4, 8, 16}) {
    for (uint64_t k : {uint64_t{1}, uint64_t{7}, uint64_t{256}, uint64_t{600}}) {
      std::vector<float> c(k * w);
      // Coarse values, so that some distances tie (the smallest row wins).
      for (float& x : c) x = static_cast<float>(rng.Below(5)) * 0.25f;
      const method_internal::NearestCentroids nearest(c.data(), k, w);
      for (int p = 0; p < 50; ++p) {
        std::vector<float> v(w);
        for (float& x : v) x = static_cast<float>(rng.Normal());
        ASSERT_EQ(nearest.Nearest(v.data()),
                  method_internal::NearestCentroid(v.data(), c.data(), k, w))
            << "w " << w << " k " << k;
      }
    }
  }
}

TEST(CceTest, KMeansEmptyClustersAreSplit) {
  // 40 copies of two points and 10 centroids: k-means must still return
  // finite centroids (the empty ones split off populated clusters).
  std::vector<float> points;
  for (int p = 0; p < 40; ++p) points.insert(points.end(), {p % 2 == 0 ? 1.0f : -1.0f, 0.5f});
  const std::vector<float> c = method_internal::KMeans(points, 40, 2, 10, 20, 3, nullptr);
  EXPECT_TRUE(std::all_of(c.begin(), c.end(), [](float v) { return std::isfinite(v); }));
}

// ---------------------------------------------------------------- budget --

TEST(CceTest, BudgetWithinOnePercentWhereReachable) {
  const FeatureSpace s = Criteo();
  const double full = 4.0 * static_cast<double>(s.total()) * s.dim;
  for (double b : {0.5, 0.1, 0.03, 0.01}) {
    auto m = CceEmbedding::Create();
    ECPS_ASSERT_OK(m->Init(Context(s, b), Params({})));
    const double r = static_cast<double>(m->Memory().inference_bytes) / full;
    const auto& c = dynamic_cast<const CceEmbedding&>(*m);
    std::printf("cce budget %-5g ratio %.8f k(C3) %llu bits %d\n", b, r,
                static_cast<unsigned long long>(c.rows_per_column(2)), c.code_bits(2));
    EXPECT_LE(r, b);
    EXPECT_GE(r, 0.99 * b);
  }
  // 0.1%: the codes alone (one bit per feature and column, 4 of 16 floats)
  // are 4/512 of the full table: the real ratio is reported.
  auto m = CceEmbedding::Create();
  ECPS_ASSERT_OK(m->Init(Context(s, 0.001), Params({})));
  const double r = static_cast<double>(m->Memory().inference_bytes) / full;
  std::printf("cce budget 0.001 ratio %.8f (unreachable)\n", r);
  EXPECT_GT(r, 0.001);
  EXPECT_LT(r, 0.0079);
}

TEST(CceTest, MemoryIsTablesPlusPackedCodes) {
  const FeatureSpace s = Small();
  auto m = CceEmbedding::Create();
  ECPS_ASSERT_OK(m->Init(Context(s, 0.2), Params({"chunks=2"})));
  const auto& c = dynamic_cast<const CceEmbedding&>(*m);
  uint64_t tables = 0, aux = 0, t_rows = 0, e_rows = 0;
  for (int f = 0; f < s.num_fields(); ++f) {
    const uint64_t k = c.rows_per_column(f), n = s.cardinalities[f];
    if (k == 0) {
      e_rows += n;
      continue;
    }
    t_rows += 2 * k;
    int bits = 1;
    while ((uint64_t{1} << bits) < k) ++bits;
    EXPECT_EQ(c.code_bits(f), bits);
    aux += 8 * ((n * 2 * bits + 63) / 64) + 16 * 2 + 4;
  }
  for (const RowTableSpec& t : m->Tables()) tables += t.rows * t.width * 4;
  EXPECT_EQ(tables, 4 * (2 * t_rows * 4 + e_rows * 8));
  EXPECT_EQ(m->Memory().auxiliary_bytes, aux);
  EXPECT_EQ(m->Memory().inference_bytes, tables + aux);
}

// chunks=0: the largest divisor of d up to 4 whose codes take at most a
// quarter of the budget (c <= 8*d*budget), at least 1.
TEST(CceTest, DefaultChunksFollowTheBudget) {
  EXPECT_EQ(CceEmbedding::AutoChunks(16, 0.5), 4);
  EXPECT_EQ(CceEmbedding::AutoChunks(16, 0.1), 4);
  EXPECT_EQ(CceEmbedding::AutoChunks(16, 0.01), 1);
  EXPECT_EQ(CceEmbedding::AutoChunks(16, 0.001), 1);
  EXPECT_EQ(CceEmbedding::AutoChunks(64, 0.01), 4);  // 8*64*0.01 = 5.12
  EXPECT_EQ(CceEmbedding::AutoChunks(32, 0.01), 2);  // 2.56
  EXPECT_EQ(CceEmbedding::AutoChunks(6, 0.5), 3);    // 4 does not divide 6
  auto m = CceEmbedding::Create();
  ECPS_ASSERT_OK(m->Init(Context(Small(), 0.01), Params({})));
  EXPECT_EQ(static_cast<CceEmbedding*>(m.get())->chunks(),
            CceEmbedding::AutoChunks(Small().dim, 0.01));
}

TEST(CceTest, ChunksMustDivideDim) {
  auto m = CceEmbedding::Create();
  const Status st = m->Init(Context(Small(), 0.1), Params({"chunks=3"}));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(st.message()).find("embedding.params.chunks"), std::string::npos) << st;
}

// ------------------------------------------------------------- save/load --

TEST(CceTest, SaveLoadKeepsTheClusterAssignments) {
  const FeatureSpace s = Small();
  const CompressorContext ctx = Context(s, 0.1);
  const std::vector<std::string> p = {"kmeans_iters=10"};
  auto a = MakeLayer(ctx, p);
  const std::string stage0 = a->compressor().SaveState();
  Train(a.get(), s, 10, 5);
  ClusterAndCheck(a.get(), s, 1);
  Train(a.get(), s, 3, 6);
  const std::string state = a->compressor().SaveState();
  EXPECT_GT(state.size(), stage0.size()) << "the codes are saved after a clustering";
  // The method alone.
  auto fresh = CceEmbedding::Create();
  ECPS_ASSERT_OK(fresh->Init(ctx, Params(p)));
  const std::vector<uint32_t> initial = AllCodes(dynamic_cast<const CceEmbedding&>(*fresh), s);
  ECPS_ASSERT_OK(fresh->LoadState(state));
  const auto& f = dynamic_cast<const CceEmbedding&>(*fresh);
  EXPECT_EQ(AllCodes(f, s), AllCodes(Cce(*a), s));
  EXPECT_NE(AllCodes(f, s), initial);
  EXPECT_EQ(f.stage(), 1);
  EXPECT_EQ(fresh->SaveState(), state);
  // A stage-0 blob brings back Init's codes.
  ECPS_ASSERT_OK(fresh->LoadState(stage0));
  EXPECT_EQ(AllCodes(f, s), initial);
  EXPECT_EQ(f.stage(), 0);
  // With the rows, through a layer.
  auto blob = a->Save();
  ASSERT_TRUE(blob.ok()) << blob.status();
  auto b = MakeLayer(ctx, p);
  ECPS_ASSERT_OK(b->Load(*blob));
  Rng rng(8);
  const std::vector<uint32_t> keys = Keys(s, 50, &rng);
  std::vector<float> oa(keys.size() * s.dim), ob(oa.size());
  ECPS_ASSERT_OK(a->Forward(keys, oa.data(), false));
  ECPS_ASSERT_OK(b->Forward(keys, ob.data(), false));
  EXPECT_EQ(oa, ob);
  // Another configuration's blob is refused, naming what differs.
  auto other = CceEmbedding::Create();
  ECPS_ASSERT_OK(other->Init(ctx, Params({"chunks=2"})));
  const Status st = other->LoadState(state);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(std::string(st.message()).find("chunks"), std::string::npos) << st;
  auto fewer = CceEmbedding::Create();
  ECPS_ASSERT_OK(fewer->Init(ctx, Params({"clusterings=0"})));
  EXPECT_FALSE(fewer->LoadState(state).ok());
}

// ----------------------------------------------------------- determinism --

TEST(CceTest, SameSeedSameClustering) {
  const FeatureSpace s = Small();
  const std::vector<std::string> p = {"kmeans_iters=10"};
  auto a = MakeLayer(Context(s, 0.1, 7), p);
  auto b = MakeLayer(Context(s, 0.1, 7), p);
  auto c = MakeLayer(Context(s, 0.1, 8), p);
  EXPECT_EQ(AllCodes(Cce(*a), s), AllCodes(Cce(*b), s));
  EXPECT_NE(AllCodes(Cce(*a), s), AllCodes(Cce(*c), s)) << "the seed draws the initial codes";
  for (EmbeddingLayer* l : {a.get(), b.get()}) {
    Train(l, s, 10, 3);
    ECPS_ASSERT_OK(l->BeginStage(1));
    ASSERT_TRUE(l->AfterStep(1).ok());
  }
  EXPECT_EQ(a->compressor().SaveState(), b->compressor().SaveState());
  EXPECT_EQ(ReadTables(*a), ReadTables(*b));
}

// -------------------------------------------------------------- schedule --

TEST(CceTest, StagePlanAndStageEvals) {
  auto m = CceEmbedding::Create();
  ECPS_ASSERT_OK(m->Init(Context(Small(), 0.1), Params({"clusterings=2", "stage_evals=2"})));
  const std::vector<StageSpec> stages = m->Stages();
  ASSERT_EQ(stages.size(), 3u);
  EXPECT_EQ(stages[0].name, "train");
  EXPECT_EQ(stages[1].name, "cluster_1");
  EXPECT_EQ(stages[2].name, "cluster_2");
  EXPECT_FALSE(m->StageComplete());
  EXPECT_TRUE(m->StageComplete()) << "the second evaluation ends stage 0";
  EXPECT_EQ(m->BeginStage(3).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->BeginStage(1).code(), absl::StatusCode::kFailedPrecondition) << "no row access";
  // The defaults: one pass over the data shared by the stages.
  auto n = CceEmbedding::Create();
  ECPS_ASSERT_OK(n->Init(Context(Small(), 0.1), Params({})));
  EXPECT_EQ(n->Stages().size(), 4u) << "3 clusterings by default";
  EXPECT_FALSE(n->Stages()[0].continue_data);
  for (int j = 1; j <= 3; ++j) EXPECT_TRUE(n->Stages()[j].continue_data) << j;
  EXPECT_TRUE(n->StageComplete()) << "stage_evals=1 by default";
  // The reference's schedule: every stage its own run, the trainer decides.
  auto r = CceEmbedding::Create();
  ECPS_ASSERT_OK(r->Init(Context(Small(), 0.1),
                         Params({"clusterings=7", "stage_evals=0", "schedule=epochs"})));
  EXPECT_EQ(r->Stages().size(), 8u);
  for (const StageSpec& st : r->Stages()) EXPECT_FALSE(st.continue_data);
  for (int e = 0; e < 5; ++e) EXPECT_FALSE(r->StageComplete());
}

TEST(CceTest, StageEvalsCountRestartsAfterAClustering) {
  const FeatureSpace s = Small();
  auto l = MakeLayer(Context(s, 0.1), {"clusterings=1", "stage_evals=1", "kmeans_iters=5"});
  EXPECT_TRUE(l->compressor().StageComplete());
  ECPS_ASSERT_OK(l->BeginStage(1));
  ASSERT_TRUE(l->AfterStep(1).ok());
  // The last stage is the trainer's to end.
  EXPECT_FALSE(l->compressor().StageComplete());
  EXPECT_FALSE(l->compressor().StageComplete());
}

// ------------------------------------------------------------ end to end --

class CceTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_cce_test", /*rows=*/16000, /*features=*/8000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  std::vector<std::string> Sets(const std::string& out) const {
    std::vector<std::string> sets = ds_->FastConfig(out);
    // Two clusterings, each after one evaluation (a quarter epoch); the
    // last stage runs its epoch.
    sets.insert(sets.end(),
                {"embedding.method=cce", "embedding.budget=0.1", "train.evals_per_epoch=4",
                 "train.latency_batches=1", "embedding.params.clusterings=2",
                 "embedding.params.stage_evals=1", "embedding.params.kmeans_iters=20"});
    return sets;
  }
};

TEST_F(CceTrainTest, TrainsInOneProcessAndOnTwoServersTwoWorkers) {
  auto cfg = LoadTrainConfig("", Sets("single"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto a = (*t)->Run(false);
  ASSERT_TRUE(a.ok()) << a.status();

  std::vector<std::string> csets = Sets("sim22");
  csets.insert(csets.end(), {"cluster.servers=2", "cluster.workers=2"});
  auto ccfg = LoadTrainConfig("", csets);
  ASSERT_TRUE(ccfg.ok()) << ccfg.status();
  auto shape = launch::ClusterShapeFromConfig(*ccfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto b = launch::RunSimulation(*ccfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(b.ok()) << b.status();

  for (const nlohmann::json* r : {&*a, &*b}) {
    const double auc = (*r)["test_auc"].get<double>();
    const double ratio = (*r)["inference_memory_ratio"].get<double>();
    std::printf("cce test_auc %.4f ratio %.5f steps %lld\n", auc, ratio,
                static_cast<long long>((*r)["steps"].get<int64_t>()));
    EXPECT_EQ((*r)["method"], "cce");
    EXPECT_GT(auc, 0.65) << r->dump(2);
    EXPECT_LE(ratio, 0.1);
    EXPECT_GE(ratio, 0.099);
    // Every stage ran: the history reaches stage 2.
    int last_stage = 0;
    for (const auto& h : (*r)["history"]) last_stage = std::max(last_stage, h["stage"].get<int>());
    EXPECT_EQ(last_stage, 2);
    // schedule=continue: the three stages share one pass over the data.
    EXPECT_EQ((*r)["epochs_completed"], 1) << r->dump(2);
  }
  const int64_t per_epoch = static_cast<int64_t>(ds_->data()->NumRows(Split::kTrain)) /
                            (*cfg).params.GetInt("train.batch_size");
  EXPECT_EQ((*a)["steps"].get<int64_t>(), per_epoch);
}

// More clusterings than the pass has evaluations: the stages the data no
// longer reaches are not run (and say so); every stage of the reference's
// schedule is its own pass.
TEST_F(CceTrainTest, ContinuingStagesStopWhereTheDataEndsAndEpochStagesEachTakeAPass) {
  std::vector<std::string> sets = Sets("skip");
  sets.push_back("embedding.params.clusterings=5");
  auto cfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto a = (*t)->Run(false);
  ASSERT_TRUE(a.ok()) << a.status();
  const int64_t per_epoch = static_cast<int64_t>(ds_->data()->NumRows(Split::kTrain)) /
                            (*cfg).params.GetInt("train.batch_size");
  EXPECT_EQ((*a)["steps"].get<int64_t>(), per_epoch);
  ASSERT_EQ((*a)["stages"].size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ((*a)["stages"][i]["run"], i <= 3) << i;

  std::vector<std::string> esets = Sets("epochs");
  esets.insert(esets.end(), {"embedding.params.schedule=epochs", "embedding.params.stage_evals=0",
                             "train.max_steps=20"});
  auto ecfg = LoadTrainConfig("", esets);
  ASSERT_TRUE(ecfg.ok()) << ecfg.status();
  auto e = Trainer::Create(*ecfg, ds_->data());
  ASSERT_TRUE(e.ok()) << e.status();
  auto b = (*e)->Run(false);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)["steps"].get<int64_t>(), 3 * 20) << "each of the 3 stages from its own start";
  for (int i = 0; i < 3; ++i) EXPECT_EQ((*b)["stages"][i]["run"], true) << i;
}

}  // namespace
}  // namespace ecps
