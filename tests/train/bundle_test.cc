// worker/bundle.h: a Predictor rebuilt from a trainer's checkpoint scores the
// test split exactly as the trainer's final evaluation did, and its servable
// bundle (EncodeBundle / FromBundle) scores the same logits, bit for bit.
#include "worker/bundle.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/file_util.h"
#include "tests/testing/small_dataset.h"
#include "worker/checkpoint.h"
#include "worker/data_source.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

class BundleTest : public ::testing::TestWithParam<std::vector<std::string>> {
 protected:
  static void SetUpTestSuite() {
    ds_ = testing::SmallDataset::Create("ecps_bundle_test", 20000, 5000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;
};

TEST_P(BundleTest, CheckpointAndBundleScoreAsTheTrainersTestEvaluation) {
  const std::string method = GetParam()[0].substr(GetParam()[0].find('=') + 1);
  std::vector<std::string> sets = ds_->FastConfig("run_" + method);
  sets.insert(sets.end(), {"train.max_steps=60", "train.evals_per_epoch=4"});
  sets.insert(sets.end(), GetParam().begin(), GetParam().end());
  auto cfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto trainer = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  auto results = (*trainer)->Run(false);
  ASSERT_TRUE(results.ok()) << results.status();

  const std::string ckpt = ds_->dir() + "/run_" + method + "/best.ckpt";
  auto r = CheckpointReader::Open(ckpt);
  ASSERT_TRUE(r.ok()) << r.status();
  auto config = TrainConfigFromYaml(std::string(*r->Get("CONF")), ckpt);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->ToYaml(), cfg->ToYaml());
  auto p = Predictor::Create(ckpt, *r, *config, ds_->data()->schema(), ds_->data()->train_counts());
  ASSERT_TRUE(p.ok()) << p.status();
  auto s = (*p)->Score(*ds_->data(), Split::kTest, 0);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->logits.size(), ds_->data()->NumRows(Split::kTest));
  EXPECT_EQ(s->auc, (*results)["test_auc"].get<double>());
  EXPECT_EQ(s->logloss, (*results)["test_logloss"].get<double>());
  EXPECT_EQ((*p)->Memory().inference_bytes, (*results)["inference_memory_bytes"].get<uint64_t>());

  auto bundle = (*p)->EncodeBundle({{"checkpoint", ckpt}});
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const std::string path = ds_->dir() + "/" + method + ".bundle";
  ASSERT_TRUE(AtomicWriteFile(path, *bundle).ok());
  auto b = Predictor::FromBundle(path);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->schema().cardinalities, ds_->data()->schema().cardinalities);
  auto bs = (*b)->Score(*ds_->data(), Split::kTest, 0);
  ASSERT_TRUE(bs.ok()) << bs.status();
  EXPECT_EQ(bs->logits, s->logits);
  // Served without optimizer state: the store holds the tables as stored.
  EXPECT_EQ((*b)->embedding().store().optimizer_bytes(), 0u);
  EXPECT_EQ((*b)->Memory().inference_bytes, (*p)->Memory().inference_bytes);
  EXPECT_EQ((*b)->embedding().store().parameter_bytes(),
            (*p)->embedding().store().parameter_bytes());

  // A truncated bundle is refused, naming it.
  ASSERT_TRUE(AtomicWriteFile(path, bundle->substr(0, bundle->size() - 9)).ok());
  auto bad = Predictor::FromBundle(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(path), std::string::npos) << bad.status();
}

// full, a hashed table, a quantised one, a post-training stage with per-row
// scales, and a method whose Init() reads the train counts (doublehash).
INSTANTIATE_TEST_SUITE_P(Methods, BundleTest,
                         ::testing::Values(std::vector<std::string>{"embedding.method=full"},
                                           std::vector<std::string>{"embedding.method=hash",
                                                                    "embedding.budget=0.25"},
                                           std::vector<std::string>{"embedding.method=int8"},
                                           std::vector<std::string>{"embedding.method=post4bits"},
                                           std::vector<std::string>{"embedding.method=doublehash",
                                                                    "embedding.budget=0.25"}));

// Issue 13: libFM feature values weight their field's vector in training,
// evaluation and predict. Field 0 is the same feature on every row, and only
// its value (+1 or -1) carries the label: trained on the values the model
// separates the classes; with data.feature_values=ignore it cannot. The
// Predictor, fed the same cache, scores the trainer's test AUC exactly.
TEST(BundleValuesTest, LibfmFeatureValuesTrainEvaluateAndPredict) {
  const std::string dir =
      (std::filesystem::path(::testing::TempDir()) / "ecps_bundle_values").string();
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(MakeDirs(dir).ok());
  std::string text;
  uint64_t x = 12345;
  for (int i = 0; i < 6000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const bool positive = (x >> 33) % 2 == 1;
    text += std::string(positive ? "1" : "0") + " 3:" + (positive ? "1" : "-1") + " " +
            std::to_string((x >> 40) % 30) + ":1\n";
  }
  const std::string raw = dir + "/valued.libfm";
  ASSERT_TRUE(AtomicWriteFile(raw, text).ok());
  auto run = [&](const std::string& values) -> nlohmann::json {
    auto cfg = LoadTrainConfig(
        "", {"data.source=raw", "data.raw=" + raw, "data.format=libfm", "data.split=ratio",
             "data.cache_dir=" + dir + "/cache", "data.feature_values=" + values, "model.bottom=16",
             "model.top=16", "model.threads=1", "train.batch_size=64", "train.latency_batches=2",
             "optimizer.lr=0.01", "output.progress=none", "output.dir=" + dir + "/" + values});
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    if (!cfg.ok()) return {};
    auto data = OpenTrainingData(*cfg);
    EXPECT_TRUE(data.ok()) << data.status();
    if (!data.ok()) return {};
    EXPECT_EQ((*data)->schema().has_values, values == "weight");
    auto trainer = Trainer::Create(*cfg, data->get());
    EXPECT_TRUE(trainer.ok()) << trainer.status();
    if (!trainer.ok()) return {};
    auto results = (*trainer)->Run(false);
    EXPECT_TRUE(results.ok()) << results.status();
    if (!results.ok()) return {};
    if (values == "weight") {
      const std::string ckpt = dir + "/weight/best.ckpt";
      auto r = CheckpointReader::Open(ckpt);
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) return {};
      auto p = Predictor::Create(ckpt, *r, *cfg, (*data)->schema(), (*data)->train_counts());
      EXPECT_TRUE(p.ok()) << p.status();
      if (!p.ok()) return {};
      auto s = (*p)->Score(**data, Split::kTest, 0);
      EXPECT_TRUE(s.ok()) << s.status();
      if (s.ok()) {
        EXPECT_EQ(s->auc, (*results)["test_auc"].get<double>());
      }
    }
    return *results;
  };
  const nlohmann::json weighted = run("weight"), ignored = run("ignore");
  ASSERT_FALSE(weighted.is_null());
  ASSERT_FALSE(ignored.is_null());
  EXPECT_GT(weighted["test_auc"].get<double>(), 0.95) << weighted.dump(2);
  EXPECT_LT(ignored["test_auc"].get<double>(), 0.6) << ignored.dump(2);
  std::filesystem::remove_all(dir);
}

TEST(BundleConfigTest, AnotherFeatureSpaceIsRefusedByTheMethodsState) {
  auto ds = testing::SmallDataset::Create("ecps_bundle_space", 20000, 5000);
  std::vector<std::string> sets = ds->FastConfig("run");
  sets.insert(sets.end(), {"train.max_steps=10", "embedding.method=hash", "embedding.budget=0.5"});
  auto cfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto trainer = Trainer::Create(*cfg, ds->data());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  ASSERT_TRUE((*trainer)->Run(false).ok());
  auto r = CheckpointReader::Open(ds->dir() + "/run/best.ckpt");
  ASSERT_TRUE(r.ok()) << r.status();
  DatasetSchema other = ds->data()->schema();
  other.cardinalities[0] += 7;  // one field's vocabulary grew
  for (size_t f = 1; f < other.offsets.size(); ++f) other.offsets[f] += 7;
  std::vector<uint32_t> counts(other.total_features(), 1);
  auto p = Predictor::Create("best.ckpt", *r, *cfg, other, counts);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("best.ckpt"), std::string::npos) << p.status();
}

}  // namespace
}  // namespace ecps
