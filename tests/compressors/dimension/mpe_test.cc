#include "compressors/dimension/mpe.h"

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
#include "tests/compressors/reference/mpe_reference.h"
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

constexpr int K = MpeEmbedding::kClasses;

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

// Zipf-like counts: id x of a field seen ~1000/(x+1) times.
std::vector<uint32_t> Counts(const FeatureSpace& s) {
  std::vector<uint32_t> c(s.total());
  for (int f = 0; f < s.num_fields(); ++f)
    for (uint64_t x = 0; x < s.cardinalities[f]; ++x)
      c[s.offsets[f] + x] = static_cast<uint32_t>(1000 / (x + 1));
  return c;
}

const std::vector<uint32_t>& SmallCounts() {
  static const auto* const kCounts = new std::vector<uint32_t>(Counts(Small()));
  return *kCounts;
}

CompressorContext Ctx(const FeatureSpace& s, double budget, std::span<const uint32_t> counts,
                      uint64_t seed = 3) {
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  ctx.seed = seed;
  ctx.train_counts = counts;
  return ctx;
}

ParamSet Params(std::vector<std::pair<std::string, std::string>> kv = {}) {
  static const ParamSchema* const kSchema = new ParamSchema(MpeEmbedding::Schema());
  ParamSet p(kSchema);
  for (const auto& [k, v] : kv) EXPECT_TRUE(p.Set(k, v).ok()) << k;
  return p;
}

std::unique_ptr<EmbeddingLayer> MakeLayer(const CompressorContext& ctx, const ParamSet& p) {
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  auto layer =
      std::make_unique<EmbeddingLayer>(std::make_unique<MpeEmbedding>(), NewLocalRowStore(opt));
  const Status st = layer->Init(ctx, p);
  EXPECT_TRUE(st.ok()) << st;
  return layer;
}

const MpeEmbedding& Method(EmbeddingLayer& l) {
  return static_cast<const MpeEmbedding&>(l.compressor());
}

void Train(EmbeddingLayer* l, const FeatureSpace& s, int steps, Rng* rng) {
  for (int t = 1; t <= steps; ++t) {
    const std::vector<uint32_t> keys = Keys(s, 16, rng);
    std::vector<float> out(keys.size() * s.dim);
    ECPS_ASSERT_OK(l->Forward(keys, out.data(), true));
    ECPS_ASSERT_OK(l->Backward(Normal(out.size(), rng).data(), t));
    std::span<float> p = l->compressor().DenseParams();
    std::span<float> g = l->compressor().DenseGrads();
    for (size_t i = 0; i < p.size(); ++i) p[i] -= 0.5f * g[i];
  }
}

double FullBytes(const FeatureSpace& s) { return 4.0 * static_cast<double>(s.total()) * s.dim; }

TEST(MpeTest, GroupsFollowTheTrainCounts) {
  MpeEmbedding m;
  ECPS_ASSERT_OK(m.Init(Ctx(Small(), 0.2, SmallCounts()), Params({{"groups", "7"}})));
  ASSERT_EQ(m.num_groups(), 7);
  uint64_t sum = 0;
  for (uint64_t c : m.group_sizes()) {
    EXPECT_GE(c, Small().total() / 7);
    EXPECT_LE(c, Small().total() / 7 + 1);
    sum += c;
  }
  EXPECT_EQ(sum, Small().total());
  // A more frequent feature is never in a later group.
  for (uint64_t a = 0; a < Small().total(); a += 37)
    for (uint64_t b = 0; b < Small().total(); b += 41)
      if (SmallCounts()[a] > SmallCounts()[b]) {
        EXPECT_LE(m.group(a), m.group(b)) << a << " " << b;
      }
}

TEST(MpeTest, FakeQuantisationMatchesTheReference) {
  Rng rng(2);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> v(16);
    for (float& x : v) x = static_cast<float>(rng.Normal() * std::pow(10.0, trial % 7 - 4));
    for (int k = 0; k < K; ++k) {
      std::vector<float> got(16);
      MpeEmbedding::FakeQuant(k, v.data(), 16, got.data());
      const std::vector<double> want = mpe_ref::Quant(k, v);
      for (int j = 0; j < 16; ++j)
        ASSERT_NEAR(got[j], want[j], 1e-6 * std::abs(want[j]) + 1e-30)
            << "class " << k << " trial " << trial << " element " << j;
    }
  }
}

TEST(MpeTest, SearchLookupMatchesTheReferenceAfterTraining) {
  const FeatureSpace& s = Small();
  auto layer = MakeLayer(Ctx(s, 0.2, SmallCounts()), Params({{"groups", "5"}}));
  Rng rng(5);
  Train(layer.get(), s, 5, &rng);
  const std::span<float> a = layer->compressor().DenseParams();
  ASSERT_FALSE(std::all_of(a.begin(), a.end(), [](float x) { return x == 0; }));
  const std::vector<uint32_t> keys = Keys(s, 32, &rng);
  std::vector<float> out(keys.size() * s.dim);
  ECPS_ASSERT_OK(layer->Forward(keys, out.data(), false));
  std::vector<float> table(s.total() * s.dim);
  ECPS_ASSERT_OK(layer->store().ReadRows(0, 0, s.total(), table.data()));
  const std::vector<double> alpha(a.begin(), a.end());
  const std::vector<double> want =
      mpe_ref::SearchLookup(Method(*layer), s, table, alpha, 1.0, keys);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-5) << i;
}

// α's gradient against central differences of the double reference of
// L = Σ g·lookup + γ·(expected ratio); the rows get the straight-through
// (1 − w_0)·g.
TEST(MpeTest, SearchGradientsMatchFiniteDifferencesInDouble) {
  const FeatureSpace s = Space({2, 30, 500, 9}, 8);
  const std::vector<uint32_t> counts = Counts(s);
  const double gamma = 0.7, tau = 0.8;
  MpeEmbedding m;
  ECPS_ASSERT_OK(m.Init(
      Ctx(s, 0.3, counts),
      Params({{"groups", "4"}, {"gamma", std::to_string(gamma)}, {"tau", std::to_string(tau)}})));
  Rng rng(9);
  std::span<float> a = m.DenseParams();
  for (float& v : a) v = static_cast<float>(rng.Normal());
  const std::vector<double> alpha(a.begin(), a.end());
  std::vector<float> table(s.total() * s.dim);
  for (float& v : table) v = static_cast<float>(rng.Normal() * 0.3);
  const std::vector<uint32_t> keys = Keys(s, 6, &rng);
  const std::vector<float> g = Normal(keys.size() * s.dim, &rng);
  LookupPlan plan;
  plan.training = true;
  m.Encode(keys, &plan);
  FetchedRows rows, grads;
  rows.values.emplace_back();
  for (uint64_t r : plan.rows[0])
    for (int c = 0; c < s.dim; ++c) rows.values[0].push_back(table[r * s.dim + c]);
  grads.values.emplace_back(rows.values[0].size(), std::nanf(""));
  std::vector<float> out(keys.size() * s.dim);
  m.Decode(plan, rows, out.data());
  m.DecodeBackward(plan, rows, g.data(), &grads);
  auto loss = [&](const std::vector<double>& al) {
    const std::vector<double> o = mpe_ref::SearchLookup(m, s, table, al, tau, keys);
    double l = 0;
    for (size_t i = 0; i < o.size(); ++i) l += g[i] * o[i];
    for (int grp = 0; grp < m.num_groups(); ++grp) {
      double z = 0;
      for (int k = 0; k < K; ++k) z += std::exp(al[grp * K + k] / tau);
      for (int k = 0; k < K; ++k)
        l += gamma * static_cast<double>(m.group_sizes()[grp]) / s.total() *
             std::exp(al[grp * K + k] / tau) / z * MpeEmbedding::RowBytes(k, s.dim) / (4.0 * s.dim);
    }
    return l;
  };
  const double h = 1e-6;
  const std::span<float> dg = m.DenseGrads();
  for (size_t i = 0; i < alpha.size(); ++i) {
    std::vector<double> p = alpha, q = alpha;
    p[i] += h;
    q[i] -= h;
    const double fd = (loss(p) - loss(q)) / (2 * h);
    ASSERT_NEAR(dg[i], fd, 1e-4 * std::max(1.0, std::abs(fd))) << "alpha " << i;
  }
  const std::vector<double> w = m.Weights();
  for (size_t i = 0; i < keys.size(); ++i) {
    const int grp = m.group(plan.rows[0][i]);
    for (int c = 0; c < s.dim; ++c)
      ASSERT_NEAR(grads.values[0][i * s.dim + c], (1 - w[grp * K]) * g[i * s.dim + c], 1e-6);
  }
}

TEST(MpeTest, BudgetIsMetOnCriteoAndNeverExceeded) {
  static const auto* const kCounts = new std::vector<uint32_t>(Counts(Criteo()));
  for (double b : {0.5, 0.25, 0.1, 0.05}) {
    MpeEmbedding m;
    ECPS_ASSERT_OK(m.Init(Ctx(Criteo(), b, *kCounts), Params()));
    const double r = m.Memory().inference_bytes / FullBytes(Criteo());
    std::printf("mpe budget %g ratio %.6f\n", b, r);
    EXPECT_LE(r, b);
    // The slack left is below the cheapest raise, a group of n/128 features
    // from 0 to 4 bits (0.146% of the table): within 1% down to 10%.
    EXPECT_GE(r, b >= 0.1 ? 0.99 * b : b - 0.00147) << "budget " << b;
  }
  // Below the map (4 bits + the directory per feature, 0.98% at d = 16) no
  // row fits: every group at 0 bits, the map's ratio.
  MpeEmbedding tiny;
  ECPS_ASSERT_OK(tiny.Init(Ctx(Criteo(), 0.001, *kCounts), Params()));
  for (int c : tiny.ChosenClasses()) EXPECT_EQ(c, 0);
  EXPECT_EQ(tiny.Memory().inference_bytes, MpeEmbedding::MapBytes(Criteo().total()));
  // The full budget: the map's 0.98% leaves the last groups at 16 bits.
  MpeEmbedding full;
  ECPS_ASSERT_OK(full.Init(Ctx(Criteo(), 1.0, *kCounts), Params()));
  const std::vector<int> classes = full.ChosenClasses();
  EXPECT_EQ(classes.front(), 4);
  for (int c : classes) EXPECT_GE(c, 3);
  EXPECT_GE(full.Memory().inference_bytes / FullBytes(Criteo()), 0.99);
}

TEST(MpeTest, SolverFollowsTheLearnedDistribution) {
  // Four equal groups; group 0 prefers 32 bits, group 3 strongly 0 bits.
  const std::vector<uint64_t> sizes(4, 1000);
  std::vector<double> log_w(4 * K, std::log(0.2));
  log_w[0 * K + 4] = std::log(0.9);
  log_w[3 * K + 0] = std::log(0.99);
  const uint64_t full = 4 * 1000 * 4 * 16;  // 4 groups of 1000 rows of 64 B
  const std::vector<int> roomy = MpeEmbedding::SolveClasses(sizes, 16, log_w, full);
  EXPECT_EQ(roomy[0], 4);
  EXPECT_EQ(roomy[3], 4) << "slack is spent";
  const std::vector<int> tight = MpeEmbedding::SolveClasses(sizes, 16, log_w, full / 4);
  EXPECT_EQ(tight[0], 4) << "the group that wants 32 bits gets them first";
  EXPECT_EQ(tight[3], 0);
  uint64_t bytes = 0;
  for (int g = 0; g < 4; ++g) bytes += sizes[g] * MpeEmbedding::RowBytes(tight[g], 16);
  EXPECT_LE(bytes, full / 4);
}

// The retrain's map against the reference's counting, the lookup against the
// stored rows, and memory exact.
TEST(MpeTest, RetrainMapLookupAndMemory) {
  const FeatureSpace& s = Small();
  for (double b : {0.6, 0.3, 0.12}) {
    auto layer = MakeLayer(Ctx(s, b, SmallCounts()), Params({{"groups", "16"}}));
    Rng rng(6);
    Train(layer.get(), s, 4, &rng);
    ECPS_ASSERT_OK(layer->BeginStage(1));
    const MpeEmbedding& m = Method(*layer);
    const std::vector<int> classes = m.ChosenClasses();
    for (uint64_t x = 0; x < s.total(); ++x) {
      ASSERT_EQ(m.feature_class(x), mpe_ref::Class(m, classes, x)) << x;
      if (m.feature_class(x) > 0) {
        ASSERT_EQ(m.feature_row(x), mpe_ref::Row(m, classes, x)) << x;
      }
    }
    Train(layer.get(), s, 3, &rng);
    const std::vector<uint32_t> keys = Keys(s, 32, &rng);
    std::vector<float> out(keys.size() * s.dim);
    ECPS_ASSERT_OK(layer->Forward(keys, out.data(), false));
    for (size_t i = 0; i < keys.size(); ++i) {
      const uint64_t x = s.offsets[i % s.num_fields()] + keys[i];
      const int k = m.feature_class(x);
      std::vector<float> row(s.dim, 0.0f);
      if (k > 0) ECPS_ASSERT_OK(layer->store().ReadRows(k - 1, m.feature_row(x), 1, row.data()));
      for (int j = 0; j < s.dim; ++j) ASSERT_EQ(out[i * s.dim + j], row[j]) << i;
    }
    uint64_t rows = 0;
    for (const RowTableSpec& t : layer->compressor().Tables()) rows += t.rows * StoredRowBytes(t);
    const MemoryReport r = layer->Memory();
    EXPECT_EQ(layer->store().parameter_bytes(), rows);
    EXPECT_EQ(r.parameter_bytes, 4 * s.total() * s.dim + rows);
    EXPECT_EQ(r.auxiliary_bytes, MpeEmbedding::MapBytes(s.total()));
    EXPECT_EQ(r.inference_bytes, rows + MpeEmbedding::MapBytes(s.total()));
    EXPECT_LE(static_cast<double>(r.inference_bytes), std::floor(b * FullBytes(s)));
  }
}

TEST(MpeTest, StateRoundTripsAtEveryStageAndOtherInitsAreRefused) {
  const FeatureSpace& s = Small();
  const CompressorContext ctx = Ctx(s, 0.3, SmallCounts(), 7);
  auto a = MakeLayer(ctx, Params());
  Rng rng(3);
  Train(a.get(), s, 3, &rng);
  for (int stage = 0; stage < 2; ++stage) {
    SCOPED_TRACE("stage " + std::to_string(stage));
    if (stage > 0) ECPS_ASSERT_OK(a->BeginStage(stage));
    MpeEmbedding b;
    ECPS_ASSERT_OK(b.Init(ctx, Params()));
    ECPS_ASSERT_OK(b.LoadState(a->compressor().SaveState()));
    EXPECT_EQ(b.SaveState(), a->compressor().SaveState());
    EXPECT_EQ(b.Tables(), a->compressor().Tables());
  }
  // Other train counts make other groups: refused by name.
  std::vector<uint32_t> other_counts(SmallCounts().rbegin(), SmallCounts().rend());
  MpeEmbedding other;
  ECPS_ASSERT_OK(other.Init(Ctx(s, 0.3, other_counts, 7), Params()));
  const Status st = other.LoadState(a->compressor().SaveState());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(std::string(st.message()).find("frequency groups"), std::string::npos) << st;
}

TEST(MpeTest, SameSeedSameModel) {
  auto a = MakeLayer(Ctx(Small(), 0.3, SmallCounts(), 11), Params());
  auto b = MakeLayer(Ctx(Small(), 0.3, SmallCounts(), 11), Params());
  for (auto* l : {a.get(), b.get()}) {
    Rng rng(1);
    Train(l, Small(), 3, &rng);
    ECPS_ASSERT_OK(l->BeginStage(1));
    Train(l, Small(), 3, &rng);
  }
  EXPECT_EQ(a->compressor().SaveState(), b->compressor().SaveState());
  auto sa = a->Save(), sb = b->Save();
  ASSERT_TRUE(sa.ok() && sb.ok());
  EXPECT_EQ(*sa, *sb);
}

class MpeTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_mpe_test", 12000, 6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  static std::vector<std::string> Sets(const std::string& out) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(), {"embedding.method=mpe", "embedding.budget=0.2", "train.max_steps=150",
                             "train.evals_per_epoch=2"});
    return sets;
  }
};

TEST_F(MpeTrainTest, TrainsInOneProcessAndOnTwoServersTwoWorkers) {
  auto cfg = LoadTrainConfig("", Sets("mpe_single"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto one = (*t)->Run(false);
  ASSERT_TRUE(one.ok()) << one.status();

  std::vector<std::string> csets = Sets("mpe_sim22");
  csets.insert(csets.end(), {"cluster.servers=2", "cluster.workers=2"});
  auto ccfg = LoadTrainConfig("", csets);
  ASSERT_TRUE(ccfg.ok()) << ccfg.status();
  auto shape = launch::ClusterShapeFromConfig(*ccfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto two = launch::RunSimulation(*ccfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(two.ok()) << two.status();
  for (const nlohmann::json* r : {&*one, &*two}) {
    ASSERT_EQ((*r)["stages"].size(), 2u);
    EXPECT_LE((*r)["inference_memory_ratio"].get<double>(), 0.2);
    EXPECT_GT((*r)["inference_memory_ratio"].get<double>(), 0.19);
    EXPECT_GT((*r)["test_auc"].get<double>(), 0.6) << r->dump(2);
  }
  std::printf("mpe test_auc %.5f (1 process) %.5f (2 servers, 2 workers) ratio %.4f / %.4f\n",
              (*one)["test_auc"].get<double>(), (*two)["test_auc"].get<double>(),
              (*one)["inference_memory_ratio"].get<double>(),
              (*two)["inference_memory_ratio"].get<double>());
  EXPECT_EQ((*one)["steps"], (*two)["steps"]);
  EXPECT_NEAR((*one)["test_auc"].get<double>(), (*two)["test_auc"].get<double>(), 0.02);
}

TEST_F(MpeTrainTest, RetrainCheckpointResumesIntoAFreshTrainer) {
  auto run = [&](bool resume) {
    std::vector<std::string> sets = Sets("mpe_resume");
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
}

}  // namespace
}  // namespace ecps
