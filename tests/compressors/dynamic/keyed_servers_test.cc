// The keyed tables on the parameter servers (docs/architecture.md
// "Feature->row mappings on the servers").
//
// Concurrency (issue 15's concurrency test): four workers pull and push the same hot keys
// asynchronously (ASP) while admissions and LFU evictions move the mapping between steps.
// Afterwards no count was lost (the counters sum to every occurrence pushed),
// the mapping and the slots' owners agree both ways, every slot lies past the
// shared rows (the table never grows past its budget), and every worker's
// lookup of a key returns the row the mapping names. Run under
// ThreadSanitizer by scripts/tsan.sh (TSAN label): the pulls' Resolve under
// the shards' reader locks meets the pushes' Count and EndStep's moves.
//
// Statistics: the frequency statistics (compressors/key_mapping.h KeyStats,
// the results' "key_mappings") gathered from 2 servers equal one process's
// for the same steps, and KeyStats merges and encodes exactly.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/check.h"
#include "common/rng.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"
#include "ps/client.h"
#include "ps/inproc_cluster.h"

namespace ecps {
namespace {

constexpr int kWorkers = 4;
constexpr int kV = 6;  // virtual shards = mapping partitions
constexpr int kSteps = 60;
constexpr int kBatch = 24;

FeatureSpace Space() {
  FeatureSpace s;
  s.cardinalities = {400, 120, 9};
  s.offsets = {0, 400, 520};
  s.dim = 4;
  return s;
}

// Skewed field-local keys (kBatch samples x 3 fields): a few hot keys that
// earn slots and a long tail that competes for them.
std::vector<uint32_t> Batch(Rng* rng) {
  const FeatureSpace s = Space();
  std::vector<uint32_t> keys;
  for (int i = 0; i < kBatch; ++i)
    for (int f = 0; f < s.num_fields(); ++f)
      keys.push_back(static_cast<uint32_t>(std::min<double>(
          s.cardinalities[f] - 1, std::floor(std::pow(rng->Uniform(), 4.0) * s.cardinalities[f]))));
  return keys;
}

std::unique_ptr<EmbeddingLayer> Layer(std::unique_ptr<RowStore> store, double half_life = 0) {
  auto c = CreateCompressor("mch");
  ECPS_CHECK_OK(c.status());
  const ParamSchema schema = FindCompressor("mch")->schema;
  ParamSet params(&schema);
  // No decay: the counters must sum to the occurrences exactly.
  ECPS_CHECK_OK(params.ApplyOverrides(
      {"admit_count=3", "half_life=" + std::to_string(half_life), "evict=lfu"}));
  auto layer = std::make_unique<EmbeddingLayer>(std::move(*c), std::move(store));
  CompressorContext ctx;
  ctx.space = Space();
  ctx.budget = 0.15;
  ctx.seed = 5;
  ctx.partitions = kV;
  ECPS_CHECK_OK(layer->Init(ctx, params));
  return layer;
}

std::vector<float> ReadTable(const RowAccess& rows, int t) {
  const RowTableSpec spec = rows.StoredTables()[t];
  std::vector<float> v(spec.rows * spec.width);
  ECPS_CHECK_OK(rows.ReadRows(t, 0, spec.rows, v.data()));
  return v;
}

TEST(KeyedConcurrencyTest, AsyncWorkersLoseNoCountAndTheMappingStaysConsistent) {
  ps::InProcClusterOptions o;
  o.servers = 1;
  o.workers = kWorkers;
  o.server.shards = {1, kV};
  o.server.num_workers = kWorkers;
  o.server.consistency = ps::Consistency::kAsp;
  o.server.threads = 4;  // concurrent handlers: pulls meet pushes and EndStep
  o.server.optimizer.lr = 0.05f;
  auto cluster = ps::InProcCluster::Start(o);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  std::vector<std::unique_ptr<EmbeddingLayer>> layers;
  // Worker 0 (the primary) creates the tables and sends the mappings before
  // the others attach, as the trainer's Init barrier orders it.
  for (int w = 0; w < kWorkers; ++w) {
    ps::ClientOptions co;
    co.virtual_shards = kV;
    co.consistency = ps::Consistency::kAsp;
    co.primary = w == 0;
    co.optimizer = o.server.optimizer;
    co.timeout_ms = 60000;
    layers.push_back(Layer((*cluster)->NewClient(w, co)));
  }

  std::atomic<uint64_t> occurrences{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      Rng rng(100 + w);
      const int d = Space().dim;
      for (int64_t step = 1; step <= kSteps; ++step) {
        const std::vector<uint32_t> keys = Batch(&rng);
        std::vector<float> out(keys.size() * d), g(keys.size() * d, 0.01f);
        Status s = layers[w]->Forward(keys, out.data(), /*training=*/true);
        if (s.ok()) s = layers[w]->Backward(g.data(), step);
        if (s.ok()) s = layers[w]->AfterStep(step).status();
        if (!s.ok()) {
          ADD_FAILURE() << "worker " << w << " step " << step << ": " << s;
          failures.fetch_add(1);
          return;
        }
        occurrences.fetch_add(keys.size());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);

  // Tables: 0 data rows, 1 key state [slot + 1, count, last], 2 row state
  // [owner local key + 1]; global row = local * kV + partition.
  const RowAccess& store = layers[0]->store();
  const std::vector<RowTableSpec> specs = store.StoredTables();
  ASSERT_EQ(specs.size(), 3u);
  const std::vector<float> key_state = ReadTable(store, 1), row_state = ReadTable(store, 2);
  const int kw = specs[1].width, rw = specs[2].width;
  ASSERT_GE(kw, 3);
  const uint64_t data_rows = specs[0].rows;
  double counted = 0;
  uint64_t slotted = 0, owned = 0;
  for (uint64_t g = 0; g < specs[1].rows; ++g) {
    const float* st = &key_state[g * kw];
    counted += st[1];
    if (st[0] <= 0) continue;
    ++slotted;
    const uint64_t part = g % kV, local_key = g / kV;
    const uint64_t row = (static_cast<uint64_t>(st[0]) - 1) * kV + part;
    ASSERT_LT(row, data_rows) << "key " << g;
    EXPECT_EQ(row_state[row * rw], static_cast<float>(local_key + 1))
        << "key " << g << " names row " << row << " that another key owns";
  }
  for (uint64_t r = 0; r < specs[2].rows; ++r) {
    const float owner = row_state[r * rw];
    if (owner <= 0) continue;
    ++owned;
    const uint64_t part = r % kV;
    const uint64_t g = (static_cast<uint64_t>(owner) - 1) * kV + part;
    ASSERT_LT(g, specs[1].rows) << "row " << r;
    EXPECT_EQ(key_state[g * kw], static_cast<float>(r / kV + 1))
        << "row " << r << " is owned by key " << g << " that does not name it";
  }
  // No lost update of the counters: every occurrence every worker pushed.
  EXPECT_EQ(counted, static_cast<double>(occurrences.load()));
  // Admissions and evictions did happen, and the slots stay within the
  // table (the budget's rows, past the shared fallback rows).
  EXPECT_GT(slotted, 0u);
  EXPECT_EQ(slotted, owned);
  EXPECT_LT(owned, data_rows);

  // Every worker now resolves a key to the row the mapping names: a lookup
  // (not training) of each hot key returns that row's values.
  const std::vector<float> data = ReadTable(store, 0);
  const int d = Space().dim;
  const FeatureSpace space = Space();
  for (int w = 0; w < kWorkers; ++w) {
    for (uint32_t k = 0; k < 20; ++k) {
      std::vector<uint32_t> keys = {k, 0, 0};
      std::vector<float> out(keys.size() * d);
      ASSERT_TRUE(layers[w]->Forward(keys, out.data(), /*training=*/false).ok());
      const uint64_t g = space.offsets[0] + k;
      const float* st = &key_state[g * kw];
      if (st[0] <= 0) continue;  // a shared row: hashed, checked by dynamic_test
      const uint64_t row = (static_cast<uint64_t>(st[0]) - 1) * kV + g % kV;
      for (int j = 0; j < d; ++j)
        EXPECT_EQ(out[j], data[row * d + j]) << "worker " << w << " key " << k << " dim " << j;
    }
  }
  layers.clear();
  (*cluster)->Stop();
}

// One step of `layer` on `keys` with a fixed gradient.
void Step(EmbeddingLayer* layer, const std::vector<uint32_t>& keys, int64_t step) {
  std::vector<float> out(keys.size() * Space().dim), g(keys.size() * Space().dim, 0.01f);
  ECPS_CHECK_OK(layer->Forward(keys, out.data(), /*training=*/true));
  ECPS_CHECK_OK(layer->Backward(g.data(), step));
  ECPS_CHECK_OK(layer->AfterStep(step).status());
}

TEST(KeyedStatsTest, TheServersReportOneProcesssStatistics) {
  // Decaying counts: the statistics are taken at the last step, on the
  // servers as in the process.
  auto single = Layer(NewLocalRowStore(SparseOptimizerConfig{}), /*half_life=*/20);
  Rng rng(3);
  for (int64_t s = 1; s <= 40; ++s) Step(single.get(), Batch(&rng), s);
  auto want = single->store().KeyStatsJson(40, 5);
  ASSERT_TRUE(want.ok()) << want.status();

  ps::InProcClusterOptions o;
  o.servers = 2;
  o.server.shards = {2, kV};
  auto cluster = ps::InProcCluster::Start(o);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ps::ClientOptions co;
  co.virtual_shards = kV;
  auto layer = Layer((*cluster)->NewClient(0, co), /*half_life=*/20);
  Rng r2(3);
  for (int64_t s = 1; s <= 40; ++s) Step(layer.get(), Batch(&r2), s);
  auto got = layer->store().KeyStatsJson(40, 5);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, *want);
  // It says something: every field has keys, the hottest first, some with
  // rows of their own.
  auto stats = layer->store().KeyStatistics(40, 5);
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->size(), 1u);
  const KeyStats& ks = (*stats)[0].second;
  EXPECT_EQ(ks.kind(), "mch");
  ASSERT_EQ(ks.fields().size(), 3u);
  uint64_t seen = 0;
  for (const KeyStats::Group& f : ks.fields()) {
    EXPECT_GT(f.seen, 0u);
    seen += f.seen;
  }
  EXPECT_EQ(seen, ks.total().seen);
  EXPECT_GT(ks.total().own, 0u);
  layer.reset();
  (*cluster)->Stop();
}

TEST(KeyedStatsTest, PartsMergeIntoTheWholeAndTheWireFormIsChecked) {
  const std::vector<uint64_t> offsets = {0, 100, 150};
  KeyStats whole("mch", offsets, 3), a("mch", offsets, 3), b("mch", offsets, 3);
  Rng rng(8);
  for (uint64_t k = 0; k < 200; ++k) {
    const double f = std::floor(rng.Uniform() * 40) / 4;  // ties, zeros, < 1 and large
    const bool own = f > 5;
    whole.Add(k, f, own);
    (k % 3 == 0 ? a : b).Add(k, f, own);
  }
  ASSERT_TRUE(a.Merge(b).ok());
  EXPECT_EQ(a.Json(), whole.Json());
  // Field 1 holds keys [100, 150): its top keys lie there, hottest first.
  ASSERT_EQ(whole.fields()[1].top.size(), 3u);
  for (const auto& [f, k] : whole.fields()[1].top) {
    EXPECT_GE(k, 100u);
    EXPECT_LT(k, 150u);
  }
  // Another field layout does not merge.
  KeyStats other("mch", {0, 100}, 3);
  EXPECT_FALSE(whole.Merge(other).ok());

  NamedKeyStats named;
  named.emplace_back("table", whole);
  const std::string blob = EncodeKeyStats(named);
  auto back = DecodeKeyStats(blob);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(KeyStatsJson(*back), KeyStatsJson(named));
  // Merging a decoded part keeps the top exact (the heap order is rebuilt).
  NamedKeyStats parts;
  parts.emplace_back("table", KeyStats("mch", offsets, 3));
  ASSERT_TRUE(MergeKeyStats(&parts, *back).ok());
  EXPECT_EQ(KeyStatsJson(parts), KeyStatsJson(named));
  // Every truncation is refused, never read past its end.
  for (size_t n = 0; n < blob.size(); n += 7)
    EXPECT_FALSE(DecodeKeyStats(blob.substr(0, n)).ok()) << n;
}

}  // namespace
}  // namespace ecps
