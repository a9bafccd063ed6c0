// worker/bundle.h: a Predictor rebuilt from a trainer's checkpoint scores the
// test split exactly as the trainer's final evaluation did, and its servable
// bundle (EncodeBundle / FromBundle) scores the same logits, bit for bit.
#include "worker/bundle.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/file_util.h"
#include "tests/testing/small_dataset.h"
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
