// Data pipeline throughput (docs/performance.md):
//   BM_GenData      rows/s of `gen-data` (Criteo text; items = rows)
//   BM_Preprocess   MB/s of text through the whole of Preprocess (bytes = text)
//   BM_ParseCriteo  MB/s of the line parser alone
//   BM_Gather       rows/s of Dataset::Gather for random batches
// Fixture files go to $TMPDIR (default /tmp) and are removed at exit.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/rng.h"
#include "worker/data/criteo_parser.h"
#include "worker/data/dataset.h"
#include "worker/data/gen_data.h"
#include "worker/data/preprocess.h"
#include "worker/data/text_reader.h"

namespace ecps {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/ecps_data_bench_" +
         std::to_string(::getpid()) + "_" + name;
}

// A Criteo-format file of `rows` rows, generated once per process.
const std::string& CriteoFile(uint64_t rows) {
  static std::string path;
  if (path.empty()) {
    path = TempPath("criteo.txt");
    GenDataOptions o;
    o.rows = rows;
    o.features = 1000000;
    auto r = GenerateData(o, path);
    if (!r.ok()) std::abort();
    std::atexit([] { std::filesystem::remove(path); });
  }
  return path;
}

void BM_GenData(benchmark::State& state) {
  GenDataOptions o;
  o.rows = static_cast<uint64_t>(state.range(0));
  o.features = 1000000;
  o.threads = static_cast<int>(state.range(1));
  const std::string out = TempPath("gen.txt");
  for (auto _ : state) {
    auto r = GenerateData(o, out);
    if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
    state.counters["oracle_auc"] = r.ok() ? r->oracle_auc : 0;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(o.rows));
  std::filesystem::remove(out);
}
BENCHMARK(BM_GenData)
    ->Args({500000, 1})
    ->Args({500000, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_Preprocess(benchmark::State& state) {
  PreprocessOptions o;
  o.inputs = {CriteoFile(500000)};
  o.output = TempPath("pre.cache");
  uint64_t bytes = 0;
  for (auto _ : state) {
    auto r = Preprocess(o);
    if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
    bytes += r.ok() ? r->input_bytes : 0;
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  std::filesystem::remove(o.output);
}
BENCHMARK(BM_Preprocess)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_ParseCriteo(benchmark::State& state) {
  auto reader = TextReader::Open(CriteoFile(500000));
  std::vector<std::string> lines;
  std::string_view line;
  uint64_t bytes_per_pass = 0;
  while ((*reader)->NextLine(&line) && lines.size() < 100000) {
    lines.emplace_back(line);
    bytes_per_pass += line.size() + 1;
  }
  CriteoParser parser;
  ParsedRow row;
  ParseError err;
  for (auto _ : state) {
    for (const std::string& l : lines) benchmark::DoNotOptimize(parser.Parse(l, &row, &err));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes_per_pass));
}
BENCHMARK(BM_ParseCriteo)->Unit(benchmark::kMillisecond);

void BM_Gather(benchmark::State& state) {
  static std::string cache;
  if (cache.empty()) {
    cache = TempPath("gather.cache");
    PreprocessOptions o;
    o.inputs = {CriteoFile(500000)};
    o.output = cache;
    if (!Preprocess(o).ok()) std::abort();
    std::atexit([] { std::filesystem::remove(cache); });
  }
  auto ds = Dataset::Open(cache);
  const int batch = static_cast<int>(state.range(0));
  Rng rng(1);
  const uint64_t n = (*ds)->NumRows(Split::kTrain);
  std::vector<uint64_t> rows(batch);
  Batch b;
  for (auto _ : state) {
    for (auto& r : rows) r = rng.Below(n);
    (*ds)->Gather(Split::kTrain, rows, &b);
    benchmark::DoNotOptimize(b.sparse.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_Gather)->Arg(4096);

}  // namespace
}  // namespace ecps

BENCHMARK_MAIN();
