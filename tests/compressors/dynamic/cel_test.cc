// CEL (docs/methods.md §2.15, compressors/dynamic/cel.h): the mapping the
// store runs against the naive reference (tests/compressors/reference/
// cel_reference.h) bit for bit, GPCA separating two groups of features whose
// gradients point opposite ways, a split's new row copied from the old one,
// the budget with the assignment charged, and save/load of the layer. The
// servers' state against one process and training end to end are in
// dynamic_test.cc with the other keyed methods.
#include "compressors/dynamic/cel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/rng.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"
#include "embedding/row_store.h"
#include "tests/compressors/reference/cel_reference.h"
#include "tests/testing/status_testing.h"

namespace ecps {
namespace {

FeatureSpace Space(std::vector<uint64_t> cards = {500, 300, 40, 7}, int dim = 8) {
  FeatureSpace s;
  s.cardinalities = cards;
  uint64_t off = 0;
  for (uint64_t c : cards) {
    s.offsets.push_back(off);
    off += c;
  }
  s.dim = dim;
  return s;
}

SparseOptimizerConfig Optimizer() {
  SparseOptimizerConfig opt;
  opt.lr = 0.05f;
  return opt;
}

std::unique_ptr<EmbeddingLayer> Layer(const FeatureSpace& space, double budget, int partitions,
                                      std::vector<std::string> sets = {}) {
  auto c = CreateCompressor("cel");
  ECPS_CHECK_OK(c.status());
  const ParamSchema schema = FindCompressor("cel")->schema;
  ParamSet params(&schema);
  ECPS_CHECK_OK(params.ApplyOverrides(sets));
  auto layer = std::make_unique<EmbeddingLayer>(std::move(*c), NewLocalRowStore(Optimizer()));
  CompressorContext ctx;
  ctx.space = space;
  ctx.budget = budget;
  ctx.seed = 5;
  ctx.partitions = partitions;
  ECPS_CHECK_OK(layer->Init(ctx, params));
  return layer;
}

std::vector<float> ReadTable(const RowAccess& rows, int t) {
  const RowTableSpec spec = rows.StoredTables()[t];
  std::vector<float> v(spec.rows * spec.width);
  ECPS_CHECK_OK(rows.ReadRows(t, 0, spec.rows, v.data()));
  return v;
}

// Zipf-ish batches of field-local keys.
std::vector<uint32_t> Batch(const FeatureSpace& s, Rng* rng, int b) {
  std::vector<uint32_t> keys;
  for (int i = 0; i < b; ++i)
    for (int f = 0; f < s.num_fields(); ++f) {
      const double u = rng->Uniform();
      keys.push_back(static_cast<uint32_t>(std::min<double>(
          s.cardinalities[f] - 1, std::floor(std::pow(u, 2.0) * s.cardinalities[f]))));
    }
  return keys;
}

// A gradient per lookup that depends on the feature (so the clusters have
// directions to find) and on the step.
std::vector<float> Grads(const FeatureSpace& s, const std::vector<uint32_t>& keys, int64_t step) {
  const int d = s.dim;
  std::vector<float> g(keys.size() * d);
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint64_t k = s.offsets[i % s.num_fields()] + keys[i];
    for (int j = 0; j < d; ++j)
      g[i * d + j] = 0.01f * static_cast<float>(((k * 31 + j * 7) % 17)) - 0.08f +
                     0.002f * static_cast<float>((step + j) % 5);
  }
  return g;
}

// The pushes of one batch as the store counts them: each global key once,
// in first-occurrence order, its gradients summed in that order.
void Distinct(const FeatureSpace& s, const std::vector<uint32_t>& keys, const std::vector<float>& g,
              std::vector<uint64_t>* ids, std::vector<uint32_t>* counts, std::vector<float>* sums) {
  const int d = s.dim;
  std::map<uint64_t, size_t> at;
  ids->clear();
  counts->clear();
  sums->clear();
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint64_t k = s.offsets[i % s.num_fields()] + keys[i];
    auto [it, fresh] = at.emplace(k, ids->size());
    if (fresh) {
      ids->push_back(k);
      counts->push_back(0);
      sums->insert(sums->end(), g.begin() + i * d, g.begin() + (i + 1) * d);
    } else {
      for (int j = 0; j < d; ++j) (*sums)[it->second * d + j] += g[i * d + j];
    }
    ++(*counts)[it->second];
  }
}

void Step(EmbeddingLayer* layer, const std::vector<uint32_t>& keys, const std::vector<float>& g,
          int64_t step) {
  std::vector<float> out(g.size());
  ECPS_CHECK_OK(layer->Forward(keys, out.data(), /*training=*/true));
  ECPS_CHECK_OK(layer->Backward(g.data(), step));
  ECPS_CHECK_OK(layer->AfterStep(step).status());
}

TEST(CelTest, MatchesTheNaiveReference) {
  const FeatureSpace s = Space();
  constexpr int kParts = 4;
  auto layer = Layer(s, 0.5, kParts, {"split_interactions=6", "reassign_every=3", "half_life=10"});
  auto* cel = dynamic_cast<CelEmbedding*>(&layer->compressor());
  ASSERT_NE(cel, nullptr);
  const KeyMappingSpec spec = cel->KeyMappings()[0];
  reference::CelReference ref(spec, cel->rows(), s.total());
  Rng rng(3);
  std::vector<uint64_t> ids;
  std::vector<uint32_t> counts;
  std::vector<float> sums;
  for (int64_t step = 1; step <= 80; ++step) {
    const std::vector<uint32_t> keys = Batch(s, &rng, 12);
    const std::vector<float> g = Grads(s, keys, step);
    Distinct(s, keys, g, &ids, &counts, &sums);
    ref.Push(ids, counts, sums, ReadTable(layer->store(), 0), step);
    ref.EndStep(step);
    Step(layer.get(), keys, g, step);
  }
  EXPECT_GT(ref.splits(), 20u);
  EXPECT_GT(ref.moves(), 0u);
  const int d = s.dim, kw = dynamic_internal::kCelKeyWidth, rw = dynamic_internal::CelRowWidth(d);
  const std::vector<float> k = ReadTable(layer->store(), 1);
  const std::vector<float> o = ReadTable(layer->store(), 2);
  auto local = [&](int64_t global) {
    return global < 0 ? 0.0f : static_cast<float>(global / kParts + 1);
  };
  for (uint64_t key = 0; key < s.total(); ++key) {
    const reference::CelReference::Key& want = ref.key(key);
    const float* got = &k[key * kw];
    EXPECT_EQ(got[0], local(want.row)) << "key " << key;
    EXPECT_EQ(got[1], want.count) << "key " << key;
    EXPECT_EQ(got[2], want.last) << "key " << key;
    EXPECT_EQ(got[3], want.proj) << "key " << key;
    EXPECT_EQ(got[4], want.gain) << "key " << key;
    EXPECT_EQ(got[5], local(want.alt)) << "key " << key;
  }
  uint64_t used = 0;
  for (uint64_t r = 0; r < cel->rows(); ++r) {
    const reference::CelReference::Row& want = ref.row(r);
    const float* got = &o[r * rw];
    EXPECT_EQ(got[0], want.inter) << "row " << r;
    EXPECT_EQ(got[1], want.pushes) << "row " << r;
    EXPECT_EQ(got[2], want.used ? 1.0f : 0.0f) << "row " << r;
    EXPECT_EQ(got[3], want.done ? 1.0f : 0.0f) << "row " << r;
    for (int j = 0; j < d; ++j) {
      EXPECT_EQ(got[4 + j], want.mean[j]) << "row " << r << " " << j;
      EXPECT_EQ(got[4 + d + j], want.dir[j]) << "row " << r << " " << j;
    }
    used += want.used;
  }
  EXPECT_EQ(used, ref.splits());
  // Lookups follow the assignment: every feature reads its cluster's row.
  const std::vector<float> e = ReadTable(layer->store(), 0);
  for (int f = 0; f < s.num_fields(); ++f)
    for (uint32_t x = 0; x < s.cardinalities[f]; x += 7) {
      std::vector<uint32_t> keys(s.num_fields(), 0);
      keys[f] = x;
      std::vector<float> out(keys.size() * d);
      ECPS_ASSERT_OK(layer->Forward(keys, out.data(), false));
      const uint64_t row = ref.RowOf(s.offsets[f] + x);
      for (int j = 0; j < d; ++j) EXPECT_EQ(out[f * d + j], e[row * d + j]) << f << " " << x;
    }
}

// One field of 200 features in one partition: features 0..99 push +u,
// 100..199 push -u (plus a little noise), interleaved. With b = 50 the root
// learns its mean and component from the first 50 pushes and projects the
// other 150 (75 of each group) on it; at 200 > 2b interactions it splits:
// exactly the projected features of one group move, into a row copied from
// the root.
TEST(CelTest, GpcaSplitsAlongTheGradientsPrincipalComponent) {
  const FeatureSpace s = Space({200}, 8);
  auto layer = Layer(s, 0.5, 1, {"split_interactions=50", "reassign_every=0"});
  const int d = s.dim;
  std::vector<uint32_t> keys;
  for (uint32_t i = 0; i < 100; ++i) {
    keys.push_back(i);
    keys.push_back(100 + i);
  }
  std::vector<float> g(keys.size() * d);
  for (size_t i = 0; i < keys.size(); ++i)
    for (int j = 0; j < d; ++j) {
      const float u = j < 4 ? 0.05f : -0.02f;
      const float noise = 0.003f * static_cast<float>(((keys[i] * 13 + j * 5) % 7)) - 0.009f;
      g[i * d + j] = (keys[i] < 100 ? u : -u) + noise;
    }
  Step(layer.get(), keys, g, 1);
  const std::vector<float> k = ReadTable(layer->store(), 1);
  const int kw = dynamic_internal::kCelKeyWidth;
  std::set<uint32_t> moved;
  for (uint32_t x = 0; x < 200; ++x)
    if (k[x * kw] == 2.0f) moved.insert(x);  // local row 1: the first free row
  // Pushes 50..199 of the interleaved batch were projected: ids 25..99 and
  // 125..199.
  std::set<uint32_t> a, b;
  for (uint32_t i = 25; i < 100; ++i) {
    a.insert(i);
    b.insert(100 + i);
  }
  EXPECT_TRUE(moved == a || moved == b) << moved.size() << " moved";
  // Everyone else stays in the root (row + 1 = 1) with the new row as the
  // other cluster of its split.
  for (uint32_t x = 0; x < 200; ++x) {
    if (moved.count(x)) {
      EXPECT_EQ(k[x * kw + 5], 1.0f) << x;
    } else {
      EXPECT_EQ(k[x * kw], 1.0f) << x;
      EXPECT_EQ(k[x * kw + 5], 2.0f) << x;
    }
  }
  const std::vector<float> e = ReadTable(layer->store(), 0);
  for (int j = 0; j < d; ++j) EXPECT_EQ(e[d + j], e[j]) << j;
  // The split cluster's window restarts; the new one is in use.
  const std::vector<float> o = ReadTable(layer->store(), 2);
  const int rw = dynamic_internal::CelRowWidth(d);
  EXPECT_EQ(o[0], 0.0f);
  EXPECT_EQ(o[rw + 2], 1.0f);
  EXPECT_EQ(o[2 * rw + 2], 0.0f);
}

TEST(CelTest, BudgetHoldsWithTheAssignmentCharged) {
  const FeatureSpace s = Space();
  const uint64_t full = 4 * s.total() * s.dim;
  for (double budget : {0.5, 0.25, 0.15}) {
    auto layer = Layer(s, budget, 4);
    const MemoryReport r = layer->compressor().Memory();
    const double want = budget * static_cast<double>(full);
    const uint64_t m = layer->store().StoredTables()[0].rows;
    EXPECT_LE(static_cast<double>(r.inference_bytes), want) << budget;
    EXPECT_GT(static_cast<double>(r.inference_bytes + 4 * s.dim), want) << budget;
    EXPECT_EQ(r.mapping_bytes, 4 * s.total());
    EXPECT_EQ(r.inference_bytes, 4 * m * s.dim + 4 * s.total());
    EXPECT_EQ(r.parameter_bytes, 4 * m * s.dim + 24 * s.total() + 4 * m * (4 + 2 * s.dim));
    EXPECT_EQ(layer->store().parameter_bytes(), r.parameter_bytes);
  }
  // Below 1/d the assignment alone is over the budget: one row per
  // partition, the real ratio.
  auto low = Layer(s, 0.1, 4);
  EXPECT_EQ(low->store().StoredTables()[0].rows, 4u);
  EXPECT_EQ(low->compressor().Memory().inference_bytes, 4 * 4 * s.dim + 4 * s.total());
}

// Splits stop when the rows run out: every row in use, none beyond m.
TEST(CelTest, SplitsStopAtTheBudgetsRows) {
  const FeatureSpace s = Space();
  auto layer = Layer(s, 0.2, 2, {"split_interactions=2", "reassign_every=2"});
  const uint64_t m = layer->store().StoredTables()[0].rows;
  Rng rng(8);
  for (int64_t step = 1; step <= 150; ++step) {
    const std::vector<uint32_t> keys = Batch(s, &rng, 16);
    Step(layer.get(), keys, Grads(s, keys, step), step);
  }
  const std::vector<float> k = ReadTable(layer->store(), 1);
  const std::vector<float> o = ReadTable(layer->store(), 2);
  const int kw = dynamic_internal::kCelKeyWidth, rw = dynamic_internal::CelRowWidth(s.dim);
  std::set<uint64_t> rows;
  for (uint64_t key = 0; key < s.total(); ++key) {
    const float r = k[key * kw];
    if (r > 0) rows.insert((static_cast<uint64_t>(r) - 1) * 2 + key % 2);
  }
  uint64_t used = 0;
  for (uint64_t r = 0; r < m; ++r) used += o[r * rw + 2] > 0;
  // 4 roots per partition; every other row was taken by a split.
  EXPECT_EQ(used, m - 8);
  for (uint64_t r : rows) EXPECT_LT(r, m);
  EXPECT_GT(rows.size(), m / 2);
}

TEST(CelTest, SaveLoadKeepsTheAssignmentAndStatistics) {
  const FeatureSpace s = Space();
  const std::vector<std::string> sets = {"split_interactions=5", "reassign_every=2"};
  auto a = Layer(s, 0.4, 4, sets);
  Rng rng(5);
  for (int64_t t = 1; t <= 20; ++t) {
    const std::vector<uint32_t> keys = Batch(s, &rng, 8);
    Step(a.get(), keys, Grads(s, keys, t), t);
  }
  auto saved = a->Save();
  ECPS_ASSERT_OK(saved.status());
  auto b = Layer(s, 0.4, 4, sets);
  ECPS_ASSERT_OK(b->Load(*saved));
  for (int t = 0; t < 3; ++t) EXPECT_EQ(ReadTable(a->store(), t), ReadTable(b->store(), t)) << t;
  Rng r1(9), r2(9);
  for (int64_t t = 21; t <= 40; ++t) {
    const std::vector<uint32_t> k1 = Batch(s, &r1, 8), k2 = Batch(s, &r2, 8);
    Step(a.get(), k1, Grads(s, k1, t), t);
    Step(b.get(), k2, Grads(s, k2, t), t);
  }
  for (int t = 0; t < 3; ++t) EXPECT_EQ(ReadTable(a->store(), t), ReadTable(b->store(), t)) << t;
  // Another split threshold is another mapping.
  auto c = Layer(s, 0.4, 4, {"split_interactions=6", "reassign_every=2"});
  EXPECT_FALSE(c->Load(*saved).ok());
}

}  // namespace
}  // namespace ecps
