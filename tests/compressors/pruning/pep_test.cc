// PEP (docs/methods.md §2.24): the soft threshold and its gradients by finite
// differences, the fp32 underflow of CODE's init (σ(−150)) against the fixed
// one, the prune-rate measurement at the rows against brute force, the
// search's end, the mask capped at the budget, lottery-ticket rewinding, the
// masked retrain, the sparse stage's lookups against the masked dense
// reference with exact memory, and training end to end in one process, on
// 1 + 1 (bit for bit) and on 2 servers + 2 workers.
#include "compressors/pruning/pep.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/rng.h"
#include "compressors/registry.h"
#include "compressors/row_reduction.h"
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

using testing::Space;

TEST(PepTest, SoftThresholdGradientsMatchFiniteDifferences) {
  Rng rng(1);
  for (int i = 0; i < 200; ++i) {
    const float w = static_cast<float>(rng.Uniform(-2.0, 2.0));
    const float g = static_cast<float>(rng.Uniform(-3.0, 1.0));
    const double s = 1 / (1 + std::exp(-static_cast<double>(g)));
    if (std::fabs(std::fabs(w) - s) < 0.05) continue;  // away from the kink
    float dw, dg;
    PepEmbedding::SoftThresholdGrad(w, g, 1.0f, &dw, &dg);
    const float h = 1e-2f;
    const double fw =
        (PepEmbedding::SoftThreshold(w + h, g) - PepEmbedding::SoftThreshold(w - h, g)) / (2 * h);
    const double fg =
        (PepEmbedding::SoftThreshold(w, g + h) - PepEmbedding::SoftThreshold(w, g - h)) / (2 * h);
    EXPECT_NEAR(dw, fw, 2e-3) << w << " " << g;
    EXPECT_NEAR(dg, fg, 2e-3) << w << " " << g;
    if (std::fabs(w) < s) {
      EXPECT_EQ(PepEmbedding::SoftThreshold(w, g), 0.0f);
    }
  }
}

// CODE's init: σ(−150) and its gradient are 0 in fp32, g never moves; the
// default −15 has a gradient.
TEST(PepTest, TheDefaultInitHasAGradientAndCodesUnderflows) {
  float dw, dg;
  PepEmbedding::SoftThresholdGrad(0.01f, -150.0f, 1.0f, &dw, &dg);
  EXPECT_EQ(dg, 0.0f);
  EXPECT_EQ(static_cast<float>(1 / (1 + std::exp(150.0))), 0.0f);
  PepEmbedding::SoftThresholdGrad(0.01f, -15.0f, 1.0f, &dw, &dg);
  EXPECT_LT(dg, 0.0f);
  EXPECT_NEAR(dg, -3.059e-7, 1e-9);
}

TEST(PepTest, SoftThresholdCountsEqualBruteForce) {
  const int d = 5;
  std::vector<float> v(300 * 2 * d);
  Rng rng(2);
  for (float& x : v) x = static_cast<float>(rng.Uniform(-3.0, 3.0));
  auto store = NewLocalRowStore(SparseOptimizerConfig{});
  RowTableSpec t;
  t.name = "EG";
  t.rows = 300;
  t.width = 2 * d;
  ECPS_ASSERT_OK(store->Reset({t}, 1));
  ECPS_ASSERT_OK(store->WriteRows(0, 0, 300, v.data()));
  RowReduction op;
  op.kind = RowReductionKind::kSoftThresholdCounts;
  op.lo = -0.5;
  auto r = ReduceAllRows(op, *store);
  ASSERT_TRUE(r.ok()) << r.status();
  uint64_t want = 0;
  for (int row = 0; row < 300; ++row)
    for (int c = 0; c < d; ++c) {
      const double s = 1 / (1 + std::exp(-(static_cast<double>(v[row * 2 * d + d + c]) - 0.5)));
      want += std::fabs(static_cast<double>(v[row * 2 * d + c])) < s;
    }
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0], static_cast<double>(want));
  // A table of odd width has no [w | g] halves.
  RowTableSpec odd = t;
  odd.width = 2 * d + 1;
  auto other = NewLocalRowStore(SparseOptimizerConfig{});
  ECPS_ASSERT_OK(other->Reset({odd}, 1));
  EXPECT_EQ(ReduceAllRows(op, *other).status().code(), absl::StatusCode::kInvalidArgument);
}

struct LayerRun {
  std::unique_ptr<EmbeddingLayer> layer;
  PepEmbedding* method = nullptr;
};

LayerRun MakeLayer(const FeatureSpace& s, double budget, std::vector<std::string> sets) {
  const CompressorInfo* info = FindCompressor("pep");
  EXPECT_NE(info, nullptr);
  ParamSet params(&info->schema);
  for (const std::string& kv : sets) {
    const size_t eq = kv.find('=');
    EXPECT_TRUE(params.Set(kv.substr(0, eq), kv.substr(eq + 1)).ok()) << kv;
  }
  SparseOptimizerConfig opt;
  opt.lr = 0.05f;
  LayerRun r;
  auto m = std::make_unique<PepEmbedding>();
  r.method = m.get();
  r.layer = std::make_unique<EmbeddingLayer>(std::move(m), NewLocalRowStore(opt));
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  ctx.seed = 5;
  EXPECT_TRUE(r.layer->Init(ctx, params).ok());
  return r;
}

std::vector<float> Rows(EmbeddingLayer& l) {
  const RowTableSpec t = l.store().StoredTables()[0];
  std::vector<float> v(t.rows * t.width);
  ECPS_EXPECT_OK(l.store().ReadRows(0, 0, t.rows, v.data()));
  return v;
}

void Step(EmbeddingLayer* l, const FeatureSpace& s, int64_t step, Rng* rng) {
  const std::vector<uint32_t> keys = testing::Keys(s, 64, rng);
  std::vector<float> out(keys.size() * s.dim);
  ECPS_ASSERT_OK(l->Forward(keys, out.data(), true));
  ECPS_ASSERT_OK(l->Backward(testing::Normal(out.size(), rng).data(), step));
  ASSERT_TRUE(l->AfterStep(step).ok());
}

TEST(PepTest, SearchMaskRewindRetrainAndSparseLayout) {
  const FeatureSpace s = Space({200, 100, 57}, 8);
  const int d = 8;
  for (double init : {-15.0, 0.0}) {
    SCOPED_TRACE("threshold_init " + std::to_string(init));
    LayerRun r = MakeLayer(s, 0.5, {"threshold_init=" + std::to_string(init)});
    // The stored half is u = g − threshold_init, U(±b) like E.
    const std::vector<float> initial = Rows(*r.layer);
    const double b = std::sqrt(1.0 / 200);
    for (uint64_t i = 0; i < s.total(); ++i)
      for (int c = 0; c < d; ++c) ASSERT_LE(std::fabs(initial[i * 2 * d + d + c]), b);
    Rng rng(3);
    int64_t step = 0;
    for (int i = 0; i < 20; ++i) Step(r.layer.get(), s, ++step, &rng);
    // g trained where elements are above their threshold (at init 0 every
    // tiny weight is below σ(0) = 0.5: no gradient reaches g).
    const std::vector<float> trained = Rows(*r.layer);
    uint64_t moved = 0;
    for (uint64_t i = 0; i < s.total(); ++i)
      for (int c = 0; c < d; ++c) moved += trained[i * 2 * d + d + c] != initial[i * 2 * d + d + c];
    if (init < 0) {
      EXPECT_GT(moved, 0u);
    } else {
      EXPECT_EQ(moved, 0u);
    }
    // σ(0) = 0.5 prunes every |w| < 0.5: all of a tiny init, above P.
    const bool complete = r.layer->StageComplete();
    EXPECT_EQ(complete, init == 0.0);
    EXPECT_GE(r.method->last_prune_rate(), 0.0);

    ECPS_ASSERT_OK(r.layer->BeginStage(1));
    // The mask: |w| > σ(g) of the trained rows, at most K.
    uint64_t by_threshold = 0;
    for (uint64_t i = 0; i < s.total(); ++i)
      for (int c = 0; c < d; ++c) {
        const double w = trained[i * 2 * d + c],
                     g = static_cast<float>(trained[i * 2 * d + d + c] + init);
        const bool keep = std::fabs(w) > 1 / (1 + std::exp(-g));
        by_threshold += keep;
        if (r.method->Kept(i, c)) {
          EXPECT_TRUE(keep) << i << " " << c;
        }
      }
    EXPECT_EQ(r.method->kept(), std::min(by_threshold, r.method->target_nonzeros()));
    // Lottery ticket: every row back to its initial values (E; g is frozen).
    const std::vector<float> rewound = Rows(*r.layer);
    for (uint64_t i = 0; i < s.total(); ++i)
      for (int c = 0; c < d; ++c) ASSERT_EQ(rewound[i * 2 * d + c], initial[i * 2 * d + c]);
    for (int i = 0; i < 10; ++i) Step(r.layer.get(), s, ++step, &rng);
    const std::vector<float> retrained = Rows(*r.layer);
    std::vector<float> dense(s.total() * d);
    std::vector<uint8_t> keep(dense.size());
    for (uint64_t i = 0; i < s.total(); ++i)
      for (int c = 0; c < d; ++c) {
        dense[i * d + c] = retrained[i * 2 * d + c];
        keep[i * d + c] = r.method->Kept(i, c);
        // g does not move in the retrain.
        EXPECT_EQ(retrained[i * 2 * d + d + c], rewound[i * 2 * d + d + c]);
      }
    ECPS_ASSERT_OK(r.layer->BeginStage(2));
    const std::vector<float> want = reference::MaskedDense(dense, keep);
    std::vector<uint32_t> keys;
    for (uint32_t k = 0; k < 200; ++k) keys.insert(keys.end(), {k, k % 100, k % 57});
    std::vector<float> out(keys.size() * d);
    ECPS_ASSERT_OK(r.layer->Forward(keys, out.data(), false));
    for (size_t i = 0; i < keys.size(); ++i) {
      const uint64_t row = s.offsets[i % 3] + keys[i];
      for (int c = 0; c < d; ++c) ASSERT_EQ(out[i * d + c], want[row * d + c]) << row;
    }
    const uint64_t kept = r.method->sparse().nnz();
    EXPECT_LE(kept, r.method->target_nonzeros());
    EXPECT_EQ(r.layer->Memory().inference_bytes,
              pruning::SparseBytes(r.method->format(), s.total(), d, kept));
    EXPECT_LE(r.layer->Memory().inference_bytes,
              static_cast<uint64_t>(std::floor(4.0 * s.total() * d * 0.5)));
  }
}

// Checkpoints of the search and of the retrain (with its mask) resume into a
// fresh layer: both continue bit for bit.
TEST(PepTest, ResumesInTheSearchAndInTheRetrain) {
  const FeatureSpace s = Space({60, 30}, 4);
  LayerRun a = MakeLayer(s, 0.5, {"threshold_init=-3"});
  Rng rng(6);
  int64_t step = 0;
  auto resume_and_compare = [&](int steps) {
    auto blob = a.layer->Save();
    ASSERT_TRUE(blob.ok()) << blob.status();
    LayerRun b = MakeLayer(s, 0.5, {"threshold_init=-3"});
    ECPS_ASSERT_OK(b.layer->Load(*blob));
    EXPECT_EQ(b.method->SaveState(), a.method->SaveState());
    Rng rng_b = rng;
    for (int i = 0; i < steps; ++i) {
      ++step;
      Step(a.layer.get(), s, step, &rng);
      Step(b.layer.get(), s, step, &rng_b);
    }
    EXPECT_EQ(Rows(*a.layer), Rows(*b.layer));
  };
  for (int i = 0; i < 5; ++i) Step(a.layer.get(), s, ++step, &rng);
  resume_and_compare(5);
  ECPS_ASSERT_OK(a.layer->BeginStage(1));
  for (int i = 0; i < 3; ++i) Step(a.layer.get(), s, ++step, &rng);
  ASSERT_EQ(a.method->stage(), 1);
  resume_and_compare(5);
}

// ------------------------------------------------------------ end to end --

class PepTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_pep_train_test", /*rows=*/12000, /*features=*/6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  static std::vector<std::string> Sets(const std::string& out) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(), {"embedding.method=pep", "embedding.budget=0.5",
                             "embedding.params.threshold_init=-4", "train.max_steps=100",
                             "train.evals_per_epoch=4", "train.latency_batches=1"});
    return sets;
  }
  static void CheckResults(const nlohmann::json& r) {
    ASSERT_EQ(r["stages"].size(), 3u) << r.dump(2);
    EXPECT_EQ(r["stages"][1]["name"], "retrain");
    EXPECT_GT(r["test_auc"].get<double>(), 0.6) << r.dump(2);
    EXPECT_LE(r["inference_memory_ratio"].get<double>(), 0.5);
    EXPECT_GT(r["inference_memory_ratio"].get<double>(), 0.0);
  }
};

TEST_F(PepTrainTest, TrainsSingleProcessAndOneServerOneWorkerEqualsIt) {
  auto cfg = LoadTrainConfig("", Sets("single"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto a = (*t)->Run(false);
  ASSERT_TRUE(a.ok()) << a.status();
  CheckResults(*a);
  std::vector<std::string> sets = Sets("sim11");
  sets.insert(sets.end(), {"cluster.servers=1", "cluster.workers=1", "cluster.virtual_shards=1"});
  auto ccfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(ccfg.ok()) << ccfg.status();
  auto shape = launch::ClusterShapeFromConfig(*ccfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto b = launch::RunSimulation(*ccfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*a)["inference_memory_ratio"], (*b)["inference_memory_ratio"]);
  EXPECT_EQ((*a)["test_auc"], (*b)["test_auc"]);
  EXPECT_EQ((*a)["steps"], (*b)["steps"]);
  std::printf("pep: test_auc %.6f ratio %.5f steps %s\n", (*a)["test_auc"].get<double>(),
              (*a)["inference_memory_ratio"].get<double>(), (*a)["steps"].dump().c_str());
}

// σ(0) = 0.5 is above every initial weight: the first evaluation measures
// a prune rate of 1 and StageComplete() ends the search there.
TEST_F(PepTrainTest, TheSearchEndsOnceThePruneRateIsReached) {
  std::vector<std::string> sets = Sets("complete");
  sets.push_back("embedding.params.threshold_init=0");
  auto cfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto r = (*t)->Run(false);
  ASSERT_TRUE(r.ok()) << r.status();
  bool ended = false;
  for (const auto& h : (*r)["history"])
    if (h.contains("stage_complete") && h["stage"] == 0) ended = true;
  EXPECT_TRUE(ended) << (*r)["history"].dump();
  EXPECT_LT((*r)["steps"].get<int64_t>(), 200);
}

TEST_F(PepTrainTest, TrainsOnTwoServersAndTwoWorkers) {
  std::vector<std::string> sets = Sets("sim22");
  sets.insert(sets.end(), {"cluster.servers=2", "cluster.workers=2"});
  auto cfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto shape = launch::ClusterShapeFromConfig(*cfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto r = launch::RunSimulation(*cfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(r.ok()) << r.status();
  CheckResults(*r);
  // BSP: the single process's model within 0.002 AUC (the bar).
  auto single_cfg = LoadTrainConfig("", Sets("sim22_single"));
  ASSERT_TRUE(single_cfg.ok()) << single_cfg.status();
  auto single = Trainer::Create(*single_cfg, ds_->data());
  ASSERT_TRUE(single.ok()) << single.status();
  auto a = (*single)->Run(false);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_NEAR((*r)["test_auc"].get<double>(), (*a)["test_auc"].get<double>(), 0.002);
  std::printf("pep 2+2: test_auc %.6f ratio %.5f\n", (*r)["test_auc"].get<double>(),
              (*r)["inference_memory_ratio"].get<double>());
}

}  // namespace
}  // namespace ecps
