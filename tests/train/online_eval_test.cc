// train.online_eval (progressive validation): every batch of the first epoch
// scored before it is trained on, AUC per window of train.online_window
// rows, single process and in a cluster.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "launch/node.h"
#include "launch/simulate.h"
#include "worker/data/gen_data.h"
#include "worker/data/preprocess.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

namespace fs = std::filesystem;

class OnlineEvalTest : public ::testing::Test {
 protected:
  // A stationary stream (learnable: AUC rises) and a drifting one.
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("ecps_online_eval_test." + std::to_string(::getpid())))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    plain_ = Make("plain", 0);
    drift_ = Make("drift", 25);
  }
  static Dataset* Make(const std::string& name, double drift) {
    GenDataOptions g;
    g.rows = 30000;
    g.features = 10000;
    g.seed = 3;
    g.drift = drift;
    EXPECT_TRUE(GenerateData(g, dir_ + "/" + name + ".txt").ok());
    PreprocessOptions p;
    p.inputs = {dir_ + "/" + name + ".txt"};
    p.output = dir_ + "/" + name + ".ecache";
    p.split = "ratio";
    p.val_ratio = 0.05;
    p.test_ratio = 0.05;
    EXPECT_TRUE(Preprocess(p).ok());
    auto ds = Dataset::Open(p.output);
    EXPECT_TRUE(ds.ok()) << ds.status();
    return ds.ok() ? ds->release() : nullptr;
  }
  static void TearDownTestSuite() {
    delete plain_;
    delete drift_;
    fs::remove_all(dir_);
  }

  static TrainConfig Config(const Dataset* data, const std::string& out,
                            std::vector<std::string> extra = {}) {
    std::vector<std::string> sets = {
        "data.source=cache",
        "data.cache=" + dir_ + (data == drift_ ? "/drift.ecache" : "/plain.ecache"),
        "model.bottom=16",
        "model.top=16",
        "model.threads=1",
        "train.batch_size=128",
        "train.evals_per_epoch=2",
        "train.latency_batches=2",
        "train.shuffle=none",
        "train.online_eval=true",
        "train.online_window=3000",
        "optimizer.lr=0.003",
        "output.progress=none",
        "output.dir=" + dir_ + "/" + out};
    sets.insert(sets.end(), extra.begin(), extra.end());
    auto cfg = LoadTrainConfig("", sets);
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    return *cfg;
  }
  static nlohmann::json Single(const Dataset* data, const TrainConfig& cfg) {
    auto t = Trainer::Create(cfg, data);
    EXPECT_TRUE(t.ok()) << t.status();
    if (!t.ok()) return {};
    auto r = (*t)->Run(false);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : nlohmann::json();
  }
  static nlohmann::json Simulate(const Dataset* data, const TrainConfig& cfg) {
    auto shape = launch::ClusterShapeFromConfig(cfg);
    EXPECT_TRUE(shape.ok()) << shape.status();
    auto r = launch::RunSimulation(cfg, data, *shape, false);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : nlohmann::json();
  }

  static inline std::string dir_;
  static inline Dataset* plain_ = nullptr;
  static inline Dataset* drift_ = nullptr;
};

// 27000 train rows at batch 128: 210 steps (26880 rows). A window closes at
// the first batch end at or past 3000 rows: 24 batches, 3072 rows; the last
// one holds what is left (2304 rows), and the windows sum to the rows trained.
TEST_F(OnlineEvalTest, WindowsCoverTheFirstEpochInFileOrder) {
  nlohmann::json r = Single(plain_, Config(plain_, "windows", {"train.epochs=2"}));
  ASSERT_TRUE(r.contains("online")) << r.dump(2);
  const nlohmann::json& w = r["online"];
  ASSERT_EQ(w.size(), 9u) << w.dump(2);
  uint64_t sum = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    const uint64_t rows = w[i]["rows"].get<uint64_t>();
    EXPECT_EQ(rows, i + 1 < w.size() ? 3072u : 2304u) << i;
    sum += rows;
    EXPECT_EQ(w[i]["end_row"].get<uint64_t>(), sum) << i;
    EXPECT_GT(w[i]["auc"].get<double>(), 0.3);
    EXPECT_LT(w[i]["auc"].get<double>(), 1.0);
    EXPECT_GT(w[i]["logloss"].get<double>(), 0.0);
  }
  // Only the first epoch: the second scores rows already trained on.
  const uint64_t per_epoch = 27000 / 128 * 128;
  EXPECT_EQ(sum, per_epoch);
  EXPECT_EQ(r["steps"].get<uint64_t>() * 128, 2 * per_epoch);
}

// The model learns the planted signal while it goes: the early windows score
// with an untrained model, the last ones well above.
TEST_F(OnlineEvalTest, ALearnableStreamGivesRisingAuc) {
  nlohmann::json r = Single(plain_, Config(plain_, "rising"));
  const nlohmann::json& w = r["online"];
  ASSERT_GE(w.size(), 4u);
  const double first = w[0]["auc"].get<double>();
  const double last = w[w.size() - 1]["auc"].get<double>();
  EXPECT_LT(first, 0.62) << w.dump(2);
  EXPECT_GT(last, first + 0.05) << w.dump(2);
  EXPECT_GT(last, 0.65) << w.dump(2);
}

// One worker and one server reproduce the single process bit for bit under
// BSP, windows included; two workers score their shares and the coordinator
// combines them: the same windows, AUC within the runtime's tolerance.
TEST_F(OnlineEvalTest, ClusterWindowsEqualTheSingleProcess) {
  nlohmann::json a = Single(drift_, Config(drift_, "single"));
  nlohmann::json b =
      Simulate(drift_, Config(drift_, "sim11", {"cluster.servers=1", "cluster.workers=1"}));
  ASSERT_TRUE(a.contains("online") && b.contains("online")) << b.dump(2);
  EXPECT_EQ(a["online"], b["online"]);
  EXPECT_FALSE(a["online"].empty());
  nlohmann::json c =
      Simulate(drift_, Config(drift_, "sim22", {"cluster.servers=2", "cluster.workers=2"}));
  ASSERT_EQ(c["online"].size(), a["online"].size()) << c.dump(2);
  for (size_t i = 0; i < a["online"].size(); ++i) {
    EXPECT_EQ(c["online"][i]["rows"], a["online"][i]["rows"]) << i;
    EXPECT_EQ(c["online"][i]["end_row"], a["online"][i]["end_row"]) << i;
    EXPECT_NEAR(c["online"][i]["auc"].get<double>(), a["online"][i]["auc"].get<double>(), 0.01)
        << i;
  }
}

// max_steps ends the first epoch early: the open window is closed there.
TEST_F(OnlineEvalTest, AStageCutShortClosesItsOpenWindow) {
  nlohmann::json r = Single(plain_, Config(plain_, "short", {"train.max_steps=30"}));
  const nlohmann::json& w = r["online"];
  ASSERT_EQ(w.size(), 2u) << w.dump(2);
  EXPECT_EQ(w[0]["rows"], 3072u);
  EXPECT_EQ(w[1]["rows"], 30u * 128 - 3072u);
  EXPECT_EQ(w[1]["end_row"], 30u * 128);
}

// The closed windows are checkpointed: a resumed run keeps them and goes on
// from where it stopped (here the stop closed a window, so the windows sum to
// the rows trained by both runs).
TEST_F(OnlineEvalTest, ResumeKeepsTheClosedWindows) {
  nlohmann::json first = Single(plain_, Config(plain_, "resume", {"train.max_steps=30"}));
  ASSERT_EQ(first["online"].size(), 2u);
  auto t = Trainer::Create(Config(plain_, "resume", {"train.max_steps=60"}), plain_);
  ASSERT_TRUE(t.ok()) << t.status();
  auto r = (*t)->Run(/*resume=*/true);
  ASSERT_TRUE(r.ok()) << r.status();
  const nlohmann::json& w = (*r)["online"];
  ASSERT_EQ(w.size(), 4u) << w.dump(2);
  EXPECT_EQ(w[0], first["online"][0]);
  EXPECT_EQ(w[1], first["online"][1]);
  EXPECT_EQ(w[2]["rows"], 3072u);
  EXPECT_EQ(w[3]["end_row"], 60u * 128);
  uint64_t sum = 0;
  for (const auto& x : w) sum += x["rows"].get<uint64_t>();
  EXPECT_EQ(sum, 60u * 128);
}

TEST_F(OnlineEvalTest, ShuffledOrderIsRefusedAndOffWritesNoWindows) {
  auto cfg = LoadTrainConfig("", {"train.online_eval=true"});
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(cfg.status().message().find("train.online_eval"), std::string::npos);
  EXPECT_NE(cfg.status().message().find("train.shuffle"), std::string::npos);
  nlohmann::json r =
      Single(plain_, Config(plain_, "off", {"train.online_eval=false", "train.max_steps=10"}));
  EXPECT_FALSE(r.contains("online"));
}

}  // namespace
}  // namespace ecps
