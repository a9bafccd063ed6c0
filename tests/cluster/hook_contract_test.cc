// The compressor contract the trainer keeps (compressors/compressor.h): a
// recording method declares a three-stage plan that uses every StageSpec flag
// and every hook, and the test asserts the exact sequence of hook calls, run
// by the single-process trainer and by an in-process cluster of 2 servers and
// 2 workers (`ecps train --simulate --servers 2 --workers 2`). Besides the
// sequence:
//   - Observe() sees the whole global batch on every worker;
//   - DenseParams() are stepped (and identical on every worker: all-reduced),
//     frozen in a freeze_dense stage, and checkpointed;
//   - rows the method writes in AfterStep() are seen by the next training
//     read of every worker (the probe row holds the step that wrote it);
//   - StageComplete() ends a stage before its step limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compressors/registry.h"
#include "launch/cluster_config.h"
#include "launch/simulate.h"
#include "tests/testing/small_dataset.h"
#include "worker/checkpoint.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

constexpr char kName[] = "test-recording";

// What every instance of the recording method did, by instance.
struct Recorder {
  std::mutex mu;
  std::vector<std::vector<std::string>> logs;           // hook calls
  std::vector<std::vector<std::vector<float>>> scales;  // DenseParams after each step
  std::vector<std::vector<uint64_t>> observed;          // hash of each Observe()'s keys
  void Clear() {
    std::lock_guard<std::mutex> l(mu);
    logs.clear();
    scales.clear();
    observed.clear();
  }
};
Recorder& Rec() {
  static Recorder* r = new Recorder;
  return *r;
}

// Stage 0 "train": plain; observes keys; ends itself at its 2nd evaluation.
// Stage 1 "search": reset_optimizer_state, freeze_dense, reinit_rows; every
//   AfterStep writes the step into the probe table P.
// Stage 2 "final": post_training; BeginStage reshapes P (2 rows), which
//   InitStageRows(2) fills.
// Tables: E (one fp32 row per feature), P (non-trainable probe rows). Every
// key also looks up P row 0; Decode = E row * scale (DenseParams, d floats).
class RecordingMethod final : public Compressor {
 public:
  RecordingMethod() {
    std::lock_guard<std::mutex> l(Rec().mu);
    id_ = Rec().logs.size();
    Rec().logs.emplace_back();
    Rec().scales.emplace_back();
    Rec().observed.emplace_back();
  }
  static std::unique_ptr<Compressor> Create() { return std::make_unique<RecordingMethod>(); }

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet&) override {
    Log("Init");
    space_ = ctx.space;
    scale_.assign(space_.dim, 1.0f);
    scale_grad_.assign(space_.dim, 0.0f);
    return OkStatus();
  }
  std::vector<RowTableSpec> Tables() const override {
    RowTableSpec e;
    e.name = "E";
    e.rows = space_.total();
    e.width = space_.dim;
    e.init_bound = 0.05;
    RowTableSpec p;
    p.name = "P";
    p.rows = stage_ == 2 ? 2 : 1;
    p.width = space_.dim;
    p.trainable = false;
    return {e, p};
  }
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override {
    plan->Reset(static_cast<int>(keys.size()), 2);
    plan->per_key = {1, 1};
    const int nf = space_.num_fields();
    for (size_t i = 0; i < keys.size(); ++i) {
      plan->rows[0].push_back(space_.offsets[i % nf] + keys[i]);
      plan->rows[1].push_back(0);
    }
  }
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override {
    const int d = space_.dim;
    for (int i = 0; i < plan.num_keys; ++i)
      for (int j = 0; j < d; ++j) out[i * d + j] = rows.values[0][i * d + j] * scale_[j];
    if (plan.training && stage_ == 1) {
      // Every key read the same probe row: the value of its first element.
      const_cast<RecordingMethod*>(this)->Log(absl::StrCat("Read P=", rows.values[1][0]));
    }
  }
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* g,
                      FetchedRows* grads) override {
    const int d = space_.dim;
    std::fill(scale_grad_.begin(), scale_grad_.end(), 0.0f);
    for (int i = 0; i < plan.num_keys; ++i)
      for (int j = 0; j < d; ++j) {
        grads->values[0][i * d + j] = g[i * d + j] * scale_[j];
        scale_grad_[j] += g[i * d + j] * rows.values[0][i * d + j];
      }
    std::fill(grads->values[1].begin(), grads->values[1].end(), 0.0f);
  }
  std::span<float> DenseParams() override { return scale_; }
  std::span<float> DenseGrads() override { return scale_grad_; }

  std::vector<StageSpec> Stages() const override {
    StageSpec search{"search"};
    search.reset_optimizer_state = search.freeze_dense = search.reinit_rows = true;
    StageSpec final_stage{"final"};
    final_stage.post_training = true;
    return {StageSpec{"train"}, search, final_stage};
  }
  void AttachRows(RowAccess* rows) override {
    Log("AttachRows");
    rows_ = rows;
  }
  Status BeginStage(int index) override {
    Log(absl::StrCat("BeginStage ", index));
    stage_ = index;
    completes_ = 0;
    return OkStatus();
  }
  Status InitStageRows(int index) override {
    Log(absl::StrCat("InitStageRows ", index));
    if (index != 2) return OkStatus();
    std::vector<float> v(2 * space_.dim, 7.0f);
    return rows_->WriteRows(1, 0, 2, v.data());
  }
  bool ObservesKeys() const override { return stage_ == 0; }
  void Observe(std::span<const uint32_t> keys) override {
    Log(absl::StrCat("Observe ", keys.size()));
    uint64_t h = 1469598103934665603ull;
    for (uint32_t k : keys) h = (h ^ k) * 1099511628211ull;
    std::lock_guard<std::mutex> l(Rec().mu);
    Rec().observed[id_].push_back(h);
  }
  Status AfterStep(int64_t step) override {
    Log(absl::StrCat("AfterStep ", step));
    {
      std::lock_guard<std::mutex> l(Rec().mu);
      Rec().scales[id_].push_back(scale_);
    }
    if (stage_ != 1) return OkStatus();
    std::vector<float> v(space_.dim, static_cast<float>(step));
    return rows_->WriteRows(1, 0, 1, v.data());
  }
  bool StageComplete() override {
    ++completes_;
    Log(absl::StrCat("StageComplete ", completes_));
    return stage_ == 0 && completes_ == 2;
  }
  MemoryReport Memory() const override {
    MemoryReport m;
    for (const RowTableSpec& t : Tables()) m.parameter_bytes += t.rows * t.width * 4;
    m.inference_bytes = m.parameter_bytes + scale_.size() * 4;
    return m;
  }
  std::string SaveState() const override {
    const_cast<RecordingMethod*>(this)->Log("SaveState");
    return absl::StrCat("rec ", stage_, " ", completes_);
  }
  Status LoadState(const std::string& blob) override {
    Log("LoadState");
    if (std::sscanf(blob.c_str(), "rec %d %d", &stage_, &completes_) != 2)
      return DataLoss("recording method: foreign state");
    return OkStatus();
  }

 private:
  void Log(std::string what) {
    std::lock_guard<std::mutex> l(Rec().mu);
    Rec().logs[id_].push_back(std::move(what));
  }

  size_t id_ = 0;
  FeatureSpace space_;
  int stage_ = 0;
  int completes_ = 0;
  RowAccess* rows_ = nullptr;
  std::vector<float> scale_, scale_grad_;
};

class HookContractTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(RegisterTestOnlyCompressor({kName, "test", "records the trainer's hook calls",
                                            ParamSchema(), &RecordingMethod::Create})
                    .ok());
    ds_ = testing::SmallDataset::Create("ecps_hook_test", 4000, 2000);
    data_ = ds_->data();
  }
  static void TearDownTestSuite() { ds_.reset(); }
  void SetUp() override { Rec().Clear(); }

  // 3200 training rows / batch 64 = 50 steps an epoch, an evaluation every 2
  // steps, at most 5 steps a stage.
  TrainConfig Config(const std::string& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(), {std::string("embedding.method=") + kName, "train.evals_per_epoch=25",
                             "train.max_steps=5", "train.latency_batches=1"});
    sets.insert(sets.end(), extra.begin(), extra.end());
    auto cfg = LoadTrainConfig("", sets);
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    return *cfg;
  }

  static inline std::unique_ptr<testing::SmallDataset> ds_;
  static inline const Dataset* data_ = nullptr;
};

// The hook calls of one worker's replica; `saves` whether it writes the
// checkpoints (worker 0).
std::vector<std::string> Expected(bool saves, int fields) {
  const std::string observe = absl::StrCat("Observe ", 64 * fields);  // the global batch
  std::vector<std::string> e = {"Init", "AttachRows", "InitStageRows 0"};
  auto add = [&](std::initializer_list<const char*> calls) {
    for (const char* c : calls) e.emplace_back(c);
  };
  auto save = [&](int n) {
    for (int i = 0; i < n && saves; ++i) e.push_back("SaveState");
  };
  // Stage 0: 2 steps, evaluation (not complete), 2 steps, evaluation: complete.
  e.insert(e.end(), {observe, "AfterStep 1", observe, "AfterStep 2", "StageComplete 1"});
  save(1);  // best + last: one checkpoint state
  e.insert(e.end(), {observe, "AfterStep 3", observe, "AfterStep 4", "StageComplete 2"});
  save(2);  // best + last, then last at the stage's end
  // Stage 1 from stage 0's best checkpoint; rows re-initialised (reinit_rows:
  // the store is reset and re-attached), the optimizer step starts again at 1.
  add({"LoadState", "BeginStage 1", "AttachRows"});
  add({"Read P=0", "AfterStep 1", "Read P=1", "AfterStep 2", "StageComplete 1"});
  save(1);
  add({"Read P=2", "AfterStep 3", "Read P=3", "AfterStep 4", "StageComplete 2"});
  save(1);
  add({"Read P=4", "AfterStep 5", "StageComplete 3"});  // max_steps: the final evaluation
  save(2);
  // Stage 2: post-training, reshaped (P has 2 rows): reset, re-attached, filled.
  add({"LoadState", "BeginStage 2", "AttachRows", "InitStageRows 2", "StageComplete 1"});
  save(2);
  // The final model: the best checkpoint.
  add({"LoadState"});
  return e;
}

std::string Show(const std::vector<std::string>& v) { return absl::StrJoin(v, "\n  "); }

TEST_F(HookContractTest, SingleProcessTrainerKeepsTheContract) {
  auto t = Trainer::Create(Config("single"), data_);
  ASSERT_TRUE(t.ok()) << t.status();
  auto r = (*t)->Run(false);
  ASSERT_TRUE(r.ok()) << r.status();
  std::lock_guard<std::mutex> l(Rec().mu);
  ASSERT_EQ(Rec().logs.size(), 1u);
  EXPECT_EQ(Rec().logs[0], Expected(true, data_->schema().num_fields))
      << "got:\n  " << Show(Rec().logs[0]);
  // The stage ended by the method says so; the post-training stage too.
  EXPECT_EQ((*r)["steps"], 4 + 5);
  // DenseParams: stepped in stage 0, frozen in stage 1 (freeze_dense).
  const auto& sc = Rec().scales[0];
  ASSERT_EQ(sc.size(), 9u);
  EXPECT_NE(sc[0], std::vector<float>(sc[0].size(), 1.0f));
  EXPECT_NE(sc[0], sc[3]);
  for (size_t i = 5; i < 9; ++i) EXPECT_EQ(sc[i], sc[4]) << i;
  // The global batch is the local one.
  EXPECT_EQ(Rec().observed[0].size(), 4u);
  // Checkpointed: the last checkpoint holds the method's dense parameters.
  auto ck = CheckpointReader::Open(ds_->dir() + "/single/last.ckpt");
  ASSERT_TRUE(ck.ok()) << ck.status();
  auto mdns = ck->Get("MDNS");
  ASSERT_TRUE(mdns.ok()) << mdns.status();
  ASSERT_EQ(mdns->size(), sc[8].size() * sizeof(float));
  EXPECT_EQ(std::memcmp(mdns->data(), sc[8].data(), mdns->size()), 0);
}

TEST_F(HookContractTest, TwoServersTwoWorkersKeepTheContract) {
  const TrainConfig cfg = Config("sim22", {"cluster.servers=2", "cluster.workers=2"});
  auto shape = launch::ClusterShapeFromConfig(cfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto r = launch::RunSimulation(cfg, data_, *shape, false);
  ASSERT_TRUE(r.ok()) << r.status();
  std::lock_guard<std::mutex> l(Rec().mu);
  // One replica per worker (others, if any, were never initialised).
  std::vector<size_t> replicas;
  for (size_t i = 0; i < Rec().logs.size(); ++i)
    if (!Rec().logs[i].empty()) replicas.push_back(i);
  ASSERT_EQ(replicas.size(), 2u);
  int savers = 0;
  for (size_t i : replicas) {
    const auto& log = Rec().logs[i];
    const bool saves = std::find(log.begin(), log.end(), "SaveState") != log.end();
    savers += saves;
    // Observe() gets the 64-row global batch on each worker (each trains on
    // 32 rows).
    EXPECT_EQ(log, Expected(saves, data_->schema().num_fields)) << "got:\n  " << Show(log);
  }
  EXPECT_EQ(savers, 1);  // worker 0 writes the checkpoints
  // Both replicas observed the same global batches and hold the same
  // all-reduced dense parameters after every step.
  EXPECT_EQ(Rec().observed[replicas[0]], Rec().observed[replicas[1]]);
  EXPECT_EQ(Rec().scales[replicas[0]], Rec().scales[replicas[1]]);
  ASSERT_EQ(Rec().scales[replicas[0]].size(), 9u);
  EXPECT_NE(Rec().scales[replicas[0]][0], Rec().scales[replicas[0]][3]);
}

}  // namespace
}  // namespace ecps
