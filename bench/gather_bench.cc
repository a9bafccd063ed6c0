// The machine's random row gather rate against table size (issue 22: the
// physical reference next to training throughput at 50k, 500k, 5M and 30M
// features). A table of `rows` x 16 fp32 (64-byte rows, one cache line each)
// on huge pages, as the local row store keeps it (common/large_alloc.h), read
// at uniformly random rows in batches of 4096 (3.2 batches of 128 x 26 keys'
// worth), three ways:
//
//   BM_GatherRaw/<rows>:      one memcpy per row, no prefetch: the latency-
//                             bound reference (every row a cache/TLB miss once
//                             the table outgrows the caches);
//   BM_GatherPrefetch/<rows>: the same with __builtin_prefetch 8 rows ahead,
//                             what LocalRowStore::ReadRowsAt does;
//   BM_GatherStore/<rows>:    LocalRowStore::ReadRowsAt itself (fp32 table).
//
// Reports rows/s and bytes/s. 30M rows is a 1.9 GB table: run it alone.
//
//   gather_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "common/check.h"
#include "common/large_alloc.h"
#include "common/rng.h"
#include "embedding/row_store.h"

namespace ecps {
namespace {

constexpr int kWidth = 16;
constexpr size_t kBatch = 4096;
constexpr size_t kIndices = 1 << 20;  // random rows per pass (32 MB of rows read)

std::vector<uint64_t> RandomRows(uint64_t rows) {
  Rng rng(12345);
  std::vector<uint64_t> idx(kIndices);
  for (uint64_t& i : idx) i = rng.Below(rows);
  return idx;
}

void Report(benchmark::State& state) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kIndices));
  state.SetBytesProcessed(
      static_cast<int64_t>(state.iterations() * kIndices * kWidth * sizeof(float)));
}

template <bool kPrefetch>
void Gather(benchmark::State& state) {
  const uint64_t rows = static_cast<uint64_t>(state.range(0));
  LargeVector<float> table(rows * kWidth);
  for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<float>(i & 1023);
  const std::vector<uint64_t> idx = RandomRows(rows);
  std::vector<float> out(kBatch * kWidth);
  const float* src = table.data();
  for (auto _ : state) {
    for (size_t b = 0; b < kIndices; b += kBatch) {
      const uint64_t* r = idx.data() + b;
      for (size_t i = 0; i < kBatch; ++i) {
        if constexpr (kPrefetch) {
          if (i + 8 < kBatch) __builtin_prefetch(src + r[i + 8] * kWidth);
        }
        std::memcpy(out.data() + i * kWidth, src + r[i] * kWidth, kWidth * sizeof(float));
      }
      benchmark::DoNotOptimize(out.data());
      benchmark::ClobberMemory();
    }
  }
  Report(state);
}

void BM_GatherRaw(benchmark::State& state) { Gather<false>(state); }
void BM_GatherPrefetch(benchmark::State& state) { Gather<true>(state); }

void BM_GatherStore(benchmark::State& state) {
  const uint64_t rows = static_cast<uint64_t>(state.range(0));
  SparseOptimizerConfig opt;
  opt.kind = SparseOptimizerKind::kSgd;  // no optimizer state: the rows only
  std::unique_ptr<RowStore> store = NewLocalRowStore(opt);
  RowTableSpec spec;
  spec.name = "E";
  spec.rows = rows;
  spec.width = kWidth;
  spec.init_bound = 0.01;
  ECPS_CHECK_OK(store->Reset({spec}, 1));
  const std::vector<uint64_t> idx = RandomRows(rows);
  std::vector<float> out(kBatch * kWidth);
  for (auto _ : state) {
    for (size_t b = 0; b < kIndices; b += kBatch) {
      ECPS_CHECK_OK(
          store->ReadRowsAt(0, std::span<const uint64_t>(idx.data() + b, kBatch), out.data()));
      benchmark::DoNotOptimize(out.data());
    }
  }
  Report(state);
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (int64_t rows : {50'000, 500'000, 5'000'000, 30'000'000}) b->Arg(rows);
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_GatherRaw)->Apply(Sizes);
BENCHMARK(BM_GatherPrefetch)->Apply(Sizes);
BENCHMARK(BM_GatherStore)->Apply(Sizes);

}  // namespace
}  // namespace ecps

BENCHMARK_MAIN();
