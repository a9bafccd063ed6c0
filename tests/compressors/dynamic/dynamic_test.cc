// The dynamic encodings whose mapping lives with the rows
// (compressors/key_mapping.h, compressors/dynamic/): the slot mapping against
// a naive reference, the budget, the keyed store in one process against the
// parameter servers (1, 2 and 3 servers, and a checkpoint of 2 servers
// resumed on 3), save/load of the layer, and training end to end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/rng.h"
#include "compressors/dynamic/adaptemb.h"
#include "compressors/dynamic/cafe.h"
#include "compressors/dynamic/mch.h"
#include "compressors/dynamic/slot_mapping.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"
#include "embedding/row_store.h"
#include "launch/cluster_config.h"
#include "launch/simulate.h"
#include "ps/client.h"
#include "ps/inproc_cluster.h"
#include "tests/testing/small_dataset.h"
#include "tests/testing/status_testing.h"
#include "worker/train_config.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

using dynamic_internal::SharedRows;
using dynamic_internal::SlotParams;

FeatureSpace Space() {
  FeatureSpace s;
  s.cardinalities = {500, 300, 40, 7};
  s.offsets = {0, 500, 800, 840};
  s.dim = 4;
  return s;
}

SparseOptimizerConfig Optimizer() {
  SparseOptimizerConfig opt;
  opt.lr = 0.05f;
  return opt;
}

// The naive slot mapping (compressors/dynamic/slot_mapping.h) over global
// ids, written from the rules alone: maps instead of state rows.
struct ReferenceSlots {
  SlotParams p;
  bool fresh = true;
  int parts = 1;
  uint64_t rows = 0;
  std::map<uint64_t, double> count, last;
  std::map<uint64_t, uint64_t> slot_of;  // global key -> global row
  std::map<uint64_t, uint64_t> owner;    // global row -> global key

  uint64_t RowsIn(int part) const {
    const uint64_t v = static_cast<uint64_t>(part), P = static_cast<uint64_t>(parts);
    return rows > v ? (rows - v + P - 1) / P : 0;
  }
  double Freq(uint64_t k, int64_t step) const {
    auto it = count.find(k);
    if (it == count.end()) return 0;
    return DecayedCount(it->second, last.at(k), step, p.half_life);
  }
  void Count(uint64_t k, uint32_t n, int64_t step) {
    count[k] = static_cast<float>(Freq(k, step) + n);
    last[k] = static_cast<double>(step);
  }
  void EndStep(int64_t step) {
    if (step % static_cast<int64_t>(p.interval) != 0) return;
    for (int part = 0; part < parts; ++part) {
      const uint64_t shared = SharedRows(p, RowsIn(part));
      std::vector<std::pair<double, uint64_t>> want, owners;
      for (const auto& [k, c] : count) {
        if (static_cast<int>(k % parts) != part || slot_of.count(k) || c == 0) continue;
        const double f = Freq(k, step);
        if (f >= p.admit) want.push_back({-f, k});
      }
      std::sort(want.begin(), want.end());
      std::vector<uint64_t> free;
      for (uint64_t local = shared; local < RowsIn(part); ++local) {
        const uint64_t r = local * parts + part;
        if (!owner.count(r)) {
          free.push_back(r);
        } else {
          owners.push_back({Freq(owner[r], step), owner[r]});
        }
      }
      size_t next = 0;
      for (uint64_t r : free)
        if (next < want.size()) Take(want[next++].second, r);
      std::sort(owners.begin(), owners.end());
      for (const auto& [f, k] : owners) {
        if (next == want.size() || !(f < -want[next].first)) break;
        const uint64_t r = slot_of[k];
        slot_of.erase(k);
        owner.erase(r);
        Take(want[next++].second, r);
      }
    }
  }
  void Take(uint64_t k, uint64_t r) {
    slot_of[k] = r;
    owner[r] = k;
  }
};

// A layer over `store` running `method` on Space() at `budget`.
std::unique_ptr<EmbeddingLayer> Layer(const std::string& method, std::unique_ptr<RowStore> store,
                                      double budget, int partitions,
                                      std::vector<std::string> sets = {}) {
  auto c = CreateCompressor(method);
  ECPS_CHECK_OK(c.status());
  const ParamSchema schema = FindCompressor(method)->schema;
  ParamSet params(&schema);
  ECPS_CHECK_OK(params.ApplyOverrides(sets));
  auto layer = std::make_unique<EmbeddingLayer>(std::move(*c), std::move(store));
  CompressorContext ctx;
  ctx.space = Space();
  ctx.budget = budget;
  ctx.seed = 11;
  ctx.partitions = partitions;
  ECPS_CHECK_OK(layer->Init(ctx, params));
  return layer;
}

// Zipf-ish batches of field-local keys (B samples x 4 fields).
std::vector<uint32_t> Batch(Rng* rng, int b) {
  const FeatureSpace s = Space();
  std::vector<uint32_t> keys;
  for (int i = 0; i < b; ++i)
    for (int f = 0; f < s.num_fields(); ++f) {
      const double u = rng->Uniform();
      keys.push_back(static_cast<uint32_t>(std::min<double>(
          s.cardinalities[f] - 1, std::floor(std::pow(u, 3.0) * s.cardinalities[f]))));
    }
  return keys;
}

// One training step of `layer` on `keys` with a fixed gradient pattern.
void Step(EmbeddingLayer* layer, const std::vector<uint32_t>& keys, int64_t step) {
  const int d = Space().dim;
  std::vector<float> out(keys.size() * d), g(keys.size() * d);
  ECPS_CHECK_OK(layer->Forward(keys, out.data(), /*training=*/true));
  for (size_t i = 0; i < g.size(); ++i) g[i] = 0.01f * static_cast<float>((i * 7) % 13) - 0.05f;
  ECPS_CHECK_OK(layer->Backward(g.data(), step));
  ECPS_CHECK_OK(layer->AfterStep(step).status());
}

std::vector<float> ReadTable(const RowAccess& rows, int t) {
  const RowTableSpec spec = rows.StoredTables()[t];
  std::vector<float> v(spec.rows * spec.width);
  ECPS_CHECK_OK(rows.ReadRows(t, 0, spec.rows, v.data()));
  return v;
}

TEST(SlotMappingTest, MchMatchesTheNaiveReference) {
  for (const std::string evict : {"lfu"}) {
    auto layer = Layer("mch", NewLocalRowStore(Optimizer()), 0.1, 4,
                       {"admit_count=3", "half_life=20", "fallback=0.2", "evict=" + evict});
    auto* m = dynamic_cast<MchEmbedding*>(&layer->compressor());
    ASSERT_NE(m, nullptr);
    ReferenceSlots ref;
    ref.p = SlotParams::Decode(m->KeyMappings()[0].params);
    ref.parts = 4;
    ref.rows = m->rows();
    Rng rng(3);
    for (int64_t step = 1; step <= 60; ++step) {
      const std::vector<uint32_t> keys = Batch(&rng, 16);
      std::map<uint64_t, uint32_t> occ;
      for (size_t i = 0; i < keys.size(); ++i) ++occ[Space().offsets[i % 4] + keys[i]];
      for (const auto& [k, n] : occ) ref.Count(k, n, step);
      ref.EndStep(step);
      Step(layer.get(), keys, step);
    }
    const std::vector<float> k = ReadTable(layer->store(), 1);
    const std::vector<float> o = ReadTable(layer->store(), 2);
    size_t admitted = 0;
    for (uint64_t key = 0; key < Space().total(); ++key) {
      const float slot = k[3 * key];
      auto it = ref.slot_of.find(key);
      if (it == ref.slot_of.end()) {
        EXPECT_EQ(slot, 0.0f) << "key " << key;
        continue;
      }
      ++admitted;
      // The state holds partition-local slot ids.
      const uint64_t local = static_cast<uint64_t>(slot) - 1;
      EXPECT_EQ(local * 4 + key % 4, it->second) << "key " << key;
      EXPECT_EQ(o[it->second], static_cast<float>(key / 4 + 1)) << "row " << it->second;
      EXPECT_NEAR(k[3 * key + 1], ref.Freq(key, static_cast<int64_t>(k[3 * key + 2])), 1e-3);
    }
    EXPECT_GT(admitted, 10u);
    EXPECT_EQ(admitted, ref.slot_of.size());
    EXPECT_LE(admitted, m->slot_rows());
  }
}

TEST(SlotMappingTest, AnAdmittedFeatureStartsFromFreshValuesAndLookupsFollowTheMapping) {
  auto layer = Layer("mch", NewLocalRowStore(Optimizer()), 0.5, 2, {"admit_count=2"});
  const KeyMappingSpec spec = layer->compressor().KeyMappings()[0];
  const int d = Space().dim;
  // Key 7 of field 0 (global 7) twice: admitted at the end of step 1.
  const std::vector<uint32_t> keys = {7, 1, 2, 3, 7, 1, 2, 3};
  std::vector<float> before(keys.size() * d);
  ECPS_ASSERT_OK(layer->Forward(keys, before.data(), false));
  Step(layer.get(), keys, 1);
  std::vector<float> after(keys.size() * d);
  ECPS_ASSERT_OK(layer->Forward(keys, after.data(), false));
  std::vector<float> fresh(d);
  EXPECT_EQ(spec.init_bound, layer->store().StoredTables()[0].init_bound);
  KeyInitialRow(spec.seed, 7, spec.init_bound, d, fresh.data());
  for (int j = 0; j < d; ++j) EXPECT_EQ(after[j], fresh[j]) << j;
  // Field 1's key 1 (global 501) twice as well; everything else shares.
  const std::vector<float> k = ReadTable(layer->store(), 1);
  EXPECT_GT(k[3 * 7], 0.0f);
  EXPECT_GT(k[3 * 501], 0.0f);
  EXPECT_EQ(k[3 * 8], 0.0f);
  EXPECT_EQ(k[3 * 7 + 1], 2.0f);
  EXPECT_EQ(k[3 * 7 + 2], 1.0f);
}

TEST(SlotMappingTest, AdaptEmbPromotesFromTheSharedRowAndFoldsBackOnDemotion) {
  // top_percent 0.01 of 847 features: 8 exclusive rows in all.
  auto layer = Layer("adaptemb", NewLocalRowStore(Optimizer()), 0.2, 1,
                     {"top_percent=0.01", "promote_count=2", "fold=0.5"});
  const int d = Space().dim;
  const std::vector<uint32_t> keys = {9, 1, 2, 3, 9, 1, 2, 3};
  std::vector<float> shared(keys.size() * d);
  ECPS_ASSERT_OK(layer->Forward(keys, shared.data(), false));
  // Step 1 updates the shared rows, then promotes key 9 from its updated row.
  Step(layer.get(), keys, 1);
  const std::vector<float> k = ReadTable(layer->store(), 1);
  ASSERT_GT(k[3 * 9], 0.0f);
  const std::vector<float> e = ReadTable(layer->store(), 0);
  auto* a = dynamic_cast<AdaptEmbedding*>(&layer->compressor());
  ASSERT_NE(a, nullptr);
  const uint64_t row = static_cast<uint64_t>(k[3 * 9]) - 1;
  EXPECT_GE(row, a->rows() - a->slot_rows());
  const uint64_t shared_row = KeyHash(a->KeyMappings()[0].seed, 9) % (a->rows() - a->slot_rows());
  for (int j = 0; j < d; ++j) EXPECT_EQ(e[row * d + j], e[shared_row * d + j]) << j;
}

// mode=static (CODE `adapt`): the split from the train counts, checked
// against the rule written out, the budget with the remap charged, and the
// lookups (F row or R row by rare rank).
TEST(AdaptEmbStaticTest, SplitFollowsTheTrainCountsAndTheBudgetHolds) {
  const FeatureSpace s = Space();
  std::vector<uint32_t> counts(s.total());
  for (uint64_t i = 0; i < counts.size(); ++i) counts[i] = static_cast<uint32_t>((i * 37) % 11);
  AdaptEmbedding a;
  const ParamSchema schema = AdaptEmbedding::Schema();
  ParamSet params(&schema);
  ECPS_ASSERT_OK(params.ApplyOverrides({"mode=static", "top_percent=0.1"}));
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = 0.5;
  ctx.train_counts = counts;
  ECPS_ASSERT_OK(a.Init(ctx, params));
  EXPECT_TRUE(a.KeyMappings().empty());
  // The rule: per field, ids at or above the count of the floor(0.1 n_f)-th
  // most frequent are frequent, in id order; the rest by rare rank.
  uint64_t f_rows = 0, r_rows = 0;
  for (int f = 0; f < s.num_fields(); ++f) {
    const uint64_t nf = s.cardinalities[f];
    std::vector<uint32_t> c(counts.begin() + s.offsets[f], counts.begin() + s.offsets[f] + nf);
    std::vector<uint32_t> sorted = c;
    std::sort(sorted.rbegin(), sorted.rend());
    const uint64_t want = nf / 10;
    const uint32_t t = want == 0 ? ~0u : std::max<uint32_t>(1, sorted[want - 1]);
    uint64_t k = 0;
    for (uint32_t v : c) k += v >= t;
    const uint64_t rows = static_cast<uint64_t>(std::floor((0.5 - 1.0 / s.dim) * nf));
    const uint64_t r = std::max<uint64_t>(1, rows > k ? rows - k : 0);
    std::vector<uint32_t> keys(s.num_fields(), 0);
    uint64_t rare = 0, freq = 0;
    for (uint64_t x = 0; x < nf; ++x) {
      keys[f] = static_cast<uint32_t>(x);
      LookupPlan plan;
      a.Encode(keys, &plan);
      if (c[x] >= t) {
        EXPECT_EQ(plan.rows[0][f], f_rows + freq++) << f << " " << x;
        EXPECT_EQ(plan.rows[1][f], kNoRow);
      } else {
        EXPECT_EQ(plan.rows[0][f], kNoRow);
        EXPECT_EQ(plan.rows[1][f], r_rows + (rare++) % r) << f << " " << x;
      }
    }
    f_rows += k;
    r_rows += r;
  }
  EXPECT_EQ(a.frequent_rows(), f_rows);
  EXPECT_EQ(a.rare_rows(), r_rows);
  const MemoryReport m = a.Memory();
  EXPECT_EQ(m.mapping_bytes, 4 * s.total());
  EXPECT_EQ(m.inference_bytes, 4 * s.dim * (f_rows + r_rows) + 4 * s.total());
  EXPECT_LE(m.inference_bytes, 0.5 * 4 * s.total() * s.dim);
  // Below 1/d the remap alone is over the budget: one shared row per field,
  // the real ratio reported (it was a negative row count cast to unsigned).
  {
    AdaptEmbedding low;
    CompressorContext lc = ctx;
    lc.budget = 0.01;
    EXPECT_FALSE(low.Init(lc, params).ok());  // top_percent 0.1 is above what the rows get
    ParamSet defaults(&schema);
    ECPS_ASSERT_OK(defaults.ApplyOverrides({"mode=static"}));
    ECPS_ASSERT_OK(low.Init(lc, defaults));
    EXPECT_EQ(low.frequent_rows(), 0u);
    EXPECT_EQ(low.rare_rows(), static_cast<uint64_t>(s.num_fields()));
  }
  // A saved split loads only into the same split.
  AdaptEmbedding b;
  ECPS_ASSERT_OK(b.Init(ctx, params));
  ECPS_EXPECT_OK(b.LoadState(a.SaveState()));
  counts[3] += 100;
  AdaptEmbedding c;
  ECPS_ASSERT_OK(c.Init(ctx, params));
  EXPECT_FALSE(c.LoadState(a.SaveState()).ok());
}

// CAFE's HotSketch: a bounded number of tracked features (not one state row
// per feature), the feature with the largest gradient norms gets a hot row,
// and every hot row's owner is a pinned sketch entry.
TEST(CafeTest, TheSketchIsBoundedAndTheImportantFeaturesGetTheHotRows) {
  auto layer = Layer("cafe", NewLocalRowStore(Optimizer()), 0.2, 2, {"sketch_ratio=2"});
  auto* c = dynamic_cast<CafeEmbedding*>(&layer->compressor());
  ASSERT_NE(c, nullptr);
  const RowTableSpec k = layer->store().StoredTables()[1];
  EXPECT_EQ(k.rows, 2 * c->buckets_per_partition());
  EXPECT_LT(k.rows * CafeEmbedding::kSlots, Space().total() / 2);
  const int d = Space().dim;
  Rng rng(4);
  for (int64_t step = 1; step <= 40; ++step) {
    std::vector<uint32_t> keys = Batch(&rng, 16);
    keys[0] = 3;  // field 0's id 3 (global 3) in every batch, with a large gradient
    std::vector<float> out(keys.size() * d), g(keys.size() * d, 0.001f);
    ECPS_ASSERT_OK(layer->Forward(keys, out.data(), true));
    for (int j = 0; j < d; ++j) g[j] = 1.0f;
    ECPS_ASSERT_OK(layer->Backward(g.data(), step));
  }
  const std::vector<float> sk = ReadTable(layer->store(), 1);
  const std::vector<float> o = ReadTable(layer->store(), 2);
  // Global key 3 is local key 1 of partition 1 (odd rows of K).
  bool hot3 = false;
  uint64_t owners = 0, pinned = 0;
  for (size_t b = 0; b < k.rows; ++b)
    for (int s = 0; s < CafeEmbedding::kSlots; ++s) {
      const float* e = &sk[b * k.width + 4 * s];
      if (e[3] > 0) ++pinned;
      if (b % 2 == 1 && e[0] == 2.0f && e[3] > 0) hot3 = true;
    }
  for (float v : o) owners += v > 0;
  EXPECT_TRUE(hot3);
  EXPECT_EQ(owners, pinned);
  EXPECT_GT(owners, 0u);
  EXPECT_LE(owners, c->slot_rows());
}

TEST(SlotMappingTest, BudgetHoldsAndIsFilled) {
  const uint64_t full = 4 * Space().total() * Space().dim;
  for (const std::string method : {"mch", "adaptemb", "cafe"})
    for (double budget : {0.5, 0.25, 0.1}) {
      auto layer = Layer(method, NewLocalRowStore(Optimizer()), budget, 4);
      const MemoryReport r = layer->compressor().Memory();
      const double want = budget * static_cast<double>(full);
      EXPECT_LE(static_cast<double>(r.inference_bytes), want) << method << " " << budget;
      EXPECT_GE(static_cast<double>(r.inference_bytes), 0.98 * want) << method << " " << budget;
      EXPECT_GT(r.mapping_bytes, 0u);
      const uint64_t m = layer->store().StoredTables()[0].rows;
      EXPECT_EQ(r.inference_bytes, 4 * m * Space().dim + r.mapping_bytes);
      // The counters (CAFE: the sketch) and owners are charged to training.
      const RowTableSpec k = layer->store().StoredTables()[1];
      EXPECT_EQ(r.parameter_bytes, 4 * m * Space().dim + 4 * k.rows * k.width + 4 * m);
      if (method != "cafe") {
        EXPECT_EQ(k.rows, Space().total());
      }
      EXPECT_EQ(layer->store().parameter_bytes(), r.parameter_bytes);
    }
}

TEST(SlotMappingTest, SaveLoadKeepsTheMappingAndCounters) {
  auto a = Layer("mch", NewLocalRowStore(Optimizer()), 0.2, 4, {"admit_count=2"});
  Rng rng(5);
  for (int64_t s = 1; s <= 20; ++s) Step(a.get(), Batch(&rng, 8), s);
  auto saved = a->Save();
  ECPS_ASSERT_OK(saved.status());
  const std::string blob = *saved;
  auto b = Layer("mch", NewLocalRowStore(Optimizer()), 0.2, 4, {"admit_count=2"});
  ECPS_ASSERT_OK(b->Load(blob));
  Rng r1(9), r2(9);
  for (int64_t s = 21; s <= 40; ++s) {
    Step(a.get(), Batch(&r1, 8), s);
    Step(b.get(), Batch(&r2, 8), s);
  }
  for (int t = 0; t < 3; ++t) EXPECT_EQ(ReadTable(a->store(), t), ReadTable(b->store(), t)) << t;
  // Another partition count is another model.
  auto c = Layer("mch", NewLocalRowStore(Optimizer()), 0.2, 8, {"admit_count=2"});
  EXPECT_FALSE(c->Load(blob).ok());
}

// The budget and parameters of a method in the servers' comparison: CEL's
// assignment alone is 1/d = 25% of Space()'s table, and its clusters split
// within the test's 30 steps only at a small b.
double PsBudget(const std::string& method) { return method == "cel" ? 0.5 : 0.2; }
std::vector<std::string> PsSets(const std::string& method) {
  if (method == "cel") return {"split_interactions=6", "reassign_every=4"};
  return {};
}

// `method` trained on `servers` servers (V = 6) with one worker from batches
// of `rng`, steps [first, last]: from a fresh start, or from the shards
// `load` (and the method state of `resume_from`). Returns the three tables;
// saves the shards to `save_prefix` if set.
constexpr int kV = 6;
std::vector<std::vector<float>> RunOnServers(const std::string& method, int servers, Rng* rng,
                                             int64_t first, int64_t last,
                                             const EmbeddingLayer* resume_from,
                                             const std::vector<ps::Client::ShardFile>* load,
                                             const std::string& save_prefix,
                                             std::vector<ps::Client::ShardFile>* saved) {
  ps::InProcClusterOptions o;
  o.servers = servers;
  o.workers = 1;
  o.server.shards = {servers, kV};
  o.server.num_workers = 1;
  o.server.optimizer = Optimizer();
  auto cluster = ps::InProcCluster::Start(o);
  ECPS_CHECK_OK(cluster.status());
  ps::ClientOptions co;
  co.virtual_shards = kV;
  co.optimizer = Optimizer();
  co.timeout_ms = 20000;
  std::unique_ptr<ps::Client> client = (*cluster)->NewClient(0, co);
  ps::Client* c = client.get();
  auto layer = Layer(method, std::move(client), PsBudget(method), kV, PsSets(method));
  if (load != nullptr) {
    auto blob = resume_from->Save(/*with_rows=*/false);
    ECPS_CHECK_OK(blob.status());
    ECPS_CHECK_OK(c->LoadShards(c->EncodedSpecs(), *load));
    ECPS_CHECK_OK(layer->Load(*blob));
  }
  for (int64_t s = first; s <= last; ++s) Step(layer.get(), Batch(rng, 16), s);
  std::vector<std::vector<float>> got;
  for (int t = 0; t < 3; ++t) got.push_back(ReadTable(layer->store(), t));
  if (!save_prefix.empty()) {
    auto files = c->SaveShards(save_prefix);
    ECPS_CHECK_OK(files.status());
    *saved = *files;
  }
  layer.reset();
  (*cluster)->Stop();
  return got;
}

// The same steps through the parameter servers: every state row equal to
// the single process's, bit for bit, on 1 and 2 servers with one worker, and
// after a checkpoint of 2 servers loaded onto 3.
TEST(KeyedTablesPsTest, ServersHoldTheSameMappingAsOneProcess) {
  for (const std::string method : {"mch", "adaptemb", "cafe", "cel"}) {
    auto single =
        Layer(method, NewLocalRowStore(Optimizer()), PsBudget(method), kV, PsSets(method));
    Rng rng(21);
    for (int64_t s = 1; s <= 30; ++s) Step(single.get(), Batch(&rng, 16), s);
    std::vector<std::vector<float>> want;
    for (int t = 0; t < 3; ++t) want.push_back(ReadTable(single->store(), t));
    if (method == "cel") {
      // The comparison covers splits: features left their roots.
      uint64_t split_off = 0;
      for (uint64_t k = 0; k < Space().total(); ++k) split_off += want[1][6 * k] > 0;
      EXPECT_GT(split_off, 50u);
    }
    const std::string dir = ::testing::TempDir() + "/ecps_keyed_ps_" + method;
    std::filesystem::create_directories(dir);
    std::vector<ps::Client::ShardFile> files;
    for (int servers : {1, 2}) {
      Rng r(21);
      const auto got = RunOnServers(method, servers, &r, 1, 30, nullptr, nullptr,
                                    servers == 2 ? dir + "/ckpt" : "", &files);
      for (int t = 0; t < 3; ++t)
        EXPECT_EQ(got[t], want[t]) << method << " servers " << servers << " table " << t;
    }
    // The checkpoint of 2 servers resumed on 3, against the single process
    // going on from the same point of the batch stream.
    Rng cont(21);
    for (int64_t s = 1; s <= 30; ++s) Batch(&cont, 16);
    const auto got = RunOnServers(method, 3, &cont, 31, 45, single.get(), &files, "", nullptr);
    for (int64_t s = 31; s <= 45; ++s) Step(single.get(), Batch(&rng, 16), s);
    for (int t = 0; t < 3; ++t)
      EXPECT_EQ(got[t], ReadTable(single->store(), t)) << method << " resumed, table " << t;
    std::filesystem::remove_all(dir);
  }
}

class DynamicTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_dynamic_test", 12000, 6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;
  static std::vector<std::string> Sets(const std::string& out, const std::string& method) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    if (method == "adaptemb_static") {
      sets.insert(sets.end(), {"embedding.method=adaptemb", "embedding.params.mode=static"});
    } else {
      sets.push_back("embedding.method=" + method);
    }
    sets.insert(sets.end(), {"embedding.budget=0.2", "train.max_steps=200",
                             "train.evals_per_epoch=2", "cluster.virtual_shards=8"});
    return sets;
  }
};

TEST_F(DynamicTrainTest, TrainsInOneProcessAndOnTwoWorkers) {
  for (const std::string method : {"mch", "adaptemb", "adaptemb_static", "cafe", "cel"}) {
    auto cfg = LoadTrainConfig("", Sets(method + "_single", method));
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    auto t = Trainer::Create(*cfg, ds_->data());
    ASSERT_TRUE(t.ok()) << t.status();
    auto one = (*t)->Run(false);
    ASSERT_TRUE(one.ok()) << one.status();
    const double auc1 = (*one)["test_auc"].get<double>();

    auto run = [&](int servers, int workers) {
      std::vector<std::string> csets = Sets(method + "_sim" + std::to_string(servers), method);
      csets.insert(csets.end(), {"cluster.servers=" + std::to_string(servers),
                                 "cluster.workers=" + std::to_string(workers)});
      auto ccfg = LoadTrainConfig("", csets);
      ECPS_CHECK_OK(ccfg.status());
      auto shape = launch::ClusterShapeFromConfig(*ccfg);
      ECPS_CHECK_OK(shape.status());
      auto r = launch::RunSimulation(*ccfg, ds_->data(), *shape, /*resume=*/false);
      ECPS_CHECK_OK(r.status());
      return *r;
    };
    const auto r11 = run(1, 1);
    const auto r22 = run(2, 2);
    std::printf("%s test_auc %.5f (1 process) %.5f (1+1) %.5f (2+2) ratio %.4f\n", method.c_str(),
                auc1, r11["test_auc"].get<double>(), r22["test_auc"].get<double>(),
                (*one)["inference_memory_ratio"].get<double>());
    EXPECT_GT(auc1, 0.6) << method;
    EXPECT_EQ(r11["test_auc"].get<double>(), auc1) << method;
    EXPECT_NEAR(r22["test_auc"].get<double>(), auc1, 0.005) << method;
    EXPECT_LE((*one)["inference_memory_ratio"].get<double>(), 0.2) << method;
    EXPECT_GT((*one)["inference_memory_mapping_bytes"].get<uint64_t>(), 0u) << method;
    if (method != "adaptemb_static") {
      // The counter store's statistics: features seen, features with rows
      // of their own, the histogram over every seen feature, the hottest.
      const auto& km = (*one)["key_mappings"]["E"];
      EXPECT_EQ(km["kind"], method);
      EXPECT_GT(km["keys_seen"].get<uint64_t>(), 100u) << km.dump();
      EXPECT_GT(km["keys_with_own_row"].get<uint64_t>(), 10u) << km.dump();
      uint64_t hist = 0;
      for (const auto& b : km["log2_histogram"]) hist += b.get<uint64_t>();
      EXPECT_EQ(hist, km["keys_seen"].get<uint64_t>());
      ASSERT_EQ(km["top"].size(), 10u);
      EXPECT_GE(km["top"][0][1].get<double>(), km["top"][9][1].get<double>());
    } else {
      EXPECT_TRUE((*one)["key_mappings"].empty());
    }
  }
}

}  // namespace
}  // namespace ecps
