// End to end: every hashing method trains DLRM through the Trainer on small
// generated data at a 10% budget; the run must learn the planted signal and
// report the inference-memory ratio its budget solver promised.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/testing/small_dataset.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

class HashingTrainTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { ds_ = testing::SmallDataset::Create("ecps_hashing_train_test"); }
  static void TearDownTestSuite() { ds_.reset(); }

  static inline std::unique_ptr<testing::SmallDataset> ds_;
};

TEST_P(HashingTrainTest, TrainsDlrmAtTenPercent) {
  const std::string method = GetParam();
  std::vector<std::string> sets = ds_->FastConfig(method);
  sets.insert(sets.end(),
              {"train.evals_per_epoch=2", "embedding.method=" + method, "embedding.budget=0.1"});
  // MEmCom's per-id w and b alone take 2/d = 12.5% (docs/methods.md §2.5): at 10%
  // it runs with w only (6.25%); its default is covered by the budget tests.
  if (method == "memcom") sets.push_back("embedding.params.bias=false");
  auto cfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto r = (*t)->Run(false);
  ASSERT_TRUE(r.ok()) << r.status();
  const double auc = (*r)["test_auc"].get<double>();
  const double ratio = (*r)["inference_memory_ratio"].get<double>();
  std::printf("%-12s test_auc %.4f inference_memory_ratio %.5f\n", method.c_str(), auc, ratio);
  EXPECT_EQ((*r)["method"], method);
  // The planted signal (every method reaches ~0.69-0.70 here; chance is 0.5).
  EXPECT_GT(auc, 0.65) << r->dump(2);
  // Every solver lands within 1% below the budget on this space, except
  // BinaryCode's discrete ratios (a field is full or split into blocks of
  // ~2^(L/t) rows; HashingBudgetTest pins that its slack is spent).
  EXPECT_LE(ratio, 0.1);
  EXPECT_GE(ratio, method == "binarycode" ? 0.08 : 0.099);
}

INSTANTIATE_TEST_SUITE_P(Methods, HashingTrainTest,
                         ::testing::Values("hash", "compoemb", "doublehash", "memcom", "binarycode",
                                           "robe"));

}  // namespace
}  // namespace ecps
