#include "compressors/dimension/autodim.h"

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
#include "tests/compressors/reference/autodim_reference.h"
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
  static const FeatureSpace* const kSpace = new FeatureSpace(Space({3, 40, 250, 1000, 17}, 8));
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
  static const ParamSchema* const kSchema = new ParamSchema(AutoDimEmbedding::Schema());
  ParamSet p(kSchema);
  for (const auto& [k, v] : kv) EXPECT_TRUE(p.Set(k, v).ok()) << k;
  return p;
}

std::unique_ptr<EmbeddingLayer> MakeLayer(const CompressorContext& ctx, const ParamSet& p) {
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  auto layer =
      std::make_unique<EmbeddingLayer>(std::make_unique<AutoDimEmbedding>(), NewLocalRowStore(opt));
  const Status st = layer->Init(ctx, p);
  EXPECT_TRUE(st.ok()) << st;
  return layer;
}

AutoDimEmbedding& Method(EmbeddingLayer& l) {
  return static_cast<AutoDimEmbedding&>(l.compressor());
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

template <typename T>
std::vector<double> Doubles(std::span<T> v) {
  return std::vector<double>(v.begin(), v.end());
}

// A few training steps through the layer, the dense parameters stepped by SGD
// (the trainer's dense optimizer).
void Train(EmbeddingLayer* l, int steps, uint64_t seed) {
  Rng rng(seed);
  for (int t = 1; t <= steps; ++t) {
    const std::vector<uint32_t> keys = Keys(Small(), 16, &rng);
    std::vector<float> out(keys.size() * Small().dim);
    ECPS_ASSERT_OK(l->Forward(keys, out.data(), true));
    ECPS_ASSERT_OK(l->Backward(Normal(out.size(), &rng).data(), t));
    std::span<float> p = l->compressor().DenseParams();
    std::span<float> g = l->compressor().DenseGrads();
    for (size_t i = 0; i < p.size(); ++i) p[i] -= 0.05f * g[i];
    ASSERT_TRUE(l->AfterStep(t).ok());
  }
}

TEST(AutoDimTest, CandidatesArePowersOfTwoThenD) {
  for (auto [d, want] : std::vector<std::pair<int, std::vector<int>>>{
           {16, {2, 4, 8, 16}}, {8, {2, 4, 8}}, {12, {2, 4, 8, 12}}, {2, {2}}}) {
    AutoDimEmbedding m;
    ECPS_ASSERT_OK(m.Init(Ctx(Space({5, 9}, d)), Params()));
    EXPECT_EQ(m.candidates(), want) << "d = " << d;
  }
}

TEST(AutoDimTest, SearchLookupMatchesTheReferenceInBothModes) {
  auto layer = MakeLayer(Ctx(Small()), Params({{"tau_decay", "0.05"}}));
  Train(layer.get(), 6, 1);
  AutoDimEmbedding& m = Method(*layer);
  EXPECT_NEAR(m.tau(), 1 - 0.05 * 6, 1e-12);
  Rng rng(2);
  const std::vector<uint32_t> keys = Keys(Small(), 24, &rng);
  const auto tables = StoredRows(*layer);
  for (bool training : {false, true}) {
    LookupPlan plan;
    plan.training = training;
    plan.noise_seed = 77;
    m.Encode(keys, &plan);
    FetchedRows rows;
    ECPS_ASSERT_OK(layer->store().Gather(plan, &rows));
    std::vector<float> out(keys.size() * Small().dim);
    m.Decode(plan, rows, out.data());
    const std::vector<float> g = m.Gumbel(77);
    const std::vector<double> noise =
        training ? std::vector<double>(g.begin(), g.end()) : std::vector<double>{};
    const std::vector<double> want =
        autodim_ref::Lookup(m, Small(), tables, Doubles(m.DenseParams()), Doubles(m.DenseBuffers()),
                            keys, training, noise, m.tau());
    for (size_t i = 0; i < out.size(); ++i)
      ASSERT_NEAR(out[i], want[i], 2e-4 * std::max(1.0, std::abs(want[i])))
          << (training ? "training" : "evaluation") << " element " << i;
  }
  // The noise differs per batch seed and is deterministic.
  EXPECT_EQ(m.Gumbel(5), m.Gumbel(5));
  EXPECT_NE(m.Gumbel(5), m.Gumbel(6));
}

// Row and dense gradients of a training plan (BatchNorm over the batch, the
// Gumbel-softmax at fixed noise, τ < 1) against central differences of the
// double reference of L = Σ g·lookup.
TEST(AutoDimTest, SearchGradientsMatchFiniteDifferencesInDouble) {
  const FeatureSpace s = Space({4, 30, 9}, 4);
  AutoDimEmbedding m;
  ECPS_ASSERT_OK(m.Init(Ctx(s), Params({{"tau_decay", "0.1"}})));
  for (int t = 1; t <= 3; ++t) ECPS_ASSERT_OK(m.AfterStep(t));
  ASSERT_NEAR(m.tau(), 0.7, 1e-12);
  Rng rng(4);
  std::span<float> pf = m.DenseParams();
  for (float& v : pf) v = static_cast<float>(rng.Normal() * 0.5);
  std::vector<std::vector<double>> tables;
  for (const RowTableSpec& t : m.Tables()) {
    tables.emplace_back(t.rows * t.width);
    for (double& v : tables.back()) v = static_cast<float>(rng.Normal() * 0.5);
  }
  const std::vector<uint32_t> keys = Keys(s, 7, &rng);
  const std::vector<float> g = Normal(keys.size() * s.dim, &rng);
  LookupPlan plan;
  plan.training = true;
  plan.noise_seed = 12;
  m.Encode(keys, &plan);
  FetchedRows rows, grads;
  for (size_t t = 0; t < plan.rows.size(); ++t) {
    const int w = m.Tables()[t].width;
    rows.values.emplace_back();
    for (uint64_t r : plan.rows[t])
      for (int c = 0; c < w; ++c)
        rows.values.back().push_back(static_cast<float>(tables[t][r * w + c]));
    grads.values.emplace_back(rows.values.back().size(), std::nanf(""));
  }
  std::vector<float> out(keys.size() * s.dim);
  m.Decode(plan, rows, out.data());
  m.DecodeBackward(plan, rows, g.data(), &grads);
  const std::vector<float> gn = m.Gumbel(12);
  const std::vector<double> noise(gn.begin(), gn.end());
  const std::vector<double> params = Doubles(m.DenseParams());
  const std::vector<double> buffers = Doubles(m.DenseBuffers());
  auto loss = [&](const std::vector<std::vector<double>>& tb, const std::vector<double>& p) {
    const std::vector<double> o =
        autodim_ref::Lookup(m, s, tb, p, buffers, keys, true, noise, m.tau());
    double l = 0;
    for (size_t i = 0; i < o.size(); ++i) l += g[i] * o[i];
    return l;
  };
  const double h = 1e-6;
  const std::span<float> dg = m.DenseGrads();
  ASSERT_EQ(dg.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    std::vector<double> a = params, b = params;
    a[i] += h;
    b[i] -= h;
    const double fd = (loss(tables, a) - loss(tables, b)) / (2 * h);
    ASSERT_NEAR(dg[i], fd, 2e-3 * std::max(1.0, std::abs(fd)))
        << "dense parameter " << i << (i >= m.alpha_offset() ? " (alpha)" : "");
  }
  for (size_t t = 0; t < plan.rows.size(); ++t) {
    const int w = m.Tables()[t].width;
    for (size_t k = 0; k < plan.rows[t].size(); ++k) {
      const uint64_t r = plan.rows[t][k];
      for (int c = 0; c < w; ++c) {
        double slot = 0;
        for (size_t k2 = 0; k2 < plan.rows[t].size(); ++k2)
          if (plan.rows[t][k2] == r) slot += grads.values[t][k2 * w + c];
        std::vector<std::vector<double>> a = tables, b = tables;
        a[t][r * w + c] += h;
        b[t][r * w + c] -= h;
        const double fd = (loss(a, params) - loss(b, params)) / (2 * h);
        ASSERT_NEAR(slot, fd, 2e-3 * std::max(1.0, std::abs(fd)))
            << "table " << t << " row " << r << " col " << c;
      }
    }
  }
}

TEST(AutoDimTest, RetrainKeepsTheArgmaxRowsAndMaps) {
  const FeatureSpace& s = Small();
  auto layer = MakeLayer(Ctx(s), Params());
  Train(layer.get(), 4, 3);
  AutoDimEmbedding& m = Method(*layer);
  const int nk = static_cast<int>(m.candidates().size());
  // Field f's α favours candidate f mod |D|.
  std::span<float> p = m.DenseParams();
  for (int f = 0; f < s.num_fields(); ++f) p[m.alpha_offset() + f * nk + f % nk] += 10.0f;
  const std::vector<float> search(p.begin(), p.end());
  const std::vector<int> cands = m.candidates();
  std::vector<size_t> w_off, b_off;
  for (int k = 0; k < nk; ++k) w_off.push_back(m.w_offset(k)), b_off.push_back(m.b_offset(k));
  const auto before = StoredRows(*layer);
  ECPS_ASSERT_OK(layer->BeginStage(1));
  ASSERT_EQ(m.stage(), 1);
  const auto after = StoredRows(*layer);
  const int d = s.dim;
  uint64_t rows = 0, proj = 0, search_words = 0;
  for (int c : cands) search_words += s.total() * c;
  for (int f = 0; f < s.num_fields(); ++f) {
    const int k = f % nk, w = cands[k];
    ASSERT_EQ(m.dims()[f], w) << "field " << f;
    rows += s.cardinalities[f] * w;
    proj += (w + 1) * d;
    for (uint64_t x = 0; x < s.cardinalities[f]; ++x)
      for (int a = 0; a < w; ++a)
        ASSERT_EQ(after[m.table(f)][(m.table_offset(f) + x) * w + a],
                  before[k][(s.offsets[f] + x) * w + a])
            << "field " << f << " id " << x;
    for (int e = 0; e < w * d; ++e)
      ASSERT_EQ(m.DenseParams()[m.field_offset(f) + e], search[w_off[k] + f * w * d + e]);
    for (int j = 0; j < d; ++j)
      ASSERT_EQ(m.DenseParams()[m.field_offset(f) + w * d + j], search[b_off[k] + f * d + j]);
  }
  EXPECT_TRUE(m.DenseBuffers().empty()) << "no BatchNorm in the retrain";
  // Each field starts at a row congruent to its global ids modulo 64: every
  // copy of the stage change stays on its server.
  for (const RowCopy& c : m.StageCopies(1))
    EXPECT_EQ(c.src_begin % m.shard_align(), c.dst_begin % m.shard_align());
  uint64_t gaps = 0;  // unused rows, fewer than 64 per field
  for (const RowTableSpec& t : m.Tables()) gaps += t.rows * t.width;
  gaps -= rows;
  EXPECT_LT(gaps, 64u * s.num_fields() * d);
  rows += gaps;
  const MemoryReport r = layer->Memory();
  EXPECT_EQ(r.parameter_bytes, 4 * (search_words + rows));
  EXPECT_EQ(r.inference_bytes, 4 * rows + 4 * proj + 4 * s.num_fields());
  EXPECT_EQ(layer->store().parameter_bytes(), 4 * rows) << "rows at dim_f, not padded to d";
  // The retrain lookup against the reference, after a few steps.
  Train(layer.get(), 3, 4);
  Rng rng(9);
  const std::vector<uint32_t> keys = Keys(s, 20, &rng);
  std::vector<float> out(keys.size() * d);
  ECPS_ASSERT_OK(layer->Forward(keys, out.data(), false));
  const std::vector<double> want = autodim_ref::Lookup(
      m, s, StoredRows(*layer), Doubles(m.DenseParams()), {}, keys, false, {}, 1.0);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-5) << i;
  // The stage's state restores the dimensions into a fresh instance.
  AutoDimEmbedding fresh;
  ECPS_ASSERT_OK(fresh.Init(Ctx(s), Params()));
  ECPS_ASSERT_OK(fresh.LoadState(m.SaveState()));
  EXPECT_EQ(fresh.stage(), 1);
  EXPECT_EQ(fresh.dims(), m.dims());
  EXPECT_EQ(fresh.Tables(), m.Tables());
  EXPECT_EQ(fresh.DenseParams().size(), m.DenseParams().size());
  EXPECT_EQ(fresh.search_steps(), 4);
  // Another tau_decay is another configuration.
  AutoDimEmbedding other;
  ECPS_ASSERT_OK(other.Init(Ctx(s), Params({{"tau_decay", "0.5"}})));
  const Status st = other.LoadState(m.SaveState());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
}

TEST(AutoDimTest, ShardAlignOneStacksTheFieldsWithoutGaps) {
  auto layer = MakeLayer(Ctx(Small()), Params({{"shard_align", "1"}}));
  ECPS_ASSERT_OK(layer->BeginStage(1));
  const AutoDimEmbedding& m = Method(*layer);
  uint64_t rows = 0, stored = 0;
  for (int f = 0; f < Small().num_fields(); ++f) rows += Small().cardinalities[f] * m.dims()[f];
  for (const RowTableSpec& t : m.Tables()) stored += t.rows * t.width;
  EXPECT_EQ(stored, rows);
}

TEST(AutoDimTest, ResetRetrainStartsFresh) {
  auto layer = MakeLayer(Ctx(Small()), Params({{"reset_retrain", "true"}}));
  Train(layer.get(), 2, 5);
  ECPS_ASSERT_OK(layer->BeginStage(1));
  EXPECT_TRUE(Method(*layer).StageCopies(1).empty());
  for (float v : layer->compressor().DenseParams()) EXPECT_TRUE(std::isfinite(v));
}

class AutoDimTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_autodim_test", 12000, 6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  static std::vector<std::string> Sets(const std::string& out) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(), {"embedding.method=autodim", "embedding.budget=1",
                             "train.max_steps=200", "train.evals_per_epoch=2"});
    return sets;
  }
};

TEST_F(AutoDimTrainTest, SearchesThenRetrainsInOneProcessAndOnTwoServersTwoWorkers) {
  auto cfg = LoadTrainConfig("", Sets("autodim_single"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto one = (*t)->Run(false);
  ASSERT_TRUE(one.ok()) << one.status();
  const double auc1 = (*one)["test_auc"].get<double>();
  const double ratio = (*one)["inference_memory_ratio"].get<double>();
  ASSERT_EQ((*one)["stages"].size(), 2u);

  std::vector<std::string> csets = Sets("autodim_sim22");
  csets.insert(csets.end(), {"cluster.servers=2", "cluster.workers=2"});
  auto ccfg = LoadTrainConfig("", csets);
  ASSERT_TRUE(ccfg.ok()) << ccfg.status();
  auto shape = launch::ClusterShapeFromConfig(*ccfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto two = launch::RunSimulation(*ccfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(two.ok()) << two.status();
  const double auc2 = (*two)["test_auc"].get<double>();
  std::printf("autodim test_auc %.5f (1 process) %.5f (2 servers, 2 workers) ratio %.4f / %.4f\n",
              auc1, auc2, ratio, (*two)["inference_memory_ratio"].get<double>());
  EXPECT_GT(auc1, 0.65) << one->dump(2);
  EXPECT_GT(auc2, 0.65);
  EXPECT_EQ((*one)["steps"], (*two)["steps"]);
  // The retrain's dimensions are the search's choice, at most d: a ratio
  // below the full table plus its projections, reported as reached.
  EXPECT_GT(ratio, 0.0);
  EXPECT_LT(ratio, 1.1);
  // The search holds every candidate's table: (2+4+8)/8 + 1 of the d = 8
  // table before Adam, more than the full table's training memory.
  EXPECT_GT((*one)["training_memory"]["embedding_ratio"].get<double>(), 3.0);
}

// The retrain stage's checkpoint (the chosen dimensions in the method state,
// the retrain-sized MDNS, no MDBF) loads into a fresh trainer: resuming the
// finished run trains nothing more and ends with the same model.
TEST_F(AutoDimTrainTest, RetrainCheckpointResumesIntoAFreshTrainer) {
  auto run = [&](bool resume) {
    std::vector<std::string> sets = Sets("autodim_resume");
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
