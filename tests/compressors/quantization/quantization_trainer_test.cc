// Every quantization method trains end to end with DLRM through the Trainer
// on small generated data: it runs, its AUC is close to the fp32 table's and
// the reported inference_memory_ratio is the method's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "worker/data/gen_data.h"
#include "worker/data/preprocess.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

namespace fs = std::filesystem;

class QuantizationTrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // ctest runs each test in its own process, in parallel: one directory each.
    dir_ =
        (fs::temp_directory_path() / ("ecps_quant_trainer." + std::to_string(::getpid()))).string();
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

  // Trains `method` at `budget` and returns results.json.
  nlohmann::json Train(const std::string& method, double budget,
                       std::vector<std::string> extra = {}) {
    std::vector<std::string> sets = {"data.source=cache",
                                     "data.cache=" + dir_ + "/gen.ecache",
                                     "model.bottom=32,16",
                                     "model.top=32,16",
                                     "model.threads=1",
                                     "train.batch_size=64",
                                     "train.evals_per_epoch=4",
                                     "train.max_steps=400",
                                     "train.latency_batches=2",
                                     "optimizer.lr=0.003",
                                     "output.progress=none",
                                     "embedding.method=" + method,
                                     "embedding.budget=" + std::to_string(budget),
                                     "output.dir=" + dir_ + "/" + method};
    sets.insert(sets.end(), extra.begin(), extra.end());
    auto cfg = LoadTrainConfig("", sets);
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    if (!cfg.ok()) return {};
    auto t = Trainer::Create(*cfg, data_);
    EXPECT_TRUE(t.ok()) << t.status();
    if (!t.ok()) return {};
    auto r = (*t)->Run(false);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : nlohmann::json();
  }

  static std::string dir_;
  static Dataset* data_;
};
std::string QuantizationTrainerTest::dir_;
Dataset* QuantizationTrainerTest::data_ = nullptr;

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
