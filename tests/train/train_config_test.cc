#include "worker/train_config.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/file_util.h"

namespace ecps {
namespace {

std::string WriteConfig(const std::string& name, const std::string& text) {
  auto dir = std::filesystem::temp_directory_path() / "ecps_train_config_test";
  std::filesystem::create_directories(dir);
  std::string path = (dir / name).string();
  EXPECT_TRUE(AtomicWriteFile(path, text).ok());
  return path;
}

TEST(TrainConfigTest, DefaultsAreValid) {
  auto cfg = LoadTrainConfig("", {});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->method(), "full");
  EXPECT_EQ(cfg->params.GetInt("train.batch_size"), 128);
  auto mc = cfg->ModelConfig(13, 26);
  ASSERT_TRUE(mc.ok());
  EXPECT_EQ(mc->bottom, (std::vector<int>{512, 256, 64}));
  EXPECT_EQ(mc->top, (std::vector<int>{512, 256}));
}

TEST(TrainConfigTest, FileAndOverrides) {
  std::string path = WriteConfig("ok.yaml",
                                 "model:\n  name: dcn\ntrain:\n  batch_size: 256\n"
                                 "optimizer:\n  lr: 0.01\n");
  auto cfg = LoadTrainConfig(path, {"train.batch_size=512"});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->params.GetString("model.name"), "dcn");
  EXPECT_EQ(cfg->params.GetInt("train.batch_size"), 512);
  EXPECT_EQ(cfg->ModelConfig(13, 26)->dcn_deep, (std::vector<int>{256, 256, 256}));
  // model.deep reaches DCN's deep part (it used to land in WDL's field,
  // which DCN never reads, so a user's sizes were silently ignored).
  auto sized = LoadTrainConfig(path, {"model.deep=64,32"});
  ASSERT_TRUE(sized.ok()) << sized.status();
  EXPECT_EQ(sized->ModelConfig(13, 26)->dcn_deep, (std::vector<int>{64, 32}));
  // The effective YAML loads back to the same config.
  std::string again = WriteConfig("again.yaml", cfg->ToYaml());
  auto cfg2 = LoadTrainConfig(again, {});
  ASSERT_TRUE(cfg2.ok()) << cfg2.status();
  EXPECT_EQ(cfg2->ToYaml(), cfg->ToYaml());
}

TEST(TrainConfigTest, ErrorsNameFileAndKey) {
  std::string path = WriteConfig("bad.yaml", "train:\n  batch_sise: 12\n");
  auto cfg = LoadTrainConfig(path, {});
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("bad.yaml"), std::string::npos) << cfg.status();
  EXPECT_NE(cfg.status().message().find("train.batch_sise"), std::string::npos);

  cfg = LoadTrainConfig("", {"optimizer.lr=fast"});
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("optimizer.lr"), std::string::npos);

  cfg = LoadTrainConfig("", {"embedding.method=nosuch"});
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("embedding.method"), std::string::npos);
  EXPECT_NE(cfg.status().message().find("full"), std::string::npos) << cfg.status();

  cfg = LoadTrainConfig("", {"embedding.params.nosuch=1"});
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("nosuch"), std::string::npos);

  cfg = LoadTrainConfig("", {"model.bottom=512,-1"});
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("model.bottom"), std::string::npos);

  cfg = LoadTrainConfig("", {"data.generate.alpha=1"});
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("data.generate.alpha"), std::string::npos);
  cfg = LoadTrainConfig("", {"data.generate.alpha=1.1"});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->params.GetFloat("data.generate.alpha"), 1.1);

  cfg = LoadTrainConfig("", {"data.source=cache"});
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("data.cache"), std::string::npos);

  cfg = LoadTrainConfig(WriteConfig("syntax.yaml", "train: [1,\n"), {});
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("syntax.yaml:"), std::string::npos);

  cfg = LoadTrainConfig("/nonexistent/x.yaml", {});
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("/nonexistent/x.yaml"), std::string::npos);
}

// Issue 13: percent budgets as bench takes them; errors about a value from
// the command line name the --set, not the config file.
TEST(TrainConfigTest, PercentBudgetsAndErrorsNameTheSetThatGaveTheValue) {
  auto cfg = LoadTrainConfig("", {"embedding.budget=10%"});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->params.GetFloat("embedding.budget"), 0.1);
  cfg = LoadTrainConfig("", {"embedding.budget=0.5%"});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->params.GetFloat("embedding.budget"), 0.005);
  const std::string file = WriteConfig("budget.yaml", "embedding:\n  budget: 1%\n");
  cfg = LoadTrainConfig(file, {});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->params.GetFloat("embedding.budget"), 0.01);
  for (const char* bad : {"embedding.budget=200%", "embedding.budget=ten%", "embedding.budget=%"}) {
    cfg = LoadTrainConfig("", {bad});
    ASSERT_FALSE(cfg.ok()) << bad;
    EXPECT_NE(cfg.status().message().find("embedding.budget"), std::string::npos) << cfg.status();
  }
  EXPECT_EQ(BudgetFraction("25%"), "0.25");
  EXPECT_EQ(BudgetFraction("0.3"), "0.3");

  const std::string x = WriteConfig("x.yaml", "embedding:\n  method: full\n");
  cfg = LoadTrainConfig(x, {"embedding.method=hashing"});
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("--set embedding.method=hashing: config key "
                                        "'embedding.method'"),
            std::string::npos)
      << cfg.status();
  EXPECT_EQ(cfg.status().message().find("x.yaml"), std::string::npos) << cfg.status();
  // From the file, the file is named.
  const std::string y = WriteConfig("y.yaml", "embedding:\n  method: hashing\n");
  cfg = LoadTrainConfig(y, {});
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("y.yaml: config key 'embedding.method'"), std::string::npos)
      << cfg.status();
  cfg = LoadTrainConfig(x, {"embedding.params.nosuch=1"});
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("--set embedding.params.nosuch=1"), std::string::npos)
      << cfg.status();
  cfg = LoadTrainConfig(x, {"data.source=cache"});
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("--set data.source=cache: config key 'data.cache'"),
            std::string::npos)
      << cfg.status();
}

}  // namespace
}  // namespace ecps
