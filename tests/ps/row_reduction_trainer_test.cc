// Whole-table work through the trainer (docs/architecture.md "Whole-table
// work where the rows are"): a test-only method reduces its table in
// BeginStage(1) (RowAccess::ReduceRows) and reshapes it into fewer rows, some
// copied within their virtual shards and some across them
// (Compressor::StageCopies), single-process and on 2 servers + 2 workers
// (`ecps train --simulate --servers 2 --workers 2`). Every replica must see
// the same reductions of the old rows (the servers reshape only once every
// worker asked) and, after the reshape, the copies of exactly those rows.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "compressors/registry.h"
#include "launch/cluster_config.h"
#include "launch/simulate.h"
#include "tests/testing/small_dataset.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

constexpr char kName[] = "test-reshaping";
constexpr int kVirtualShards = 8;

// What each replica saw at its stage change.
struct Seen {
  std::vector<float> before;      // E's rows read in BeginStage(1)
  std::vector<double> projected;  // block projections of E
  std::vector<double> agreement;  // block-pair agreement counts of E
  std::vector<float> after;       // K's rows read in InitStageRows(1)
};
std::mutex& Mu() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}
std::vector<Seen>& Replicas() {
  static auto* r = new std::vector<Seen>;
  return *r;
}

// Stage 0 "train": E, one row per feature. Stage 1 "finetune": K of m rows;
// key row r reads K[r mod m]. K[0, h) = E[2V, 2V + h) (same virtual shards),
// K[h, m) = E[5, 5 + m - h) (other shards).
class ReshapingMethod final : public Compressor {
 public:
  static std::unique_ptr<Compressor> Create() { return std::make_unique<ReshapingMethod>(); }
  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet&) override {
    space_ = ctx.space;
    n_ = space_.total();
    m_ = n_ / 2;
    h_ = m_ / 2 / kVirtualShards * kVirtualShards;
    std::lock_guard<std::mutex> l(Mu());
    id_ = Replicas().size();
    Replicas().emplace_back();
    return OkStatus();
  }
  std::vector<RowTableSpec> Tables() const override {
    RowTableSpec e;
    e.name = stage_ == 0 ? "E" : "K";
    e.rows = stage_ == 0 ? n_ : m_;
    e.width = space_.dim;
    e.init_bound = 0.05;
    return {e};
  }
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override {
    plan->Reset(static_cast<int>(keys.size()), 1);
    plan->per_key = {1};
    const int nf = space_.num_fields();
    for (size_t i = 0; i < keys.size(); ++i) {
      const uint64_t r = space_.offsets[i % nf] + keys[i];
      plan->rows[0].push_back(stage_ == 0 ? r : r % m_);
    }
  }
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override {
    std::copy(rows.values[0].begin(), rows.values[0].end(), out);
  }
  void DecodeBackward(const LookupPlan&, const FetchedRows&, const float* g,
                      FetchedRows* grads) override {
    std::copy(g, g + grads->values[0].size(), grads->values[0].begin());
  }
  std::vector<StageSpec> Stages() const override {
    StageSpec finetune{"finetune"};
    finetune.reset_optimizer_state = true;
    return {StageSpec{"train"}, finetune};
  }
  void AttachRows(RowAccess* rows) override { rows_ = rows; }
  Status BeginStage(int index) override {
    if (index != 1) return OkStatus();
    Seen seen;
    seen.before.resize(n_ * space_.dim);
    RETURN_IF_ERROR(rows_->ReadRows(0, 0, n_, seen.before.data()));
    RowReduction proj;
    proj.block_rows = 2 * kVirtualShards;
    proj.bands = 3;
    proj.seed = 11;
    ASSIGN_OR_RETURN(seen.projected, rows_->ReduceRows(proj));
    RowReduction pairs;
    pairs.kind = RowReductionKind::kBlockPairAgreement;
    pairs.block_rows = kVirtualShards;
    pairs.tol = 0.01;
    pairs.pairs = {0, 1, 2, 2, 3, n_ / kVirtualShards - 1};
    ASSIGN_OR_RETURN(seen.agreement, rows_->ReduceRows(pairs));
    {
      std::lock_guard<std::mutex> l(Mu());
      Replicas()[id_] = std::move(seen);
    }
    stage_ = 1;
    return OkStatus();
  }
  std::vector<RowCopy> StageCopies(int index) const override {
    if (index != 1) return {};
    return {{0, 2 * kVirtualShards, 0, 0, h_}, {0, 5, 0, h_, m_ - h_}};
  }
  Status InitStageRows(int index) override {
    if (index != 1) return OkStatus();
    std::vector<float> after(m_ * space_.dim);
    RETURN_IF_ERROR(rows_->ReadRows(0, 0, m_, after.data()));
    std::lock_guard<std::mutex> l(Mu());
    Replicas()[id_].after = std::move(after);
    return OkStatus();
  }
  MemoryReport Memory() const override {
    MemoryReport m;
    for (const RowTableSpec& t : Tables()) m.parameter_bytes += t.rows * t.width * 4;
    m.inference_bytes = m.parameter_bytes;
    return m;
  }
  std::string SaveState() const override { return "reshaping " + std::to_string(stage_); }
  Status LoadState(const std::string& blob) override {
    if (blob.rfind("reshaping ", 0) != 0) return DataLoss("reshaping method: foreign state");
    stage_ = std::stoi(blob.substr(10));
    return OkStatus();
  }

 private:
  FeatureSpace space_;
  uint64_t n_ = 0, m_ = 0, h_ = 0;
  int stage_ = 0;
  size_t id_ = 0;
  RowAccess* rows_ = nullptr;
};

class RowReductionTrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(RegisterTestOnlyCompressor({kName, "test", "reduces and reshapes its table",
                                            ParamSchema(), &ReshapingMethod::Create})
                    .ok());
    ds_ = testing::SmallDataset::Create("ecps_row_reduction_trainer_test", 4000, 2000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  void SetUp() override {
    std::lock_guard<std::mutex> l(Mu());
    Replicas().clear();
  }
  TrainConfig Config(const std::string& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(), {std::string("embedding.method=") + kName, "train.evals_per_epoch=5",
                             "train.max_steps=6", "train.latency_batches=1",
                             "cluster.virtual_shards=" + std::to_string(kVirtualShards)});
    sets.insert(sets.end(), extra.begin(), extra.end());
    auto cfg = LoadTrainConfig("", sets);
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    return *cfg;
  }
  // Each replica's copies hold exactly the old rows it read, and the
  // reductions have their sizes (the values: tests/ps/row_reduction_ps_test).
  static void ExpectCopies(const Seen& s, size_t d) {
    const size_t n = s.before.size() / d, m = n / 2;
    const size_t h = m / 2 / kVirtualShards * kVirtualShards;
    ASSERT_EQ(s.after.size(), m * d);
    for (size_t r = 0; r < m; ++r) {
      const size_t src = r < h ? 2 * kVirtualShards + r : 5 + r - h;
      for (size_t j = 0; j < d; ++j)
        ASSERT_EQ(s.after[r * d + j], s.before[src * d + j]) << "row " << r;
    }
    EXPECT_EQ(s.projected.size(), (n + 2 * kVirtualShards - 1) / (2 * kVirtualShards) * 3);
    ASSERT_EQ(s.agreement.size(), 3u);
    EXPECT_EQ(s.agreement[1], static_cast<double>(kVirtualShards * d));  // a block with itself
  }
  static inline std::unique_ptr<testing::SmallDataset> ds_;
};

TEST_F(RowReductionTrainerTest, SingleProcessAndTwoServersTwoWorkersReshapeWhereTheRowsAre) {
  auto t = Trainer::Create(Config("single"), ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto r = (*t)->Run(false);
  ASSERT_TRUE(r.ok()) << r.status();
  const size_t d = (*r)["embedding_dim"].get<size_t>();
  std::vector<Seen> single;
  {
    std::lock_guard<std::mutex> l(Mu());
    single = Replicas();
    Replicas().clear();
  }
  ASSERT_EQ(single.size(), 1u);
  ExpectCopies(single[0], d);

  const TrainConfig cfg = Config("sim22", {"cluster.servers=2", "cluster.workers=2"});
  auto shape = launch::ClusterShapeFromConfig(cfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto sim = launch::RunSimulation(cfg, ds_->data(), *shape, false);
  ASSERT_TRUE(sim.ok()) << sim.status();
  // Both stages trained (6 steps each) and the reshaped model was evaluated.
  EXPECT_EQ((*sim)["steps"], 12);
  EXPECT_TRUE((*sim)["test_auc"].is_number());
  std::lock_guard<std::mutex> l(Mu());
  std::vector<const Seen*> replicas;
  for (const Seen& s : Replicas())
    if (!s.after.empty()) replicas.push_back(&s);
  ASSERT_EQ(replicas.size(), 2u);
  for (const Seen* s : replicas) ExpectCopies(*s, d);
  // The same old rows and reductions on both workers (neither met the
  // reshaped tables), and the same new rows.
  EXPECT_EQ(replicas[0]->before, replicas[1]->before);
  EXPECT_EQ(replicas[0]->projected, replicas[1]->projected);
  EXPECT_EQ(replicas[0]->agreement, replicas[1]->agreement);
  EXPECT_EQ(replicas[0]->after, replicas[1]->after);
}

}  // namespace
}  // namespace ecps
