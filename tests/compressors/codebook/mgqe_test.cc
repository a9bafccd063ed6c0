// MGQE (docs/methods.md §2.12): the frequent ids of each field from the
// train counts, the fields kept where codes cost more, the lookup (per-field
// codebooks, fewer choices for rare ids; BatchNorm by the field's batch or
// running statistics) against the naive reference, the codebook gradients by
// finite differences of each field's regulariser, the budget solver, exact
// memory in both stages, the switch (codes by rank in two tables, the kept
// fields' rows copied), save/load in both stages, and training end to end in
// one process, on 1 + 1 (bit for bit) and on 2 servers + 2 workers.
#include "compressors/codebook/mgqe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
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

// Counts falling with the id, every 5th id never seen, and a few late ids hot.
std::vector<uint32_t> Counts(const FeatureSpace& s) {
  std::vector<uint32_t> c(s.total());
  for (int f = 0; f < s.num_fields(); ++f)
    for (uint64_t x = 0; x < s.cardinalities[f]; ++x)
      c[s.offsets[f] + x] =
          x % 5 == 4 ? 0 : static_cast<uint32_t>(500 / (x + 1) + (x % 97 == 3) * 900);
  return c;
}

struct Layer {
  std::unique_ptr<EmbeddingLayer> layer;
  MgqeEmbedding* method = nullptr;
};

// Small codebooks so that small fields compress: K_h = 16, K_l = 4.
const std::vector<std::string> kSmall = {"high_choices=16", "low_choices=4"};

std::vector<std::string> With(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Layer MakeLayer(const FeatureSpace& s, const std::vector<uint32_t>& counts, double budget,
                const std::vector<std::string>& sets) {
  const CompressorInfo* info = FindCompressor("mgqe");
  EXPECT_NE(info, nullptr);
  ParamSet params(&info->schema);
  for (const std::string& kv : sets) {
    const size_t eq = kv.find('=');
    EXPECT_TRUE(params.Set(kv.substr(0, eq), kv.substr(eq + 1)).ok()) << kv;
  }
  SparseOptimizerConfig opt;
  opt.lr = 0.05f;
  Layer r;
  auto m = std::make_unique<MgqeEmbedding>();
  r.method = m.get();
  r.layer = std::make_unique<EmbeddingLayer>(std::move(m), NewLocalRowStore(opt));
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  ctx.seed = 5;
  ctx.train_counts = counts;
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

void Step(EmbeddingLayer* l, const FeatureSpace& s, int64_t step, Rng* rng) {
  const std::vector<uint32_t> keys = testing::Keys(s, 32, rng);
  std::vector<float> out(keys.size() * s.dim);
  ECPS_ASSERT_OK(l->Forward(keys, out.data(), true));
  ECPS_ASSERT_OK(l->Backward(testing::Normal(out.size(), rng).data(), step));
}

std::vector<float> AllOutputs(EmbeddingLayer& l, const FeatureSpace& s) {
  std::vector<uint32_t> keys;
  for (uint64_t k = 0; k < s.max_cardinality(); ++k)
    for (int f = 0; f < s.num_fields(); ++f)
      keys.push_back(static_cast<uint32_t>(std::min<uint64_t>(k, s.cardinalities[f] - 1)));
  std::vector<float> out(keys.size() * s.dim);
  ECPS_EXPECT_OK(l.Forward(keys, out.data(), false));
  return out;
}

// The reference's frequent ids: the top floor(share·n_f) by count, ties to
// the smaller id.
std::vector<uint32_t> TopIds(const std::vector<uint32_t>& counts, uint64_t off, uint64_t n,
                             double share) {
  std::vector<std::pair<int64_t, uint32_t>> v;
  for (uint32_t x = 0; x < n; ++x) v.push_back({-static_cast<int64_t>(counts[off + x]), x});
  std::sort(v.begin(), v.end());
  std::vector<uint32_t> ids;
  for (uint64_t k = 0; k < static_cast<uint64_t>(std::floor(share * n)); ++k)
    ids.push_back(v[k].second);
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(MgqeTest, FrequentIdsAndKeptFields) {
  const FeatureSpace s = Space({400, 90, 3}, 8);
  const std::vector<uint32_t> counts = Counts(s);
  Layer l = MakeLayer(s, counts, 1.0, With(kSmall, {"num_parts=4", "top_percent=0.2"}));
  // 3 ids cost 96 B as fp32 rows, less than a 16-codeword codebook (512 B).
  EXPECT_TRUE(l.method->compressed(0));
  EXPECT_TRUE(l.method->compressed(1));
  EXPECT_FALSE(l.method->compressed(2));
  for (int f = 0; f < 2; ++f)
    EXPECT_EQ(l.method->high_ids(f), TopIds(counts, s.offsets[f], s.cardinalities[f], 0.2)) << f;
  EXPECT_EQ(l.method->high_ids(0).size(), 80u);
  EXPECT_EQ(l.method->high_bytes(), 2);  // 4 parts of 4 bits
  EXPECT_EQ(l.method->low_bytes(), 1);   // 4 parts of 2 bits
  const std::vector<RowTableSpec> t = l.layer->compressor().Tables();
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].rows, s.total());
  EXPECT_EQ(t[1].rows, 2u * 4 * 16);  // a codebook per compressed field
  // low_choices above high_choices is refused, naming both.
  const CompressorInfo* info = FindCompressor("mgqe");
  ParamSet params(&info->schema);
  ECPS_ASSERT_OK(params.Set("high_choices", "8"));
  ECPS_ASSERT_OK(params.Set("low_choices", "16"));
  MgqeEmbedding m;
  CompressorContext ctx;
  ctx.space = s;
  const Status st = m.Init(ctx, params);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("low_choices"), std::string::npos) << st;
}

// The reference lookup of keys: per field its codebook block (E's rows of
// the compressed fields follow the kept ones), rare ids limited to K_l.
std::vector<float> ReferenceLookup(const MgqeEmbedding& m, const FeatureSpace& s,
                                   const std::vector<float>& e, const std::vector<float>& cb,
                                   const std::vector<uint32_t>& keys, codebook_ref::Norm norm,
                                   const std::vector<float>& bn, std::vector<int>* all_codes,
                                   int low_choices = 4) {
  const int d = s.dim, parts = m.shape().parts, k = m.shape().choices, nf = s.num_fields();
  const int pd = d / parts;
  std::vector<float> out(keys.size() * d);
  // Field by field, in the order of E: kept fields first.
  uint64_t kept = 0;
  for (int f = 0; f < nf; ++f) kept += m.compressed(f) ? 0 : s.cardinalities[f];
  uint64_t e_kept = 0, e_comp = kept;
  int block = 0;
  all_codes->assign(keys.size() * parts, 0);
  for (int f = 0; f < nf; ++f) {
    const uint64_t base = m.compressed(f) ? e_comp : e_kept;
    std::vector<float> q;
    std::vector<int> limit;
    std::vector<size_t> which;
    for (size_t i = f; i < keys.size(); i += nf) {
      q.insert(q.end(), e.begin() + (base + keys[i]) * d, e.begin() + (base + keys[i] + 1) * d);
      const auto& h = m.high_ids(f);
      limit.push_back(std::binary_search(h.begin(), h.end(), keys[i]) ? k : low_choices);
      which.push_back(i);
    }
    if (!m.compressed(f)) {
      for (size_t j = 0; j < which.size(); ++j)
        std::copy_n(q.begin() + j * d, d, out.begin() + which[j] * d);
      e_kept += s.cardinalities[f];
      continue;
    }
    const std::vector<float> block_cb(cb.begin() + block * parts * k * pd,
                                      cb.begin() + (block + 1) * parts * k * pd);
    std::vector<float> mean, var;
    if (!bn.empty()) {
      mean.assign(bn.begin() + 2 * block * parts * k, bn.begin() + (2 * block + 1) * parts * k);
      var.assign(bn.begin() + (2 * block + 1) * parts * k,
                 bn.begin() + (2 * block + 2) * parts * k);
    }
    const std::vector<int> codes =
        codebook_ref::Codes(q, d, block_cb, parts, k, limit, norm, mean, var);
    const std::vector<float> dec = codebook_ref::Decode(block_cb, codes, d, parts, k);
    for (size_t j = 0; j < which.size(); ++j) {
      std::copy_n(dec.begin() + j * d, d, out.begin() + which[j] * d);
      for (int p = 0; p < parts; ++p) (*all_codes)[which[j] * parts + p] = codes[j * parts + p];
    }
    e_comp += s.cardinalities[f];
    ++block;
  }
  return out;
}

TEST(MgqeTest, LookupEqualsTheReference) {
  const FeatureSpace s = Space({400, 90, 3}, 8);
  const std::vector<uint32_t> counts = Counts(s);
  Layer l = MakeLayer(s, counts, 1.0, With(kSmall, {"num_parts=4", "top_percent=0.2"}));
  const int d = s.dim;
  Rng rng(2);
  const std::vector<float> e = Uniform(s.total() * d, 1.0, &rng);
  const std::vector<float> cb = Uniform(2 * 4 * 16 * 2, 1.0, &rng);
  ECPS_ASSERT_OK(l.layer->store().WriteRows(0, 0, s.total(), e.data()));
  ECPS_ASSERT_OK(l.layer->store().WriteRows(1, 0, 2 * 4 * 16, cb.data()));
  std::span<float> buf = l.method->DenseBuffers();
  ASSERT_EQ(buf.size(), 2u * 2 * 4 * 16);
  for (size_t c = 0; c < buf.size(); ++c)
    buf[c] = (c / 64) % 2 == 0 ? static_cast<float>(rng.Uniform(-1.5, -0.2))
                               : static_cast<float>(rng.Uniform(0.1, 2.0));
  const std::vector<float> bn(buf.begin(), buf.end());
  const std::vector<uint32_t> keys = testing::Keys(s, 40, &rng);
  for (bool training : {false, true}) {
    SCOPED_TRACE(training ? "training" : "evaluation");
    std::vector<float> out(keys.size() * d);
    ECPS_ASSERT_OK(l.layer->Forward(keys, out.data(), training));
    std::vector<int> codes;
    const std::vector<float> want = ReferenceLookup(
        *l.method, s, e, cb, keys,
        training ? codebook_ref::Norm::kBatch : codebook_ref::Norm::kRunning, bn, &codes);
    EXPECT_EQ(out, want);
    // Rare ids used only their first 4 codewords.
    for (size_t i = 0; i < keys.size(); ++i) {
      const int f = static_cast<int>(i % 3);
      if (!l.method->compressed(f)) continue;
      const auto& h = l.method->high_ids(f);
      if (std::binary_search(h.begin(), h.end(), keys[i])) continue;
      for (int p = 0; p < 4; ++p) EXPECT_LT(codes[i * 4 + p], 4);
    }
  }
}

TEST(MgqeTest, GradientsMatchFiniteDifferencesOfEachFieldsRegulariser) {
  const FeatureSpace s = Space({150, 60}, 4);
  const std::vector<uint32_t> counts = Counts(s);
  const CompressorInfo* info = FindCompressor("mgqe");
  ParamSet params(&info->schema);
  for (const char* kv :
       {"high_choices=8", "low_choices=2", "num_parts=2", "reg_weight=0.5", "top_percent=0.3"}) {
    const std::string str(kv);
    ECPS_ASSERT_OK(params.Set(str.substr(0, str.find('=')), str.substr(str.find('=') + 1)));
  }
  MgqeEmbedding m;
  CompressorContext ctx;
  ctx.space = s;
  ctx.train_counts = counts;
  ECPS_ASSERT_OK(m.Init(ctx, params));
  ASSERT_TRUE(m.compressed(0) && m.compressed(1));
  const int d = s.dim, parts = 2, k = 8, pd = 2;
  Rng rng(3);
  const std::vector<uint32_t> keys = testing::Keys(s, 20, &rng);
  const std::vector<float> e = Uniform(s.total() * d, 1.0, &rng);
  const std::vector<float> cb = Uniform(2 * parts * k * pd, 1.0, &rng);
  LookupPlan plan;
  plan.training = true;
  m.Encode(keys, &plan);
  FetchedRows rows;
  rows.values.resize(2);
  for (uint64_t r : plan.rows[0])
    rows.values[0].insert(rows.values[0].end(), e.begin() + r * d, e.begin() + (r + 1) * d);
  rows.values[1] = cb;
  std::vector<float> out(keys.size() * d);
  m.Decode(plan, rows, out.data());
  const std::vector<float> g = testing::Normal(out.size(), &rng);
  FetchedRows grads;
  grads.values = {std::vector<float>(rows.values[0].size()), std::vector<float>(cb.size())};
  m.DecodeBackward(plan, rows, g.data(), &grads);
  EXPECT_EQ(grads.values[0], g);
  auto loss = [&](const std::vector<float>& c) {
    std::vector<int> codes;
    ReferenceLookup(m, s, e, c, keys, codebook_ref::Norm::kBatch, {}, &codes, /*low_choices=*/2);
    // Σ over fields of w·mean over its keys' elements.
    double total = 0;
    for (int f = 0; f < 2; ++f) {
      double sq = 0, cnt = 0;
      for (size_t i = f; i < keys.size(); i += 2) {
        const uint64_t row = plan.rows[0][i];
        for (int p = 0; p < parts; ++p)
          for (int el = 0; el < pd; ++el) {
            const double diff =
                static_cast<double>(c[((f * parts + p) * k + codes[i * parts + p]) * pd + el]) -
                e[row * d + p * pd + el];
            sq += diff * diff;
          }
        cnt += d;
      }
      total += 0.5 * sq / cnt;
    }
    return std::make_pair(total, codes);
  };
  const std::vector<int> codes0 = loss(cb).second;
  int checked = 0;
  for (size_t x = 0; x < cb.size(); ++x) {
    std::vector<float> plus = cb, minus = cb;
    plus[x] += 1e-3f;
    minus[x] -= 1e-3f;
    const auto [lp, cp] = loss(plus);
    const auto [lm, cm] = loss(minus);
    if (cp != codes0 || cm != codes0) continue;
    const double fd = (lp - lm) / (static_cast<double>(plus[x]) - minus[x]);
    EXPECT_NEAR(grads.values[1][x], fd, 1e-5 + 1e-3 * std::fabs(fd)) << "codebook element " << x;
    ++checked;
  }
  EXPECT_GT(checked, static_cast<int>(cb.size()) / 2);
}

TEST(MgqeTest, TheBudgetSolverTakesTheMostPartsThatFit) {
  const FeatureSpace s = Space({600000, 300000, 90000, 40}, 16);
  const std::vector<uint32_t> counts = Counts(s);
  const double full = 4.0 * s.total() * 16;
  const CompressorInfo* info = FindCompressor("mgqe");
  for (double budget : {0.5, 0.15, 0.1, 0.05, 0.01}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    ParamSet params(&info->schema);
    MgqeEmbedding m;
    CompressorContext ctx;
    ctx.space = s;
    ctx.budget = budget;
    ctx.train_counts = counts;
    ECPS_ASSERT_OK(m.Init(ctx, params));
    // Defaults: 256 / 64 choices (8 / 6 bits), top 10%; a field costs its
    // codes, a 4·256·16 B codebook, 4 B per frequent id and 8·P·256 B of
    // statistics, or its fp32 rows if that is less.
    auto bytes = [&](int p) {
      double b = 0;
      for (uint64_t nf : s.cardinalities) {
        const uint64_t nh = static_cast<uint64_t>(std::floor(0.1 * nf));
        const double q =
            nh * p + (nf - nh) * std::ceil(6.0 * p / 8) + 16384.0 + 4.0 * nh + 2048.0 * p;
        b += std::min(q, 64.0 * nf);
      }
      return b;
    };
    int want = 1;
    for (int p : {16, 8, 4, 2, 1})
      if (bytes(p) <= std::floor(full * budget)) {
        want = p;
        break;
      }
    EXPECT_EQ(m.shape().parts, want);
    EXPECT_EQ(static_cast<double>(m.Memory().inference_bytes), bytes(want));
    EXPECT_FALSE(m.compressed(3));  // 40 ids: 2.5 KB of rows
    if (budget >= 0.05) {
      EXPECT_LE(static_cast<double>(m.Memory().inference_bytes), std::floor(full * budget));
    } else {
      EXPECT_EQ(want, 1);
      EXPECT_GT(static_cast<double>(m.Memory().inference_bytes), std::floor(full * budget));
    }
  }
}

TEST(MgqeTest, TheSwitchKeepsTheEvaluationLookupInCodesByRank) {
  const FeatureSpace s = Space({400, 90, 3}, 8);
  const std::vector<uint32_t> counts = Counts(s);
  Layer l = MakeLayer(s, counts, 1.0, With(kSmall, {"num_parts=4", "top_percent=0.2"}));
  const uint64_t n = s.total();
  const int d = s.dim;
  const uint64_t high = 80 + 18, low = 320 + 72, kept = 3, codebooks = 2ull * 4 * 16 * 2 * 4;
  MemoryReport r = l.layer->Memory();
  EXPECT_EQ(l.layer->store().parameter_bytes(), 4 * n * d + codebooks);
  EXPECT_EQ(r.optimizer_bytes, 2 * (4 * n * d + codebooks));
  const uint64_t served = 4 * kept * d + 2 * high + low + codebooks;
  EXPECT_EQ(r.parameter_bytes, 4 * n * d + codebooks + served);
  EXPECT_EQ(r.auxiliary_bytes, 4 * high + 2u * 2 * 4 * 16 * 4);
  EXPECT_EQ(r.inference_bytes, served + r.auxiliary_bytes);
  Rng rng(4);
  for (int t = 1; t <= 30; ++t) Step(l.layer.get(), s, t, &rng);
  const std::vector<float> e = Table(*l.layer, 0);
  const std::vector<float> cb = Table(*l.layer, 1);
  const std::vector<float> bn(l.method->DenseBuffers().begin(), l.method->DenseBuffers().end());
  const std::vector<float> trained = AllOutputs(*l.layer, s);
  ECPS_ASSERT_OK(l.layer->BeginStage(1));
  EXPECT_EQ(AllOutputs(*l.layer, s), trained);
  const std::vector<RowTableSpec> tables = l.layer->store().StoredTables();
  ASSERT_EQ(tables.size(), 4u);
  EXPECT_EQ(tables[0].name, "F");
  EXPECT_EQ(tables[0].rows, kept);
  EXPECT_EQ(tables[1].rows, high);
  EXPECT_EQ(tables[2].rows, low);
  for (const RowTableSpec& t : tables) EXPECT_FALSE(t.trainable) << t.name;
  EXPECT_EQ(Table(*l.layer, 3), cb);
  // The kept field's rows are E's first rows.
  EXPECT_EQ(Table(*l.layer, 0), std::vector<float>(e.begin(), e.begin() + kept * d));
  // Every id's codes, at its rank, are the reference's by running statistics.
  std::vector<uint32_t> keys;
  for (uint32_t x = 0; x < 400; ++x) keys.insert(keys.end(), {x, x % 90, x % 3});
  std::vector<int> codes;
  ReferenceLookup(*l.method, s, e, cb, keys, codebook_ref::Norm::kRunning, bn, &codes);
  const std::vector<float> hi = Table(*l.layer, 1), lo = Table(*l.layer, 2);
  for (int f = 0; f < 2; ++f) {
    const auto& h = l.method->high_ids(f);
    uint64_t hr = f == 0 ? 0 : 80, lr = f == 0 ? 0 : 320;
    for (uint32_t x = 0; x < s.cardinalities[f]; ++x) {
      const bool is_high = std::binary_search(h.begin(), h.end(), x);
      std::vector<int32_t> got(4);
      if (is_high) {
        codebook::UnpackCodes(hi.data() + hr++ * 2, 4, 4, got.data());
      } else {
        codebook::UnpackCodes(lo.data() + lr++ * 1, 4, 2, got.data());
      }
      for (int p = 0; p < 4; ++p) ASSERT_EQ(got[p], codes[(x * 3 + f) * 4 + p]) << f << " " << x;
    }
  }
  r = l.layer->Memory();
  EXPECT_EQ(l.layer->store().parameter_bytes(), served);
  EXPECT_EQ(r.inference_bytes, served + 4 * high);
  EXPECT_EQ(r.mapping_bytes, 4 * high);
  EXPECT_EQ(r.optimizer_bytes, 0u);
}

TEST(MgqeTest, ResumesInBothStages) {
  const FeatureSpace s = Space({200, 40, 2}, 4);
  const std::vector<uint32_t> counts = Counts(s);
  const std::vector<std::string> sets = With(kSmall, {"num_parts=2"});
  Layer a = MakeLayer(s, counts, 1.0, sets);
  Rng rng(6);
  int64_t step = 0;
  for (int i = 0; i < 5; ++i) Step(a.layer.get(), s, ++step, &rng);
  auto reload = [&]() {
    auto blob = a.layer->Save();
    EXPECT_TRUE(blob.ok()) << blob.status();
    Layer b = MakeLayer(s, counts, 1.0, sets);
    ECPS_EXPECT_OK(b.layer->Load(*blob));
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
  ECPS_ASSERT_OK(a.layer->BeginStage(1));
  Layer c = reload();
  EXPECT_EQ(c.method->stage(), 1);
  EXPECT_EQ(AllOutputs(*c.layer, s), AllOutputs(*a.layer, s));
}

// ------------------------------------------------------------ end to end --

class MgqeTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_mgqe_train_test", /*rows=*/12000, /*features=*/6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  static std::vector<std::string> Sets(const std::string& out) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(),
                {"embedding.method=mgqe", "embedding.budget=0.25",
                 "embedding.params.high_choices=64", "embedding.params.low_choices=16",
                 "train.max_steps=150", "train.evals_per_epoch=4", "train.latency_batches=1"});
    return sets;
  }
  static nlohmann::json Run(std::vector<std::string> sets, bool cluster) {
    auto cfg = LoadTrainConfig("", sets);
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    if (!cfg.ok()) return {};
    if (!cluster) {
      auto t = Trainer::Create(*cfg, ds_->data());
      EXPECT_TRUE(t.ok()) << t.status();
      if (!t.ok()) return {};
      auto r = (*t)->Run(false);
      EXPECT_TRUE(r.ok()) << r.status();
      return r.ok() ? *r : nlohmann::json();
    }
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
    EXPECT_GT(r["test_auc"].get<double>(), 0.6) << r.dump(2);
    EXPECT_LE(r["inference_memory_ratio"].get<double>(), 0.25);
    EXPECT_GT(r["inference_memory_ratio"].get<double>(), 0.0);
    EXPECT_GE(r["training_memory"]["embedding_ratio"].get<double>(), 3.0);
  }
};

TEST_F(MgqeTrainTest, TrainsSingleProcessAndOneServerOneWorkerEqualsIt) {
  const nlohmann::json a = Run(Sets("single"), false);
  ASSERT_FALSE(a.is_null());
  CheckResults(a);
  std::vector<std::string> sets = Sets("sim11");
  sets.insert(sets.end(), {"cluster.servers=1", "cluster.workers=1", "cluster.virtual_shards=1"});
  const nlohmann::json b = Run(sets, true);
  ASSERT_FALSE(b.is_null());
  EXPECT_EQ(a["inference_memory_ratio"], b["inference_memory_ratio"]);
  EXPECT_EQ(a["test_auc"], b["test_auc"]);
  EXPECT_EQ(a["steps"], b["steps"]);
  std::printf("mgqe: test_auc %.6f ratio %.5f steps %s\n", a["test_auc"].get<double>(),
              a["inference_memory_ratio"].get<double>(), a["steps"].dump().c_str());
}

TEST_F(MgqeTrainTest, TrainsOnTwoServersAndTwoWorkers) {
  std::vector<std::string> sets = Sets("sim22");
  sets.insert(sets.end(), {"cluster.servers=2", "cluster.workers=2"});
  const nlohmann::json r = Run(sets, true);
  ASSERT_FALSE(r.is_null());
  CheckResults(r);
  const nlohmann::json a = Run(Sets("sim22_single"), false);
  ASSERT_FALSE(a.is_null());
  EXPECT_NEAR(r["test_auc"].get<double>(), a["test_auc"].get<double>(), 0.005);
  std::printf("mgqe 2+2: test_auc %.6f (single %.6f) ratio %.5f\n", r["test_auc"].get<double>(),
              a["test_auc"].get<double>(), r["inference_memory_ratio"].get<double>());
}

}  // namespace
}  // namespace ecps
