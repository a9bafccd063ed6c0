// The coordinator's evaluation decision (common/evaluation.h): the AUC over
// the workers' shares concatenated in rank order is exactly the AUC over all
// rows, and the improved / early-stop decision follows the trainer's rule.
#include "common/evaluation.h"

#include <gtest/gtest.h>

#include "common/metrics.h"
#include "common/rng.h"

namespace ecps {
namespace {

std::string Share(const std::vector<float>& logits, const std::vector<float>& labels, size_t lo,
                  size_t hi, bool track, EarlyStopState state = {}, int64_t patience = 0,
                  bool by_logloss = false) {
  EvalContribution c;
  c.track = track;
  c.patience = patience;
  c.by_logloss = by_logloss;
  c.state = state;
  c.logits.assign(logits.begin() + lo, logits.begin() + hi);
  c.labels.assign(labels.begin() + lo, labels.begin() + hi);
  return EncodeEvalContribution(c);
}

TEST(EvaluationTest, SharesGiveExactlyTheWholeSplitsAuc) {
  Rng rng(5);
  std::vector<float> logits(1001), labels(1001);
  for (size_t i = 0; i < logits.size(); ++i) {
    labels[i] = rng.Below(3) == 0 ? 1.0f : 0.0f;
    logits[i] = static_cast<float>(rng.Below(50)) * 0.1f - 2.0f + labels[i];  // ties too
  }
  const double auc = RocAuc(logits, labels);
  const double ll = LogLossFromLogits(logits, labels);
  for (int w : {1, 2, 3}) {
    std::vector<std::string> parts;
    for (int r = 0; r < w; ++r)
      parts.push_back(
          Share(logits, labels, logits.size() * r / w, logits.size() * (r + 1) / w, false));
    auto d = DecideEvaluation(parts);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->auc, auc) << w;
    EXPECT_EQ(d->logloss, ll) << w;
    EXPECT_EQ(d->rows, logits.size());
    EXPECT_FALSE(d->improved);
    // The decision crosses the wire unchanged.
    auto back = DecodeEvalDecision(EncodeEvalDecision(*d));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->auc, auc);
    EXPECT_EQ(back->logloss, ll);
  }
}

TEST(EvaluationTest, ImprovedAndEarlyStop) {
  std::vector<float> logits = {0.1f, 0.9f, 0.3f, 0.7f}, labels = {0, 1, 1, 0};
  const double auc = RocAuc(logits, labels);  // 0.75
  // Better than the best so far: improved, counter reset.
  auto d = DecideEvaluation({Share(logits, labels, 0, 2, true, {0.4, 3}, 2),
                             Share(logits, labels, 2, 4, true, {0.4, 3}, 2)});
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->improved);
  EXPECT_FALSE(d->stop);
  EXPECT_EQ(d->state.best, auc);
  EXPECT_EQ(d->state.evals_since_best, 0);
  // Not better: the counter grows and reaches the patience.
  d = DecideEvaluation({Share(logits, labels, 0, 4, true, {0.8, 1}, 2)});
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->improved);
  EXPECT_TRUE(d->stop);
  EXPECT_EQ(d->state.best, 0.8);
  EXPECT_EQ(d->state.evals_since_best, 2);
  // Patience 0 never stops.
  d = DecideEvaluation({Share(logits, labels, 0, 4, true, {0.8, 10}, 0)});
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->stop);
}

// train.select_by=logloss: a lower log loss improves, whatever the AUC does
// (here a perfect ranking with overconfident logits: AUC 1, log loss high).
TEST(EvaluationTest, ByLoglossALowerLoglossImproves) {
  std::vector<float> logits = {-9.0f, 9.0f, 8.0f, 8.5f}, labels = {0, 1, 0, 1};
  const double ll = LogLossFromLogits(logits, labels);
  // The first evaluation of a stage (best -1) improves.
  auto d = DecideEvaluation({Share(logits, labels, 0, 2, true, {-1, 0}, 2, true),
                             Share(logits, labels, 2, 4, true, {-1, 0}, 2, true)});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->improved);
  EXPECT_EQ(d->state.best, ll);
  // A lower best log loss so far: not improved although the AUC (1.0) beats
  // it numerically; an AUC-selected run would have called this improved.
  d = DecideEvaluation({Share(logits, labels, 0, 4, true, {ll - 0.1, 0}, 2, true)});
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->improved);
  EXPECT_EQ(d->state.best, ll - 0.1);
  EXPECT_EQ(d->state.evals_since_best, 1);
  // A higher one: improved.
  d = DecideEvaluation({Share(logits, labels, 0, 4, true, {ll + 0.1, 1}, 2, true)});
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->improved);
  EXPECT_EQ(d->state.evals_since_best, 0);
  // The criterion crosses the wire.
  auto c = DecodeEvalContribution(Share(logits, labels, 0, 4, true, {}, 0, true));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->by_logloss);
}

TEST(EvaluationTest, MalformedContributionsAreRejected) {
  std::vector<float> logits = {0.1f, 0.9f}, labels = {0, 1};
  std::string good = Share(logits, labels, 0, 2, false);
  EXPECT_FALSE(DecideEvaluation({}).ok());
  EXPECT_FALSE(DecideEvaluation({good.substr(0, good.size() - 1)}).ok());
  EXPECT_FALSE(DecideEvaluation({"garbage"}).ok());
  EXPECT_FALSE(DecideEvaluation({good, Share(logits, labels, 0, 2, true)}).ok());
  EXPECT_FALSE(DecodeEvalDecision("EVD1").ok());
}

}  // namespace
}  // namespace ecps
