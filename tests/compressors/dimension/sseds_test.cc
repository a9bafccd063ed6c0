#include "compressors/dimension/sseds.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "common/rng.h"
#include "embedding/embedding_layer.h"
#include "embedding/row_store.h"
#include "launch/cluster_config.h"
#include "launch/simulate.h"
#include "tests/compressors/reference/sseds_reference.h"
#include "tests/testing/feature_space.h"
#include "tests/testing/small_dataset.h"
#include "tests/testing/status_testing.h"
#include "worker/train_config.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

using testing::Keys;
using testing::Normal;
using testing::Space;

const FeatureSpace& Small() {
  static const FeatureSpace* const kSpace =
      new FeatureSpace(Space({3, 40, 250, 1000, 4097, 17}, 8));
  return *kSpace;
}

const FeatureSpace& Criteo() {
  static const FeatureSpace* const kSpace =
      new FeatureSpace(Space({1460,  583,  10131227, 2202608, 305, 24,     12517,   633,   3,
                              93145, 5683, 8351593,  3194,    27,  14992,  5461306, 10,    5652,
                              2173,  4,    7046547,  18,      15,  286181, 105,     142572},
                             16));
  return *kSpace;
}

CompressorContext Ctx(const FeatureSpace& s, double budget, uint64_t seed = 3) {
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  ctx.seed = seed;
  return ctx;
}

ParamSet Params(std::vector<std::pair<std::string, std::string>> kv = {}) {
  static const ParamSchema* const kSchema = new ParamSchema(SsedsEmbedding::Schema());
  ParamSet p(kSchema);
  for (const auto& [k, v] : kv) EXPECT_TRUE(p.Set(k, v).ok()) << k;
  return p;
}

std::unique_ptr<EmbeddingLayer> MakeLayer(const CompressorContext& ctx, const ParamSet& p) {
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  auto layer =
      std::make_unique<EmbeddingLayer>(std::make_unique<SsedsEmbedding>(), NewLocalRowStore(opt));
  const Status st = layer->Init(ctx, p);
  EXPECT_TRUE(st.ok()) << st;
  return layer;
}

const SsedsEmbedding& Method(EmbeddingLayer& l) {
  return static_cast<const SsedsEmbedding&>(l.compressor());
}

std::vector<std::vector<double>> StoredRows(EmbeddingLayer& l) {
  std::vector<std::vector<double>> out;
  const std::vector<RowTableSpec> tables = l.store().StoredTables();
  for (size_t t = 0; t < tables.size(); ++t) {
    std::vector<float> v(tables[t].rows * tables[t].width);
    EXPECT_TRUE(l.store().ReadRows(static_cast<int>(t), 0, tables[t].rows, v.data()).ok());
    out.emplace_back(v.begin(), v.end());
  }
  return out;
}

void Train(EmbeddingLayer* l, const FeatureSpace& s, int steps, Rng* rng) {
  for (int t = 1; t <= steps; ++t) {
    const std::vector<uint32_t> keys = Keys(s, 16, rng);
    std::vector<float> out(keys.size() * s.dim);
    ECPS_ASSERT_OK(l->Forward(keys, out.data(), true));
    ECPS_ASSERT_OK(l->Backward(Normal(out.size(), rng).data(), t));
  }
}

std::vector<double> RandomSaliency(const FeatureSpace& s, Rng* rng) {
  std::vector<double> v(static_cast<size_t>(s.num_fields()) * s.dim);
  for (double& x : v) x = std::abs(rng->Normal());
  return v;
}

double FullBytes(const FeatureSpace& s) { return 4.0 * static_cast<double>(s.total()) * s.dim; }

// The search stage holds the model and sums |∂L/∂m| per batch: checked
// against the reference's mask gradient (itself against central differences
// of L(m) = Σ g·(e ⊙ m) in double), and the rows do not move.
TEST(SsedsTest, SaliencyIsTheMaskGradientAndTheSearchHoldsTheRows) {
  const FeatureSpace& s = Small();
  auto layer = MakeLayer(Ctx(s, 0.3), Params());
  Rng rng(4);
  Train(layer.get(), s, 3, &rng);
  ECPS_ASSERT_OK(layer->BeginStage(1));
  const std::vector<std::vector<double>> before = StoredRows(*layer);
  std::vector<double> want(static_cast<size_t>(s.num_fields()) * s.dim, 0.0);
  for (int step = 1; step <= 4; ++step) {
    const std::vector<uint32_t> keys = Keys(s, 12, &rng);
    std::vector<float> e(keys.size() * s.dim);
    ECPS_ASSERT_OK(layer->Forward(keys, e.data(), true));
    const std::vector<float> g = Normal(e.size(), &rng);
    ECPS_ASSERT_OK(layer->Backward(g.data(), step));
    const std::vector<double> mg = sseds_ref::MaskGradient(s, e, g);
    // The mask gradient by central differences of the masked loss.
    if (step == 1) {
      for (size_t k = 0; k < mg.size(); ++k) {
        auto loss = [&](double mk) {
          double l = 0;
          for (size_t i = 0; i < keys.size(); ++i)
            for (int j = 0; j < s.dim; ++j) {
              const size_t col = (i % s.num_fields()) * s.dim + j;
              l += double{g[i * s.dim + j]} * e[i * s.dim + j] * (col == k ? mk : 1.0);
            }
          return l;
        };
        const double h = 1e-6, fd = (loss(1 + h) - loss(1 - h)) / (2 * h);
        ASSERT_NEAR(mg[k], fd, 1e-6 * std::max(1.0, std::abs(fd))) << "column " << k;
      }
    }
    for (size_t k = 0; k < want.size(); ++k) want[k] += std::abs(mg[k]);
    ECPS_ASSERT_OK(layer->compressor().AfterStep(step));
  }
  EXPECT_EQ(Method(*layer).saliency_steps(), 4);
  const std::vector<double>& got = Method(*layer).saliency();
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(got[k], want[k], 1e-9) << k;
  EXPECT_EQ(StoredRows(*layer), before) << "the search stage moved rows";
  EXPECT_TRUE(layer->compressor().StageComplete()) << "the search ends at its first evaluation";
}

TEST(SsedsTest, SaliencyBatchesCapsTheCount) {
  const FeatureSpace& s = Small();
  auto layer = MakeLayer(Ctx(s, 0.3), Params({{"saliency_batches", "2"}}));
  ECPS_ASSERT_OK(layer->BeginStage(1));
  Rng rng(2);
  Train(layer.get(), s, 5, &rng);
  EXPECT_EQ(Method(*layer).saliency_steps(), 2);
  const std::vector<double> after2 = Method(*layer).saliency();
  Train(layer.get(), s, 2, &rng);
  EXPECT_EQ(Method(*layer).saliency(), after2);
}

TEST(SsedsTest, DimensionsFollowTheReferenceAndTheBudget) {
  Rng rng(8);
  for (const FeatureSpace* s : {&Small(), &Criteo()}) {
    for (double b : {0.9, 0.5, 0.3, 0.1, 0.07, 0.01}) {
      for (int trial = 0; trial < 3; ++trial) {
        std::vector<double> sal = RandomSaliency(*s, &rng);
        if (trial == 2) std::fill(sal.begin(), sal.end(), 0.0);  // the forecast: all ties
        const uint64_t budget = static_cast<uint64_t>(std::floor(FullBytes(*s) * b));
        const std::vector<int> dims = SsedsEmbedding::SelectDims(*s, sal, budget);
        ASSERT_EQ(dims, sseds_ref::Dims(*s, sal, budget)) << "budget " << b << " trial " << trial;
        const uint64_t bytes = sseds_ref::Bytes(*s, dims);
        for (int d : dims) EXPECT_TRUE(d >= 1 && d <= s->dim) << d;
        if (s == &Criteo() && b >= 0.07) {
          // Solved: within 1% below the budget.
          EXPECT_LE(bytes, budget);
          EXPECT_GE(static_cast<double>(bytes), 0.99 * budget) << "budget " << b;
        }
      }
    }
  }
  // Below 1/d every field keeps its one column: the floor, over the budget.
  const std::vector<double> zero(Criteo().num_fields() * 16, 0.0);
  const std::vector<int> floor_dims =
      SsedsEmbedding::SelectDims(Criteo(), zero, static_cast<uint64_t>(FullBytes(Criteo()) * 0.01));
  for (int d : floor_dims) EXPECT_EQ(d, 1);
  // The most salient columns win: a field whose columns all outrank the
  // others' gets d first.
  std::vector<double> sal(Small().num_fields() * 8, 0.1);
  for (int j = 0; j < 8; ++j) sal[3 * 8 + j] = 5.0;  // the 1000-id field
  const std::vector<int> dims =
      SsedsEmbedding::SelectDims(Small(), sal, static_cast<uint64_t>(FullBytes(Small()) * 0.3));
  EXPECT_EQ(dims[3], 8);
  EXPECT_EQ(dims[4], 1);  // the 4097-id field cannot grow once the budget is spent
}

// Memory at every stage through a layer (exact in the retrain; the store
// holds the current stage's tables), and the inference bytes within budget.
TEST(SsedsTest, MemoryIsExactAtEveryStage) {
  const FeatureSpace& s = Small();
  for (double b : {0.6, 0.3, 0.15}) {
    auto layer = MakeLayer(Ctx(s, b), Params());
    Rng rng(5);
    Train(layer.get(), s, 2, &rng);
    const uint64_t full = 4 * s.total() * s.dim;
    EXPECT_EQ(layer->store().parameter_bytes(), full);
    const std::vector<int> forecast = Method(*layer).ChosenDims();
    EXPECT_EQ(layer->Memory().inference_bytes, sseds_ref::Bytes(s, forecast));
    EXPECT_EQ(layer->Memory().auxiliary_bytes, 8u * s.num_fields() * s.dim);
    ECPS_ASSERT_OK(layer->BeginStage(1));
    Train(layer.get(), s, 3, &rng);
    ECPS_ASSERT_OK(layer->BeginStage(2));
    const std::vector<int>& dims = Method(*layer).layout().dims();
    EXPECT_EQ(dims, sseds_ref::Dims(s, Method(*layer).saliency(), Method(*layer).budget_bytes()));
    uint64_t rows = 0, proj = 0;
    for (int f = 0; f < s.num_fields(); ++f) {
      rows += 4 * s.cardinalities[f] * dims[f];
      if (dims[f] < s.dim) proj += static_cast<uint64_t>(dims[f]) * s.dim;
    }
    const MemoryReport r = layer->Memory();
    EXPECT_EQ(layer->store().parameter_bytes(), rows) << "rows are stored at d_f, unpadded";
    EXPECT_EQ(r.parameter_bytes, full + rows);
    EXPECT_EQ(r.auxiliary_bytes, 4 * proj + 4 * s.num_fields());
    EXPECT_EQ(r.inference_bytes, rows + 4 * proj + 4 * s.num_fields());
    EXPECT_EQ(layer->compressor().DenseParams().size(), proj);
    EXPECT_LE(static_cast<double>(r.inference_bytes), std::floor(b * FullBytes(s)));
  }
}

TEST(SsedsTest, RetrainLookupMatchesTheReferenceAfterTraining) {
  const FeatureSpace& s = Small();
  auto layer = MakeLayer(Ctx(s, 0.25), Params());
  Rng rng(6);
  Train(layer.get(), s, 3, &rng);
  ECPS_ASSERT_OK(layer->BeginStage(1));
  Train(layer.get(), s, 3, &rng);
  ECPS_ASSERT_OK(layer->BeginStage(2));
  ASSERT_GT(layer->compressor().Tables().size(), 1u) << "the fixture should mix widths";
  for (int step = 1; step <= 5; ++step) {
    const std::vector<uint32_t> keys = Keys(s, 16, &rng);
    std::vector<float> out(keys.size() * s.dim);
    ECPS_ASSERT_OK(layer->Forward(keys, out.data(), true));
    ECPS_ASSERT_OK(layer->Backward(Normal(out.size(), &rng).data(), step));
    std::span<float> p = layer->compressor().DenseParams();
    std::span<float> g = layer->compressor().DenseGrads();
    for (size_t i = 0; i < p.size(); ++i) p[i] -= 0.01f * g[i];
  }
  const std::vector<uint32_t> keys = Keys(s, 32, &rng);
  std::vector<float> out(keys.size() * s.dim);
  ECPS_ASSERT_OK(layer->Forward(keys, out.data(), false));
  const std::span<float> pf = layer->compressor().DenseParams();
  const std::vector<double> proj(pf.begin(), pf.end());
  const std::vector<double> want =
      sseds_ref::Lookup(Method(*layer), s, StoredRows(*layer), proj, keys);
  ASSERT_EQ(want.size(), out.size());
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-6) << i;
}

// The retrain's analytic gradients (rows and projections) against central
// differences of the double reference of L = Σ g·lookup.
TEST(SsedsTest, RetrainGradientsMatchFiniteDifferencesInDouble) {
  const FeatureSpace s = Space({2, 30, 500, 9}, 8);
  SsedsEmbedding m;
  ECPS_ASSERT_OK(m.Init(Ctx(s, 0.4), Params()));
  ECPS_ASSERT_OK(m.BeginStage(1));
  ECPS_ASSERT_OK(m.BeginStage(2));
  ASSERT_LT(m.layout().dims()[2], s.dim);
  Rng rng(9);
  std::vector<std::vector<double>> tables;
  for (const RowTableSpec& t : m.Tables()) {
    tables.emplace_back(t.rows * t.width);
    for (double& v : tables.back()) v = static_cast<float>(rng.Normal() * 0.3);
  }
  const std::vector<uint32_t> keys = Keys(s, 6, &rng);
  const std::vector<float> g = Normal(keys.size() * s.dim, &rng);
  std::span<float> pf = m.DenseParams();
  for (float& v : pf) v = static_cast<float>(rng.Normal() * 0.5);
  const std::vector<double> proj(pf.begin(), pf.end());
  LookupPlan plan;
  plan.training = true;
  m.Encode(keys, &plan);
  FetchedRows rows, grads;
  for (size_t t = 0; t < plan.rows.size(); ++t) {
    const int w = m.Tables()[t].width;
    rows.values.emplace_back();
    for (uint64_t r : plan.rows[t])
      for (int c = 0; c < w; ++c)
        rows.values.back().push_back(r == kNoRow ? 0.0f : static_cast<float>(tables[t][r * w + c]));
    grads.values.emplace_back(rows.values.back().size(), std::nanf(""));
  }
  std::vector<float> out(keys.size() * s.dim);
  m.Decode(plan, rows, out.data());
  m.DecodeBackward(plan, rows, g.data(), &grads);
  auto loss = [&](const std::vector<std::vector<double>>& tb, const std::vector<double>& pj) {
    const std::vector<double> o = sseds_ref::Lookup(m, s, tb, pj, keys);
    double l = 0;
    for (size_t i = 0; i < o.size(); ++i) l += g[i] * o[i];
    return l;
  };
  const double h = 1e-6;
  const std::span<float> dg = m.DenseGrads();
  ASSERT_EQ(dg.size(), proj.size());
  for (size_t i = 0; i < proj.size(); ++i) {
    std::vector<double> a = proj, b = proj;
    a[i] += h;
    b[i] -= h;
    const double fd = (loss(tables, a) - loss(tables, b)) / (2 * h);
    ASSERT_NEAR(dg[i], fd, 1e-4 * std::max(1.0, std::abs(fd))) << "projection element " << i;
  }
  for (size_t t = 0; t < plan.rows.size(); ++t) {
    const int w = m.Tables()[t].width;
    for (size_t k = 0; k < plan.rows[t].size(); ++k) {
      const uint64_t r = plan.rows[t][k];
      for (int c = 0; c < w; ++c) {
        if (r == kNoRow) {
          ASSERT_EQ(grads.values[t][k * w + c], 0.0f);
          continue;
        }
        double slot = 0;
        for (size_t k2 = 0; k2 < plan.rows[t].size(); ++k2)
          if (plan.rows[t][k2] == r) slot += grads.values[t][k2 * w + c];
        std::vector<std::vector<double>> a = tables, b = tables;
        a[t][r * w + c] += h;
        b[t][r * w + c] -= h;
        const double fd = (loss(a, proj) - loss(b, proj)) / (2 * h);
        ASSERT_NEAR(slot, fd, 1e-4 * std::max(1.0, std::abs(fd)))
            << "table " << t << " row " << r << " col " << c;
      }
    }
  }
}

// Every stage's state round-trips (the saliency restored, the dimensions
// re-derived); a blob whose dimensions are not its saliency's is refused.
TEST(SsedsTest, StateRoundTripsAtEveryStageAndDamageIsRefused) {
  const FeatureSpace& s = Small();
  const CompressorContext ctx = Ctx(s, 0.3, 7);
  SsedsEmbedding a;
  ECPS_ASSERT_OK(a.Init(ctx, Params()));
  Rng rng(3);
  for (int stage = 0; stage < 3; ++stage) {
    SCOPED_TRACE("stage " + std::to_string(stage));
    if (stage > 0) ECPS_ASSERT_OK(a.BeginStage(stage));
    if (stage == 1) {
      // Some saliency, through the method's own backward.
      const std::vector<uint32_t> keys = Keys(s, 8, &rng);
      LookupPlan plan;
      plan.training = true;
      a.Encode(keys, &plan);
      FetchedRows rows, grads;
      rows.values = {Normal(keys.size() * s.dim, &rng)};
      grads.values = {std::vector<float>(keys.size() * s.dim)};
      const std::vector<float> g = Normal(keys.size() * s.dim, &rng);
      a.DecodeBackward(plan, rows, g.data(), &grads);
      ASSERT_GT(a.saliency_steps(), 0);
    }
    SsedsEmbedding b;
    ECPS_ASSERT_OK(b.Init(ctx, Params()));
    ECPS_ASSERT_OK(b.LoadState(a.SaveState()));
    EXPECT_EQ(b.SaveState(), a.SaveState());
    EXPECT_EQ(b.Tables(), a.Tables());
    EXPECT_EQ(b.stage(), stage);
    EXPECT_EQ(b.saliency(), a.saliency());
    EXPECT_EQ(b.DenseParams().size(), a.DenseParams().size());
  }
  // Other parameters and budgets are refused by name.
  SsedsEmbedding other;
  ECPS_ASSERT_OK(other.Init(Ctx(s, 0.5, 7), Params()));
  Status st = other.LoadState(a.SaveState());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(std::string(st.message()).find("budget"), std::string::npos) << st;
  ECPS_ASSERT_OK(other.Init(ctx, Params({{"saliency_batches", "3"}})));
  EXPECT_FALSE(other.LoadState(a.SaveState()).ok());
  // A saliency changed under the stored dimensions: DataLoss. The blob ends
  // with the dims vector; the saliency's last value is just before it.
  std::string blob = a.SaveState();
  SsedsEmbedding fresh;
  ECPS_ASSERT_OK(fresh.Init(ctx, Params()));
  bool refused_some = false;
  for (size_t at = blob.size() / 2; at < blob.size(); ++at) {
    std::string bad = blob;
    bad[at] ^= 0x01;
    const Status s2 = fresh.LoadState(bad);
    EXPECT_FALSE(s2.ok()) << "byte " << at;
    refused_some |= !s2.ok();
  }
  EXPECT_TRUE(refused_some);
  ECPS_EXPECT_OK(fresh.LoadState(blob));
}

TEST(SsedsTest, SameSeedSameModel) {
  auto a = MakeLayer(Ctx(Small(), 0.3, 11), Params());
  auto b = MakeLayer(Ctx(Small(), 0.3, 11), Params());
  for (auto* l : {a.get(), b.get()}) {
    Rng rng(1);
    Train(l, Small(), 3, &rng);
    ECPS_ASSERT_OK(l->BeginStage(1));
    Train(l, Small(), 3, &rng);
    ECPS_ASSERT_OK(l->BeginStage(2));
    Train(l, Small(), 3, &rng);
  }
  EXPECT_EQ(a->compressor().SaveState(), b->compressor().SaveState());
  EXPECT_EQ(StoredRows(*a), StoredRows(*b));
  EXPECT_TRUE(std::ranges::equal(a->compressor().DenseParams(), b->compressor().DenseParams()));
}

class SsedsTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_sseds_test", 12000, 6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  static std::vector<std::string> Sets(const std::string& out) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(), {"embedding.method=sseds", "embedding.budget=0.3",
                             "train.max_steps=150", "train.evals_per_epoch=4"});
    return sets;
  }
};

// The search stage scores the pretrained model unchanged (its one
// evaluation equals the pretrain's best), and the retrain fits the budget.
void CheckRun(const nlohmann::json& r) {
  ASSERT_EQ(r["stages"].size(), 3u) << r.dump(2);
  double best0 = -1, search = -1;
  int search_evals = 0;
  for (const auto& h : r["history"]) {
    if (h["stage"] == 0) best0 = std::max(best0, h["val_auc"].get<double>());
    if (h["stage"] == 1) {
      search = h["val_auc"].get<double>();
      ++search_evals;
      EXPECT_TRUE(h.contains("stage_complete"));
    }
  }
  EXPECT_EQ(search_evals, 1);
  EXPECT_EQ(search, best0) << "the search stage changed the model";
  EXPECT_LE(r["inference_memory_ratio"].get<double>(), 0.3);
  EXPECT_GT(r["inference_memory_ratio"].get<double>(), 0.29);
  EXPECT_GT(r["test_auc"].get<double>(), 0.65) << r.dump(2);
}

TEST_F(SsedsTrainTest, TrainsInOneProcessAndOnTwoServersTwoWorkers) {
  auto cfg = LoadTrainConfig("", Sets("sseds_single"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto one = (*t)->Run(false);
  ASSERT_TRUE(one.ok()) << one.status();
  CheckRun(*one);

  std::vector<std::string> csets = Sets("sseds_sim22");
  csets.insert(csets.end(), {"cluster.servers=2", "cluster.workers=2"});
  auto ccfg = LoadTrainConfig("", csets);
  ASSERT_TRUE(ccfg.ok()) << ccfg.status();
  auto shape = launch::ClusterShapeFromConfig(*ccfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto two = launch::RunSimulation(*ccfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(two.ok()) << two.status();
  CheckRun(*two);
  std::printf("sseds test_auc %.5f (1 process) %.5f (2 servers, 2 workers) ratio %.4f / %.4f\n",
              (*one)["test_auc"].get<double>(), (*two)["test_auc"].get<double>(),
              (*one)["inference_memory_ratio"].get<double>(),
              (*two)["inference_memory_ratio"].get<double>());
  EXPECT_EQ((*one)["steps"], (*two)["steps"]);
  // The saliency is the global batch's on both (all-reduced), so the runs
  // differ by float summation order only.
  EXPECT_NEAR((*one)["test_auc"].get<double>(), (*two)["test_auc"].get<double>(), 0.01);
}

// The retrain stage's checkpoint (the dimensions re-derived from the saved
// saliency, the retrain-sized MDNS) loads into a fresh trainer: resuming the
// finished run trains nothing more and ends with the same model.
TEST_F(SsedsTrainTest, RetrainCheckpointResumesIntoAFreshTrainer) {
  auto run = [&](bool resume) {
    std::vector<std::string> sets = Sets("sseds_resume");
    sets.push_back("train.max_steps=60");
    auto cfg = LoadTrainConfig("", sets);
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    auto t = Trainer::Create(*cfg, ds_->data());
    EXPECT_TRUE(t.ok()) << t.status();
    return (*t)->Run(resume);
  };
  auto first = run(false);
  ASSERT_TRUE(first.ok()) << first.status();
  auto again = run(true);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)["steps"], (*first)["steps"]);
  EXPECT_EQ((*again)["test_auc"], (*first)["test_auc"]);
  EXPECT_EQ((*again)["inference_memory_ratio"], (*first)["inference_memory_ratio"]);
}

}  // namespace
}  // namespace ecps
