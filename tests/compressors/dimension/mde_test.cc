#include "compressors/dimension/mde.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "common/rng.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"
#include "embedding/row_store.h"
#include "launch/cluster_config.h"
#include "launch/simulate.h"
#include "tests/compressors/reference/mde_reference.h"
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
  static const ParamSchema* const kSchema = new ParamSchema(MdeEmbedding::Schema());
  ParamSet p(kSchema);
  for (const auto& [k, v] : kv) EXPECT_TRUE(p.Set(k, v).ok()) << k;
  return p;
}

std::unique_ptr<MdeEmbedding> Make(const CompressorContext& ctx, const ParamSet& p) {
  auto m = std::make_unique<MdeEmbedding>();
  const Status st = m->Init(ctx, p);
  EXPECT_TRUE(st.ok()) << st;
  return m;
}

std::unique_ptr<EmbeddingLayer> MakeLayer(const CompressorContext& ctx, const ParamSet& p) {
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  auto layer =
      std::make_unique<EmbeddingLayer>(std::make_unique<MdeEmbedding>(), NewLocalRowStore(opt));
  const Status st = layer->Init(ctx, p);
  EXPECT_TRUE(st.ok()) << st;
  return layer;
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

double FullBytes(const FeatureSpace& s) { return 4.0 * static_cast<double>(s.total()) * s.dim; }

TEST(MdeTest, DimensionsFollowThePowerLawReference) {
  for (const FeatureSpace* s : {&Small(), &Criteo()})
    for (double alpha : {0.0, 0.07, 0.16, 0.3, 0.5, 1.0})
      for (bool round : {true, false})
        EXPECT_EQ(MdeEmbedding::PowerLawDims(*s, alpha, round), mde_ref::Dims(*s, alpha, round))
            << "alpha " << alpha << " round " << round;
  // The smallest field gets d, larger fields no more; α = 0 is the full table.
  const std::vector<int> dims = MdeEmbedding::PowerLawDims(Criteo(), 0.16, true);
  EXPECT_EQ(dims[19], 16);  // n = 4
  EXPECT_EQ(dims[2], 1);    // n = 10,131,227: the largest field, one dimension
  for (int d : MdeEmbedding::PowerLawDims(Criteo(), 0, true)) EXPECT_EQ(d, 16);
}

TEST(MdeTest, AuthorsSolverMatchesTheSanityNumbers) {
  // docs/methods.md §5 (from CODE's rule): 50% α ≈ 0.070 with dims 8 or 16;
  // 10% α ≈ 0.160 at 9.29%.
  // CODE takes the lower end of its bracket (α = 0.070, dims 8 or 16, a
  // little over 50%); never over the budget, the upper end (0.0713) moves the
  // largest field to 4.
  auto half = Make(Ctx(Criteo(), 0.5), Params({{"solver", "authors"}}));
  EXPECT_NEAR(half->alpha(), 0.070, 2e-3);
  EXPECT_LE(half->Memory().inference_bytes / FullBytes(Criteo()), 0.5);
  for (int d : half->dims()) EXPECT_TRUE(d == 4 || d == 8 || d == 16) << d;
  EXPECT_EQ(MdeEmbedding::PowerLawDims(Criteo(), 0.070, true),
            mde_ref::Dims(Criteo(), 0.070, true));
  for (int d : MdeEmbedding::PowerLawDims(Criteo(), 0.070, true))
    EXPECT_TRUE(d == 8 || d == 16) << d;
  auto tenth = Make(Ctx(Criteo(), 0.1), Params({{"solver", "authors"}}));
  EXPECT_NEAR(tenth->alpha(), 0.160, 2e-3);
  EXPECT_NEAR(tenth->Memory().inference_bytes / FullBytes(Criteo()), 0.0929, 5e-4);
}

TEST(MdeTest, BudgetIsNeverExceededAndFillSpendsTheSlack) {
  for (double b : {0.5, 0.1}) {
    auto authors = Make(Ctx(Criteo(), b), Params({{"solver", "authors"}}));
    const double ra = authors->Memory().inference_bytes / FullBytes(Criteo());
    auto m = Make(Ctx(Criteo(), b), Params());
    const double r = m->Memory().inference_bytes / FullBytes(Criteo());
    // Without powers of two a field moves by one dimension: within 1%.
    auto unrounded = Make(Ctx(Criteo(), b), Params({{"round_dim", "false"}}));
    const double ru = unrounded->Memory().inference_bytes / FullBytes(Criteo());
    std::printf("mde budget %g alpha %.4f ratio %.6f (authors %.6f, round_dim=false %.6f)\n", b,
                m->alpha(), r, ra, ru);
    EXPECT_LE(r, b);
    EXPECT_GE(r, ra);
    EXPECT_LE(ru, b);
    EXPECT_GE(ru, 0.99 * b);
    EXPECT_LE(ra, b);
  }
  // With powers of two 10% lands within 1%; at 50% the next step of the
  // largest field (10M ids, 4 -> 8) alone is 7.5% of the table: 46.6%.
  EXPECT_GE(Make(Ctx(Criteo(), 0.1), Params())->Memory().inference_bytes / FullBytes(Criteo()),
            0.099);
  // Below 1/d every field is at 1 dimension but n_min's: unreachable, α = 1.
  for (double b : {0.01, 0.001}) {
    auto m = Make(Ctx(Criteo(), b), Params());
    EXPECT_DOUBLE_EQ(m->alpha(), 1.0);
    const double r = m->Memory().inference_bytes / FullBytes(Criteo());
    EXPECT_GT(r, b);
    EXPECT_LT(r, 0.07);
  }
  // A fixed alpha is taken as given.
  auto fixed = Make(Ctx(Criteo(), 0.1), Params({{"alpha", "0.3"}}));
  EXPECT_DOUBLE_EQ(fixed->alpha(), 0.3);
  EXPECT_EQ(fixed->dims(), mde_ref::Dims(Criteo(), 0.3, true));
}

TEST(MdeTest, MemoryCountsTablesAndProjectionsExactly) {
  for (double b : {1.0, 0.4, 0.15}) {
    auto layer = MakeLayer(Ctx(Small(), b), Params());
    const auto& m = static_cast<const MdeEmbedding&>(layer->compressor());
    uint64_t rows = 0, proj = 0;
    for (int f = 0; f < Small().num_fields(); ++f) {
      rows += Small().cardinalities[f] * m.dim(f);
      if (m.dim(f) < Small().dim) proj += static_cast<uint64_t>(m.dim(f)) * Small().dim;
    }
    const MemoryReport r = layer->Memory();
    EXPECT_EQ(r.parameter_bytes, 4 * rows);
    EXPECT_EQ(r.auxiliary_bytes, 4 * proj + 4 * Small().num_fields());
    EXPECT_EQ(r.inference_bytes, 4 * rows + 4 * proj + 4 * Small().num_fields());
    EXPECT_EQ(layer->store().parameter_bytes(), 4 * rows) << "rows are stored at d_f, unpadded";
    EXPECT_EQ(layer->compressor().DenseParams().size(), proj);
    EXPECT_LE(static_cast<double>(r.inference_bytes), std::floor(b * FullBytes(Small())));
  }
}

TEST(MdeTest, LookupMatchesTheReferenceAfterTraining) {
  auto layer = MakeLayer(Ctx(Small(), 0.2), Params());
  const auto& m = static_cast<const MdeEmbedding&>(layer->compressor());
  ASSERT_GT(layer->compressor().Tables().size(), 1u) << "the fixture should mix widths";
  Rng rng(5);
  for (int step = 1; step <= 5; ++step) {
    const std::vector<uint32_t> keys = Keys(Small(), 16, &rng);
    std::vector<float> out(keys.size() * Small().dim);
    ECPS_ASSERT_OK(layer->Forward(keys, out.data(), true));
    ECPS_ASSERT_OK(layer->Backward(Normal(out.size(), &rng).data(), step));
    // The trainer's dense optimizer, as SGD here: the projections move.
    std::span<float> p = layer->compressor().DenseParams();
    std::span<float> g = layer->compressor().DenseGrads();
    for (size_t i = 0; i < p.size(); ++i) p[i] -= 0.01f * g[i];
  }
  const std::vector<uint32_t> keys = Keys(Small(), 32, &rng);
  std::vector<float> out(keys.size() * Small().dim);
  ECPS_ASSERT_OK(layer->Forward(keys, out.data(), false));
  const std::span<float> pf = layer->compressor().DenseParams();
  const std::vector<double> proj(pf.begin(), pf.end());
  const std::vector<double> want = mde_ref::Lookup(m, Small(), StoredRows(*layer), proj, keys);
  ASSERT_EQ(want.size(), out.size());
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-6) << i;
}

// The analytic gradients (row gradients and DenseGrads) against central
// differences of the double reference of L = Σ g·lookup.
TEST(MdeTest, GradientsMatchFiniteDifferencesInDouble) {
  const FeatureSpace s = Space({2, 30, 500, 9}, 8);
  auto m = Make(Ctx(s, 0.3), Params());
  ASSERT_LT(m->dim(2), s.dim);
  Rng rng(9);
  std::vector<std::vector<double>> tables;
  for (const RowTableSpec& t : m->Tables()) {
    tables.emplace_back(t.rows * t.width);
    for (double& v : tables.back()) v = rng.Normal() * 0.3;
  }
  const std::vector<uint32_t> keys = Keys(s, 6, &rng);
  const std::vector<float> g = Normal(keys.size() * s.dim, &rng);
  std::span<float> pf = m->DenseParams();
  for (float& v : pf) v = static_cast<float>(rng.Normal() * 0.5);
  std::vector<double> proj(pf.begin(), pf.end());
  // Forward/backward of the method, on rows rounded to float.
  for (auto& t : tables)
    for (double& v : t) v = static_cast<float>(v);
  LookupPlan plan;
  plan.training = true;
  m->Encode(keys, &plan);
  FetchedRows rows, grads;
  for (size_t t = 0; t < plan.rows.size(); ++t) {
    const int w = m->Tables()[t].width;
    rows.values.emplace_back();
    for (uint64_t r : plan.rows[t])
      for (int c = 0; c < w; ++c)
        rows.values.back().push_back(r == kNoRow ? 0.0f : static_cast<float>(tables[t][r * w + c]));
    grads.values.emplace_back(rows.values.back().size(), std::nanf(""));
  }
  std::vector<float> out(keys.size() * s.dim);
  m->Decode(plan, rows, out.data());
  m->DecodeBackward(plan, rows, g.data(), &grads);
  auto loss = [&](const std::vector<std::vector<double>>& tb, const std::vector<double>& pj) {
    const std::vector<double> o = mde_ref::Lookup(*m, s, tb, pj, keys);
    double l = 0;
    for (size_t i = 0; i < o.size(); ++i) l += g[i] * o[i];
    return l;
  };
  const double h = 1e-6;
  // Projections.
  const std::span<float> dg = m->DenseGrads();
  ASSERT_EQ(dg.size(), proj.size());
  for (size_t i = 0; i < proj.size(); ++i) {
    std::vector<double> a = proj, b = proj;
    a[i] += h;
    b[i] -= h;
    const double fd = (loss(tables, a) - loss(tables, b)) / (2 * h);
    ASSERT_NEAR(dg[i], fd, 1e-4 * std::max(1.0, std::abs(fd))) << "projection element " << i;
  }
  // Rows: the gradient of each fetched slot, summed over the slots of a row.
  for (size_t t = 0; t < plan.rows.size(); ++t) {
    const int w = m->Tables()[t].width;
    for (size_t k = 0; k < plan.rows[t].size(); ++k) {
      const uint64_t r = plan.rows[t][k];
      for (int c = 0; c < w; ++c) {
        if (r == kNoRow) {
          ASSERT_EQ(grads.values[t][k * w + c], 0.0f);
          continue;
        }
        double slot = 0;  // the sum of the slots of row r, element c
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

TEST(MdeTest, SameSeedSameProjectionsAndStateChecksOtherInits) {
  const ParamSet p = Params();
  auto a = Make(Ctx(Small(), 0.2, 7), p);
  auto b = Make(Ctx(Small(), 0.2, 7), p);
  auto c = Make(Ctx(Small(), 0.2, 8), p);
  ASSERT_FALSE(a->DenseParams().empty());
  EXPECT_TRUE(std::ranges::equal(a->DenseParams(), b->DenseParams()));
  EXPECT_FALSE(std::ranges::equal(a->DenseParams(), c->DenseParams()));
  EXPECT_EQ(a->SaveState(), b->SaveState());
  ECPS_EXPECT_OK(b->LoadState(a->SaveState()));
  // Another budget gives other dimensions: refused naming what differs.
  auto other = Make(Ctx(Small(), 0.5, 7), p);
  ASSERT_NE(other->dims(), a->dims());
  const Status st = a->LoadState(other->SaveState());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(std::string(st.message()).find("mde state"), std::string::npos) << st;
  auto unrounded = Make(Ctx(Small(), 0.2, 7), Params({{"round_dim", "false"}}));
  EXPECT_FALSE(a->LoadState(unrounded->SaveState()).ok());
}

class MdeTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_mde_test", 12000, 6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  static std::vector<std::string> Sets(const std::string& out) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(), {"embedding.method=mde", "embedding.budget=0.3", "train.max_steps=300",
                             "train.evals_per_epoch=2"});
    return sets;
  }
};

TEST_F(MdeTrainTest, TrainsInOneProcessAndOnTwoServersTwoWorkers) {
  auto cfg = LoadTrainConfig("", Sets("mde_single"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto one = (*t)->Run(false);
  ASSERT_TRUE(one.ok()) << one.status();
  const double auc1 = (*one)["test_auc"].get<double>();
  const double ratio = (*one)["inference_memory_ratio"].get<double>();

  std::vector<std::string> csets = Sets("mde_sim22");
  csets.insert(csets.end(), {"cluster.servers=2", "cluster.workers=2"});
  auto ccfg = LoadTrainConfig("", csets);
  ASSERT_TRUE(ccfg.ok()) << ccfg.status();
  auto shape = launch::ClusterShapeFromConfig(*ccfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto two = launch::RunSimulation(*ccfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(two.ok()) << two.status();
  const double auc2 = (*two)["test_auc"].get<double>();
  std::printf("mde test_auc %.5f (1 process) %.5f (2 servers, 2 workers) ratio %.4f\n", auc1, auc2,
              ratio);
  EXPECT_GT(auc1, 0.65) << one->dump(2);
  EXPECT_LE(ratio, 0.3);
  EXPECT_GT(ratio, 0.2);
  EXPECT_EQ((*one)["steps"], (*two)["steps"]);
  // The projections are all-reduced and stepped alike on both workers: the
  // runs differ by float summation order only.
  EXPECT_NEAR(auc1, auc2, 0.01);
  // The projections' Adam state is in the embedding's training memory.
  EXPECT_GT((*one)["training_memory"]["embedding_dense_optimizer_bytes"].get<uint64_t>(), 0u);
}

// The projections (MDNS) and their Adam state (MDOP) are checkpointed: a run
// stopped half way and resumed ends where the uninterrupted run does.
TEST_F(MdeTrainTest, ProjectionsSurviveResume) {
  auto run = [&](const std::string& out, const std::string& steps, bool resume) {
    std::vector<std::string> sets = Sets(out);
    sets.push_back("train.max_steps=" + steps);
    auto cfg = LoadTrainConfig("", sets);
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    auto t = Trainer::Create(*cfg, ds_->data());
    EXPECT_TRUE(t.ok()) << t.status();
    return (*t)->Run(resume);
  };
  auto full = run("mde_resume_full", "150", false);
  ASSERT_TRUE(full.ok()) << full.status();
  ASSERT_TRUE(run("mde_resume_split", "75", false).ok());
  auto resumed = run("mde_resume_split", "150", true);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ((*resumed)["test_auc"], (*full)["test_auc"]);
  EXPECT_EQ((*resumed)["val_auc"], (*full)["val_auc"]);
}

}  // namespace
}  // namespace ecps
