// End-to-end tests of the single-process trainer on small generated data:
// quality, determinism, resume equality and checkpoint errors.
#include "worker/trainer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <limits>

#include "common/file_util.h"
#include "tests/testing/small_dataset.h"
#include "worker/checkpoint.h"

namespace ecps {
namespace {

class TrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ds_ = testing::SmallDataset::Create("ecps_trainer_test"); }
  static void TearDownTestSuite() { ds_.reset(); }

  // A small, fast model with 4 evaluations per epoch; `out` names the run directory.
  TrainConfig Config(const std::string& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.push_back("train.evals_per_epoch=4");
    sets.insert(sets.end(), extra.begin(), extra.end());
    auto cfg = LoadTrainConfig("", sets);
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    return *cfg;
  }

  static std::vector<float> Params(Trainer& t) {
    auto p = t.model().params();
    return std::vector<float>(p.begin(), p.end());
  }

  static inline std::unique_ptr<testing::SmallDataset> ds_;
};

TEST_F(TrainerTest, LearnsThePlantedSignalAndReportsEverything) {
  auto t = Trainer::Create(Config("learn"), ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto r = (*t)->Run(false);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT((*r)["test_auc"].get<double>(), 0.62) << r->dump(2);
  EXPECT_GT((*r)["val_auc"].get<double>(), 0.62);
  EXPECT_EQ((*r)["method"], "full");
  EXPECT_DOUBLE_EQ((*r)["inference_memory_ratio"].get<double>(), 1.0);
  EXPECT_NEAR((*r)["training_memory"]["embedding_ratio"].get<double>(), 3.0, 1e-9);
  EXPECT_GT((*r)["latency_ms_per_batch_median"].get<double>(), 0);
  EXPECT_GT((*r)["throughput_samples_per_s"].get<double>(), 0);
  EXPECT_EQ((*r)["history"].size(), 4u);  // evals_per_epoch=4, one epoch
  EXPECT_TRUE(FileExists(ds_->dir() + "/learn/results.json"));
  EXPECT_TRUE(FileExists(ds_->dir() + "/learn/best.ckpt"));
}

// 500 steps at 3 evaluations per epoch (every 166 steps): 166, 332 and the
// epoch end; not also 498, two steps before the end, which spent an
// early-stopping count on an almost identical model (issue 13 item 10).
TEST_F(TrainerTest, EvaluatesOnceAtAnEpochEndThatEvalsDoNotDivide) {
  auto t = Trainer::Create(
      Config("evals_3", {"train.evals_per_epoch=3", "train.epochs=2", "train.early_stop_evals=0"}),
      ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto r = (*t)->Run(false);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<int64_t> steps;
  for (const auto& h : (*r)["history"]) steps.push_back(h["step"].get<int64_t>());
  EXPECT_EQ(steps, (std::vector<int64_t>{166, 332, 500, 666, 832, 1000})) << r->dump(2);
}

// Issue 13 item 11: train.select_by=logloss keeps the checkpoint of the
// lowest validation log loss and early stopping counts evaluations without a
// lower one (AUC-only selection let the log loss grow while AUC rose). With
// a patience of 1 each run stops at the first evaluation that does not
// improve its own metric: on this data the log loss rises (step 150) before
// the AUC falls (step 225).
TEST_F(TrainerTest, SelectByLoglossKeepsTheLowestValidationLogloss) {
  auto run = [&](const std::string& out, const std::string& metric) {
    auto t = Trainer::Create(Config(out, {"train.evals_per_epoch=20", "train.early_stop_evals=1",
                                          "train.select_by=" + metric}),
                             ds_->data());
    EXPECT_TRUE(t.ok()) << t.status();
    auto r = (*t)->Run(false);
    EXPECT_TRUE(r.ok()) << r.status();
    return *r;
  };
  for (const std::string metric : {"logloss", "auc"}) {
    SCOPED_TRACE(metric);
    const nlohmann::json r = run("select_" + metric, metric);
    EXPECT_EQ(r["select_by"], metric);
    EXPECT_EQ(r["stop_reason"], "early_stop");
    const std::string key = "val_" + metric;
    const bool lower = metric == "logloss";
    const auto& h = r["history"];
    ASSERT_GE(h.size(), 2u);
    // Every evaluation but the last improved the metric; the last did not.
    auto better = [&](const nlohmann::json& a, const nlohmann::json& b) {
      return lower ? a[key].get<double>() < b[key].get<double>()
                   : a[key].get<double>() > b[key].get<double>();
    };
    for (size_t i = 1; i + 1 < h.size(); ++i) EXPECT_TRUE(better(h[i], h[i - 1])) << i;
    EXPECT_FALSE(better(h[h.size() - 1], h[h.size() - 2]));
    // The selected checkpoint is the one before, and the results are its.
    EXPECT_EQ(r["best_step"], h[h.size() - 2]["step"]) << r.dump(2);
    EXPECT_DOUBLE_EQ(r[key].get<double>(), h[h.size() - 2][key].get<double>());
  }
}

// A diverged model (here: a NaN planted in the dense parameters) stops the
// run at the step it happened, with a clear error; nothing aborts.
TEST_F(TrainerTest, NonFiniteLossStopsTrainingNamingTheStep) {
  auto t = Trainer::Create(Config("nan"), ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  (*t)->model().params()[0] = std::numeric_limits<float>::quiet_NaN();
  auto r = (*t)->Run(false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("training step 1"), std::string_view::npos) << r.status();
  EXPECT_NE(r.status().message().find("not finite"), std::string_view::npos) << r.status();
}

TEST_F(TrainerTest, SameSeedSameResult) {
  auto a = Trainer::Create(Config("det_a", {"train.max_steps=120"}), ds_->data());
  auto b = Trainer::Create(Config("det_b", {"train.max_steps=120"}), ds_->data());
  ASSERT_TRUE(a.ok() && b.ok());
  auto ra = (*a)->Run(false);
  auto rb = (*b)->Run(false);
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ((*ra)["test_auc"], (*rb)["test_auc"]);
  EXPECT_EQ((*ra)["test_logloss"], (*rb)["test_logloss"]);
  EXPECT_EQ(Params(**a), Params(**b));
  // A different seed gives a different model.
  auto c = Trainer::Create(Config("det_c", {"train.max_steps=120", "train.seed=2"}), ds_->data());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Run(false).ok());
  EXPECT_NE(Params(**a), Params(**c));
}

TEST_F(TrainerTest, ResumeContinuesExactly) {
  // 500 train steps per epoch at batch 64 with 32000 train rows; evals every 125.
  auto full = Trainer::Create(Config("resume_full", {"train.max_steps=300"}), ds_->data());
  ASSERT_TRUE(full.ok());
  auto rf = (*full)->Run(false);
  ASSERT_TRUE(rf.ok()) << rf.status();

  // Same run, interrupted at step 250 (an evaluation point), then resumed.
  auto first = Trainer::Create(Config("resume_split", {"train.max_steps=250"}), ds_->data());
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->Run(false).ok());
  auto second = Trainer::Create(Config("resume_split", {"train.max_steps=300"}), ds_->data());
  ASSERT_TRUE(second.ok());
  auto rs = (*second)->Run(true);
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_EQ((*second)->global_step(), (*full)->global_step());
  EXPECT_EQ(Params(**second), Params(**full));
  EXPECT_EQ((*rs)["test_auc"], (*rf)["test_auc"]);
  EXPECT_EQ((*rs)["val_auc"], (*rf)["val_auc"]);
  EXPECT_EQ((*rs)["best_step"], (*rf)["best_step"]);
}

TEST_F(TrainerTest, ResumeRejectsChangedConfigAndCorruptCheckpoint) {
  auto a = Trainer::Create(Config("resume_bad", {"train.max_steps=20"}), ds_->data());
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Run(false).ok());
  auto b = Trainer::Create(Config("resume_bad", {"train.max_steps=40", "optimizer.lr=0.1"}),
                           ds_->data());
  ASSERT_TRUE(b.ok());
  auto rb = (*b)->Run(true);
  ASSERT_FALSE(rb.ok());
  EXPECT_NE(rb.status().message().find("optimizer.lr"), std::string::npos) << rb.status();

  std::string ckpt = ds_->dir() + "/resume_bad/last.ckpt";
  std::string bytes = *ReadFile(ckpt);
  bytes[bytes.size() / 2] ^= 0x1;
  ASSERT_TRUE(AtomicWriteFile(ckpt, bytes).ok());
  auto c = Trainer::Create(Config("resume_bad", {"train.max_steps=40"}), ds_->data());
  ASSERT_TRUE(c.ok());
  auto rc = (*c)->Run(true);
  ASSERT_FALSE(rc.ok());
  EXPECT_EQ(rc.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(rc.status().message().find("last.ckpt"), std::string::npos) << rc.status();

  auto d = Trainer::Create(Config("resume_none"), ds_->data());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)->Run(true).status().code(), absl::StatusCode::kFailedPrecondition);
}

// A checkpoint from a build that lacked a key added since (its CONF has no
// data.generate.alpha) resumes when the key has its default now, and is
// refused, naming the key, when it does not.
TEST_F(TrainerTest, ResumeAcceptsKeysAddedSinceAtTheirDefault) {
  auto a = Trainer::Create(Config("resume_old", {"train.max_steps=20"}), ds_->data());
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Run(false).ok());
  const std::string ckpt = ds_->dir() + "/resume_old/last.ckpt";
  auto r = CheckpointReader::Open(ckpt);
  ASSERT_TRUE(r.ok()) << r.status();
  CheckpointWriter w;
  for (const auto& [tag, payload] : r->sections()) {
    std::string p = payload;
    if (tag == "CONF") {
      const size_t key = p.find("alpha:");
      ASSERT_NE(key, std::string::npos) << p;
      const size_t line = p.rfind('\n', key) + 1;
      p.erase(line, p.find('\n', key) + 1 - line);  // the older build's config
    }
    w.Add(tag, p);
  }
  ASSERT_TRUE(w.Write(ckpt).ok());
  auto b = Trainer::Create(Config("resume_old", {"train.max_steps=40"}), ds_->data());
  ASSERT_TRUE(b.ok());
  auto rb = (*b)->Run(true);
  EXPECT_TRUE(rb.ok()) << rb.status();
  ASSERT_TRUE(w.Write(ckpt).ok());
  auto c = Trainer::Create(Config("resume_old", {"train.max_steps=40", "data.generate.alpha=1.2"}),
                           ds_->data());
  ASSERT_TRUE(c.ok());
  auto rc = (*c)->Run(true);
  ASSERT_FALSE(rc.ok());
  EXPECT_NE(rc.status().message().find("data.generate.alpha"), std::string::npos) << rc.status();
}

// Issue 14 item 2: --resume spun at 100% CPU forever, without a message,
// when the data behind the same cache path had fewer training rows than the
// checkpoint's position. The checkpoint records its data (DATA), and a
// resume onto other data is refused naming what changed.
TEST_F(TrainerTest, ResumeRefusesOtherDataBehindTheSameCachePath) {
  namespace fs = std::filesystem;
  const std::string cache = ds_->dir() + "/swapped.ecache";
  fs::copy_file(ds_->cache(), cache, fs::copy_options::overwrite_existing);
  const std::vector<std::string> at_cache = {"data.cache=" + cache};
  {
    auto data = Dataset::Open(cache);
    ASSERT_TRUE(data.ok()) << data.status();
    std::vector<std::string> sets = at_cache;
    sets.push_back("train.max_steps=450");  // last.ckpt at step 450 of 500 in the epoch
    auto a = Trainer::Create(Config("resume_data", sets), data->get());
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE((*a)->Run(false).ok());
    // The same data again resumes.
    sets.back() = "train.max_steps=460";
    auto same = Trainer::Create(Config("resume_data", sets), data->get());
    ASSERT_TRUE(same.ok());
    auto rs = (*same)->Run(true);
    ASSERT_TRUE(rs.ok()) << rs.status();
  }
  auto small = testing::SmallDataset::Create("ecps_trainer_test_small", 20000);
  fs::copy_file(small->cache(), cache, fs::copy_options::overwrite_existing);
  auto data = Dataset::Open(cache);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ((*data)->NumRows(Split::kTrain), 16000u);  // 250 steps: the position is past the end
  std::vector<std::string> sets = at_cache;
  sets.push_back("train.max_steps=900");
  auto b = Trainer::Create(Config("resume_data", sets), data->get());
  ASSERT_TRUE(b.ok()) << b.status();
  auto rb = (*b)->Run(true);
  ASSERT_FALSE(rb.ok());
  EXPECT_EQ(rb.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(rb.status().message());
  EXPECT_NE(msg.find("the training data differs"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train_rows 32000 -> 16000"), std::string::npos) << msg;
  EXPECT_NE(msg.find("data identity: "), std::string::npos) << msg;
}

// The loop itself: a position past the end of the epoch (here a checkpoint
// from before DATA existed, whose STAT says step 600 of a 500-step epoch)
// is an error, not a spin.
TEST_F(TrainerTest, PositionPastTheEndOfTheEpochIsAnErrorNotASpin) {
  auto a = Trainer::Create(Config("resume_past", {"train.max_steps=20"}), ds_->data());
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Run(false).ok());
  const std::string ckpt = ds_->dir() + "/resume_past/last.ckpt";
  auto r = CheckpointReader::Open(ckpt);
  ASSERT_TRUE(r.ok()) << r.status();
  CheckpointWriter w;
  for (const auto& [tag, payload] : r->sections()) {
    if (tag == "DATA") continue;  // an older build's checkpoint
    std::string p = payload;
    if (tag == "STAT") {
      auto st = nlohmann::json::parse(p);
      st["step_in_epoch"] = 600;
      st["stage_done"] = false;
      p = st.dump();
    }
    w.Add(tag, p);
  }
  ASSERT_TRUE(w.Write(ckpt).ok());
  auto b = Trainer::Create(Config("resume_past", {"train.max_steps=40"}), ds_->data());
  ASSERT_TRUE(b.ok());
  auto rb = (*b)->Run(true);
  ASSERT_FALSE(rb.ok());
  EXPECT_NE(rb.status().message().find("training position step 600 of epoch 0 is past the end of "
                                       "an epoch of 500 steps"),
            std::string_view::npos)
      << rb.status();
}

// Issue 14 item 5 (checkpoint positions): a STAT section with valid
// checksums but a stage or position out of range indexed out of bounds.
TEST_F(TrainerTest, CraftedTrainerStateOutOfRangeIsRefusedNamingIt) {
  auto a = Trainer::Create(Config("resume_crafted", {"train.max_steps=20"}), ds_->data());
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Run(false).ok());
  const std::string ckpt = ds_->dir() + "/resume_crafted/last.ckpt";
  auto r = CheckpointReader::Open(ckpt);
  ASSERT_TRUE(r.ok()) << r.status();
  struct Case {
    const char* key;
    nlohmann::json value;
    const char* expect;
  };
  for (const Case& c : {Case{"stage", 5, "trainer state names stage 5; method 'full' has 1"},
                        Case{"step_in_epoch", -3, "negative position (epoch 0, step_in_epoch -3"},
                        Case{"epoch", -1, "negative position (epoch -1"},
                        Case{"stage_seconds", nlohmann::json::array(), "times 0 stages"}}) {
    CheckpointWriter w;
    for (const auto& [tag, payload] : r->sections()) {
      std::string p = payload;
      if (tag == "STAT") {
        auto st = nlohmann::json::parse(p);
        st[c.key] = c.value;
        p = st.dump();
      }
      w.Add(tag, p);
    }
    ASSERT_TRUE(w.Write(ckpt).ok());
    auto b = Trainer::Create(Config("resume_crafted", {"train.max_steps=40"}), ds_->data());
    ASSERT_TRUE(b.ok());
    auto rb = (*b)->Run(true);
    ASSERT_FALSE(rb.ok()) << c.key;
    EXPECT_EQ(rb.status().code(), absl::StatusCode::kDataLoss) << rb.status();
    EXPECT_NE(rb.status().message().find(c.expect), std::string_view::npos) << rb.status();
  }
}

TEST_F(TrainerTest, EveryModelTrains) {
  for (const char* m : {"wdl", "dcn"}) {
    auto t = Trainer::Create(
        Config(std::string("model_") + m,
               {std::string("model.name=") + m, "model.deep=32,16", "train.max_steps=200"}),
        ds_->data());
    ASSERT_TRUE(t.ok()) << t.status();
    auto r = (*t)->Run(false);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_GT((*r)["test_auc"].get<double>(), 0.58) << m;
  }
}

}  // namespace
}  // namespace ecps
