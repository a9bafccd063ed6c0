// DeepLight (docs/methods.md §2.23): the budget's format and nonzeros, the
// prune schedule with a
// persistent mask and with regrowth, the sparse stage's lookups against the
// masked dense reference with exact memory, and training end to end in one
// process, on 1 + 1 (bit for bit) and on 2 servers + 2 workers.
#include "compressors/pruning/deeplight.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/rng.h"
#include "compressors/pruning/magnitude_threshold.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"
#include "embedding/row_store.h"
#include "launch/cluster_config.h"
#include "launch/simulate.h"
#include "tests/compressors/reference/pruning_reference.h"
#include "tests/testing/feature_space.h"
#include "tests/testing/small_dataset.h"
#include "tests/testing/status_testing.h"
#include "worker/train_config.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

using pruning::SparseFormat;
using testing::Space;

SparseOptimizerConfig Optimizer() {
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  return opt;
}

// ---------------------------------------------------------------- budget --

const FeatureSpace& Criteo() {
  static const FeatureSpace* const kSpace =
      new FeatureSpace(Space({1460,  583,  10131227, 2202608, 305, 24,     12517,   633,   3,
                              93145, 5683, 8351593,  3194,    27,  14992,  5461306, 10,    5652,
                              2173,  4,    7046547,  18,      15,  286181, 105,     142572},
                             16));
  return *kSpace;
}

std::unique_ptr<DeepLightEmbedding> Make(const FeatureSpace& s, double budget,
                                         std::vector<std::string> sets = {}) {
  const CompressorInfo* info = FindCompressor("deeplight");
  EXPECT_NE(info, nullptr);
  ParamSet params(&info->schema);
  for (const std::string& kv : sets) {
    const size_t eq = kv.find('=');
    EXPECT_TRUE(params.Set(kv.substr(0, eq), kv.substr(eq + 1)).ok()) << kv;
  }
  auto m = std::make_unique<DeepLightEmbedding>();
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  ctx.seed = 3;
  EXPECT_TRUE(m->Init(ctx, params).ok());
  return m;
}

TEST(DeepLightTest, FormatAndNonzerosFollowTheBudget) {
  const double n = static_cast<double>(Criteo().total());
  const double nd = 16 * n;
  struct Case {
    double budget;
    SparseFormat format;
    double paper_density;
  } cases[] = {{0.5, SparseFormat::kCsr, 0.21875},
               {0.1, SparseFormat::kCoo, 0.1 / 3},
               {0.01, SparseFormat::kCoo, 0.01 / 3},
               {0.001, SparseFormat::kCoo, 0.001 / 3}};
  for (const Case& c : cases) {
    auto m = Make(Criteo(), c.budget);
    EXPECT_EQ(m->format(), c.format) << c.budget;
    const double budget_bytes = std::floor(4 * nd * c.budget);
    const double bytes = static_cast<double>(m->Memory().inference_bytes);
    EXPECT_LE(bytes, budget_bytes);
    EXPECT_GT(bytes + 9, budget_bytes) << "one more nonzero would still fit";
    auto paper = Make(Criteo(), c.budget, {"nonzeros=paper"});
    EXPECT_NEAR(static_cast<double>(paper->target_nonzeros()) / nd, c.paper_density, 1e-8);
    EXPECT_NEAR(paper->prune_rate(), 1 - c.paper_density, 1e-8);
  }
}

TEST(DeepLightTest, ScheduleApproachesThePruneRate) {
  auto m = Make(Space({100, 50}, 8), 0.5);
  const double p = m->prune_rate();
  EXPECT_DOUBLE_EQ(m->ScheduledSparsity(0), 0.0);
  EXPECT_NEAR(m->ScheduledSparsity(100), p * 0.01, 1e-12);
  EXPECT_NEAR(m->ScheduledSparsity(68733), p * (1 - std::pow(0.99, 687.33)), 1e-12);
  EXPECT_LT(p - m->ScheduledSparsity(68733), 1e-3 * p);
}

// ----------------------------------------------------- masks and stages --

struct LayerRun {
  std::unique_ptr<EmbeddingLayer> layer;
  DeepLightEmbedding* method = nullptr;
};

LayerRun MakeLayer(const FeatureSpace& s, double budget, std::vector<std::string> sets) {
  const CompressorInfo* info = FindCompressor("deeplight");
  ParamSet params(&info->schema);
  for (const std::string& kv : sets) {
    const size_t eq = kv.find('=');
    EXPECT_TRUE(params.Set(kv.substr(0, eq), kv.substr(eq + 1)).ok()) << kv;
  }
  LayerRun r;
  auto m = std::make_unique<DeepLightEmbedding>();
  r.method = m.get();
  r.layer = std::make_unique<EmbeddingLayer>(std::move(m), NewLocalRowStore(Optimizer()));
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  ctx.seed = 5;
  EXPECT_TRUE(r.layer->Init(ctx, params).ok());
  return r;
}

void Step(EmbeddingLayer* l, const FeatureSpace& s, int64_t step, Rng* rng) {
  const std::vector<uint32_t> keys = testing::Keys(s, 64, rng);
  std::vector<float> out(keys.size() * s.dim);
  ECPS_ASSERT_OK(l->Forward(keys, out.data(), true));
  ECPS_ASSERT_OK(l->Backward(testing::Normal(out.size(), rng).data(), step));
  ASSERT_TRUE(l->AfterStep(step).ok());
}

std::vector<float> Rows(EmbeddingLayer& l) {
  const RowTableSpec t = l.store().StoredTables()[0];
  std::vector<float> v(t.rows * t.width);
  ECPS_EXPECT_OK(l.store().ReadRows(0, 0, t.rows, v.data()));
  return v;
}

TEST(DeepLightTest, PersistentMaskKeepsPrunedWeightsPrunedAndRegrowLetsThemBack) {
  const FeatureSpace s = Space({40, 30, 20}, 8);
  for (bool persistent : {true, false}) {
    SCOPED_TRACE(persistent ? "persistent" : "regrow");
    LayerRun r = MakeLayer(s, 0.5,
                           {"prune_every=4", "decay_steps=2",
                            std::string("persistent_mask=") + (persistent ? "true" : "false")});
    Rng rng(1);
    int64_t step = 0;
    for (int i = 0; i < 5; ++i) Step(r.layer.get(), s, ++step, &rng);
    ECPS_ASSERT_OK(r.layer->BeginStage(1));
    // Prune at stage step 4, applied after step 5.
    for (int i = 0; i < 5; ++i) Step(r.layer.get(), s, ++step, &rng);
    EXPECT_EQ(r.method->prunes(), 1);
    const double total = 90.0 * 8;
    const double want = r.method->ScheduledSparsity(4) * total;
    const std::vector<float> after = Rows(*r.layer);
    uint64_t pruned = 0;
    for (float x : after) pruned += persistent ? pruning::IsPruned(x) : x == 0.0f;
    EXPECT_EQ(static_cast<double>(pruned), r.method->last_pruned());
    EXPECT_NEAR(r.method->last_pruned(), want, 0.02 * total);
    // Lookups read pruned elements as 0.
    std::vector<uint32_t> keys;
    for (uint32_t k = 0; k < 40; ++k) keys.insert(keys.end(), {k, k % 30, k % 20});
    std::vector<float> out(keys.size() * 8);
    ECPS_ASSERT_OK(r.layer->Forward(keys, out.data(), false));
    for (float x : out) EXPECT_LT(std::fabs(x), 1e3);
    // Two more steps (no prune): a persistent mask keeps every pruned
    // element; with regrowth the touched ones move off 0.
    for (int i = 0; i < 2; ++i) Step(r.layer.get(), s, ++step, &rng);
    const std::vector<float> later = Rows(*r.layer);
    uint64_t still = 0;
    for (size_t i = 0; i < after.size(); ++i) {
      const bool was = persistent ? pruning::IsPruned(after[i]) : after[i] == 0.0f;
      if (was) still += persistent ? pruning::IsPruned(later[i]) : later[i] == 0.0f;
    }
    if (persistent) {
      EXPECT_EQ(still, pruned);
    } else {
      EXPECT_LT(still, pruned);
    }
  }
}

TEST(DeepLightTest, SparseStageLooksUpTheMaskedRowsWithinTheBudget) {
  const FeatureSpace s = Space({200, 100, 57}, 8);
  for (double budget : {0.5, 0.2}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    LayerRun r = MakeLayer(s, budget, {});
    Rng rng(2);
    for (int64_t step = 1; step <= 3; ++step) Step(r.layer.get(), s, step, &rng);
    ECPS_ASSERT_OK(r.layer->BeginStage(1));
    const std::vector<float> dense = Rows(*r.layer);
    ECPS_ASSERT_OK(r.layer->BeginStage(2));
    EXPECT_EQ(r.method->format(), budget * 8 >= 3 ? SparseFormat::kCsr : SparseFormat::kCoo);
    const double tau = r.method->last_threshold();
    std::vector<uint8_t> keep(dense.size());
    uint64_t kept = 0;
    for (size_t i = 0; i < dense.size(); ++i) {
      keep[i] = std::fabs(static_cast<double>(dense[i])) >= tau;
      kept += keep[i];
    }
    EXPECT_EQ(r.method->sparse().nnz(), kept);
    EXPECT_LE(kept, r.method->target_nonzeros());
    EXPECT_GE(kept + 0.01 * dense.size(), r.method->target_nonzeros());
    const std::vector<float> want = reference::MaskedDense(dense, keep);
    std::vector<uint32_t> keys;
    for (uint32_t k = 0; k < 200; ++k) keys.insert(keys.end(), {k, k % 100, k % 57});
    std::vector<float> out(keys.size() * 8);
    ECPS_ASSERT_OK(r.layer->Forward(keys, out.data(), false));
    for (size_t i = 0; i < keys.size(); ++i) {
      const uint64_t row = s.offsets[i % 3] + keys[i];
      for (int c = 0; c < 8; ++c) ASSERT_EQ(out[i * 8 + c], want[row * 8 + c]) << row;
    }
    const MemoryReport m = r.layer->Memory();
    EXPECT_EQ(m.inference_bytes, pruning::SparseBytes(r.method->format(), s.total(), 8, kept));
    EXPECT_LE(m.inference_bytes, static_cast<uint64_t>(std::floor(4.0 * s.total() * 8 * budget)));
    EXPECT_EQ(r.layer->store().parameter_bytes(), kept * 5);
  }
}

// A checkpoint taken in the prune stage with a threshold found but not yet
// applied resumes into a fresh layer: both continue bit for bit.
TEST(DeepLightTest, ResumesInThePruneStageWithAPendingThreshold) {
  const FeatureSpace s = Space({40, 30, 20}, 8);
  const std::vector<std::string> sets = {"prune_every=4", "decay_steps=2"};
  LayerRun a = MakeLayer(s, 0.5, sets);
  Rng rng(4);
  int64_t step = 0;
  for (int i = 0; i < 3; ++i) Step(a.layer.get(), s, ++step, &rng);
  ECPS_ASSERT_OK(a.layer->BeginStage(1));
  for (int i = 0; i < 4; ++i) Step(a.layer.get(), s, ++step, &rng);
  ASSERT_EQ(a.method->prunes(), 1);  // found at stage step 4, applied after the next
  auto blob = a.layer->Save();
  ASSERT_TRUE(blob.ok()) << blob.status();
  LayerRun b = MakeLayer(s, 0.5, sets);
  ECPS_ASSERT_OK(b.layer->Load(*blob));
  EXPECT_EQ(b.method->stage(), 1);
  EXPECT_EQ(b.method->SaveState(), a.method->SaveState());
  Rng rng_b = rng;
  for (int i = 0; i < 6; ++i) {
    ++step;
    Step(a.layer.get(), s, step, &rng);
    Step(b.layer.get(), s, step, &rng_b);
  }
  EXPECT_EQ(a.method->prunes(), 2);
  EXPECT_EQ(b.method->prunes(), 2);
  EXPECT_EQ(Rows(*a.layer), Rows(*b.layer));
  EXPECT_EQ(a.method->SaveState(), b.method->SaveState());
  EXPECT_GT(a.method->last_pruned(), 0);
}

// ------------------------------------------------------------ end to end --

class DeepLightTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_deeplight_train_test", /*rows=*/12000,
                                        /*features=*/6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  static std::vector<std::string> Sets(const std::string& out, double budget = 0.5) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(),
                {"embedding.method=deeplight", "embedding.budget=" + std::to_string(budget),
                 "embedding.params.decay_steps=10", "train.max_steps=100",
                 "train.evals_per_epoch=2", "train.latency_batches=1"});
    return sets;
  }
  static void CheckResults(const nlohmann::json& r, double budget) {
    ASSERT_EQ(r["stages"].size(), 3u) << r.dump(2);
    EXPECT_EQ(r["stages"][1]["name"], "prune");
    EXPECT_EQ(r["stages"][2]["name"], "sparse");
    EXPECT_GT(r["test_auc"].get<double>(), 0.6) << r.dump(2);
    const double ratio = r["inference_memory_ratio"].get<double>();
    EXPECT_LE(ratio, budget);
    EXPECT_GE(ratio, 0.97 * budget);
  }
};

TEST_F(DeepLightTrainTest, TrainsSingleProcessAndOneServerOneWorkerEqualsIt) {
  for (double budget : {0.5, 0.1}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    auto cfg = LoadTrainConfig("", Sets("single", budget));
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    auto t = Trainer::Create(*cfg, ds_->data());
    ASSERT_TRUE(t.ok()) << t.status();
    auto a = (*t)->Run(false);
    ASSERT_TRUE(a.ok()) << a.status();
    CheckResults(*a, budget);
    std::vector<std::string> sets = Sets("sim11", budget);
    sets.insert(sets.end(), {"cluster.servers=1", "cluster.workers=1", "cluster.virtual_shards=1"});
    auto ccfg = LoadTrainConfig("", sets);
    ASSERT_TRUE(ccfg.ok()) << ccfg.status();
    auto shape = launch::ClusterShapeFromConfig(*ccfg);
    ASSERT_TRUE(shape.ok()) << shape.status();
    auto b = launch::RunSimulation(*ccfg, ds_->data(), *shape, /*resume=*/false);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ((*a)["inference_memory_ratio"], (*b)["inference_memory_ratio"]);
    EXPECT_EQ((*a)["test_auc"], (*b)["test_auc"]);
    std::printf("deeplight %.2f: test_auc %.8f val_auc %.8f ratio %.5f\n", budget,
                (*a)["test_auc"].get<double>(), (*a)["val_auc"].get<double>(),
                (*a)["inference_memory_ratio"].get<double>());
  }
}

TEST_F(DeepLightTrainTest, TrainsOnTwoServersAndTwoWorkers) {
  std::vector<std::string> sets = Sets("sim22");
  sets.insert(sets.end(), {"cluster.servers=2", "cluster.workers=2"});
  auto cfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto shape = launch::ClusterShapeFromConfig(*cfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto r = launch::RunSimulation(*cfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(r.ok()) << r.status();
  CheckResults(*r, 0.5);
  // BSP: the single process's model within 0.002 AUC (the bar).
  auto single_cfg = LoadTrainConfig("", Sets("sim22_single"));
  ASSERT_TRUE(single_cfg.ok()) << single_cfg.status();
  auto single = Trainer::Create(*single_cfg, ds_->data());
  ASSERT_TRUE(single.ok()) << single.status();
  auto a = (*single)->Run(false);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_NEAR((*r)["test_auc"].get<double>(), (*a)["test_auc"].get<double>(), 0.002);
  std::printf("deeplight 2+2: test_auc %.4f ratio %.5f\n", (*r)["test_auc"].get<double>(),
              (*r)["inference_memory_ratio"].get<double>());
}

}  // namespace
}  // namespace ecps
