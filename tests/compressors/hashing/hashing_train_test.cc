// End to end: every hashing method trains DLRM through the Trainer on small
// generated data at a 10% budget; the run must learn the planted signal and
// report the inference-memory ratio its budget solver promised.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "worker/data/gen_data.h"
#include "worker/data/preprocess.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

namespace fs = std::filesystem;

class HashingTrainTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("ecps_hashing_train_test." + std::to_string(::getpid())))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    GenDataOptions g;
    g.rows = 40000;
    g.features = 20000;
    g.seed = 7;
    const std::string text = dir_ + "/gen.txt";
    ASSERT_TRUE(GenerateData(g, text).ok());
    PreprocessOptions p;
    p.inputs = {text};
    p.output = dir_ + "/gen.ecache";
    p.split = "ratio";
    p.val_ratio = 0.1;
    p.test_ratio = 0.1;
    ASSERT_TRUE(Preprocess(p).ok());
    auto ds = Dataset::Open(p.output);
    ASSERT_TRUE(ds.ok()) << ds.status();
    data_ = ds->release();
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
    fs::remove_all(dir_);
  }

  static std::string dir_;
  static Dataset* data_;
};
std::string HashingTrainTest::dir_;
Dataset* HashingTrainTest::data_ = nullptr;

TEST_P(HashingTrainTest, TrainsDlrmAtTenPercent) {
  const std::string method = GetParam();
  std::vector<std::string> sets = {"data.source=cache",
                                   "data.cache=" + dir_ + "/gen.ecache",
                                   "model.name=dlrm",
                                   "model.bottom=32,16",
                                   "model.top=32,16",
                                   "model.threads=1",
                                   "train.batch_size=64",
                                   "train.evals_per_epoch=2",
                                   "train.latency_batches=2",
                                   "optimizer.lr=0.003",
                                   "embedding.method=" + method,
                                   "embedding.budget=0.1",
                                   "output.progress=none",
                                   "output.dir=" + dir_ + "/" + method};
  // MEmCom's per-id w and b alone take 2/d = 12.5% (methods.md §2.5): at 10%
  // it runs with w only (6.25%); its default is covered by the budget tests.
  if (method == "memcom") sets.push_back("embedding.params.bias=false");
  auto cfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, data_);
  ASSERT_TRUE(t.ok()) << t.status();
  auto r = (*t)->Run(false);
  ASSERT_TRUE(r.ok()) << r.status();
  const double auc = (*r)["test_auc"].get<double>();
  const double ratio = (*r)["inference_memory_ratio"].get<double>();
  std::printf("%-12s test_auc %.4f inference_memory_ratio %.5f\n", method.c_str(), auc, ratio);
  EXPECT_EQ((*r)["method"], method);
  // The planted signal (every method reaches ~0.69-0.70 here; chance is 0.5).
  EXPECT_GT(auc, 0.65) << r->dump(2);
  // Every solver lands within 1% below the budget on this space.
  EXPECT_LE(ratio, 0.1);
  EXPECT_GE(ratio, 0.099);
}

INSTANTIATE_TEST_SUITE_P(Methods, HashingTrainTest,
                         ::testing::Values("hash", "compoemb", "doublehash", "memcom", "binarycode",
                                           "robe"));

}  // namespace
}  // namespace ecps
