#include "compressors/dimension/optembed.h"

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
#include "tests/compressors/reference/optembed_reference.h"
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

CompressorContext Ctx(const FeatureSpace& s, uint64_t seed = 3) {
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = 0.5;
  ctx.seed = seed;
  return ctx;
}

ParamSet Params(std::vector<std::pair<std::string, std::string>> kv = {}) {
  static const ParamSchema* const kSchema = new ParamSchema(OptEmbedEmbedding::Schema());
  ParamSet p(kSchema);
  for (const auto& [k, v] : kv) EXPECT_TRUE(p.Set(k, v).ok()) << k;
  return p;
}

std::unique_ptr<EmbeddingLayer> MakeLayer(const CompressorContext& ctx, const ParamSet& p) {
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  auto layer = std::make_unique<EmbeddingLayer>(std::make_unique<OptEmbedEmbedding>(),
                                                NewLocalRowStore(opt));
  const Status st = layer->Init(ctx, p);
  EXPECT_TRUE(st.ok()) << st;
  return layer;
}

OptEmbedEmbedding& Method(EmbeddingLayer& l) {
  return static_cast<OptEmbedEmbedding&>(l.compressor());
}

void Train(EmbeddingLayer* l, const FeatureSpace& s, int steps, Rng* rng) {
  for (int t = 1; t <= steps; ++t) {
    const std::vector<uint32_t> keys = Keys(s, 16, rng);
    std::vector<float> out(keys.size() * s.dim);
    ECPS_ASSERT_OK(l->Forward(keys, out.data(), true));
    ECPS_ASSERT_OK(l->Backward(Normal(out.size(), rng).data(), t));
  }
}

TEST(OptEmbedTest, SurrogateIsThePiecewiseDerivative) {
  EXPECT_DOUBLE_EQ(OptEmbedEmbedding::Surrogate(0), 2);
  EXPECT_DOUBLE_EQ(OptEmbedEmbedding::Surrogate(0.25), 1);
  EXPECT_DOUBLE_EQ(OptEmbedEmbedding::Surrogate(-0.4), 0.4);
  EXPECT_DOUBLE_EQ(OptEmbedEmbedding::Surrogate(0.7), 0.4);
  EXPECT_DOUBLE_EQ(OptEmbedEmbedding::Surrogate(-1.0), 0.4);
  EXPECT_DOUBLE_EQ(OptEmbedEmbedding::Surrogate(1.5), 0);
}

// Supernet lookup against the reference; row gradients against central
// differences in double where the step is flat (|z| > 1, surrogate 0) and
// the surrogate's chain where it is not; the thresholds' SGD step.
TEST(OptEmbedTest, SupernetLookupAndGradients) {
  const FeatureSpace s = Space({2, 30, 9}, 8);
  OptEmbedEmbedding m;
  ECPS_ASSERT_OK(m.Init(Ctx(s), Params({{"alpha", "0.01"}, {"thresh_lr", "0.1"}})));
  m.mutable_thresholds() = {2.0, 0.5, 100.0};  // field 2 prunes everything
  Rng rng(7);
  const std::vector<uint32_t> keys = Keys(s, 5, &rng);
  LookupPlan plan;
  plan.training = true;
  plan.noise_seed = 1234;
  m.Encode(keys, &plan);
  FetchedRows rows, grads;
  rows.values.emplace_back();
  for (size_t i = 0; i < keys.size(); ++i)
    for (int j = 0; j < s.dim; ++j) rows.values[0].push_back(static_cast<float>(rng.Normal()));
  grads.values.emplace_back(rows.values[0].size(), std::nanf(""));
  const std::vector<float> g = Normal(rows.values[0].size(), &rng);
  std::vector<float> out(rows.values[0].size());
  m.Decode(plan, rows, out.data());
  const std::vector<double> t0 = m.thresholds();
  m.DecodeBackward(plan, rows, g.data(), &grads);
  std::vector<double> dt(3, 0.0);
  for (size_t i = 0; i < keys.size(); ++i) {
    const int f = static_cast<int>(i % 3);
    const int k = OptEmbedEmbedding::ColumnK(plan.noise_seed, static_cast<int>(i), s.dim);
    std::vector<double> v(rows.values[0].begin() + i * s.dim,
                          rows.values[0].begin() + (i + 1) * s.dim);
    const std::vector<double> e = optembed_ref::Supernet(v, t0[f], k);
    for (int j = 0; j < s.dim; ++j) ASSERT_NEAR(out[i * s.dim + j], e[j], 1e-7) << i;
    double l1 = 0, dot = 0;
    for (int j = 0; j < s.dim; ++j) l1 += std::abs(v[j]);
    for (int j = 0; j <= k; ++j) dot += g[i * s.dim + j] * v[j];
    const double z = l1 - t0[f], sur = OptEmbedEmbedding::Surrogate(z);
    dt[f] -= sur * dot;
    for (int j = 0; j < s.dim; ++j) {
      // L(v) = g·e(v): its derivative where the step is flat, plus the
      // surrogate's term.
      auto loss = [&](double h) {
        std::vector<double> w = v;
        w[j] += h;
        const std::vector<double> ew = optembed_ref::Supernet(w, t0[f], k);
        double l = 0;
        for (int c = 0; c < s.dim; ++c) l += g[i * s.dim + c] * ew[c];
        return l;
      };
      const double fd = (loss(1e-6) - loss(-1e-6)) / 2e-6;
      const double want = fd + sur * (v[j] > 0 ? 1 : -1) * dot;
      ASSERT_NEAR(grads.values[0][i * s.dim + j], want, 1e-5) << "key " << i << " dim " << j;
    }
  }
  for (int f = 0; f < 3; ++f) {
    const double want = t0[f] - 0.1 * (dt[f] - 0.01 * std::exp(-t0[f]));
    EXPECT_NEAR(m.thresholds()[f], want, 1e-9) << "field " << f;
  }
}

// The evolutionary search: every generation scores keep + mutation +
// crossover candidates, the best reported candidate wins, and on a score
// with one optimum the search gets close to it.
TEST(OptEmbedTest, EvolutionarySearchFindsTheBestCandidate) {
  const FeatureSpace& s = Small();
  auto layer = MakeLayer(Ctx(s), Params({{"search_epochs", "40"}}));
  Rng rng(2);
  Train(layer.get(), s, 2, &rng);
  ECPS_ASSERT_OK(layer->BeginStage(1));
  OptEmbedEmbedding& m = Method(*layer);
  const std::vector<int> target = {1, 5, 3, 7, 2, 6};
  auto score = [&](const std::vector<int>& c) {
    double sc = 0;
    for (size_t f = 0; f < c.size(); ++f) sc -= std::abs(c[f] - target[f]);
    return sc;
  };
  int count = 0;
  double best = -1e300;
  std::vector<int> best_c;
  while (m.NextCandidate()) {
    const double sc = score(m.candidate());
    if (sc > best) best = sc, best_c = m.candidate();
    m.ReportScore(sc);
    ++count;
  }
  EXPECT_EQ(count, 40 * 20);
  EXPECT_EQ(m.best(), best_c);
  EXPECT_EQ(m.best_score(), best);
  EXPECT_EQ(m.candidate(), best_c) << "after the search the best is applied";
  EXPECT_GE(best, -3) << "the search should get near the optimum";
  EXPECT_FALSE(m.NextCandidate()) << "the search is done";
}

// Pruning, the retrain's carried rows (each kept row's prefix), zeros for
// pruned features, and exact memory.
TEST(OptEmbedTest, RetrainCarriesTheKeptRowsPrefixes) {
  const FeatureSpace& s = Small();
  auto layer = MakeLayer(Ctx(s), Params({{"search_epochs", "2"}}));
  Rng rng(4);
  Train(layer.get(), s, 3, &rng);
  OptEmbedEmbedding& m = Method(*layer);
  // Thresholds that prune about half the rows of each field.
  std::vector<float> all(s.total() * s.dim);
  ECPS_ASSERT_OK(layer->store().ReadRows(0, 0, s.total(), all.data()));
  for (int f = 0; f < s.num_fields(); ++f) {
    std::vector<double> norms;
    for (uint64_t x = 0; x < s.cardinalities[f]; ++x) {
      double l1 = 0;
      for (int j = 0; j < s.dim; ++j) l1 += std::abs(all[(s.offsets[f] + x) * s.dim + j]);
      norms.push_back(l1);
    }
    std::nth_element(norms.begin(), norms.begin() + norms.size() / 2, norms.end());
    m.mutable_thresholds()[f] = norms[norms.size() / 2];
  }
  ECPS_ASSERT_OK(layer->BeginStage(1));
  uint64_t kept = 0;
  for (uint64_t x = 0; x < s.total(); ++x) {
    double l1 = 0;
    for (int j = 0; j < s.dim; ++j) l1 += std::abs(all[x * s.dim + j]);
    int f = 0;
    while (f + 1 < s.num_fields() && x >= s.offsets[f + 1]) ++f;
    ASSERT_EQ(m.remap(x) != kNoRow, l1 > m.thresholds()[f]) << x;
    kept += m.remap(x) != kNoRow ? 1 : 0;
  }
  EXPECT_EQ(m.kept_rows(), kept);
  EXPECT_LT(kept, s.total());
  int scored = 0;
  while (m.NextCandidate()) m.ReportScore(-(++scored));  // the first candidate wins
  const std::vector<int> dims = m.best();
  ECPS_ASSERT_OK(layer->BeginStage(2));
  const std::vector<RowTableSpec> tables = layer->compressor().Tables();
  const std::vector<uint32_t> keys = Keys(s, 40, &rng);
  std::vector<float> out(keys.size() * s.dim);
  ECPS_ASSERT_OK(layer->Forward(keys, out.data(), false));
  for (size_t i = 0; i < keys.size(); ++i) {
    const int f = static_cast<int>(i % s.num_fields());
    const uint64_t x = s.offsets[f] + keys[i];
    double l1 = 0;
    for (int j = 0; j < s.dim; ++j) l1 += std::abs(all[x * s.dim + j]);
    for (int j = 0; j < s.dim; ++j) {
      const float want = l1 > m.thresholds()[f] && j <= dims[f] ? all[x * s.dim + j] : 0.0f;
      ASSERT_EQ(out[i * s.dim + j], want) << "key " << i << " dim " << j;
    }
  }
  uint64_t rows = 0;
  for (const RowTableSpec& t : tables) rows += 4 * t.rows * t.width;
  const MemoryReport r = layer->Memory();
  EXPECT_EQ(layer->store().parameter_bytes(), rows);
  EXPECT_EQ(r.parameter_bytes, 4 * s.total() * s.dim + rows);
  EXPECT_EQ(r.auxiliary_bytes, 4 * s.total() + 4 * s.num_fields());
  EXPECT_EQ(r.inference_bytes, rows + 4 * s.total() + 4 * s.num_fields());
  // The state of the retrain restores the layout.
  OptEmbedEmbedding fresh;
  ECPS_ASSERT_OK(fresh.Init(Ctx(s), Params({{"search_epochs", "2"}})));
  ECPS_ASSERT_OK(fresh.LoadState(m.SaveState()));
  EXPECT_EQ(fresh.Tables(), tables);
  EXPECT_EQ(fresh.SaveState(), m.SaveState());
  for (uint64_t x = 0; x < s.total(); ++x) ASSERT_EQ(fresh.remap(x), m.remap(x));
}

class OptEmbedTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_optembed_test", 12000, 6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  static std::vector<std::string> Sets(const std::string& out) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(), {"embedding.method=optembed", "embedding.budget=1",
                             "embedding.params.search_epochs=3", "embedding.params.alpha=0.001",
                             "embedding.params.thresh_lr=0.01", "train.max_steps=150",
                             "train.evals_per_epoch=2"});
    return sets;
  }
};

// The search's scores are validation AUCs and its stage takes no step; the
// final model is the retrain's at the searched dimensions.
void CheckRun(const nlohmann::json& r) {
  ASSERT_EQ(r["stages"].size(), 3u) << r.dump(2);
  int search_evals = 0;
  for (const auto& h : r["history"]) search_evals += h["stage"] == 1 ? 1 : 0;
  EXPECT_EQ(search_evals, 1);
  EXPECT_EQ(r["steps"].get<int64_t>(), 300) << "the search stage took training steps";
  EXPECT_LT(r["inference_memory_ratio"].get<double>(), 1.07);
  EXPECT_GT(r["test_auc"].get<double>(), 0.65) << r.dump(2);
}

TEST_F(OptEmbedTrainTest, TrainsInOneProcessAndOnTwoServersTwoWorkers) {
  auto cfg = LoadTrainConfig("", Sets("optembed_single"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto one = (*t)->Run(false);
  ASSERT_TRUE(one.ok()) << one.status();
  CheckRun(*one);

  std::vector<std::string> csets = Sets("optembed_sim22");
  csets.insert(csets.end(), {"cluster.servers=2", "cluster.workers=2"});
  auto ccfg = LoadTrainConfig("", csets);
  ASSERT_TRUE(ccfg.ok()) << ccfg.status();
  auto shape = launch::ClusterShapeFromConfig(*ccfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto two = launch::RunSimulation(*ccfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(two.ok()) << two.status();
  CheckRun(*two);
  std::printf("optembed test_auc %.5f (1 process) %.5f (2 servers, 2 workers) ratio %.4f / %.4f\n",
              (*one)["test_auc"].get<double>(), (*two)["test_auc"].get<double>(),
              (*one)["inference_memory_ratio"].get<double>(),
              (*two)["inference_memory_ratio"].get<double>());
}

}  // namespace
}  // namespace ecps
