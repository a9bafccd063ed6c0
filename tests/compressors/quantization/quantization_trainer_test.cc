// Every quantization method trains end to end with DLRM through the Trainer
// on small generated data: it runs, its AUC is close to the fp32 table's and
// the reported inference_memory_ratio is the method's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "tests/testing/small_dataset.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

class QuantizationTrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ds_ = testing::SmallDataset::Create("ecps_quant_trainer"); }
  static void TearDownTestSuite() { ds_.reset(); }

  // Trains `method` at `budget` and returns results.json.
  nlohmann::json Train(const std::string& method, double budget,
                       std::vector<std::string> extra = {}) {
    std::vector<std::string> sets = ds_->FastConfig(method);
    sets.insert(sets.end(),
                {"train.evals_per_epoch=4", "train.max_steps=400", "embedding.method=" + method,
                 "embedding.budget=" + std::to_string(budget)});
    sets.insert(sets.end(), extra.begin(), extra.end());
    auto cfg = LoadTrainConfig("", sets);
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    if (!cfg.ok()) return {};
    auto t = Trainer::Create(*cfg, ds_->data());
    EXPECT_TRUE(t.ok()) << t.status();
    if (!t.ok()) return {};
    auto r = (*t)->Run(false);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : nlohmann::json();
  }

  static inline std::unique_ptr<testing::SmallDataset> ds_;
};

TEST_F(QuantizationTrainerTest, EveryMethodTrainsWithDlrm) {
  const nlohmann::json full = Train("full", 1.0);
  ASSERT_FALSE(full.is_null());
  const double full_auc = full["test_auc"].get<double>();
  EXPECT_GT(full_auc, 0.62);
  struct Case {
    std::string method;
    double budget, ratio, max_auc_drop;
  };
  const std::vector<Case> cases = {
      {"fp16", 0.5, 0.5, 0.01},    {"int16", 0.5, 0.5, 0.01},    {"int8", 0.25, 0.25, 0.03},
      {"alpt", 0.6, 0.5625, 0.03}, {"alpt", 0.35, 0.3125, 0.05}, {"post4bits", 0.2, 0.1875, 0.03},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method + " @ " + std::to_string(c.budget));
    const nlohmann::json r = Train(c.method, c.budget);
    ASSERT_FALSE(r.is_null());
    std::cout << c.method << " @ " << c.budget << ": ratio " << r["inference_memory_ratio"]
              << ", test AUC " << r["test_auc"] << " (full " << full_auc << ")\n";
    EXPECT_DOUBLE_EQ(r["inference_memory_ratio"].get<double>(), c.ratio);
    EXPECT_GT(r["test_auc"].get<double>(), full_auc - c.max_auc_drop) << r.dump(1);
    if (c.method == "post4bits") {
      // The quantize stage takes no training steps, is evaluated on its own,
      // and training memory includes the fp32 stage with its Adam state
      // (docs/methods.md §1.6 counts every stage's structures).
      ASSERT_EQ(r["stages"].size(), 2u);
      EXPECT_EQ(r["steps"], 400);
      EXPECT_EQ(r["history"].back()["stage"], 1);
      EXPECT_EQ(r["stop_reason"], "post_training");
      EXPECT_GE(r["training_memory"]["embedding_ratio"].get<double>(), 3.0);
    }
  }
  // MixedPrec fills the budget with its cache (within 1%).
  const nlohmann::json mp = Train("mixedprec", 0.4);
  ASSERT_FALSE(mp.is_null());
  EXPECT_LE(mp["inference_memory_ratio"].get<double>(), 0.4);
  EXPECT_GE(mp["inference_memory_ratio"].get<double>(), 0.396);
  EXPECT_GT(mp["test_auc"].get<double>(), full_auc - 0.03);
}

}  // namespace
}  // namespace ecps
