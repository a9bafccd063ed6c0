// AutoSrh (docs/methods.md §2.25): the frequency groups against the naive
// reference (ties never split), the budget's format and nonzeros, the
// search's lookup against the reference and its gradients (rows and α) by
// finite differences, α's normalised step and clip against the reference,
// the prune of E ⊙ α within the budget in both orders with the sparse
// lookups against the masked dense reference and exact memory, the paper
// order's retrain of the kept values, resuming in the middle of the search
// and of the retrain, and training end to end in one process, on 1 + 1 (bit
// for bit) and on 2 servers + 2 workers.
#include "compressors/pruning/autosrh.h"

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
#include "tests/compressors/reference/autosrh_reference.h"
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

ParamSet Params(std::vector<std::string> sets) {
  const CompressorInfo* info = FindCompressor("autosrh");
  EXPECT_NE(info, nullptr);
  ParamSet params(&info->schema);
  for (const std::string& kv : sets) {
    const size_t eq = kv.find('=');
    EXPECT_TRUE(params.Set(kv.substr(0, eq), kv.substr(eq + 1)).ok()) << kv;
  }
  return params;
}

// Zipf-like counts with ties (every value of a field's tail shares a count).
std::vector<uint32_t> Counts(const FeatureSpace& s) {
  std::vector<uint32_t> c(s.total());
  for (int f = 0; f < s.num_fields(); ++f)
    for (uint64_t x = 0; x < s.cardinalities[f]; ++x)
      c[s.offsets[f] + x] = static_cast<uint32_t>(x % 5 == 4 ? 0 : 1 + 200 / (x + 1));
  return c;
}

CompressorContext Context(const FeatureSpace& s, double budget,
                          const std::vector<uint32_t>& counts) {
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  ctx.seed = 5;
  ctx.train_counts = counts;
  return ctx;
}

// ------------------------------------------------------------- groups --

TEST(AutoSrhTest, FrequencyGroupsEqualTheReferenceAndNeverSplitTies) {
  Rng rng(1);
  for (int trial = 0; trial < 20; ++trial) {
    const uint64_t n = 1 + rng.Below(400);
    const uint32_t distinct = 1 + static_cast<uint32_t>(rng.Below(30));
    std::vector<uint32_t> counts(n);
    for (uint32_t& c : counts) c = static_cast<uint32_t>(rng.Below(distinct));
    for (int groups : {1, 2, 6, 17}) {
      const std::vector<uint8_t> got = AutoSrhEmbedding::FrequencyGroups(counts, n, groups);
      const std::vector<int> want = reference::AutoSrhGroups(counts, groups);
      ASSERT_EQ(got.size(), n);
      for (uint64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], want[i]) << n << " " << groups << " " << i;
      // Group g's counts all lie below group g + 1's; equal counts, one group.
      for (uint64_t i = 0; i < n; ++i)
        for (uint64_t j = 0; j < n; ++j) {
          if (counts[i] == counts[j]) {
            ASSERT_EQ(got[i], got[j]);
          } else if (counts[i] < counts[j]) {
            ASSERT_LE(got[i], got[j]);
          }
        }
    }
  }
  // A tie block at the minimum larger than a group is a group by itself; the
  // rest is cut into the groups left.
  std::vector<uint32_t> c(100, 0);
  for (int i = 70; i < 100; ++i) c[i] = static_cast<uint32_t>(i);
  const std::vector<uint8_t> g = AutoSrhEmbedding::FrequencyGroups(c, 100, 6);
  for (int i = 0; i < 70; ++i) EXPECT_EQ(g[i], 0);
  for (int i = 70; i < 76; ++i) EXPECT_EQ(g[i], 1);  // 30 left over 5 groups: 6 each
  EXPECT_EQ(g[99], 5);
  // No counts: one tie block, one group.
  const std::vector<uint8_t> none = AutoSrhEmbedding::FrequencyGroups({}, 50, 6);
  EXPECT_TRUE(std::all_of(none.begin(), none.end(), [](uint8_t x) { return x == 0; }));
}

TEST(AutoSrhTest, CountsOfAnotherSizeAreRefused) {
  const FeatureSpace s = Space({10, 20}, 4);
  std::vector<uint32_t> counts(29, 1);
  AutoSrhEmbedding m;
  const Status st = m.Init(Context(s, 0.5, counts), Params({}));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(std::string(st.message()).find("29 train counts"), std::string::npos) << st;
}

// ---------------------------------------------------------------- budget --

TEST(AutoSrhTest, FormatAndNonzerosFollowTheBudget) {
  const FeatureSpace s = Space({5000, 3000, 700, 10}, 16);
  const std::vector<uint32_t> counts = Counts(s);
  const double nd = 16.0 * static_cast<double>(s.total());
  for (double budget : {0.5, 0.1, 0.01, 0.001}) {
    AutoSrhEmbedding m;
    ECPS_ASSERT_OK(m.Init(Context(s, budget, counts), Params({})));
    EXPECT_EQ(m.format(), budget * 16 >= 3 ? SparseFormat::kCsr : SparseFormat::kCoo);
    const double bytes = static_cast<double>(m.Memory().inference_bytes);
    EXPECT_LE(bytes, std::floor(4 * nd * budget)) << budget;
    EXPECT_GT(bytes + 9, std::floor(4 * nd * budget)) << "one more nonzero would still fit";
    EXPECT_EQ(m.Memory().inference_bytes,
              pruning::SparseBytes(m.format(), s.total(), 16, m.target_nonzeros()));
    // Before the prune the groups (1 B a feature) and α are training memory.
    EXPECT_EQ(
        m.Memory().auxiliary_bytes,
        pruning::IndexBytes(m.format(), s.total(), m.target_nonzeros()) + s.total() + 4 * 6 * 16);
  }
}

// ------------------------------------------------- lookup and gradients --

// A method in the search stage with α in (0, 1), and a plan over keys of
// every group.
struct SearchFixture {
  FeatureSpace s = Space({60, 40, 9}, 6);
  std::vector<uint32_t> counts = Counts(s);
  AutoSrhEmbedding m;
  std::vector<uint32_t> keys;
  LookupPlan plan;
  FetchedRows rows;

  explicit SearchFixture(std::vector<std::string> sets = {}) {
    EXPECT_TRUE(m.Init(Context(s, 0.5, counts), Params(std::move(sets))).ok());
    EXPECT_TRUE(m.BeginStage(1).ok());
    Rng rng(7);
    for (float& a : m.mutable_alpha()) a = static_cast<float>(rng.Uniform(0.1, 0.9));
    keys = testing::Keys(s, 30, &rng);
    m.Encode(keys, &plan);
    rows.values.resize(1);
    rows.values[0] = testing::Normal(keys.size() * s.dim, &rng);
  }
  double Loss(const std::vector<float>& g) const {
    std::vector<float> out(keys.size() * s.dim);
    m.Decode(plan, rows, out.data());
    double l = 0;
    for (size_t i = 0; i < out.size(); ++i) l += static_cast<double>(out[i]) * g[i];
    return l;
  }
};

TEST(AutoSrhTest, SearchLookupEqualsTheReference) {
  SearchFixture f;
  const int d = f.s.dim;
  std::vector<float> out(f.keys.size() * d);
  f.m.Decode(f.plan, f.rows, out.data());
  std::vector<int> group(f.s.total());
  for (uint64_t x = 0; x < f.s.total(); ++x) group[x] = f.m.group(x);
  EXPECT_EQ(group, reference::AutoSrhGroups(f.counts, 6));
  // The fetched rows as a table of the keys' rows (one per key).
  std::vector<int> key_groups(f.keys.size());
  for (size_t i = 0; i < f.keys.size(); ++i) key_groups[i] = group[f.plan.rows[0][i]];
  const std::vector<float> want =
      reference::AutoSrhScaled(f.rows.values[0], key_groups, f.m.alpha(), d);
  EXPECT_EQ(out, want);
}

TEST(AutoSrhTest, RowAndAlphaGradientsMatchFiniteDifferences) {
  SearchFixture f;
  const int d = f.s.dim;
  Rng rng(8);
  const std::vector<float> g = testing::Normal(f.keys.size() * d, &rng);
  // α: the analytic gradient of Σ out ⊙ g against central differences.
  const std::vector<double> da = f.m.AlphaGradient(f.plan, f.rows, g.data());
  ASSERT_EQ(da.size(), f.m.alpha().size());
  for (size_t k = 0; k < da.size(); ++k) {
    const float a = f.m.alpha()[k];
    const float h = 1e-2f;
    f.m.mutable_alpha()[k] = a + h;
    const double up = f.Loss(g);
    f.m.mutable_alpha()[k] = a - h;
    const double down = f.Loss(g);
    f.m.mutable_alpha()[k] = a;
    EXPECT_NEAR(da[k], (up - down) / (2.0 * h), 1e-3 * std::max(1.0, std::fabs(da[k]))) << k;
  }
  // Rows: DecodeBackward of an evaluation plan (α does not step) against
  // central differences of the fetched values.
  FetchedRows grads;
  grads.values.resize(1);
  grads.values[0].assign(f.rows.values[0].size(), 0.0f);
  const std::vector<float> before = f.m.alpha();
  f.m.DecodeBackward(f.plan, f.rows, g.data(), &grads);
  EXPECT_EQ(f.m.alpha(), before);
  for (size_t k = 0; k < f.rows.values[0].size(); k += 7) {
    const float v = f.rows.values[0][k];
    const float h = 1e-2f;
    f.rows.values[0][k] = v + h;
    const double up = f.Loss(g);
    f.rows.values[0][k] = v - h;
    const double down = f.Loss(g);
    f.rows.values[0][k] = v;
    EXPECT_NEAR(grads.values[0][k], (up - down) / (2.0 * h), 1e-3) << k;
  }
}

TEST(AutoSrhTest, AlphaStepIsTheNormalisedClippedSgdOfTheReference) {
  SearchFixture f({"alpha_lr=0.05", "alpha_l1=0.01"});
  const int d = f.s.dim;
  f.plan.training = true;
  Rng rng(9);
  FetchedRows grads;
  grads.values.resize(1);
  grads.values[0].assign(f.rows.values[0].size(), 0.0f);
  for (int step = 0; step < 40; ++step) {
    const std::vector<float> g = testing::Normal(f.keys.size() * d, &rng);
    const std::vector<float> before = f.m.alpha();
    const std::vector<float> want = reference::AutoSrhAlphaStep(
        before, f.m.AlphaGradient(f.plan, f.rows, g.data()), f.m.group_sizes(), 0.01, 0.05, d);
    f.m.DecodeBackward(f.plan, f.rows, g.data(), &grads);
    ASSERT_EQ(f.m.alpha(), want) << step;
    for (float a : f.m.alpha()) ASSERT_TRUE(a >= 0.0f && a <= 1.0f);
  }
  // A gradient that always pushes α down ends at the clip, 0.
  std::vector<float> g(f.keys.size() * d);
  for (size_t i = 0; i < g.size(); ++i) g[i] = f.rows.values[0][i] > 0 ? 1.0f : -1.0f;
  for (int step = 0; step < 100; ++step) f.m.DecodeBackward(f.plan, f.rows, g.data(), &grads);
  for (int gr = 0; gr < f.m.num_groups(); ++gr)
    for (int c = 0; c < d; ++c)
      if (f.m.group_sizes()[gr] > 0) {
        EXPECT_EQ(f.m.alpha()[gr * d + c], 0.0f) << gr << " " << c;
      }
}

// ------------------------------------------------------- stages, prune --

struct LayerRun {
  std::unique_ptr<EmbeddingLayer> layer;
  AutoSrhEmbedding* method = nullptr;
};

LayerRun MakeLayer(const FeatureSpace& s, double budget, const std::vector<uint32_t>& counts,
                   std::vector<std::string> sets) {
  SparseOptimizerConfig opt;
  opt.lr = 0.05f;
  LayerRun r;
  auto m = std::make_unique<AutoSrhEmbedding>();
  r.method = m.get();
  r.layer = std::make_unique<EmbeddingLayer>(std::move(m), NewLocalRowStore(opt));
  EXPECT_TRUE(r.layer->Init(Context(s, budget, counts), Params(std::move(sets))).ok());
  return r;
}

std::vector<float> Rows(EmbeddingLayer& l, int table = 0) {
  const RowTableSpec t = l.store().StoredTables()[table];
  std::vector<float> v(t.rows * t.width);
  ECPS_EXPECT_OK(l.store().ReadRows(table, 0, t.rows, v.data()));
  return v;
}

void Step(EmbeddingLayer* l, const FeatureSpace& s, int64_t step, Rng* rng) {
  const std::vector<uint32_t> keys = testing::Keys(s, 64, rng);
  std::vector<float> out(keys.size() * s.dim);
  ECPS_ASSERT_OK(l->Forward(keys, out.data(), true));
  ECPS_ASSERT_OK(l->Backward(testing::Normal(out.size(), rng).data(), step));
  ASSERT_TRUE(l->AfterStep(step).ok());
}

// Every value of every field, evaluated.
std::vector<float> Lookup(EmbeddingLayer& l, const FeatureSpace& s, std::vector<uint64_t>* rows) {
  std::vector<uint32_t> keys;
  rows->clear();
  for (uint32_t k = 0; k < s.max_cardinality(); ++k)
    for (int f = 0; f < s.num_fields(); ++f) {
      keys.push_back(static_cast<uint32_t>(std::min<uint64_t>(k, s.cardinalities[f] - 1)));
      rows->push_back(s.offsets[f] + keys.back());
    }
  std::vector<float> out(keys.size() * s.dim);
  ECPS_EXPECT_OK(l.Forward(keys, out.data(), false));
  return out;
}

TEST(AutoSrhTest, PrunesTheScaledTableWithinTheBudgetInBothOrders) {
  const FeatureSpace s = Space({200, 100, 57}, 8);
  const std::vector<uint32_t> counts = Counts(s);
  const int d = 8;
  for (const char* order : {"paper", "authors"}) {
    for (double budget : {0.5, 0.2}) {
      SCOPED_TRACE(std::string(order) + " budget " + std::to_string(budget));
      LayerRun r = MakeLayer(s, budget, counts, {std::string("order=") + order, "alpha_lr=0.05"});
      const bool authors = std::string(order) == "authors";
      ASSERT_EQ(r.method->Stages().size(), authors ? 4u : 3u);
      Rng rng(2);
      int64_t step = 0;
      for (int i = 0; i < 5; ++i) Step(r.layer.get(), s, ++step, &rng);
      ECPS_ASSERT_OK(r.layer->BeginStage(1));
      for (int i = 0; i < 10; ++i) Step(r.layer.get(), s, ++step, &rng);
      // α moved in the search and stays in [0, 1].
      const std::vector<float> alpha = r.method->alpha();
      EXPECT_NE(alpha, std::vector<float>(alpha.size(), 1.0f));
      if (authors) {
        ECPS_ASSERT_OK(r.layer->BeginStage(2));
        for (int i = 0; i < 5; ++i) Step(r.layer.get(), s, ++step, &rng);
        EXPECT_EQ(r.method->alpha(), alpha) << "alpha is frozen in the retrain";
      }
      const std::vector<float> dense = Rows(*r.layer);
      std::vector<int> group(s.total());
      for (uint64_t x = 0; x < s.total(); ++x) group[x] = r.method->group(x);
      const std::vector<float> w = reference::AutoSrhScaled(dense, group, alpha, d);
      // Before the prune the lookup is E ⊙ α.
      std::vector<uint64_t> rows;
      const std::vector<float> scaled = Lookup(*r.layer, s, &rows);
      for (size_t i = 0; i < rows.size(); ++i)
        for (int c = 0; c < d; ++c) ASSERT_EQ(scaled[i * d + c], w[rows[i] * d + c]);

      ECPS_ASSERT_OK(r.layer->BeginStage(r.method->prune_stage()));
      ASSERT_TRUE(r.method->pruned());
      const double tau = r.method->threshold();
      std::vector<uint8_t> keep(w.size());
      uint64_t kept = 0;
      for (size_t i = 0; i < w.size(); ++i) {
        keep[i] = w[i] != 0.0f && std::fabs(static_cast<double>(w[i])) >= tau;
        kept += keep[i];
      }
      const uint64_t k = r.method->target_nonzeros();
      EXPECT_EQ(r.method->sparse().nnz(), kept);
      EXPECT_LE(kept, k);
      EXPECT_GE(static_cast<double>(kept), static_cast<double>(k) - 1e-3 * budget * w.size() - 1);
      const std::vector<float> want = reference::MaskedDense(w, keep);
      const std::vector<float> out = Lookup(*r.layer, s, &rows);
      for (size_t i = 0; i < rows.size(); ++i)
        for (int c = 0; c < d; ++c) ASSERT_EQ(out[i * d + c], want[rows[i] * d + c]) << rows[i];
      const MemoryReport m = r.layer->Memory();
      EXPECT_EQ(m.inference_bytes, pruning::SparseBytes(r.method->format(), s.total(), d, kept));
      EXPECT_EQ(m.auxiliary_bytes, pruning::IndexBytes(r.method->format(), s.total(), kept));
      EXPECT_LE(m.inference_bytes, static_cast<uint64_t>(std::floor(4.0 * s.total() * d * budget)));
      EXPECT_EQ(r.layer->store().parameter_bytes(), kept * 5);
      EXPECT_EQ(r.method->Tables()[0].trainable, !authors);
      if (!authors) {
        // The paper's order retrains the kept values, and only them.
        for (int i = 0; i < 10; ++i) Step(r.layer.get(), s, ++step, &rng);
        const std::vector<float> retrained = Lookup(*r.layer, s, &rows);
        uint64_t moved = 0;
        for (size_t i = 0; i < rows.size(); ++i)
          for (int c = 0; c < d; ++c) {
            const size_t at = rows[i] * d + c;
            if (!keep[at]) {
              ASSERT_EQ(retrained[i * d + c], 0.0f);
            }
            moved += retrained[i * d + c] != out[i * d + c];
          }
        EXPECT_GT(moved, 0u);
        EXPECT_EQ(r.layer->Memory().inference_bytes, m.inference_bytes);
      }
    }
  }
}

// Checkpoints in the middle of the search (α trained so far, the rows' Adam
// state) and of the paper order's retrain (the layout's trainable values)
// resume into a fresh layer: both continue bit for bit.
TEST(AutoSrhTest, ResumesInTheMiddleOfTheSearchAndOfTheRetrain) {
  const FeatureSpace s = Space({60, 30, 7}, 4);
  const std::vector<uint32_t> counts = Counts(s);
  const std::vector<std::string> sets = {"alpha_lr=0.05"};
  LayerRun a = MakeLayer(s, 0.5, counts, sets);
  Rng rng(6);
  int64_t step = 0;
  auto resume_and_compare = [&](int steps) {
    auto blob = a.layer->Save();
    ASSERT_TRUE(blob.ok()) << blob.status();
    LayerRun b = MakeLayer(s, 0.5, counts, sets);
    ECPS_ASSERT_OK(b.layer->Load(*blob));
    EXPECT_EQ(b.method->stage(), a.method->stage());
    EXPECT_EQ(b.method->SaveState(), a.method->SaveState());
    Rng rng_b = rng;
    for (int i = 0; i < steps; ++i) {
      ++step;
      Step(a.layer.get(), s, step, &rng);
      Step(b.layer.get(), s, step, &rng_b);
    }
    EXPECT_EQ(a.method->alpha(), b.method->alpha());
    EXPECT_EQ(a.method->SaveState(), b.method->SaveState());
    for (size_t t = 0; t < a.layer->store().StoredTables().size(); ++t)
      EXPECT_EQ(Rows(*a.layer, static_cast<int>(t)), Rows(*b.layer, static_cast<int>(t)));
  };
  for (int i = 0; i < 3; ++i) Step(a.layer.get(), s, ++step, &rng);
  ECPS_ASSERT_OK(a.layer->BeginStage(1));
  for (int i = 0; i < 4; ++i) Step(a.layer.get(), s, ++step, &rng);
  ASSERT_EQ(a.method->stage(), 1);
  const std::vector<float> mid_search = a.method->alpha();
  resume_and_compare(5);
  EXPECT_NE(a.method->alpha(), mid_search) << "the resumed search moved alpha";
  ECPS_ASSERT_OK(a.layer->BeginStage(2));
  for (int i = 0; i < 3; ++i) Step(a.layer.get(), s, ++step, &rng);
  resume_and_compare(5);
}

// ------------------------------------------------------------ end to end --

class AutoSrhTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_autosrh_train_test", /*rows=*/12000,
                                        /*features=*/6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  static std::vector<std::string> Sets(const std::string& out, const std::string& order = "paper") {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(), {"embedding.method=autosrh", "embedding.budget=0.5",
                             "embedding.params.order=" + order, "train.max_steps=100",
                             "train.evals_per_epoch=4", "train.latency_batches=1"});
    return sets;
  }
  static void CheckResults(const nlohmann::json& r, const std::string& order = "paper") {
    ASSERT_EQ(r["stages"].size(), order == "paper" ? 3u : 4u) << r.dump(2);
    EXPECT_EQ(r["stages"][1]["name"], "search");
    EXPECT_EQ(r["stages"][2]["name"], "retrain");
    EXPECT_GT(r["test_auc"].get<double>(), 0.6) << r.dump(2);
    const double ratio = r["inference_memory_ratio"].get<double>();
    EXPECT_LE(ratio, 0.5);
    EXPECT_GE(ratio, 0.49);
  }
};

TEST_F(AutoSrhTrainTest, TrainsSingleProcessAndOneServerOneWorkerEqualsIt) {
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
  std::printf("autosrh: test_auc %.6f ratio %.5f steps %s\n", (*a)["test_auc"].get<double>(),
              (*a)["inference_memory_ratio"].get<double>(), (*a)["steps"].dump().c_str());
}

TEST_F(AutoSrhTrainTest, TheAuthorsOrderTrainsSingleProcess) {
  auto cfg = LoadTrainConfig("", Sets("authors", "authors"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto r = (*t)->Run(false);
  ASSERT_TRUE(r.ok()) << r.status();
  CheckResults(*r, "authors");
  EXPECT_EQ((*r)["stages"][3]["name"], "sparse");
  std::printf("autosrh authors: test_auc %.6f ratio %.5f\n", (*r)["test_auc"].get<double>(),
              (*r)["inference_memory_ratio"].get<double>());
}

TEST_F(AutoSrhTrainTest, TrainsOnTwoServersAndTwoWorkers) {
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
  std::printf("autosrh 2+2: test_auc %.6f ratio %.5f (single %.6f)\n",
              (*r)["test_auc"].get<double>(), (*r)["inference_memory_ratio"].get<double>(),
              (*a)["test_auc"].get<double>());
}

}  // namespace
}  // namespace ecps
