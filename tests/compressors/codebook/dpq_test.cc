// DPQ (docs/methods.md §2.11): the packed codes, the lookup (training:
// BatchNorm by the batch; evaluation: by the running statistics; no BN)
// against the naive reference, the codebook gradients by finite differences
// of the regulariser (straight through to the query rows), the running
// statistics, the budget solver, exact memory in both stages, the switch to
// codes (the switched model decodes as the trained one evaluated), save/load
// in both stages, and training end to end in one process, on 1 + 1 (bit for
// bit) and on 2 servers + 2 workers.
#include "compressors/codebook/dpq.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "common/rng.h"
#include "compressors/codebook/product_codes.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"
#include "embedding/row_store.h"
#include "launch/cluster_config.h"
#include "launch/simulate.h"
#include "tests/compressors/reference/codebook_reference.h"
#include "tests/testing/feature_space.h"
#include "tests/testing/small_dataset.h"
#include "tests/testing/status_testing.h"
#include "worker/train_config.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

using testing::Space;

TEST(ProductCodesTest, PackedCodesRoundTripInTheirBits) {
  EXPECT_EQ(codebook::CodeBits(2), 1);
  EXPECT_EQ(codebook::CodeBits(32), 5);
  EXPECT_EQ(codebook::CodeBits(33), 6);
  EXPECT_EQ(codebook::CodeBits(256), 8);
  EXPECT_EQ(codebook::CodeBytes(8, 5), 5);
  EXPECT_EQ(codebook::CodeBytes(3, 3), 2);
  // Code p at bits [p·b, (p+1)·b), least significant first: {1, 2} of 2
  // bits is 0b1001.
  const int32_t two[] = {1, 2};
  uint8_t byte = 0;
  codebook::PackCodes(two, 2, 2, &byte);
  EXPECT_EQ(byte, 9);
  Rng rng(1);
  for (int bits = 1; bits <= 16; ++bits)
    for (int parts : {1, 2, 3, 5, 8, 16}) {
      std::vector<int32_t> codes(parts), back(parts);
      for (int32_t& c : codes) c = static_cast<int32_t>(rng.Below(uint64_t{1} << bits));
      std::vector<uint8_t> bytes(codebook::CodeBytes(parts, bits));
      codebook::PackCodes(codes.data(), parts, bits, bytes.data());
      const std::vector<float> fetched(bytes.begin(), bytes.end());
      codebook::UnpackCodes(fetched.data(), parts, bits, back.data());
      EXPECT_EQ(back, codes) << bits << " bits, " << parts << " parts";
    }
}

struct Layer {
  std::unique_ptr<EmbeddingLayer> layer;
  DpqEmbedding* method = nullptr;
};

Layer MakeLayer(const FeatureSpace& s, double budget, const std::vector<std::string>& sets,
                float lr = 0.05f) {
  const CompressorInfo* info = FindCompressor("dpq");
  EXPECT_NE(info, nullptr);
  ParamSet params(&info->schema);
  for (const std::string& kv : sets) {
    const size_t eq = kv.find('=');
    EXPECT_TRUE(params.Set(kv.substr(0, eq), kv.substr(eq + 1)).ok()) << kv;
  }
  SparseOptimizerConfig opt;
  opt.lr = lr;
  Layer r;
  auto m = std::make_unique<DpqEmbedding>();
  r.method = m.get();
  r.layer = std::make_unique<EmbeddingLayer>(std::move(m), NewLocalRowStore(opt));
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  ctx.seed = 5;
  const Status st = r.layer->Init(ctx, params);
  EXPECT_TRUE(st.ok()) << st;
  return r;
}

std::vector<float> Table(EmbeddingLayer& l, int t) {
  const RowTableSpec spec = l.store().StoredTables()[t];
  std::vector<float> v(spec.rows * spec.width);
  ECPS_EXPECT_OK(l.store().ReadRows(t, 0, spec.rows, v.data()));
  return v;
}

std::vector<float> Uniform(size_t n, double b, Rng* rng) {
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng->Uniform(-b, b));
  return v;
}

// The query rows of `keys` (sample-major) from the table E.
std::vector<float> Queries(const FeatureSpace& s, const std::vector<float>& e,
                           const std::vector<uint32_t>& keys) {
  std::vector<float> q(keys.size() * s.dim);
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint64_t row = s.offsets[i % s.num_fields()] + keys[i];
    std::copy(e.begin() + row * s.dim, e.begin() + (row + 1) * s.dim, q.begin() + i * s.dim);
  }
  return q;
}

void Step(EmbeddingLayer* l, const FeatureSpace& s, int64_t step, Rng* rng) {
  const std::vector<uint32_t> keys = testing::Keys(s, 32, rng);
  std::vector<float> out(keys.size() * s.dim);
  ECPS_ASSERT_OK(l->Forward(keys, out.data(), true));
  ECPS_ASSERT_OK(l->Backward(testing::Normal(out.size(), rng).data(), step));
}

// Every feature's evaluation lookup, field by field.
std::vector<float> AllOutputs(EmbeddingLayer& l, const FeatureSpace& s) {
  std::vector<uint32_t> keys;
  for (uint64_t k = 0; k < s.max_cardinality(); ++k)
    for (int f = 0; f < s.num_fields(); ++f)
      keys.push_back(static_cast<uint32_t>(std::min<uint64_t>(k, s.cardinalities[f] - 1)));
  std::vector<float> out(keys.size() * s.dim);
  ECPS_EXPECT_OK(l.Forward(keys, out.data(), false));
  return out;
}

TEST(DpqTest, LookupEqualsTheReference) {
  const FeatureSpace s = Space({300, 50, 7}, 8);
  for (bool bn : {true, false}) {
    SCOPED_TRACE(bn ? "score_bn" : "no bn");
    Layer l = MakeLayer(
        s, 1.0,
        {"num_parts=4", "num_choices=8", std::string("score_bn=") + (bn ? "true" : "false")});
    const int d = s.dim, parts = 4, k = 8;
    ASSERT_EQ(l.method->shape().parts, parts);
    Rng rng(2);
    const std::vector<float> e = Uniform(s.total() * d, 1.0, &rng);
    const std::vector<float> cb = Uniform(parts * k * (d / parts), 1.0, &rng);
    ECPS_ASSERT_OK(l.layer->store().WriteRows(0, 0, s.total(), e.data()));
    ECPS_ASSERT_OK(l.layer->store().WriteRows(1, 0, parts * k, cb.data()));
    std::vector<float> mean, var;
    if (bn) {
      // Running statistics of the scale of the scores.
      std::span<float> buf = l.method->DenseBuffers();
      ASSERT_EQ(buf.size(), 2u * parts * k);
      for (int c = 0; c < parts * k; ++c) {
        buf[c] = static_cast<float>(rng.Uniform(-1.5, -0.2));
        buf[parts * k + c] = static_cast<float>(rng.Uniform(0.1, 2.0));
      }
      mean.assign(buf.begin(), buf.begin() + parts * k);
      var.assign(buf.begin() + parts * k, buf.end());
    } else {
      EXPECT_TRUE(l.method->DenseBuffers().empty());
    }
    const std::vector<uint32_t> keys = testing::Keys(s, 40, &rng);
    const std::vector<float> q = Queries(s, e, keys);
    for (bool training : {false, true}) {
      SCOPED_TRACE(training ? "training" : "evaluation");
      std::vector<float> out(keys.size() * d);
      ECPS_ASSERT_OK(l.layer->Forward(keys, out.data(), training));
      const codebook_ref::Norm norm = !bn        ? codebook_ref::Norm::kNone
                                      : training ? codebook_ref::Norm::kBatch
                                                 : codebook_ref::Norm::kRunning;
      const std::vector<int> codes = codebook_ref::Codes(q, d, cb, parts, k, {}, norm, mean, var);
      EXPECT_EQ(out, codebook_ref::Decode(cb, codes, d, parts, k));
    }
  }
}

// The sums over two workers, for the 1/W share of the regulariser.
class TwoWorkers final : public WorkerSums {
 public:
  int size() const override { return 2; }
  Status AllreduceSum(std::span<double>) override { return OkStatus(); }
};

// Straight through: the query rows get the output's gradient unchanged; the
// codebook gets the regulariser's, w·Σ(c − q)²/(N·d), checked by central
// differences of the reference (where the perturbation keeps every code).
TEST(DpqTest, GradientsMatchFiniteDifferencesOfTheRegulariser) {
  const FeatureSpace s = Space({200, 30}, 8);
  const int d = s.dim, parts = 2, k = 4, pd = d / parts;
  const double w = 0.7;
  for (int workers : {1, 2}) {
    SCOPED_TRACE(std::to_string(workers) + " workers");
    const CompressorInfo* info = FindCompressor("dpq");
    ParamSet params(&info->schema);
    ECPS_ASSERT_OK(params.Set("num_parts", "2"));
    ECPS_ASSERT_OK(params.Set("num_choices", "4"));
    ECPS_ASSERT_OK(params.Set("reg_weight", "0.7"));
    DpqEmbedding m;
    CompressorContext ctx;
    ctx.space = s;
    ECPS_ASSERT_OK(m.Init(ctx, params));
    TwoWorkers two;
    if (workers == 2) m.AttachWorkers(&two);
    Rng rng(3);
    const std::vector<uint32_t> keys = testing::Keys(s, 24, &rng);
    const std::vector<float> e = Uniform(s.total() * d, 1.0, &rng);
    std::vector<float> cb = Uniform(parts * k * pd, 1.0, &rng);
    LookupPlan plan;
    plan.training = true;
    m.Encode(keys, &plan);
    ASSERT_EQ(plan.rows[1].size(), static_cast<size_t>(parts * k));
    FetchedRows rows;
    rows.values = {Queries(s, e, keys), cb};
    std::vector<float> out(keys.size() * d);
    m.Decode(plan, rows, out.data());
    const std::vector<float> g = testing::Normal(out.size(), &rng);
    FetchedRows grads;
    grads.values = {std::vector<float>(rows.values[0].size()),
                    std::vector<float>(rows.values[1].size())};
    const std::vector<float> before(m.DenseBuffers().begin(), m.DenseBuffers().end());
    m.DecodeBackward(plan, rows, g.data(), &grads);
    EXPECT_EQ(grads.values[0], g);
    const std::vector<float>& q = rows.values[0];
    const double n = static_cast<double>(keys.size());
    auto loss = [&](const std::vector<float>& c) {
      const std::vector<int> codes =
          codebook_ref::Codes(q, d, c, parts, k, {}, codebook_ref::Norm::kBatch);
      return std::make_pair(
          w * codebook_ref::SquaredError(q, c, codes, d, parts, k) / (n * d * workers), codes);
    };
    const std::vector<int> codes0 = loss(cb).second;
    int checked = 0;
    for (size_t x = 0; x < cb.size(); ++x) {
      const float h = 1e-3f;
      std::vector<float> plus = cb, minus = cb;
      plus[x] += h;
      minus[x] -= h;
      const auto [lp, cp] = loss(plus);
      const auto [lm, cm] = loss(minus);
      if (cp != codes0 || cm != codes0) continue;  // an argmax moved
      const double fd = (lp - lm) / (static_cast<double>(plus[x]) - minus[x]);
      EXPECT_NEAR(grads.values[1][x], fd, 1e-5 + 1e-3 * std::fabs(fd)) << "codebook element " << x;
      ++checked;
    }
    EXPECT_GT(checked, static_cast<int>(cb.size()) / 2);
    // The running statistics moved by momentum 0.1 towards the batch's
    // (unbiased variance) in one column recomputed here.
    double sum = 0, sq = 0;
    std::vector<double> sc(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      double dist = 0;
      for (int el = 0; el < pd; ++el) {
        const double diff = static_cast<double>(q[i * d + el]) - cb[el];
        dist += diff * diff;
      }
      sc[i] = -dist;
      sum += sc[i];
    }
    const double mu = sum / n;
    for (double v : sc) sq += (v - mu) * (v - mu);
    const std::span<float> after = m.DenseBuffers();
    EXPECT_NEAR(after[0], 0.9 * before[0] + 0.1 * mu, 1e-6);
    EXPECT_NEAR(after[parts * k], 0.9 * before[parts * k] + 0.1 * sq / (n - 1), 1e-6);
  }
}

TEST(DpqTest, TheBudgetSolverTakesTheMostPartsThatFit) {
  const FeatureSpace s = Space({700000, 300000}, 16);
  const uint64_t n = s.total();
  const double full = 4.0 * n * 16;
  const CompressorInfo* info = FindCompressor("dpq");
  for (double budget : {0.5, 0.1, 0.05, 0.03, 0.01}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    ParamSet params(&info->schema);
    DpqEmbedding m;
    CompressorContext ctx;
    ctx.space = s;
    ctx.budget = budget;
    ECPS_ASSERT_OK(m.Init(ctx, params));
    const double cap = std::floor(full * budget);
    // K = 32 (5 bits): P parts take ceil(5P/8) bytes a feature, the codebook
    // 4·32·16 B, the BatchNorm statistics 8·32·P B.
    int want = 1;
    for (int p : {16, 8, 4, 2, 1}) {
      if (n * ((5 * p + 7) / 8) + 2048.0 + 256.0 * p <= cap) {
        want = p;
        break;
      }
    }
    EXPECT_EQ(m.shape().parts, want);
    const MemoryReport r = m.Memory();
    EXPECT_EQ(r.inference_bytes,
              n * ((5 * want + 7) / 8) + 2048 + 256 * static_cast<uint64_t>(want));
    if (budget >= 0.03) {
      EXPECT_LE(static_cast<double>(r.inference_bytes), cap);
    } else {
      // One byte a feature is the least: 1/64 of the full table.
      EXPECT_EQ(want, 1);
      EXPECT_GT(static_cast<double>(r.inference_bytes), cap);
    }
  }
  // An explicit P must divide the dim.
  ParamSet params(&info->schema);
  ECPS_ASSERT_OK(params.Set("num_parts", "3"));
  DpqEmbedding m;
  CompressorContext ctx;
  ctx.space = s;
  const Status st = m.Init(ctx, params);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("num_parts"), std::string::npos) << st;
}

// Training holds E and C with their Adam state; the switch computes the
// codes, drops E and keeps C: the switched model looks up exactly what the
// trained one evaluated, and the store holds codes + codebook only.
TEST(DpqTest, TheSwitchKeepsTheEvaluationLookupAndDropsTheQueries) {
  const FeatureSpace s = Space({500, 40, 9}, 8);
  Layer l = MakeLayer(s, 1.0, {"num_parts=4", "num_choices=16"});
  const uint64_t n = s.total();
  const int d = s.dim, parts = 4, k = 16;
  ASSERT_EQ(l.method->code_bytes(), 2);  // 4 parts of 4 bits
  const uint64_t codebook_bytes = 4ull * parts * k * (d / parts);
  // Stage 0: E and C as fp32 with Adam's m and v; the report counts both
  // stages' tables and the BatchNorm statistics.
  EXPECT_EQ(l.layer->store().parameter_bytes(), 4 * n * d + codebook_bytes);
  MemoryReport r = l.layer->Memory();
  EXPECT_EQ(r.optimizer_bytes, 2 * (4 * n * d + codebook_bytes));
  EXPECT_EQ(r.parameter_bytes, 4 * n * d + codebook_bytes + n * 2 + codebook_bytes);
  EXPECT_EQ(r.auxiliary_bytes, 8u * parts * k);
  EXPECT_EQ(r.inference_bytes, n * 2 + codebook_bytes + 8u * parts * k);
  Rng rng(4);
  for (int t = 1; t <= 30; ++t) Step(l.layer.get(), s, t, &rng);
  const std::vector<float> e = Table(*l.layer, 0);
  const std::vector<float> cb = Table(*l.layer, 1);
  const std::span<float> buf = l.method->DenseBuffers();
  const std::vector<float> mean(buf.begin(), buf.begin() + parts * k);
  const std::vector<float> var(buf.begin() + parts * k, buf.end());
  const std::vector<float> trained = AllOutputs(*l.layer, s);
  ECPS_ASSERT_OK(l.layer->BeginStage(1));
  EXPECT_EQ(l.method->stage(), 1);
  EXPECT_EQ(AllOutputs(*l.layer, s), trained);
  const std::vector<RowTableSpec> tables = l.layer->store().StoredTables();
  ASSERT_EQ(tables.size(), 2u);
  EXPECT_EQ(tables[0].name, "codes");
  EXPECT_EQ(tables[0].dtype, DType::kU8);
  EXPECT_EQ(tables[0].width, 2);
  EXPECT_FALSE(tables[0].trainable);
  EXPECT_FALSE(tables[1].trainable);
  EXPECT_EQ(Table(*l.layer, 1), cb);
  // Every feature's stored codes are the reference's by running statistics.
  const std::vector<int> want =
      codebook_ref::Codes(e, d, cb, parts, k, {}, codebook_ref::Norm::kRunning, mean, var);
  const std::vector<float> stored = Table(*l.layer, 0);
  for (uint64_t x = 0; x < n; ++x) {
    std::vector<int32_t> codes(parts);
    codebook::UnpackCodes(stored.data() + x * 2, parts, 4, codes.data());
    for (int p = 0; p < parts; ++p) ASSERT_EQ(codes[p], want[x * parts + p]) << x;
  }
  r = l.layer->Memory();
  EXPECT_EQ(l.layer->store().parameter_bytes(), n * 2 + codebook_bytes);
  EXPECT_EQ(r.inference_bytes, n * 2 + codebook_bytes);
  EXPECT_EQ(r.auxiliary_bytes, 0u);
  EXPECT_EQ(r.optimizer_bytes, 0u);
}

// A checkpoint of either stage resumes into a fresh layer: training
// continues bit for bit, the switched model looks up the same.
TEST(DpqTest, ResumesInBothStages) {
  const FeatureSpace s = Space({120, 30}, 4);
  Layer a = MakeLayer(s, 1.0, {"num_parts=2", "num_choices=8"});
  Rng rng(6);
  int64_t step = 0;
  for (int i = 0; i < 5; ++i) Step(a.layer.get(), s, ++step, &rng);
  auto reload = [&]() {
    auto blob = a.layer->Save();
    EXPECT_TRUE(blob.ok()) << blob.status();
    Layer b = MakeLayer(s, 1.0, {"num_parts=2", "num_choices=8"});
    ECPS_EXPECT_OK(b.layer->Load(*blob));
    // The running statistics travel in the trainer's MDBF section.
    std::ranges::copy(a.method->DenseBuffers(), b.method->DenseBuffers().begin());
    EXPECT_EQ(b.method->SaveState(), a.method->SaveState());
    return b;
  };
  Layer b = reload();
  Rng rng_b = rng;
  for (int i = 0; i < 5; ++i) {
    ++step;
    Step(a.layer.get(), s, step, &rng);
    Step(b.layer.get(), s, step, &rng_b);
  }
  EXPECT_EQ(Table(*a.layer, 0), Table(*b.layer, 0));
  EXPECT_EQ(Table(*a.layer, 1), Table(*b.layer, 1));
  EXPECT_EQ(AllOutputs(*a.layer, s), AllOutputs(*b.layer, s));
  ECPS_ASSERT_OK(a.layer->BeginStage(1));
  Layer c = reload();
  EXPECT_EQ(c.method->stage(), 1);
  EXPECT_EQ(c.layer->store().StoredTables(), a.layer->store().StoredTables());
  EXPECT_EQ(AllOutputs(*c.layer, s), AllOutputs(*a.layer, s));
}

// ------------------------------------------------------------ end to end --

class DpqTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_dpq_train_test", /*rows=*/12000, /*features=*/6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  static std::vector<std::string> Sets(const std::string& out, const std::string& method) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(),
                {"embedding.method=" + method, "embedding.budget=0.1", "train.max_steps=150",
                 "train.evals_per_epoch=4", "train.latency_batches=1"});
    return sets;
  }
  static nlohmann::json Single(const std::vector<std::string>& sets) {
    auto cfg = LoadTrainConfig("", sets);
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    if (!cfg.ok()) return {};
    auto t = Trainer::Create(*cfg, ds_->data());
    EXPECT_TRUE(t.ok()) << t.status();
    if (!t.ok()) return {};
    auto r = (*t)->Run(false);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : nlohmann::json();
  }
  static nlohmann::json Cluster(const std::vector<std::string>& sets) {
    auto cfg = LoadTrainConfig("", sets);
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    if (!cfg.ok()) return {};
    auto shape = launch::ClusterShapeFromConfig(*cfg);
    EXPECT_TRUE(shape.ok()) << shape.status();
    if (!shape.ok()) return {};
    auto r = launch::RunSimulation(*cfg, ds_->data(), *shape, /*resume=*/false);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : nlohmann::json();
  }
  static void CheckResults(const nlohmann::json& r) {
    ASSERT_EQ(r["stages"].size(), 2u) << r.dump(2);
    EXPECT_EQ(r["stages"][1]["name"], "switch");
    EXPECT_EQ(r["stop_reason"], "post_training");
    EXPECT_EQ(r["history"].back()["stage"], 1);
    EXPECT_GT(r["test_auc"].get<double>(), 0.6) << r.dump(2);
    EXPECT_LE(r["inference_memory_ratio"].get<double>(), 0.1);
    EXPECT_GT(r["inference_memory_ratio"].get<double>(), 0.0);
    // Training held the fp32 query table with its Adam state.
    EXPECT_GE(r["training_memory"]["embedding_ratio"].get<double>(), 3.0);
  }
};

TEST_F(DpqTrainTest, TrainsSingleProcessAndOneServerOneWorkerEqualsIt) {
  const nlohmann::json a = Single(Sets("single", "dpq"));
  ASSERT_FALSE(a.is_null());
  CheckResults(a);
  std::vector<std::string> sets = Sets("sim11", "dpq");
  sets.insert(sets.end(), {"cluster.servers=1", "cluster.workers=1", "cluster.virtual_shards=1"});
  const nlohmann::json b = Cluster(sets);
  ASSERT_FALSE(b.is_null());
  EXPECT_EQ(a["inference_memory_ratio"], b["inference_memory_ratio"]);
  EXPECT_EQ(a["test_auc"], b["test_auc"]);
  EXPECT_EQ(a["steps"], b["steps"]);
  const nlohmann::json full = Single(Sets("full", "full"));
  ASSERT_FALSE(full.is_null());
  std::printf("dpq: test_auc %.6f (full %.6f) ratio %.5f steps %s\n", a["test_auc"].get<double>(),
              full["test_auc"].get<double>(), a["inference_memory_ratio"].get<double>(),
              a["steps"].dump().c_str());
}

TEST_F(DpqTrainTest, TrainsOnTwoServersAndTwoWorkers) {
  std::vector<std::string> sets = Sets("sim22", "dpq");
  sets.insert(sets.end(), {"cluster.servers=2", "cluster.workers=2"});
  const nlohmann::json r = Cluster(sets);
  ASSERT_FALSE(r.is_null());
  CheckResults(r);
  const nlohmann::json a = Single(Sets("sim22_single", "dpq"));
  ASSERT_FALSE(a.is_null());
  EXPECT_NEAR(r["test_auc"].get<double>(), a["test_auc"].get<double>(), 0.005);
  std::printf("dpq 2+2: test_auc %.6f (single %.6f) ratio %.5f\n", r["test_auc"].get<double>(),
              a["test_auc"].get<double>(), r["inference_memory_ratio"].get<double>());
}

}  // namespace
}  // namespace ecps
