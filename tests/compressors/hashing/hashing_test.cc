// Tests of the hashing family: lookups against the naive references of
// tests/compressors/reference/hashing_reference.h (through EmbeddingLayer +
// LocalRowStore), budget solving, save/load, finite-difference gradients,
// duplicate keys, determinism, exact memory from the shapes, and the
// authors' constants and defaults (docs/methods.md) pinned.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/rng.h"
#include "compressors/hashing/hashing_util.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"
#include "tests/compressors/reference/hashing_reference.h"
#include "tests/testing/feature_space.h"
#include "tests/testing/status_testing.h"

namespace ecps {
namespace {

using hashing_ref::TableValues;

using testing::Space;

// Criteo's 26 field cardinalities (docs/methods.md §1.1).
FeatureSpace Criteo() {
  return Space({1460,  583,  10131227, 2202608, 305, 24,     12517,   633,   3,
                93145, 5683, 8351593,  3194,    27,  14992,  5461306, 10,    5652,
                2173,  4,    7046547,  18,      15,  286181, 105,     142572},
               16);
}

// Zipf-like train counts, with every 7th id never seen.
std::vector<uint32_t> Counts(const FeatureSpace& s) {
  std::vector<uint32_t> c(s.total());
  for (int f = 0; f < s.num_fields(); ++f)
    for (uint64_t x = 0; x < s.cardinalities[f]; ++x)
      c[s.offsets[f] + x] = x % 7 == 6 ? 0 : static_cast<uint32_t>(1 + 1000 / (x + 1));
  return c;
}

// One method configuration under test.
struct Case {
  std::string method;
  std::vector<std::string> params;  // "key=value"
  std::string label;
};

std::vector<Case> Cases() {
  return {{"hash", {}, "hash"},
          {"hash", {"per_field=true"}, "hash_per_field"},
          {"compoemb", {}, "compoemb_mul"},
          {"compoemb", {"aggregator=sum", "threshold=40"}, "compoemb_sum"},
          {"compoemb", {"solver=shared"}, "compoemb_shared"},
          {"compoemb", {"solver=authors"}, "compoemb_authors"},
          {"doublehash", {}, "doublehash"},
          {"doublehash", {"frequent_fraction=0.3"}, "doublehash_p03"},
          {"doublehash", {"per_field=false"}, "doublehash_global"},
          {"memcom", {}, "memcom"},
          {"memcom", {"bias=false"}, "memcom_nobias"},
          {"binarycode", {}, "binarycode_skip"},
          {"binarycode", {"split=succession", "pooling=mean"}, "binarycode_succ_mean"},
          {"robe", {}, "robe"},
          {"robe", {"chunks=4"}, "robe_z4"}};
}

struct Made {
  std::unique_ptr<EmbeddingLayer> layer;
  CompressorContext ctx;
  Status status;
};

Made Make(const Case& c, const FeatureSpace& s, double budget, std::span<const uint32_t> counts,
          uint64_t seed = 42, SparseOptimizerConfig opt = {}) {
  Made m;
  const CompressorInfo* info = FindCompressor(c.method);
  EXPECT_NE(info, nullptr) << c.method;
  EXPECT_EQ(info->family, "hashing");
  ParamSet params(&info->schema);
  EXPECT_TRUE(params.ApplyOverrides(c.params).ok()) << c.label;
  m.ctx.space = s;
  m.ctx.budget = budget;
  m.ctx.seed = seed;
  m.ctx.train_counts = counts;
  m.layer = std::make_unique<EmbeddingLayer>(info->create(), NewLocalRowStore(opt));
  m.status = m.layer->Init(m.ctx, params);
  return m;
}

TableValues ReadTables(EmbeddingLayer& l) {
  TableValues t;
  const std::vector<RowTableSpec> specs = l.store().StoredTables();
  for (size_t i = 0; i < specs.size(); ++i) {
    t.emplace_back(specs[i].rows * specs[i].width);
    EXPECT_TRUE(l.store().ReadRows(static_cast<int>(i), 0, specs[i].rows, t.back().data()).ok());
  }
  return t;
}

std::vector<float> Reference(const std::string& method, const Compressor& c, const FeatureSpace& s,
                             std::span<const uint32_t> counts, const TableValues& t,
                             std::span<const uint32_t> keys) {
  if (method == "hash")
    return hashing_ref::HashLookup(dynamic_cast<const HashEmbedding&>(c), s, t, keys);
  if (method == "compoemb")
    return hashing_ref::CompoEmbLookup(dynamic_cast<const CompoEmbedding&>(c), s, t, keys);
  if (method == "doublehash")
    return hashing_ref::DoubleHashLookup(dynamic_cast<const DoubleHashEmbedding&>(c), s, counts, t,
                                         keys);
  if (method == "memcom")
    return hashing_ref::MemComLookup(dynamic_cast<const MemComEmbedding&>(c), s, t, keys);
  if (method == "binarycode")
    return hashing_ref::BinaryCodeLookup(dynamic_cast<const BinaryCodeEmbedding&>(c), s, t, keys);
  if (method == "robe")
    return hashing_ref::RobeLookup(dynamic_cast<const RobeEmbedding&>(c), s, t, keys);
  ADD_FAILURE() << "no reference for " << method;
  return {};
}

using testing::Keys;
using testing::Normal;

const FeatureSpace kSmall = Space({9, 1, 250, 33, 2, 1000, 4097}, 8);

class HashingMethodTest : public ::testing::TestWithParam<Case> {};

TEST_P(HashingMethodTest, LookupMatchesNaiveReferenceBeforeAndAfterTraining) {
  const Case& c = GetParam();
  const std::vector<uint32_t> counts = Counts(kSmall);
  for (double budget : {0.5, 0.1, 0.03}) {
    Made m = Make(c, kSmall, budget, counts);
    ASSERT_TRUE(m.status.ok()) << m.status;
    Rng rng(7);
    for (int step = 1; step <= 4; ++step) {
      const std::vector<uint32_t> keys = Keys(kSmall, 37, &rng);
      std::vector<float> out(keys.size() * kSmall.dim, -3.0f);
      ECPS_EXPECT_OK(m.layer->Forward(keys, out.data(), /*training=*/false));
      const TableValues t = ReadTables(*m.layer);
      ASSERT_EQ(out, Reference(c.method, m.layer->compressor(), kSmall, counts, t, keys))
          << c.label << " budget " << budget << " step " << step;
      // A training step changes the rows (U(-b, b) init is tiny; a large lr
      // makes the next comparison meaningful).
      ECPS_EXPECT_OK(m.layer->Forward(keys, out.data(), true));
      ECPS_EXPECT_OK(m.layer->Backward(Normal(out.size(), &rng).data(), step));
    }
  }
}

// d(sum(w · out)) / d(stored element) by central differences through
// WriteRows, against DecodeBackward's row gradients summed over the plan.
TEST_P(HashingMethodTest, RowGradientsMatchFiniteDifferences) {
  const Case& c = GetParam();
  const std::vector<uint32_t> counts = Counts(kSmall);
  Made m = Make(c, kSmall, 0.1, counts);
  ASSERT_TRUE(m.status.ok()) << m.status;
  Rng rng(3);
  // Rows of O(1) so products (CompoEmb, MEmCom) have visible gradients.
  const std::vector<RowTableSpec> specs = m.layer->store().StoredTables();
  for (size_t t = 0; t < specs.size(); ++t) {
    std::vector<float> v = Normal(specs[t].rows * specs[t].width, &rng);
    ASSERT_TRUE(m.layer->store().WriteRows(static_cast<int>(t), 0, specs[t].rows, v.data()).ok());
  }
  Compressor& comp = m.layer->compressor();
  const std::vector<uint32_t> keys = Keys(kSmall, 11, &rng);
  const std::vector<float> w = Normal(keys.size() * kSmall.dim, &rng);
  LookupPlan plan;
  FetchedRows values, grads;
  comp.Encode(keys, &plan);
  ECPS_EXPECT_OK(m.layer->store().Gather(plan, &values));
  std::vector<float> out(w.size());
  comp.Decode(plan, values, out.data());
  grads.values.resize(values.values.size());
  for (size_t t = 0; t < values.values.size(); ++t)
    grads.values[t].assign(values.values[t].size(), std::nanf(""));
  comp.DecodeBackward(plan, values, w.data(), &grads);
  for (size_t t = 0; t < grads.values.size(); ++t)
    for (float g : grads.values[t]) ASSERT_TRUE(std::isfinite(g)) << "unwritten row gradient";

  auto loss = [&]() {
    std::vector<float> o(w.size());
    ECPS_EXPECT_OK(m.layer->Forward(keys, o.data(), false));
    double l = 0;
    for (size_t i = 0; i < o.size(); ++i) l += static_cast<double>(w[i]) * o[i];
    return l;
  };
  int checked = 0;
  for (size_t t = 0; t < specs.size(); ++t) {
    const int width = specs[t].width;
    // Analytic gradient per (row, col): the store sums duplicates.
    std::map<std::pair<uint64_t, int>, double> analytic;
    for (size_t p = 0; p < plan.rows[t].size(); ++p) {
      if (plan.rows[t][p] == kNoRow) continue;
      for (int j = 0; j < width; ++j)
        analytic[{plan.rows[t][p], j}] += grads.values[t][p * width + j];
    }
    // A handful of touched elements, plus one untouched row (gradient 0).
    std::vector<std::pair<uint64_t, int>> probe;
    for (const auto& [key, g] : analytic)
      if (probe.size() < 6) probe.push_back(key);
    for (uint64_t r = 0; r < specs[t].rows; ++r)
      if (!analytic.count({r, 0})) {
        probe.push_back({r, 0});
        break;
      }
    for (const auto& [row, col] : probe) {
      std::vector<float> rowv(width);
      ASSERT_TRUE(m.layer->store().ReadRows(static_cast<int>(t), row, 1, rowv.data()).ok());
      const float orig = rowv[col];
      const float h = 0.25f;
      rowv[col] = orig + h;
      ASSERT_TRUE(m.layer->store().WriteRows(static_cast<int>(t), row, 1, rowv.data()).ok());
      const double up = loss();
      rowv[col] = orig - h;
      ASSERT_TRUE(m.layer->store().WriteRows(static_cast<int>(t), row, 1, rowv.data()).ok());
      const double down = loss();
      rowv[col] = orig;
      ASSERT_TRUE(m.layer->store().WriteRows(static_cast<int>(t), row, 1, rowv.data()).ok());
      const double numeric = (up - down) / (2 * h);
      const double a = analytic.count({row, col}) ? analytic[{row, col}] : 0.0;
      // The decode is linear in each single stored value: exact up to rounding.
      EXPECT_NEAR(numeric, a, 1e-3 * (1 + std::abs(a)))
          << c.label << " table " << specs[t].name << " row " << row << " col " << col;
      ++checked;
    }
  }
  EXPECT_GE(checked, 2);
}

// A key repeated in a batch trains exactly like one occurrence carrying the
// summed output gradient (the store sums duplicate rows before Adam).
TEST_P(HashingMethodTest, DuplicateKeysSumTheirGradients) {
  const Case& c = GetParam();
  const std::vector<uint32_t> counts = Counts(kSmall);
  Made a = Make(c, kSmall, 0.1, counts);
  Made b = Make(c, kSmall, 0.1, counts);
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  const int nf = kSmall.num_fields(), d = kSmall.dim;
  Rng rng(5);
  const std::vector<uint32_t> one = Keys(kSmall, 1, &rng);
  std::vector<uint32_t> twice = one;
  twice.insert(twice.end(), one.begin(), one.end());
  const std::vector<float> g = Normal(twice.size() * d, &rng);
  std::vector<float> summed(one.size() * d);
  for (size_t i = 0; i < summed.size(); ++i) summed[i] = g[i] + g[i + static_cast<size_t>(nf) * d];
  std::vector<float> out(twice.size() * d);
  ECPS_EXPECT_OK(a.layer->Forward(twice, out.data(), true));
  ECPS_EXPECT_OK(a.layer->Backward(g.data(), 1));
  ECPS_EXPECT_OK(b.layer->Forward(one, out.data(), true));
  ECPS_EXPECT_OK(b.layer->Backward(summed.data(), 1));
  const TableValues ta = ReadTables(*a.layer), tb = ReadTables(*b.layer);
  ASSERT_EQ(ta.size(), tb.size());
  for (size_t t = 0; t < ta.size(); ++t)
    for (size_t i = 0; i < ta[t].size(); ++i)
      ASSERT_NEAR(ta[t][i], tb[t][i], 1e-6) << c.label << " table " << t << " element " << i;
}

// Save after some steps, load into a fresh layer, continue: bit-identical.
TEST_P(HashingMethodTest, SaveLoadContinuesBitIdentically) {
  const Case& c = GetParam();
  const std::vector<uint32_t> counts = Counts(kSmall);
  Made a = Make(c, kSmall, 0.1, counts);
  ASSERT_TRUE(a.status.ok());
  Rng rng(9);
  std::vector<float> out;
  auto step = [&](EmbeddingLayer* l, int64_t s, Rng r) {
    const std::vector<uint32_t> keys = Keys(kSmall, 16, &r);
    out.resize(keys.size() * kSmall.dim);
    ECPS_EXPECT_OK(l->Forward(keys, out.data(), true));
    ECPS_EXPECT_OK(l->Backward(Normal(out.size(), &r).data(), s));
  };
  for (int s = 1; s <= 3; ++s) step(a.layer.get(), s, Rng(100 + s));
  const std::string blob = a.layer->Save().value();
  Made b = Make(c, kSmall, 0.1, counts);
  ASSERT_TRUE(b.status.ok());
  ECPS_ASSERT_OK(b.layer->Load(blob));
  EXPECT_EQ(b.layer->compressor().SaveState(), a.layer->compressor().SaveState());
  for (int s = 4; s <= 6; ++s) {
    step(a.layer.get(), s, Rng(100 + s));
    step(b.layer.get(), s, Rng(100 + s));
  }
  EXPECT_EQ(ReadTables(*a.layer), ReadTables(*b.layer)) << c.label;
  EXPECT_EQ(a.layer->Save().value(), b.layer->Save().value());
  // A state blob of another method is refused by its magic.
  Made other = Make(c.method == "hash" ? Case{"robe", {}, "robe"} : Case{"hash", {}, "hash"},
                    kSmall, 0.1, counts);
  const Status foreign = b.layer->compressor().LoadState(other.layer->compressor().SaveState());
  EXPECT_EQ(foreign.code(), absl::StatusCode::kDataLoss) << foreign;
  EXPECT_NE(std::string(foreign.message()).find(c.method + " state"), std::string::npos) << foreign;
  EXPECT_FALSE(b.layer->compressor().LoadState("").ok());
  // A blob of another Init (sized for another budget) is refused, not adopted:
  // the tables it describes are not this layer's.
  Made wide = Make(c, kSmall, 0.5, counts);
  ASSERT_TRUE(wide.status.ok());
  const Status other_init = wide.layer->Load(blob);
  EXPECT_EQ(other_init.code(), absl::StatusCode::kFailedPrecondition) << other_init;
  EXPECT_NE(std::string(other_init.message()).find(c.method), std::string::npos) << other_init;
}

TEST_P(HashingMethodTest, SameSeedSameModelOtherSeedOtherHashes) {
  const Case& c = GetParam();
  const std::vector<uint32_t> counts = Counts(kSmall);
  Made a = Make(c, kSmall, 0.1, counts, 11);
  Made b = Make(c, kSmall, 0.1, counts, 11);
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  Rng ra(1), rb(1);
  for (int s = 1; s <= 3; ++s) {
    const std::vector<uint32_t> ka = Keys(kSmall, 8, &ra), kb = Keys(kSmall, 8, &rb);
    std::vector<float> oa(ka.size() * kSmall.dim), ob(oa.size());
    ECPS_EXPECT_OK(a.layer->Forward(ka, oa.data(), true));
    ECPS_EXPECT_OK(b.layer->Forward(kb, ob.data(), true));
    EXPECT_EQ(oa, ob);
    const std::vector<float> ga = Normal(oa.size(), &ra), gb = Normal(ob.size(), &rb);
    ECPS_EXPECT_OK(a.layer->Backward(ga.data(), s));
    ECPS_EXPECT_OK(b.layer->Backward(gb.data(), s));
  }
  EXPECT_EQ(a.layer->Save().value(), b.layer->Save().value());
  if (c.method == "doublehash" || c.method == "robe") {
    Made other = Make(c, kSmall, 0.1, counts, 12);
    EXPECT_NE(other.layer->compressor().SaveState(), a.layer->compressor().SaveState());
  }
}

// The rows of each table and the inference bytes, computed here from the
// method's chosen shapes (its accessors) with docs/methods.md's formulas,
// independently of Tables() and Memory().
struct Shape {
  std::vector<uint64_t> rows;  // per table, in Tables() order
  uint64_t inference_bytes = 0;
};

Shape ExpectedShape(const std::string& method, const Compressor& comp, const FeatureSpace& s) {
  Shape e;
  const uint64_t d = s.dim, row = 4 * d;
  if (method == "hash") {
    const auto& m = dynamic_cast<const HashEmbedding&>(comp);
    uint64_t rows = m.rows();
    if (!m.field_rows().empty()) {
      rows = 0;
      for (uint64_t r : m.field_rows()) rows += r;
    }
    e.rows = {rows};
    e.inference_bytes = row * rows;
  } else if (method == "compoemb") {
    const auto& m = dynamic_cast<const CompoEmbedding&>(comp);
    uint64_t q = 0, r = 0, full = 0, compressed = 0;
    for (int f = 0; f < s.num_fields(); ++f) {
      const uint64_t n = s.cardinalities[f], c = m.collision(f);
      if (c == 0) {
        full += n;
      } else {
        q += (n + c - 1) / c;
        r += c;
        ++compressed;
      }
    }
    e.rows = {q, r, full};
    e.inference_bytes = row * (q + r + full) + 4 * compressed;
  } else if (method == "doublehash") {
    const auto& m = dynamic_cast<const DoubleHashEmbedding&>(comp);
    uint64_t h = 0;
    for (int g = 0; g < m.hash_groups(); ++g) h += m.hash_size(g);
    e.rows = {m.frequent_rows(), h};
    // F and H rows, 16 B of map per frequent id, 40 B per hash pair.
    e.inference_bytes = row * (m.frequent_rows() + h) + 16 * m.frequent_rows() +
                        40 * static_cast<uint64_t>(m.hash_groups());
  } else if (method == "memcom") {
    const auto& m = dynamic_cast<const MemComEmbedding&>(comp);
    e.rows = {m.hash_rows(), s.total()};
    if (m.bias()) e.rows.push_back(s.total());
    e.inference_bytes = row * m.hash_rows() + 4 * s.total() * (m.bias() ? 2 : 1);
  } else if (method == "binarycode") {
    const auto& m = dynamic_cast<const BinaryCodeEmbedding&>(comp);
    uint64_t rows = 0, compressed = 0;
    for (int f = 0; f < s.num_fields(); ++f) {
      rows += m.field_rows(f);
      compressed += m.full(f) ? 0 : 1;
    }
    e.rows = {rows};
    e.inference_bytes = row * rows + 4 * compressed;
  } else if (method == "robe") {
    const auto& m = dynamic_cast<const RobeEmbedding&>(comp);
    e.rows = {m.length()};
    e.inference_bytes = 4 * m.length() + 10 * 4;  // M and the ten int32 constants
  } else {
    ADD_FAILURE() << "no shape for " << method;
  }
  return e;
}

// Memory() and Tables() agree with the shapes; parameters are the fp32 rows
// (4 bytes per element of every table), what the store holds too; the
// embedding layer adds Adam (2 floats per stored float).
TEST_P(HashingMethodTest, MemoryMatchesTheShapes) {
  const Case& c = GetParam();
  const std::vector<uint32_t> counts = Counts(kSmall);
  for (double budget : {1.0, 0.5, 0.1, 0.01}) {
    Made m = Make(c, kSmall, budget, counts);
    ASSERT_TRUE(m.status.ok());
    const Shape want = ExpectedShape(c.method, m.layer->compressor(), kSmall);
    const std::vector<RowTableSpec> tables = m.layer->compressor().Tables();
    ASSERT_EQ(tables.size(), want.rows.size()) << c.label;
    uint64_t param_bytes = 0;
    for (size_t t = 0; t < tables.size(); ++t) {
      EXPECT_EQ(tables[t].rows, want.rows[t]) << c.label << " table " << tables[t].name;
      param_bytes += want.rows[t] * 4 * static_cast<uint64_t>(tables[t].width);
    }
    const MemoryReport r = m.layer->Memory();
    EXPECT_EQ(r.inference_bytes, want.inference_bytes) << c.label << " budget " << budget;
    EXPECT_EQ(r.parameter_bytes, param_bytes) << c.label;
    EXPECT_EQ(m.layer->store().parameter_bytes(), param_bytes) << c.label;
    EXPECT_EQ(r.optimizer_bytes, 2 * param_bytes) << c.label;
    // Fits the budget unless the method reports it unreachable here.
    if (r.inference_bytes > hashing_internal::BudgetBytes(kSmall, budget))
      std::printf("%s: budget %g unreachable on the small space, real ratio %.4f\n",
                  c.label.c_str(), budget,
                  static_cast<double>(r.inference_bytes) /
                      static_cast<double>(hashing_internal::FullBytes(kSmall)));
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, HashingMethodTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.label; });

// ---------------------------------------------------------------- budgets --

// Only the method's Init runs (no store): Criteo-sized tables are never built.
StatusOr<std::unique_ptr<Compressor>> Solve(const Case& c, const FeatureSpace& s, double budget,
                                            std::span<const uint32_t> counts = {}) {
  const CompressorInfo* info = FindCompressor(c.method);
  ParamSet params(&info->schema);
  RETURN_IF_ERROR(params.ApplyOverrides(c.params));
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  ctx.seed = 1;
  ctx.train_counts = counts;
  std::unique_ptr<Compressor> m = info->create();
  RETURN_IF_ERROR(m->Init(ctx, params));
  return m;
}

double Ratio(const Compressor& m, const FeatureSpace& s) {
  return static_cast<double>(m.Memory().inference_bytes) /
         static_cast<double>(hashing_internal::FullBytes(s));
}

const std::vector<double> kBudgets = {0.5, 0.1, 0.01, 0.001, 0.037, 0.23};

TEST(HashingBudgetTest, HashAndRobeHitEveryBudgetOnCriteo) {
  const FeatureSpace s = Criteo();
  for (const char* name : {"hash", "robe"})
    for (double b : kBudgets) {
      auto m = Solve({name, {}, name}, s, b);
      ASSERT_TRUE(m.ok());
      const double r = Ratio(**m, s);
      EXPECT_LE(r, b) << name << " " << b;
      EXPECT_GE(r, 0.99 * b) << name << " " << b;
    }
  // docs/methods.md §5: ROBE length at 50% is n·d/2 = 270,100,616 (minus our ten
  // int32 constants, charged to the budget).
  auto robe = Solve({"robe", {}, "robe"}, s, 0.5);
  EXPECT_EQ(dynamic_cast<RobeEmbedding&>(**robe).length(), 270100616u - 10);
  auto hash = Solve({"hash", {}, "hash"}, s, 0.5);
  EXPECT_EQ(dynamic_cast<HashEmbedding&>(**hash).rows(), 33762577u / 2);
}

// Per-field hash: every field gets floor(n_f·CR) rows (at least one), so the
// total is within the budget and, on Criteo, within 1% of it down to 1%
// (at 0.1% the 1-row floor of the small fields is a visible share).
TEST(HashingBudgetTest, PerFieldHashSplitsTheBudgetByField) {
  const FeatureSpace s = Criteo();
  for (double b : {0.5, 0.1, 0.01, 0.037, 0.23}) {
    auto m = Solve({"hash", {"per_field=true"}, "hash_per_field"}, s, b);
    ASSERT_TRUE(m.ok());
    const auto& h = dynamic_cast<HashEmbedding&>(**m);
    ASSERT_EQ(h.field_rows().size(), s.cardinalities.size());
    uint64_t sum = 0;
    for (int f = 0; f < s.num_fields(); ++f) {
      const uint64_t want = std::max<uint64_t>(
          1, static_cast<uint64_t>(std::floor(static_cast<double>(s.cardinalities[f]) * b)));
      EXPECT_EQ(h.field_rows()[f], want) << b << " field " << f;
      sum += h.field_rows()[f];
    }
    EXPECT_EQ(h.rows(), sum);
    EXPECT_LE(Ratio(h, s), b) << b;
    EXPECT_GE(Ratio(h, s), 0.99 * b) << b;
  }
}

// solver=authors is CODE's solver (CompoEmbTrainer._get_collision: bisection
// of a real c with eps 0.5, then ceil): docs/methods.md §2.3.5 / §5 give
// c = 2 / 10 / 101 at 50 / 10 / 1% on Criteo, each slightly over the budget
// at 50% and 10%, and 0.1% unreachable.
TEST(HashingBudgetTest, CompoEmbAuthorsSolverReproducesTheirCollisionsOnCriteo) {
  const FeatureSpace s = Criteo();
  struct Want {
    double budget;
    uint64_t c;
    double row_ratio;  // rows of Q + R + E over n, as CODE prints "Real compress rate"
  };
  for (const Want& w : {Want{0.5, 2, 0.500001732687644}, Want{0.1, 10, 0.10000762086377471},
                        Want{0.01, 101, 0.009961087982117004}}) {
    EXPECT_EQ(CompoEmbedding::AuthorsCollision(s.cardinalities, 0, w.budget), w.c) << w.budget;
    auto m = Solve({"compoemb", {"solver=authors"}, ""}, s, w.budget);
    ASSERT_TRUE(m.ok()) << m.status();
    const auto& ce = dynamic_cast<CompoEmbedding&>(**m);
    uint64_t rows = 0;
    for (int f = 0; f < s.num_fields(); ++f) {
      const uint64_t n = s.cardinalities[f];
      // The shared c, except where a field is not smaller compressed (kept full).
      const bool full = n <= w.c || n <= (n + w.c - 1) / w.c + w.c;
      EXPECT_EQ(ce.collision(f), full ? 0 : w.c) << w.budget << " field " << f;
      rows += full ? n : (n + w.c - 1) / w.c + w.c;
    }
    EXPECT_DOUBLE_EQ(static_cast<double>(rows) / static_cast<double>(s.total()), w.row_ratio);
    uint64_t table_rows = 0;
    for (const RowTableSpec& t : ce.Tables()) table_rows += t.rows;
    EXPECT_EQ(table_rows, rows) << w.budget;
  }
  // 0.1%: even c = sqrt(n) misses (CODE's assertion fails): compressed as
  // far as a shared c goes, the real ratio reported.
  EXPECT_EQ(CompoEmbedding::AuthorsCollision(s.cardinalities, 0, 0.001), 0u);
  auto m = Solve({"compoemb", {"solver=authors"}, ""}, s, 0.001);
  ASSERT_TRUE(m.ok());
  EXPECT_GT(Ratio(**m, s), 0.001);
  EXPECT_LT(Ratio(**m, s), 0.0015);
  // A budget everything fits in (CODE's other assertion): c = 1, all full.
  EXPECT_EQ(CompoEmbedding::AuthorsCollision(s.cardinalities, 0, 1.0), 1u);
  // The threshold keeps small fields full in CODE's memory sum as well.
  EXPECT_EQ(CompoEmbedding::AuthorsCollision({100, 100000}, 1000, 0.5), 2u);
}

TEST(HashingBudgetTest, CompoEmbSharedCollisionOnCriteo) {
  const FeatureSpace s = Criteo();
  // solver=shared keeps the shared c strictly within the budget: 3 / 11 /
  // 101, where CODE's solver (above) gives 2 / 10 / 101.
  struct Want {
    double budget;
    uint64_t c;
  };
  for (const Want& w : {Want{0.5, 3}, Want{0.1, 11}, Want{0.01, 101}}) {
    auto m = Solve({"compoemb", {"solver=shared"}, ""}, s, w.budget);
    ASSERT_TRUE(m.ok());
    const auto& ce = dynamic_cast<CompoEmbedding&>(**m);
    EXPECT_EQ(ce.collision(2), w.c) << w.budget;  // C3, 10M values
    const double r = Ratio(**m, s);
    EXPECT_LE(r, w.budget);
    std::printf("compoemb shared c=%lu budget %.4g -> ratio %.5f\n",
                static_cast<unsigned long>(ce.collision(2)), w.budget, r);
  }
  // 0.1%: c is capped at sqrt(n) = 5810 and shared, so CODE's solver compresses
  // as far as it can and reports the real ratio (docs/methods.md §4.5).
  auto m = Solve({"compoemb", {"solver=shared"}, ""}, s, 0.001);
  ASSERT_TRUE(m.ok());
  const double r = Ratio(**m, s);
  EXPECT_GT(r, 0.001);
  EXPECT_LT(r, 0.0015);
  std::printf("compoemb 0.1%% unreachable: real ratio %.5f\n", r);
  // solver=fill (default) spends what the discrete c leaves, and per-field c
  // reaches 0.1% too: within 1% of every budget.
  for (double b : {0.5, 0.1, 0.01, 0.001, 0.037, 0.23}) {
    auto f = Solve({"compoemb", {}, ""}, s, b);
    ASSERT_TRUE(f.ok());
    EXPECT_LE(Ratio(**f, s), b);
    EXPECT_GE(Ratio(**f, s), 0.99 * b) << b;
    std::printf("compoemb fill budget %.4g -> ratio %.5f\n", b, Ratio(**f, s));
  }
}

TEST(HashingBudgetTest, CompoEmbReportsWhatSmallFieldsCannotReach) {
  // Fields of 50-70 values need at least ~2·sqrt(n_f) rows each.
  const FeatureSpace s = Space({50, 60, 70}, 16);
  for (const char* fill : {"solver=fill", "solver=shared", "solver=authors"}) {
    auto m = Solve({"compoemb", {fill}, ""}, s, 0.01);
    ASSERT_TRUE(m.ok());
    const double r = Ratio(**m, s);
    EXPECT_GT(r, 0.01) << fill;
    EXPECT_LT(r, 0.35) << fill;  // compressed as far as it goes (15-17 rows a field)
  }
}

TEST(HashingBudgetTest, MemComReachesBudgetsAboveItsScalars) {
  const FeatureSpace s = Criteo();
  for (double b : kBudgets) {
    for (bool bias : {true, false}) {
      auto m = Solve({"memcom", {bias ? "bias=true" : "bias=false"}, ""}, s, b);
      ASSERT_TRUE(m.ok());
      const double r = Ratio(**m, s);
      const double floor_ratio = (bias ? 2.0 : 1.0) / s.dim;  // the per-id scalars
      if (b > floor_ratio + 1e-6) {
        EXPECT_LE(r, b);
        EXPECT_GE(r, 0.99 * b) << b << " bias " << bias;
      } else {
        // Unreachable: one hashed row plus the scalars, reported as is.
        EXPECT_EQ(dynamic_cast<MemComEmbedding&>(**m).hash_rows(), 1u);
        EXPECT_GT(r, b);
        EXPECT_NEAR(r, floor_ratio, 1e-6);
      }
    }
  }
}

// BinaryCode's ratios are discrete (§2.6.6: a field is full or split into t
// blocks of about 2^(L/t) rows each), so a budget is met from below and the
// slack is spent: no compressed field could take its full table within it.
TEST(HashingBudgetTest, BinaryCodeStaysWithinBudgetOnCriteo) {
  const FeatureSpace s = Criteo();
  const uint64_t row_bytes = 4ull * s.dim;
  for (double b : kBudgets) {
    auto m = Solve({"binarycode", {}, ""}, s, b);
    ASSERT_TRUE(m.ok());
    const auto& bc = dynamic_cast<BinaryCodeEmbedding&>(**m);
    const double r = Ratio(bc, s);
    EXPECT_LE(r, b);
    std::printf("binarycode budget %.4g -> ratio %.5f\n", b, r);
    const uint64_t used = bc.Memory().inference_bytes;
    const uint64_t budget = hashing_internal::BudgetBytes(s, b);
    for (int f = 0; f < s.num_fields(); ++f)
      if (!bc.full(f)) {
        const uint64_t grow = row_bytes * (s.cardinalities[f] - bc.field_rows(f)) - 4;
        EXPECT_GT(used + grow, budget) << b << " field " << f << " could be full";
      }
  }
  // Below every field's smallest split (at most 2·L_f rows: L_f one-bit
  // blocks, fewer when n_f is not a power of two) nothing fits: compressed as
  // far as possible.
  auto m = Solve({"binarycode", {}, ""}, s, 1e-6);
  ASSERT_TRUE(m.ok());
  const auto& bc = dynamic_cast<BinaryCodeEmbedding&>(**m);
  for (int f = 0; f < s.num_fields(); ++f)
    if (s.cardinalities[f] > 8) {
      EXPECT_FALSE(bc.full(f)) << f;
      EXPECT_LE(bc.field_rows(f), 2u * bc.address_bits(f)) << f;
    }
  EXPECT_GT(Ratio(**m, s), 1e-6);
}

// Every row BinaryCode allocates is reached by some id, for both splits and
// every budget: memory is never spent on rows no lookup can touch (the
// t·2^c layout wasted up to 97% of a field's table when the bits did not
// divide evenly into blocks).
TEST(HashingBudgetTest, BinaryCodeAllocatesOnlyReachableRows) {
  const FeatureSpace s = Space({3, 100, 1000, 5000, 70000}, 4);
  for (const char* split : {"split=skip", "split=succession"})
    for (double b : {0.5, 0.2, 0.1, 0.01}) {
      auto m = Solve({"binarycode", {split}, ""}, s, b);
      ASSERT_TRUE(m.ok());
      const auto& bc = dynamic_cast<BinaryCodeEmbedding&>(**m);
      for (int f = 0; f < s.num_fields(); ++f) {
        const uint64_t n = s.cardinalities[f];
        std::vector<uint32_t> keys(static_cast<size_t>(n) * s.num_fields(), 0);
        for (uint64_t x = 0; x < n; ++x) keys[x * s.num_fields() + f] = static_cast<uint32_t>(x);
        LookupPlan plan;
        bc.Encode(keys, &plan);
        std::set<uint64_t> used;
        const int per = plan.per_key[0];
        for (uint64_t x = 0; x < n; ++x)
          for (int j = 0; j < bc.blocks(f); ++j) {
            const uint64_t row = plan.rows[0][(x * s.num_fields() + f) * per + j];
            ASSERT_GE(row, bc.base(f)) << split << " " << b << " field " << f;
            ASSERT_LT(row, bc.base(f) + bc.field_rows(f)) << split << " " << b << " field " << f;
            used.insert(row);
          }
        EXPECT_EQ(used.size(), bc.field_rows(f)) << split << " " << b << " field " << f;
      }
    }
}

TEST(HashingBudgetTest, DoubleHashHitsEveryBudgetAndCountsItsMap) {
  const FeatureSpace s = Space({1460, 583, 100000, 22026, 305, 24, 12517, 633, 3, 9314}, 16);
  const std::vector<uint32_t> counts = Counts(s);
  for (const char* layout : {"per_field=true", "per_field=false"})
    for (double b : kBudgets) {
      auto m = Solve({"doublehash", {layout}, ""}, s, b, counts);
      ASSERT_TRUE(m.ok());
      const auto& dh = dynamic_cast<DoubleHashEmbedding&>(**m);
      const double r = Ratio(**m, s);
      EXPECT_LE(r, b) << layout;
      EXPECT_GE(r, 0.99 * b) << layout << " " << b;
      EXPECT_GT(dh.frequent_rows(), 0u) << b;
      EXPECT_EQ(dh.hash_groups(), dh.per_field() ? s.num_fields() : 1);
      // 16 bytes of map per frequent id + 40 per hash pair (a1, b1, a2, b2, m_f).
      EXPECT_EQ(m->get()->Memory().auxiliary_bytes,
                16 * dh.frequent_rows() + 40 * static_cast<uint64_t>(dh.hash_groups()));
    }
  // Without counts nothing is frequent: pure double hashing.
  auto plain = Solve({"doublehash", {}, ""}, s, 0.1);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(dynamic_cast<DoubleHashEmbedding&>(**plain).frequent_rows(), 0u);
  // A too-large p is lowered until an H row fits.
  auto big = Solve({"doublehash", {"frequent_fraction=0.9"}, ""}, s, 0.01, counts);
  ASSERT_TRUE(big.ok());
  EXPECT_LE(Ratio(**big, s), 0.01);
  EXPECT_LT(dynamic_cast<DoubleHashEmbedding&>(**big).frequent_fraction(), 0.9);
}

// Per field (per_field=true, docs/methods.md §2.4 and ORIG): field f's rare ids
// hash their local id into field f's own rows of H, m_f = n_f·CR - k_f up to
// rounding, so no two fields share a hash row; per_field=false is one table
// of the global id shared by every field.
TEST(HashingBudgetTest, DoubleHashHasOneHashTablePerField) {
  const FeatureSpace s = Space({5000, 3000, 800, 40}, 8);
  const std::vector<uint32_t> counts = Counts(s);
  const double budget = 0.1;
  auto m = Solve({"doublehash", {"per_field=true"}, "doublehash_per_field"}, s, budget, counts);
  ASSERT_TRUE(m.ok());
  const auto& dh = dynamic_cast<DoubleHashEmbedding&>(**m);
  ASSERT_TRUE(dh.per_field());
  ASSERT_EQ(dh.hash_groups(), s.num_fields());
  uint64_t next = 0;
  for (int f = 0; f < s.num_fields(); ++f) {
    EXPECT_EQ(dh.hash_offset(f), next) << f;  // stacked in field order
    next += dh.hash_size(f);
    uint64_t kf = 0;
    for (uint64_t x = 0; x < s.cardinalities[f]; ++x)
      kf += dh.FrequentRow(s.offsets[f] + x) != kNoRow ? 1 : 0;
    EXPECT_EQ(kf, static_cast<uint64_t>(dh.frequent_fraction() * s.cardinalities[f])) << f;
    // §2.4.5: m_f = n_f·CR - k_f, with the field's map (16 B per frequent
    // id, half a row at d = 8) also taken from its share; the rounding and
    // the rows of clamped small fields move a few rows.
    const double row_bytes = 4.0 * s.dim;
    const double want = s.cardinalities[f] * budget - kf * (row_bytes + 16) / row_bytes;
    EXPECT_GE(static_cast<double>(dh.hash_size(f)), std::max(1.0, want - 2)) << f;
    EXPECT_LE(static_cast<double>(dh.hash_size(f)), std::max(1.0, want) + s.num_fields() + 1) << f;
  }
  EXPECT_EQ(next, dh.hash_rows());
  // Every rare id of field f reads two rows of field f's range only.
  for (int f = 0; f < s.num_fields(); ++f) {
    std::vector<uint32_t> keys;
    for (uint64_t x = 0; x < s.cardinalities[f]; ++x)
      for (int g = 0; g < s.num_fields(); ++g)
        keys.push_back(g == f ? static_cast<uint32_t>(x) : 0u);
    LookupPlan plan;
    dh.Encode(keys, &plan);
    std::set<uint64_t> used;
    for (uint64_t x = 0; x < s.cardinalities[f]; ++x) {
      const size_t i = x * s.num_fields() + f;
      if (plan.rows[0][i] != kNoRow) continue;
      for (int j = 0; j < 2; ++j) {
        const uint64_t r = plan.rows[1][2 * i + j];
        ASSERT_GE(r, dh.hash_offset(f)) << f;
        ASSERT_LT(r, dh.hash_offset(f) + dh.hash_size(f)) << f;
        used.insert(r);
      }
    }
    // The pair spreads the rare ids over (nearly) all of the field's rows.
    EXPECT_GE(used.size(), dh.hash_size(f) * 9 / 10) << f;
  }
  // The global variant: one pair, one table of the global id.
  auto g = Solve({"doublehash", {"per_field=false"}, ""}, s, budget, counts);
  ASSERT_TRUE(g.ok());
  const auto& gh = dynamic_cast<DoubleHashEmbedding&>(**g);
  EXPECT_FALSE(gh.per_field());
  EXPECT_EQ(gh.hash_groups(), 1);
  EXPECT_EQ(gh.hash_size(0), gh.hash_rows());
}

TEST(HashingBudgetTest, FrequentIdsAreTheTopCountsPerField) {
  const FeatureSpace s = Space({10, 20}, 4);
  std::vector<uint32_t> counts(30, 0);
  counts[3] = 50;       // field 0: id 3 most frequent
  counts[7] = 9;        // field 0: id 7 second
  counts[10 + 5] = 99;  // field 1: id 5
  counts[10 + 6] = 99;  // tie: the smaller id wins
  counts[10 + 1] = 1;
  auto m = Solve({"doublehash", {"frequent_fraction=0.1"}, ""}, s, 0.9, counts);
  ASSERT_TRUE(m.ok());
  const auto& dh = dynamic_cast<DoubleHashEmbedding&>(**m);
  // floor(0.1·10) = 1 and floor(0.1·20) = 2 frequent ids, rows in id order.
  EXPECT_EQ(dh.frequent_rows(), 3u);
  EXPECT_EQ(dh.FrequentRow(3), 0u);
  EXPECT_EQ(dh.FrequentRow(10 + 5), 1u);
  EXPECT_EQ(dh.FrequentRow(10 + 6), 2u);
  EXPECT_EQ(dh.FrequentRow(7), kNoRow);
  EXPECT_EQ(dh.FrequentRow(10 + 1), kNoRow);
}

TEST(HashingBudgetTest, RejectsBadSpacesAndParams) {
  FeatureSpace bad = Space({3, 4}, 16);
  bad.offsets.pop_back();
  for (const Case& c : Cases()) EXPECT_FALSE(Solve(c, bad, 0.1).ok()) << c.label;
  EXPECT_FALSE(Solve({"robe", {"chunks=3"}, ""}, Space({100}, 16), 0.1).ok());
  std::vector<uint32_t> wrong(5, 1);
  EXPECT_FALSE(Solve({"doublehash", {}, ""}, Space({100}, 16), 0.1, wrong).ok());
}

// ------------------------------------------------------------------ ROBE --

// (a · b) mod P in 128 bits, and a^-1 mod P (P prime).
uint64_t MulMod(uint64_t a, uint64_t b, uint64_t p) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(a) * b % p);
}
uint64_t InvMod(uint64_t a, uint64_t p) {
  uint64_t r = 1, e = p - 2;
  for (a %= p; e > 0; e >>= 1, a = MulMod(a, a, p))
    if (e & 1) r = MulMod(r, a, p);
  return r;
}

// Encode steps idx = (v mod P) mod L element by element instead of
// recomputing it, and has to restart at 0 when v reaches P inside a window
// (the branch `++v == kPrime`). A random key almost never starts within d of
// P (probability d/P ~ 1e-8), so the key is solved for: one field of 2^31
// values (only Init runs: no table of that size is built) and x with
// B_h·x + D_h + C_h·z = P - 3 (mod P), i.e. the wrap three elements into
// chunk z. Against the formula computed in 128 bits, element by element.
TEST(RobeTest, WindowWrapsAtThePrimeInsideAChunk) {
  const FeatureSpace s = Space({uint64_t{1} << 31}, 16);
  for (int chunks : {1, 2, 4}) {
    auto m = Solve({"robe", {"chunks=" + std::to_string(chunks)}, ""}, s, 1e-6);
    ASSERT_TRUE(m.ok()) << m.status();
    const auto& robe = dynamic_cast<const RobeEmbedding&>(**m);
    const uint64_t p = RobeEmbedding::kPrime, len = robe.length();
    ASSERT_GT(len, 1000u);
    const auto& k = robe.constants();
    const int w = s.dim / chunks;
    for (int z = 0; z < chunks; ++z) {
      // x = (P - 3 - D_h - C_h z) / B_h mod P.
      const uint64_t target = (p - 3 + 2 * p - k[RobeEmbedding::kDh] % p -
                               MulMod(k[RobeEmbedding::kCh], static_cast<uint64_t>(z), p)) %
                              p;
      const uint64_t x = MulMod(target, InvMod(k[RobeEmbedding::kBh], p), p);
      ASSERT_LT(x, s.cardinalities[0]);
      const std::vector<uint32_t> keys = {static_cast<uint32_t>(x)};
      LookupPlan plan;
      robe.Encode(keys, &plan);
      ASSERT_EQ(plan.rows[0].size(), static_cast<size_t>(s.dim));
      int wraps = 0;
      for (int e = 0; e < s.dim; ++e) {
        const uint64_t pos = static_cast<uint64_t>(e % w), chunk = static_cast<uint64_t>(e / w);
        const unsigned __int128 v = static_cast<unsigned __int128>(k[RobeEmbedding::kBh]) * x +
                                    k[RobeEmbedding::kDh] + pos +
                                    static_cast<unsigned __int128>(k[RobeEmbedding::kCh]) * chunk;
        const uint64_t want = static_cast<uint64_t>(v % p) % len;
        EXPECT_EQ(plan.rows[0][e], want) << "chunks " << chunks << " z " << z << " element " << e;
        wraps += static_cast<int>(chunk) == z && v % p == 0 ? 1 : 0;
      }
      EXPECT_EQ(wraps, 1) << "the key does not wrap inside chunk " << z;
    }
  }
}

// ------------------------------------------------- the authors' constants --
// Where ecps claims the authors' (CODE's) values, docs/methods.md §1.3,
// §2.2, §2.3.6 and §2.9: pinned so a change is deliberate.
TEST(HashingConstantsTest, AuthorsValuesArePinned) {
  // ROBE: P = 2038074743, ten int32 constants (P and nine drawn in [1, P)),
  // Z = 1 chunk by default.
  EXPECT_EQ(RobeEmbedding::kPrime, 2038074743u);
  EXPECT_EQ(RobeEmbedding::kNumConstants, 9);  // the nine drawn (P is the tenth)
  const FeatureSpace s = Criteo();
  auto robe = Solve({"robe", {}, ""}, s, 0.01);
  ASSERT_TRUE(robe.ok());
  const auto& r = dynamic_cast<const RobeEmbedding&>(**robe);
  EXPECT_EQ(r.chunks(), 1);
  for (uint64_t k : r.constants()) {
    EXPECT_GE(k, 1u);
    EXPECT_LT(k, RobeEmbedding::kPrime);
  }
  EXPECT_EQ(r.Memory().auxiliary_bytes, 40u);
  // §1.3: every table U(-b, b), b = sqrt(1 / max field cardinality): 3.14e-4
  // on Criteo (C3 has 10,131,227 values).
  const double bound = std::sqrt(1.0 / 10131227.0);
  EXPECT_NEAR(bound, 3.1417e-4, 1e-8);
  for (const Case& c : Cases()) {
    auto m = Solve(c, s, 0.01);
    ASSERT_TRUE(m.ok()) << c.label;
    for (const RowTableSpec& t : (*m)->Tables()) {
      if (t.init == RowInit::kUniform) {
        EXPECT_DOUBLE_EQ(t.init_bound, bound) << c.label;
      }
    }
  }
  // CODE's defaults: CompoEmb aggregator mul, threshold 0; hash one global
  // table (use_multi 0).
  const CompressorInfo* compo = FindCompressor("compoemb");
  ASSERT_NE(compo, nullptr);
  ParamSet cp(&compo->schema);
  EXPECT_EQ(cp.GetString("aggregator"), "mul");
  EXPECT_EQ(cp.GetInt("threshold"), 0);
  const CompressorInfo* hash = FindCompressor("hash");
  ASSERT_NE(hash, nullptr);
  EXPECT_FALSE(ParamSet(&hash->schema).GetBool("per_field"));
  // §2.4.6 (no authors' value): p = min(0.1, CR/2), AdaptEmb's rule.
  const FeatureSpace small = Space({1000, 2000}, 8);
  const std::vector<uint32_t> counts = Counts(small);
  for (double b : {0.5, 0.1}) {
    auto dh = Solve({"doublehash", {}, ""}, small, b, counts);
    ASSERT_TRUE(dh.ok());
    EXPECT_DOUBLE_EQ(dynamic_cast<const DoubleHashEmbedding&>(**dh).frequent_fraction(),
                     std::min(0.1, b / 2));
  }
  // MEmCom (ORIG): w starts at 1, b at 0.
  auto mc = Solve({"memcom", {}, ""}, small, 0.5);
  ASSERT_TRUE(mc.ok());
  const std::vector<RowTableSpec> t = (*mc)->Tables();
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[1].init, RowInit::kConstant);
  EXPECT_EQ(t[1].init_value, 1.0);
  EXPECT_EQ(t[2].init, RowInit::kConstant);
  EXPECT_EQ(t[2].init_value, 0.0);
}

TEST(HashingRegistryTest, EveryMethodIsRegisteredWithItsParameters) {
  const std::map<std::string, std::vector<std::string>> want = {
      {"hash", {"per_field"}},
      {"compoemb", {"aggregator", "threshold", "solver"}},
      {"doublehash", {"frequent_fraction", "per_field"}},
      {"memcom", {"bias"}},
      {"binarycode", {"split", "pooling"}},
      {"robe", {"chunks"}}};
  for (const auto& [name, keys] : want) {
    const CompressorInfo* info = FindCompressor(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->family, "hashing");
    EXPECT_FALSE(info->description.empty());
    std::vector<std::string> got;
    for (const ParamSpec& p : info->schema.specs()) {
      got.push_back(p.key);
      EXPECT_FALSE(p.description.empty()) << name << "." << p.key;
    }
    EXPECT_EQ(got, keys) << name;
    EXPECT_EQ(info->create()->Name(), name);
  }
}

}  // namespace
}  // namespace ecps
