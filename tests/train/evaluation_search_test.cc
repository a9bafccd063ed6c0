// StageSpec::evaluation_search (compressors/stage_spec.h): the trainer takes
// no training steps in such a stage, asks the method for candidates
// (Compressor::NextCandidate) and scores each on the validation split
// (ReportScore), then evaluates and checkpoints the method's choice. A
// test-only method scales its rows by a candidate factor; checked in one
// process and in an in-process cluster of 2 servers and 2 workers (every
// worker's replica gets the same scores).
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "compressors/registry.h"
#include "launch/cluster_config.h"
#include "launch/simulate.h"
#include "tests/testing/small_dataset.h"
#include "worker/train_config.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

constexpr char kName[] = "test-evaluation-search";
// The candidate factors, in proposal order; 1 is the trained model.
constexpr float kFactors[] = {0.0f, 1.0f, -1.0f};

// The scores each instance was given, by instance.
struct Scores {
  std::mutex mu;
  std::vector<std::vector<double>> by_instance;
};
Scores& Rec() {
  static Scores* s = new Scores;
  return *s;
}

// Stage 0 "train": E (one fp32 row per feature), output row·factor (1).
// Stage 1 "search" (evaluation_search): proposes kFactors, then keeps the
// best-scoring one.
class SearchingMethod final : public Compressor {
 public:
  SearchingMethod() {
    std::lock_guard<std::mutex> l(Rec().mu);
    id_ = Rec().by_instance.size();
    Rec().by_instance.emplace_back();
  }
  static std::unique_ptr<Compressor> Create() { return std::make_unique<SearchingMethod>(); }
  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet&) override {
    space_ = ctx.space;
    return OkStatus();
  }
  std::vector<RowTableSpec> Tables() const override {
    RowTableSpec e;
    e.name = "E";
    e.rows = space_.total();
    e.width = space_.dim;
    e.init_bound = 0.05;
    return {e};
  }
  std::vector<StageSpec> Stages() const override {
    StageSpec search{"search"};
    search.evaluation_search = true;
    return {StageSpec{"train"}, search};
  }
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override {
    plan->Reset(static_cast<int>(keys.size()), 1);
    plan->per_key = {1};
    const int nf = space_.num_fields();
    for (size_t i = 0; i < keys.size(); ++i)
      plan->rows[0].push_back(space_.offsets[i % nf] + keys[i]);
  }
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override {
    for (size_t j = 0; j < rows.values[0].size(); ++j) out[j] = rows.values[0][j] * factor_;
  }
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* g,
                      FetchedRows* grads) override {
    for (size_t j = 0; j < grads->values[0].size(); ++j) grads->values[0][j] = g[j] * factor_;
  }
  Status BeginStage(int index) override {
    stage_ = index;
    return OkStatus();
  }
  bool NextCandidate() override {
    if (stage_ != 1) return false;
    if (next_ < static_cast<int>(std::size(kFactors))) {
      factor_ = kFactors[next_++];
      return true;
    }
    // The best candidate (the first among equals) is the final choice.
    std::lock_guard<std::mutex> l(Rec().mu);
    const std::vector<double>& s = Rec().by_instance[id_];
    factor_ = kFactors[std::max_element(s.begin(), s.end()) - s.begin()];
    return false;
  }
  void ReportScore(double score) override {
    std::lock_guard<std::mutex> l(Rec().mu);
    Rec().by_instance[id_].push_back(score);
  }
  MemoryReport Memory() const override {
    MemoryReport m;
    m.parameter_bytes = m.inference_bytes = 4 * space_.total() * space_.dim;
    return m;
  }
  std::string SaveState() const override { return "search-test"; }

 private:
  size_t id_ = 0;
  FeatureSpace space_;
  int stage_ = 0;
  int next_ = 0;
  float factor_ = 1.0f;
};

class EvaluationSearchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(RegisterTestOnlyCompressor({kName, "test", "scores candidates on validation",
                                            ParamSchema(), &SearchingMethod::Create})
                    .ok());
    ds_ = testing::SmallDataset::Create("ecps_evaluation_search_test", 4000, 2000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  void SetUp() override {
    std::lock_guard<std::mutex> l(Rec().mu);
    Rec().by_instance.clear();
  }
  static std::vector<std::string> Sets(const std::string& out) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(), {std::string("embedding.method=") + kName, "train.max_steps=40",
                             "train.evals_per_epoch=2", "train.latency_batches=1"});
    return sets;
  }
  static inline std::unique_ptr<testing::SmallDataset> ds_;
};

// The search's scores are validation AUCs of the candidates (the trained
// model's equals the train stage's best evaluation), no step is taken, and
// the stage's one evaluation is of the chosen candidate.
void CheckRun(const nlohmann::json& r, const std::vector<double>& scores) {
  ASSERT_EQ(scores.size(), std::size(kFactors));
  ASSERT_EQ(r["stages"].size(), 2u);
  double best_train = -1;
  std::vector<double> search;
  for (const auto& h : r["history"]) {
    if (h["stage"] == 0) best_train = std::max(best_train, h["val_auc"].get<double>());
    if (h["stage"] == 1) search.push_back(h["val_auc"].get<double>());
  }
  EXPECT_EQ(scores[1], best_train) << "the unchanged model scores as the train stage's best";
  EXPECT_GT(scores[1], scores[0]) << "zero embeddings score below the trained ones";
  ASSERT_EQ(search.size(), 1u);
  EXPECT_EQ(search[0], *std::max_element(scores.begin(), scores.end()));
  EXPECT_EQ(r["steps"].get<int64_t>(), 40) << "the search stage took training steps";
  EXPECT_EQ(r["val_auc"].get<double>(), search[0]);
}

TEST_F(EvaluationSearchTest, ScoresCandidatesOnValidationInOneProcessAndACluster) {
  auto cfg = LoadTrainConfig("", Sets("search_single"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto one = (*t)->Run(false);
  ASSERT_TRUE(one.ok()) << one.status();
  std::vector<std::vector<double>> single;
  {
    std::lock_guard<std::mutex> l(Rec().mu);
    single = Rec().by_instance;
    Rec().by_instance.clear();
  }
  ASSERT_EQ(single.size(), 1u);
  CheckRun(*one, single[0]);

  std::vector<std::string> csets = Sets("search_sim22");
  csets.insert(csets.end(), {"cluster.servers=2", "cluster.workers=2"});
  auto ccfg = LoadTrainConfig("", csets);
  ASSERT_TRUE(ccfg.ok()) << ccfg.status();
  auto shape = launch::ClusterShapeFromConfig(*ccfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto two = launch::RunSimulation(*ccfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(two.ok()) << two.status();
  std::vector<std::vector<double>> workers;
  {
    std::lock_guard<std::mutex> l(Rec().mu);
    for (const auto& s : Rec().by_instance)
      if (!s.empty()) workers.push_back(s);
  }
  ASSERT_EQ(workers.size(), 2u) << "each worker's replica is scored";
  EXPECT_EQ(workers[0], workers[1]) << "the coordinator's global score reaches every worker";
  CheckRun(*two, workers[0]);
}

}  // namespace
}  // namespace ecps
