// Dense-model training step throughput: forward + BCE loss gradient +
// backward + Adam over the CPU dense models (worker/model), and DLRM on the
// CUDA backend (TrainStep/DlrmCuda; skipped with the reason without a GPU). Reports
// samples/s ("items_per_second"). Inputs are fixed random tensors, so this
// measures the dense network alone (no embedding lookup, no data pipeline).
//
//   build-model/bench/model_bench --benchmark_filter=Dlrm
//   args: batch / threads / mode (0 auto, 1 shards, 2 blas)
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "common/check.h"
#include "common/rng.h"
#include "worker/model/dense_model.h"
#include "worker/model/loss.h"

namespace ecps {
namespace {

const char* const kModes[] = {"auto", "shards", "blas"};

void TrainStep(benchmark::State& state, const std::string& name, Device device = Device::kCpu) {
  const int batch = static_cast<int>(state.range(0));
  DenseModelConfig c;
  c.name = name;
  c.threads = static_cast<int>(state.range(1));
  c.cpu_parallel = kModes[state.range(2)];
  auto model = CreateDenseModel(c, device, 1);
  if (device == Device::kCuda && !model.ok()) {
    // No GPU or a build without CUDA: reported, not a crash of the whole run.
    state.SkipWithError(std::string(model.status().message()).c_str());
    return;
  }
  ECPS_CHECK_OK(model.status());
  OptimizerConfig oc;
  oc.threads = c.threads;
  auto opt = CreateDenseOptimizer(oc, (*model)->params().size());
  ECPS_CHECK_OK(opt.status());
  Rng rng(2);
  std::vector<float> dense(static_cast<size_t>(batch) * c.num_dense);
  std::vector<float> emb(static_cast<size_t>(batch) * c.num_fields * c.dim);
  std::vector<float> labels(batch), logits(batch), dlogits(batch), demb(emb.size());
  for (auto& v : dense) v = static_cast<float>(rng.Uniform(0, 3));
  for (auto& v : emb) v = static_cast<float>(rng.Uniform(-0.01, 0.01));
  for (auto& v : labels) v = rng.Uniform() < 0.25 ? 1.0f : 0.0f;
  int64_t step = 0;
  double loss = 0;
  for (auto _ : state) {
    (*model)->Forward(batch, dense.data(), emb.data(), logits.data());
    loss = BceWithLogits(logits, labels, dlogits.data());
    (*model)->Backward(dlogits.data(), demb.data());
    (*opt)->Step((*model)->params(), (*model)->grads(), ++step);
    benchmark::DoNotOptimize(demb.data());
  }
  state.counters["loss"] = loss;
  state.SetItemsProcessed(state.iterations() * batch);
}

void ForwardOnly(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  DenseModelConfig c;
  c.threads = static_cast<int>(state.range(1));
  auto model = CreateDenseModel(c, Device::kCpu, 1);
  ECPS_CHECK_OK(model.status());
  std::vector<float> dense(static_cast<size_t>(batch) * c.num_dense, 0.5f);
  std::vector<float> emb(static_cast<size_t>(batch) * c.num_fields * c.dim, 0.01f);
  std::vector<float> logits(batch);
  for (auto _ : state) {
    (*model)->Predict(batch, dense.data(), emb.data(), logits.data());
    benchmark::DoNotOptimize(logits.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void AdamStep(benchmark::State& state) {
  const size_t n = 475985;  // default DLRM
  OptimizerConfig oc;
  oc.threads = static_cast<int>(state.range(0));
  auto opt = CreateDenseOptimizer(oc, n);
  ECPS_CHECK_OK(opt.status());
  std::vector<float> p(n, 0.1f), g(n, 0.01f);
  int64_t step = 0;
  for (auto _ : state) (*opt)->Step(p, g, ++step);
  state.SetItemsProcessed(state.iterations() * n);
}

void StepArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"batch", "threads", "mode"});
  for (int batch : {128, 4096})
    for (int threads : {1, 2}) b->Args({batch, threads, 0});
  b->UseRealTime();
}

void ModeArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"batch", "threads", "mode"});
  for (int batch : {128, 512, 4096})
    for (int mode : {1, 2}) b->Args({batch, 2, mode});
  b->UseRealTime();
}

BENCHMARK_CAPTURE(TrainStep, Dlrm, std::string("dlrm"))->Apply(StepArgs);
BENCHMARK_CAPTURE(TrainStep, Wdl, std::string("wdl"))->Apply(StepArgs);
BENCHMARK_CAPTURE(TrainStep, Dcn, std::string("dcn"))->Apply(StepArgs);
// shards vs blas with 2 threads (what "auto" chooses from).
BENCHMARK_CAPTURE(TrainStep, DlrmMode, std::string("dlrm"))->Apply(ModeArgs);
// The CUDA backend (model.device=cuda; host Adam on the host mirrors, as the
// trainer runs it today) and the CPU path on every core, for
// scripts/device-check.sh's table.
void DeviceArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"batch", "threads", "mode"});
  for (int batch : {128, 4096}) b->Args({batch, 0, 0});
  b->UseRealTime();
}
BENCHMARK_CAPTURE(TrainStep, DlrmCuda, std::string("dlrm"), Device::kCuda)->Apply(DeviceArgs);
BENCHMARK_CAPTURE(TrainStep, DlrmAllCores, std::string("dlrm"))->Apply(DeviceArgs);
BENCHMARK(ForwardOnly)
    ->ArgNames({"batch", "threads"})
    ->Args({128, 2})
    ->Args({4096, 2})
    ->UseRealTime();
BENCHMARK(AdamStep)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();

}  // namespace
}  // namespace ecps

BENCHMARK_MAIN();
