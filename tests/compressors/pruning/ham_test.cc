// HAM (docs/methods.md §2.24b): the budget's format and nonzeros, the
// soft-orthogonal regulariser against its naive reference and its gradient
// by finite differences, the search's hard-masked lookup against the
// reference, the weights' gradient by finite differences through the decode
// path and the masks' straight-through gradient against the finite
// differences of its surrogate, the alternation and the threshold schedule
// (each threshold keeps at most K of the |a| it was found on), the retrain under the mask, the
// sparse stage's lookups with exact memory, resuming in every stage bit for
// bit, and training end to end in one process, on 1 + 1 (bit for bit) and
// on 2 servers + 2 workers.
#include "compressors/pruning/ham.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common/rng.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"
#include "embedding/row_store.h"
#include "launch/cluster_config.h"
#include "launch/simulate.h"
#include "tests/compressors/reference/ham_reference.h"
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

ParamSet Params(const std::vector<std::string>& sets) {
  const CompressorInfo* info = FindCompressor("ham");
  EXPECT_NE(info, nullptr);
  ParamSet params(&info->schema);
  for (const std::string& kv : sets) {
    const size_t eq = kv.find('=');
    EXPECT_TRUE(params.Set(kv.substr(0, eq), kv.substr(eq + 1)).ok()) << kv;
  }
  return params;
}

// ---------------------------------------------------------------- budget --

TEST(HamTest, FormatAndNonzerosFollowTheBudget) {
  const FeatureSpace criteo =
      Space({1460,  583,  10131227, 2202608, 305, 24,     12517,   633,   3,
             93145, 5683, 8351593,  3194,    27,  14992,  5461306, 10,    5652,
             2173,  4,    7046547,  18,      15,  286181, 105,     142572},
            16);
  const double nd = 16.0 * static_cast<double>(criteo.total());
  for (double budget : {0.5, 0.1, 0.01, 0.001}) {
    SCOPED_TRACE(budget);
    HamEmbedding m;
    CompressorContext ctx;
    ctx.space = criteo;
    ctx.budget = budget;
    ECPS_ASSERT_OK(m.Init(ctx, Params({})));
    EXPECT_EQ(m.format(), budget * 16 >= 3 ? SparseFormat::kCsr : SparseFormat::kCoo);
    const double budget_bytes = std::floor(4 * nd * budget);
    const MemoryReport r = m.Memory();
    EXPECT_LE(static_cast<double>(r.inference_bytes), budget_bytes);
    // One more nonzero (5 B, and a COO row index) would not fit.
    EXPECT_GT(static_cast<double>(r.inference_bytes) + 9, budget_bytes);
    EXPECT_EQ(r.inference_bytes,
              pruning::SparseBytes(m.format(), criteo.total(), 16, m.target_nonzeros()));
    EXPECT_EQ(r.parameter_bytes, 8 * 16 * criteo.total() + 5 * m.target_nonzeros());
  }
}

// ------------------------------------------------------- the regulariser --

TEST(HamTest, OrthoPenaltyMatchesTheReferenceAndItsGradientFiniteDifferences) {
  const FeatureSpace s = Space({40, 7, 300}, 4);
  Rng rng(11);
  const int n = 3 * 9;  // 9 samples
  std::vector<float> rows(n * 4);
  for (float& x : rows) x = static_cast<float>(rng.Uniform(-0.4, 0.4));
  const double w = 0.01;
  EXPECT_NEAR(HamEmbedding::OrthoPenalty(s, rows.data(), n, w),
              reference::SoftOrthogonality(s, rows, w), 1e-9);
  // Keys of only the first field (a partial batch): the others add nothing.
  std::vector<float> one(rows.begin(), rows.begin() + 4);
  EXPECT_NEAR(HamEmbedding::OrthoPenalty(s, one.data(), 1, w),
              reference::SoftOrthogonality(s, one, w), 1e-12);
  std::vector<float> grad(rows.size(), 0.5f);  // added to, not overwritten
  HamEmbedding::AddOrthoGradient(s, rows.data(), n, w, 0.5, grad.data());
  for (size_t j = 0; j < rows.size(); ++j) {
    const float h = 1e-3f;
    std::vector<float> up = rows, down = rows;
    up[j] += h;
    down[j] -= h;
    const double fd =
        (reference::SoftOrthogonality(s, up, w) - reference::SoftOrthogonality(s, down, w)) /
        (static_cast<double>(up[j]) - down[j]);
    EXPECT_NEAR(grad[j] - 0.5, 0.5 * fd, 1e-4 * std::max(1.0, std::fabs(fd))) << j;
  }
}

// ------------------------------------------------------ layer and stages --

struct LayerRun {
  std::unique_ptr<EmbeddingLayer> layer;
  HamEmbedding* method = nullptr;
};

LayerRun MakeLayer(const FeatureSpace& s, double budget, const std::vector<std::string>& sets) {
  SparseOptimizerConfig opt;
  opt.lr = 0.05f;
  LayerRun r;
  auto m = std::make_unique<HamEmbedding>();
  r.method = m.get();
  r.layer = std::make_unique<EmbeddingLayer>(std::move(m), NewLocalRowStore(opt));
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  ctx.seed = 5;
  EXPECT_TRUE(r.layer->Init(ctx, Params(sets)).ok());
  return r;
}

std::vector<float> Table(EmbeddingLayer& l, int t) {
  const RowTableSpec spec = l.store().StoredTables()[t];
  std::vector<float> v(spec.rows * spec.width);
  ECPS_EXPECT_OK(l.store().ReadRows(t, 0, spec.rows, v.data()));
  return v;
}

void Step(EmbeddingLayer* l, const FeatureSpace& s, int64_t step, Rng* rng) {
  const std::vector<uint32_t> keys = testing::Keys(s, 32, rng);
  std::vector<float> out(keys.size() * s.dim);
  ECPS_ASSERT_OK(l->Forward(keys, out.data(), true));
  ECPS_ASSERT_OK(l->Backward(testing::Normal(out.size(), rng).data(), step));
  ASSERT_TRUE(l->AfterStep(step).ok());
}

uint64_t KeptAt(const std::vector<float>& a, double tau) {
  uint64_t k = 0;
  for (float x : a) k += std::fabs(static_cast<double>(x)) >= tau ? 1 : 0;
  return k;
}

// A training plan of one batch, its fetched rows and its row gradients.
struct FetchedBatch {
  LookupPlan plan;
  FetchedRows rows, grads;
  std::vector<float> dout;
};

FetchedBatch Fetch(LayerRun& r, const FeatureSpace& s, Rng* rng) {
  FetchedBatch b;
  const std::vector<uint32_t> keys = testing::Keys(s, 6, rng);
  b.plan.training = true;
  r.method->Encode(keys, &b.plan);
  EXPECT_TRUE(r.layer->store().Gather(b.plan, &b.rows).ok());
  b.grads.values.resize(b.rows.values.size());
  for (size_t t = 0; t < b.rows.values.size(); ++t)
    b.grads.values[t].assign(b.rows.values[t].size(), std::nanf(""));
  b.dout = testing::Normal(keys.size() * s.dim, rng);
  return b;
}

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// The search's forward is the hard mask of the reference; in a weight step
// the gradient of E is the finite difference of Σ dout·ê + the regulariser
// (the mask held), A's is 0; in a mask step E's is 0 and A's the
// straight-through sign(a)·dout·e: the finite difference of the surrogate
// Σ dout·e·|a| (the hard forward itself is flat in a).
TEST(HamTest, SearchGradientsMatchFiniteDifferences) {
  const FeatureSpace s = Space({40, 25, 13}, 4);
  const double w = 0.01;
  LayerRun r = MakeLayer(s, 0.5, {"ortho_weight=0.01"});
  Rng rng(7);
  int64_t step = 0;
  for (int i = 0; i < 3; ++i) Step(r.layer.get(), s, ++step, &rng);
  ECPS_ASSERT_OK(r.layer->BeginStage(1));
  ASSERT_FALSE(r.method->MaskPhase());
  const double tau = r.method->threshold();
  auto decode = [&](const FetchedBatch& b, const FetchedRows& rows) {
    std::vector<float> out(b.dout.size());
    r.method->Decode(b.plan, rows, out.data());
    return out;
  };
  {
    FetchedBatch b = Fetch(r, s, &rng);
    const std::vector<float> out = decode(b, b.rows);
    EXPECT_EQ(out, reference::HardMasked(b.rows.values[0], b.rows.values[1], tau));
    r.method->DecodeBackward(b.plan, b.rows, b.dout.data(), &b.grads);
    const int n = b.plan.num_keys;
    auto objective = [&](const FetchedRows& rows) {
      return Dot(b.dout, decode(b, rows)) + reference::SoftOrthogonality(s, rows.values[0], w);
    };
    for (size_t j = 0; j < b.rows.values[0].size(); ++j) {
      FetchedRows up = b.rows, down = b.rows;
      up.values[0][j] += 1e-3f;
      down.values[0][j] -= 1e-3f;
      const double fd = (objective(up) - objective(down)) /
                        (static_cast<double>(up.values[0][j]) - down.values[0][j]);
      EXPECT_NEAR(b.grads.values[0][j], fd, 1e-3 * std::max(1.0, std::fabs(fd))) << j;
      EXPECT_EQ(b.grads.values[1][j], 0.0f);
    }
    EXPECT_EQ(n * 4, static_cast<int>(b.rows.values[0].size()));
  }
  Step(r.layer.get(), s, ++step, &rng);
  ASSERT_TRUE(r.method->MaskPhase());
  {
    FetchedBatch b = Fetch(r, s, &rng);
    r.method->DecodeBackward(b.plan, b.rows, b.dout.data(), &b.grads);
    const std::vector<float>& e = b.rows.values[0];
    auto surrogate = [&](const std::vector<float>& a) {
      double v = 0;
      for (size_t i = 0; i < a.size(); ++i)
        v += static_cast<double>(b.dout[i]) * e[i] * std::fabs(static_cast<double>(a[i]));
      return v;
    };
    int checked = 0;
    for (size_t j = 0; j < e.size(); ++j) {
      EXPECT_EQ(b.grads.values[0][j], 0.0f);
      const float a = b.rows.values[1][j];
      const float h = 1e-4f;
      if (std::fabs(a) < 2 * h || std::fabs(std::fabs(a) - tau) < 2 * h) continue;
      FetchedRows up = b.rows, down = b.rows;
      up.values[1][j] += h;
      down.values[1][j] -= h;
      const double step_h = static_cast<double>(up.values[1][j]) - down.values[1][j];
      const double fd = (surrogate(up.values[1]) - surrogate(down.values[1])) / step_h;
      EXPECT_NEAR(b.grads.values[1][j], fd, 1e-6 + 1e-3 * std::fabs(fd)) << j;
      // The hard forward does not move with a away from the threshold.
      EXPECT_EQ(Dot(b.dout, decode(b, up)), Dot(b.dout, decode(b, down))) << j;
      ++checked;
    }
    EXPECT_GT(checked, 20);
  }
}

// The stages with the alternation and the threshold schedule: A starts as
// |E|, every mask keeps at most K, a weight step moves only kept weights
// (and never A), a mask step moves A, a threshold found at step 2t keeps at
// most K of that step's |a| and is used from step 2t + 2; the retrain mask is the K largest |a|,
// the retrain moves only kept weights, and the sparse layout equals the masked dense table.
TEST(HamTest, AlternationScheduleRetrainAndSparseLayout) {
  const FeatureSpace s = Space({200, 100, 57}, 8);
  const int d = 8;
  LayerRun r = MakeLayer(s, 0.5, {"ortho_weight=0", "mask_every=2"});
  const uint64_t total = s.total() * d;
  const uint64_t k = r.method->target_nonzeros();
  ASSERT_GT(k, 0u);
  ASSERT_LT(k, total);
  Rng rng(3);
  int64_t step = 0;
  for (int i = 0; i < 10; ++i) Step(r.layer.get(), s, ++step, &rng);
  const std::vector<float> pre = Table(*r.layer, 0);
  ECPS_ASSERT_OK(r.layer->BeginStage(1));
  std::vector<float> a = Table(*r.layer, 1);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], std::fabs(pre[i])) << i;
  const double tau0 = r.method->threshold();
  EXPECT_LE(KeptAt(a, tau0), k);
  EXPECT_GE(KeptAt(a, tau0), k - 1);
  // Step 1 trains the weights: A still, only kept weights move (fresh Adam
  // state: a zero gradient moves nothing).
  Step(r.layer.get(), s, ++step, &rng);
  const std::vector<float> e1 = Table(*r.layer, 0);
  EXPECT_EQ(Table(*r.layer, 1), a);
  uint64_t moved = 0;
  for (size_t i = 0; i < e1.size(); ++i)
    if (e1[i] != pre[i]) {
      ++moved;
      EXPECT_GE(std::fabs(a[i]), tau0) << i;
    }
  EXPECT_GT(moved, 0u);
  // Step 2 trains the masks; its AfterStep finds a new threshold over |A|.
  Step(r.layer.get(), s, ++step, &rng);
  const std::vector<float> a2 = Table(*r.layer, 1);
  EXPECT_NE(a2, a);
  EXPECT_EQ(r.method->threshold(), tau0);
  // Step 3 averages it over the workers, its AfterStep puts it in use.
  Step(r.layer.get(), s, ++step, &rng);
  const double tau1 = r.method->threshold();
  EXPECT_NE(tau1, tau0);
  EXPECT_LE(KeptAt(a2, tau1), k);
  EXPECT_GE(KeptAt(a2, tau1), k - 1);
  for (int i = 0; i < 7; ++i) Step(r.layer.get(), s, ++step, &rng);
  EXPECT_EQ(r.method->search_steps(), 10);

  ECPS_ASSERT_OK(r.layer->BeginStage(2));
  const std::vector<float> a_end = Table(*r.layer, 1);
  const std::vector<float> e_end = Table(*r.layer, 0);
  EXPECT_LE(r.method->kept(), k);
  EXPECT_GE(r.method->kept(), k - 1);
  double min_kept = 1e30, max_pruned = -1;
  for (uint64_t i = 0; i < s.total(); ++i)
    for (int c = 0; c < d; ++c) {
      const double v = std::fabs(a_end[i * d + c]);
      if (r.method->Kept(i, c))
        min_kept = std::min(min_kept, v);
      else
        max_pruned = std::max(max_pruned, v);
    }
  EXPECT_GE(min_kept, max_pruned) << "the mask is the largest |a|";
  Step(r.layer.get(), s, ++step, &rng);
  const std::vector<float> retrained = Table(*r.layer, 0);
  EXPECT_EQ(Table(*r.layer, 1), a_end);
  std::vector<uint8_t> keep(total);
  for (uint64_t i = 0; i < s.total(); ++i)
    for (int c = 0; c < d; ++c) {
      keep[i * d + c] = r.method->Kept(i, c);
      if (!keep[i * d + c]) {
        EXPECT_EQ(retrained[i * d + c], e_end[i * d + c]);
      }
    }
  EXPECT_NE(retrained, e_end);

  ECPS_ASSERT_OK(r.layer->BeginStage(3));
  const std::vector<float> want = reference::MaskedDense(retrained, keep);
  std::vector<uint32_t> keys;
  for (uint32_t x = 0; x < 200; ++x) keys.insert(keys.end(), {x, x % 100, x % 57});
  std::vector<float> out(keys.size() * d);
  ECPS_ASSERT_OK(r.layer->Forward(keys, out.data(), false));
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint64_t row = s.offsets[i % 3] + keys[i];
    for (int c = 0; c < d; ++c) ASSERT_EQ(out[i * d + c], want[row * d + c]) << row;
  }
  EXPECT_EQ(r.method->sparse().nnz(), r.method->kept());
  EXPECT_EQ(r.layer->Memory().inference_bytes,
            pruning::SparseBytes(r.method->format(), s.total(), d, r.method->sparse().nnz()));
  EXPECT_LE(r.layer->Memory().inference_bytes,
            static_cast<uint64_t>(std::floor(4.0 * s.total() * d * 0.5)));
}

// Checkpoints of the pretrain, of the search (in a weight step, in a mask
// step, with a threshold found and not yet averaged) and of the retrain
// (with its mask) resume into a fresh layer and continue bit for bit.
TEST(HamTest, ResumesInEveryStage) {
  const FeatureSpace s = Space({60, 30}, 4);
  const std::vector<std::string> sets = {"mask_every=2", "ortho_weight=0.001"};
  LayerRun a = MakeLayer(s, 0.5, sets);
  Rng rng(6);
  int64_t step = 0;
  auto resume_and_compare = [&](int steps) {
    auto blob = a.layer->Save();
    ASSERT_TRUE(blob.ok()) << blob.status();
    LayerRun b = MakeLayer(s, 0.5, sets);
    ECPS_ASSERT_OK(b.layer->Load(*blob));
    EXPECT_EQ(b.method->SaveState(), a.method->SaveState());
    Rng rng_b = rng;
    for (int i = 0; i < steps; ++i) {
      ++step;
      Step(a.layer.get(), s, step, &rng);
      Step(b.layer.get(), s, step, &rng_b);
    }
    EXPECT_EQ(Table(*a.layer, 0), Table(*b.layer, 0));
    EXPECT_EQ(Table(*a.layer, 1), Table(*b.layer, 1));
    EXPECT_EQ(a.method->threshold(), b.method->threshold());
    EXPECT_EQ(a.method->SaveState(), b.method->SaveState());
  };
  for (int i = 0; i < 5; ++i) Step(a.layer.get(), s, ++step, &rng);
  resume_and_compare(3);
  ECPS_ASSERT_OK(a.layer->BeginStage(1));
  Step(a.layer.get(), s, ++step, &rng);
  ASSERT_TRUE(a.method->MaskPhase());
  resume_and_compare(1);  // from a mask step; ends with a threshold found
  ASSERT_FALSE(a.method->MaskPhase());
  resume_and_compare(5);  // the found threshold averaged after the resume
  ECPS_ASSERT_OK(a.layer->BeginStage(2));
  Step(a.layer.get(), s, ++step, &rng);
  ASSERT_EQ(a.method->stage(), 2);
  resume_and_compare(3);
}

// ------------------------------------------------------------ end to end --

class HamTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_ham_train_test", /*rows=*/12000, /*features=*/6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  static std::vector<std::string> Sets(const std::string& out) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(), {"embedding.method=ham", "embedding.budget=0.5", "train.max_steps=80",
                             "train.evals_per_epoch=4", "train.latency_batches=1"});
    return sets;
  }
  static void CheckResults(const nlohmann::json& r) {
    ASSERT_EQ(r["stages"].size(), 4u) << r.dump(2);
    EXPECT_EQ(r["stages"][1]["name"], "search");
    EXPECT_EQ(r["stages"][3]["name"], "sparse");
    EXPECT_GT(r["test_auc"].get<double>(), 0.6) << r.dump(2);
    EXPECT_LE(r["inference_memory_ratio"].get<double>(), 0.5);
    EXPECT_GT(r["inference_memory_ratio"].get<double>(), 0.49);
  }
  static StatusOr<nlohmann::json> Single(const std::string& out) {
    ASSIGN_OR_RETURN(TrainConfig cfg, LoadTrainConfig("", Sets(out)));
    ASSIGN_OR_RETURN(std::unique_ptr<Trainer> t, Trainer::Create(cfg, ds_->data()));
    return t->Run(false);
  }
  static StatusOr<nlohmann::json> Cluster(const std::string& out,
                                          const std::vector<std::string>& cluster) {
    std::vector<std::string> sets = Sets(out);
    sets.insert(sets.end(), cluster.begin(), cluster.end());
    ASSIGN_OR_RETURN(TrainConfig cfg, LoadTrainConfig("", sets));
    ASSIGN_OR_RETURN(auto shape, launch::ClusterShapeFromConfig(cfg));
    return launch::RunSimulation(cfg, ds_->data(), shape, /*resume=*/false);
  }
};

TEST_F(HamTrainTest, TrainsSingleProcessAndOneServerOneWorkerEqualsIt) {
  auto a = Single("single");
  ASSERT_TRUE(a.ok()) << a.status();
  CheckResults(*a);
  auto b = Cluster("sim11", {"cluster.servers=1", "cluster.workers=1", "cluster.virtual_shards=1"});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*a)["inference_memory_ratio"], (*b)["inference_memory_ratio"]);
  EXPECT_EQ((*a)["test_auc"], (*b)["test_auc"]);
  EXPECT_EQ((*a)["steps"], (*b)["steps"]);
  std::printf("ham: test_auc %.6f ratio %.5f steps %s\n", (*a)["test_auc"].get<double>(),
              (*a)["inference_memory_ratio"].get<double>(), (*a)["steps"].dump().c_str());
}

TEST_F(HamTrainTest, TrainsOnTwoServersAndTwoWorkers) {
  auto r = Cluster("sim22", {"cluster.servers=2", "cluster.workers=2"});
  ASSERT_TRUE(r.ok()) << r.status();
  CheckResults(*r);
  // BSP: the single process's model within 0.002 AUC (the bar).
  auto a = Single("sim22_single");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_NEAR((*r)["test_auc"].get<double>(), (*a)["test_auc"].get<double>(), 0.002);
  std::printf("ham 2+2: test_auc %.6f (single %.6f) ratio %.5f\n", (*r)["test_auc"].get<double>(),
              (*a)["test_auc"].get<double>(), (*r)["inference_memory_ratio"].get<double>());
}

}  // namespace
}  // namespace ecps
