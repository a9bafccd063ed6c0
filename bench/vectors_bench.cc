// Batched decode of the retrieval codecs (docs/methods.md §6): batches of
// 1024 random row ids of a 50,000 x 128 Gaussian-mixture matrix, decoded
// into one buffer, per method at a 10% budget (int8/int16/rabitq at their
// fixed ratios; pq also at m = 8, 16, 32 for comparison with faiss PQ). Reports
// ns per decoded vector (docs/performance.md, "Retrieval decode").
//
//   vectors_bench --benchmark_counters_tabular=true
//
// With ECPS_VECTORS_BENCH_FILE=FILE.ecv (a compressed file of `ecps vectors
// compress`) only BM_DecodeFile runs: FILE's codec, batches of 1024 ids
// drawn from Rng(0), the same decode scripts/pq_decode_side_by_side.sh times
// faiss on (the same codes).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/rng.h"
#include "vectors/codec.h"

namespace ecps::vectors {
namespace {

constexpr uint64_t kRows = 50000;
constexpr int kDim = 128;
constexpr int kBatch = 1024;

// 64 Gaussian clusters, per-cluster spread in [0.2, 0.6): structure PQ and
// SVD can use, as generated retrieval embeddings have.
const VectorSet& Matrix() {
  static const VectorSet* x = [] {
    auto* v = new VectorSet;
    v->n = kRows;
    v->dim = kDim;
    v->values.resize(kRows * kDim);
    Rng rng(1);
    std::vector<float> centers(64 * kDim);
    for (float& c : centers) c = static_cast<float>(rng.Normal());
    for (uint64_t i = 0; i < kRows; ++i) {
      const uint64_t c = rng.Below(64);
      const double s = 0.2 + 0.4 * static_cast<double>(c) / 64;
      for (int j = 0; j < kDim; ++j)
        v->values[i * kDim + j] = centers[c * kDim + j] + static_cast<float>(s * rng.Normal());
    }
    return v;
  }();
  return *x;
}

const VectorCodec& Codec(const std::string& method, const std::string& param) {
  static std::map<std::string, std::unique_ptr<VectorCodec>> cache;
  const std::string key = method + " " + param;
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  CompressOptions o;
  o.budget = method == "int8" || method == "int16" || method == "rabitq" ? 1.0 : 0.1;
  if (!param.empty()) {
    ECPS_CHECK(o.params.Add(param).ok());
  }
  if (method == "pq" || method == "magpq") {
    ECPS_CHECK(o.params.Add("iters=10").ok());
  }
  StatusOr<std::unique_ptr<VectorCodec>> c = Compress(Matrix(), method, o);
  ECPS_CHECK(c.ok());
  return *(cache[key] = *std::move(c));
}

void DecodeBatches(benchmark::State& state, const VectorCodec& c) {
  Rng rng(0);
  std::vector<uint64_t> ids(kBatch);
  std::vector<float> out(static_cast<size_t>(kBatch) * c.dim());
  for (auto _ : state) {
    state.PauseTiming();
    for (uint64_t& id : ids) id = rng.Below(c.rows());
    state.ResumeTiming();
    c.Decode(ids, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["ns_per_vector"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetLabel(c.Params() + ", ratio " + std::to_string(c.Ratio()));
}

void BM_Decode(benchmark::State& state, const std::string& method, const std::string& param) {
  DecodeBatches(state, Codec(method, param));
}

void BM_DecodeFile(benchmark::State& state, const VectorCodec* c) { DecodeBatches(state, *c); }

BENCHMARK_CAPTURE(BM_Decode, int8, std::string("int8"), std::string(""));
BENCHMARK_CAPTURE(BM_Decode, int8_per_dim, std::string("int8"), std::string("range=per_dim"));
BENCHMARK_CAPTURE(BM_Decode, int16, std::string("int16"), std::string(""));
BENCHMARK_CAPTURE(BM_Decode, pq, std::string("pq"), std::string(""));
BENCHMARK_CAPTURE(BM_Decode, pq_m8, std::string("pq"), std::string("m=8"));
BENCHMARK_CAPTURE(BM_Decode, pq_m16, std::string("pq"), std::string("m=16"));
BENCHMARK_CAPTURE(BM_Decode, pq_m32, std::string("pq"), std::string("m=32"));
BENCHMARK_CAPTURE(BM_Decode, svd, std::string("svd"), std::string(""));
BENCHMARK_CAPTURE(BM_Decode, pruning, std::string("pruning"), std::string(""));
BENCHMARK_CAPTURE(BM_Decode, magpq, std::string("magpq"), std::string(""));
BENCHMARK_CAPTURE(BM_Decode, magsvd, std::string("magsvd"), std::string(""));
BENCHMARK_CAPTURE(BM_Decode, tt, std::string("tt"), std::string(""));
BENCHMARK_CAPTURE(BM_Decode, rabitq, std::string("rabitq"), std::string(""));
BENCHMARK_CAPTURE(BM_Decode, dedup, std::string("dedup"), std::string(""));

}  // namespace
}  // namespace ecps::vectors

int main(int argc, char** argv) {
  // Held until exit: the registered benchmark points at its codec.
  static ecps::StatusOr<ecps::vectors::CompressedFile> file = ecps::NotFound("no file");
  if (const char* path = std::getenv("ECPS_VECTORS_BENCH_FILE"); path != nullptr && *path) {
    file = ecps::vectors::ReadCompressed(path);
    if (!file.ok()) {
      std::fprintf(stderr, "ECPS_VECTORS_BENCH_FILE: %s\n", file.status().ToString().c_str());
      return 2;
    }
    benchmark::ClearRegisteredBenchmarks();
    const ecps::vectors::VectorCodec* codec = file->codec.get();
    benchmark::RegisterBenchmark("BM_DecodeFile", [codec](benchmark::State& state) {
      ecps::vectors::BM_DecodeFile(state, codec);
    });
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
