// Forward+Backward of the embedding layer (full method, local store, sparse
// Adam) on Criteo-shaped batches: 26 fields over ~500k rows with Zipf-like
// keys. Reports keys/s and samples/s; the trainer's budget is well under
// 5 us per sample (about 0.2 us per key) at batch 128 and 4096.
//
// BM_Lookup/<method>: the inference lookup (Encode + Gather + Decode, eval
// mode) of every compute-heavy static encoding at a 10% budget against the
// full table's gather, in keys/s (docs/performance.md, "Lookup throughput of
// the static encodings"). Methods not in this build are skipped.
//
// BM_SparseLookup/<budget>: DeepLight's final CSR/COO table (docs/methods.md
// §1.8, §2.23) at 50% (CSR), 10% and 1% (COO), pruned from its initial rows,
// against BM_Lookup/full.
//
//   embedding_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "common/check.h"
#include "common/rng.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"

namespace ecps {
namespace {

constexpr int kFields = 26;

// Criteo's 26 cardinalities scaled to ~500k rows in total (small fields kept).
FeatureSpace BenchSpace() {
  const uint64_t criteo[kFields] = {1460,  583,     10131227, 2202608, 305,     24,   12517,
                                    633,   3,       93145,    5683,    8351593, 3194, 27,
                                    14992, 5461306, 10,       5652,    2173,    4,    7046547,
                                    18,    15,      286181,   105,     142572};
  FeatureSpace s;
  s.dim = 16;
  uint64_t off = 0;
  for (uint64_t c : criteo) {
    const uint64_t card = std::max<uint64_t>(1, c > 20000 ? c / 67 : c);
    s.cardinalities.push_back(card);
    s.offsets.push_back(off);
    off += card;
  }
  return s;
}

// Zipf-like (about 1/rank) keys: rank = floor(card^u) - 1 with u ~ U[0,1),
// then scattered over the field by a fixed permutation-like multiply.
std::vector<std::vector<uint32_t>> MakeBatches(const FeatureSpace& s, int batch, int count) {
  Rng rng(1234);
  std::vector<std::vector<uint32_t>> out(count);
  for (auto& keys : out) {
    keys.resize(static_cast<size_t>(batch) * kFields);
    for (size_t i = 0; i < keys.size(); ++i) {
      const uint64_t card = s.cardinalities[i % kFields];
      const uint64_t rank =
          static_cast<uint64_t>(std::pow(static_cast<double>(card), rng.Uniform())) - 1;
      keys[i] = static_cast<uint32_t>((rank * 2654435761ull) % card);
    }
  }
  return out;
}

void BM_FullForwardBackward(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const FeatureSpace space = BenchSpace();
  auto method = CreateCompressor("full");
  ECPS_CHECK_OK(method.status());
  SparseOptimizerConfig opt;  // Adam, lr 1e-3
  EmbeddingLayer layer(std::move(method).value(), NewLocalRowStore(opt));
  CompressorContext ctx;
  ctx.space = space;
  ctx.seed = 1;
  ParamSchema none;
  ECPS_CHECK_OK(layer.Init(ctx, ParamSet(&none)));

  const int num_batches = batch >= 4096 ? 16 : 256;
  const auto batches = MakeBatches(space, batch, num_batches);
  std::vector<float> out(static_cast<size_t>(batch) * kFields * space.dim);
  std::vector<float> grad(out.size());
  Rng rng(5);
  for (float& g : grad) g = static_cast<float>(rng.Uniform(-1e-3, 1e-3));

  int64_t step = 0;
  for (auto _ : state) {
    const auto& keys = batches[step % num_batches];
    ECPS_CHECK_OK(layer.Forward(keys, out.data(), /*training=*/true));
    benchmark::DoNotOptimize(out.data());
    ECPS_CHECK_OK(layer.Backward(grad.data(), ++step));
  }
  const double keys_per_iter = static_cast<double>(batch) * kFields;
  state.counters["keys/s"] =
      benchmark::Counter(keys_per_iter * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(batch) * state.iterations(),
                                                   benchmark::Counter::kIsRate);
  state.counters["time/key"] =
      benchmark::Counter(keys_per_iter * state.iterations(),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["rows"] = static_cast<double>(space.total());
}
BENCHMARK(BM_FullForwardBackward)->Arg(128)->Arg(4096)->Unit(benchmark::kMicrosecond);

// Inference lookup of `method` at `budget` (its default parameters).
void BM_Lookup(benchmark::State& state, const std::string& method_name, double budget) {
  const int batch = static_cast<int>(state.range(0));
  const FeatureSpace space = BenchSpace();
  auto method = CreateCompressor(method_name);
  ECPS_CHECK_OK(method.status());
  const CompressorInfo* info = FindCompressor(method_name);
  ECPS_CHECK(info != nullptr);
  SparseOptimizerConfig opt;
  EmbeddingLayer layer(std::move(method).value(), NewLocalRowStore(opt));
  CompressorContext ctx;
  ctx.space = space;
  ctx.seed = 1;
  ctx.budget = budget;
  // Frequency-aware methods size themselves from train counts: Zipf-like
  // counts matching the batches' key distribution.
  std::vector<uint32_t> counts(space.total());
  for (int f = 0; f < kFields; ++f)
    for (uint64_t x = 0; x < space.cardinalities[f]; ++x)
      counts[space.offsets[f] + (x * 2654435761ull) % space.cardinalities[f]] =
          static_cast<uint32_t>(1000000 / (x + 1));
  ctx.train_counts = counts;
  ParamSet params(&info->schema);
  ECPS_CHECK_OK(layer.Init(ctx, params));
  const int num_batches = batch >= 4096 ? 8 : 64;
  const auto batches = MakeBatches(space, batch, num_batches);
  std::vector<float> out(static_cast<size_t>(batch) * kFields * space.dim);
  int64_t i = 0;
  for (auto _ : state) {
    ECPS_CHECK_OK(layer.Forward(batches[i++ % num_batches], out.data(), /*training=*/false));
    benchmark::DoNotOptimize(out.data());
  }
  const double keys_per_iter = static_cast<double>(batch) * kFields;
  state.counters["keys/s"] =
      benchmark::Counter(keys_per_iter * state.iterations(), benchmark::Counter::kIsRate);
  const MemoryReport mem = layer.Memory();
  state.counters["memory"] = static_cast<double>(mem.inference_bytes) /
                             (4.0 * static_cast<double>(space.total()) * space.dim);
}

// The inference lookup of DeepLight's sparse stage at `budget`: the table
// pruned to the budget's nonzeros (from its initial rows: the kept pattern is
// the largest magnitudes, as after training) and stored as CSR or COO.
void BM_SparseLookup(benchmark::State& state, double budget) {
  const int batch = static_cast<int>(state.range(0));
  const FeatureSpace space = BenchSpace();
  const CompressorInfo* info = FindCompressor("deeplight");
  ECPS_CHECK(info != nullptr);
  SparseOptimizerConfig opt;
  EmbeddingLayer layer(info->create(), NewLocalRowStore(opt));
  CompressorContext ctx;
  ctx.space = space;
  ctx.seed = 1;
  ctx.budget = budget;
  ParamSet params(&info->schema);
  ECPS_CHECK_OK(layer.Init(ctx, params));
  ECPS_CHECK_OK(layer.BeginStage(1));
  ECPS_CHECK_OK(layer.BeginStage(2));
  const int num_batches = batch >= 4096 ? 8 : 64;
  const auto batches = MakeBatches(space, batch, num_batches);
  std::vector<float> out(static_cast<size_t>(batch) * kFields * space.dim);
  int64_t i = 0;
  for (auto _ : state) {
    ECPS_CHECK_OK(layer.Forward(batches[i++ % num_batches], out.data(), /*training=*/false));
    benchmark::DoNotOptimize(out.data());
  }
  const double keys_per_iter = static_cast<double>(batch) * kFields;
  state.counters["keys/s"] =
      benchmark::Counter(keys_per_iter * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["memory"] = static_cast<double>(layer.Memory().inference_bytes) /
                             (4.0 * static_cast<double>(space.total()) * space.dim);
  state.counters["csr"] = budget * space.dim >= 3 ? 1 : 0;
}

// The full table's gather, then the static encodings that compute their
// rows (TT-Rec, DHE) and the cheap ones for scale.
const char* const kLookupMethods[] = {"full", "hash", "compoemb", "robe", "tt_rec", "dhe", "cce"};

}  // namespace
}  // namespace ecps

int main(int argc, char** argv) {
  for (const char* name : ecps::kLookupMethods) {
    if (ecps::FindCompressor(name) == nullptr) continue;
    benchmark::RegisterBenchmark((std::string("BM_Lookup/") + name).c_str(), ecps::BM_Lookup,
                                 std::string(name), 0.1)
        ->Arg(128)
        ->Arg(4096)
        // Wall time: DHE and TT-Rec run work on pool threads, whose CPU
        // time the main thread's clock would not count.
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  if (ecps::FindCompressor("deeplight") != nullptr)
    for (const auto& [name, budget] :
         {std::pair{"50pct", 0.5}, std::pair{"10pct", 0.1}, std::pair{"1pct", 0.01}})
      benchmark::RegisterBenchmark((std::string("BM_SparseLookup/") + name).c_str(),
                                   ecps::BM_SparseLookup, budget)
          ->Arg(128)
          ->Arg(4096)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
