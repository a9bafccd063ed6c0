// The coordinator's stage-plan decision (common/stage_plan.h): the next stage
// once every worker finished the same one; disagreement is an error.
#include "common/stage_plan.h"

#include <gtest/gtest.h>

namespace ecps {
namespace {

TEST(StagePlanTest, NextStageOnceAllWorkersAgree) {
  auto next = DecideNextStage({EncodeStageReport({0, 3}), EncodeStageReport({0, 3})});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, 1);
  next = DecideNextStage({EncodeStageReport({2, 3})});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 3);  // the plan is done
  auto back = DecodeNextStage(EncodeNextStage(2));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, 2);
  EXPECT_TRUE(IsStageReport(EncodeStageReport({1, 2})));
}

TEST(StagePlanTest, DisagreementAndGarbageAreErrors) {
  auto r = DecideNextStage({EncodeStageReport({0, 2}), EncodeStageReport({1, 2})});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("worker 1 finished stage 1"), std::string::npos)
      << r.status();
  EXPECT_FALSE(DecideNextStage({}).ok());
  EXPECT_FALSE(DecideNextStage({"STG1"}).ok());
  EXPECT_FALSE(DecideNextStage({EncodeStageReport({2, 2})}).ok());
  EXPECT_FALSE(DecodeNextStage("NXT1").ok());
}

}  // namespace
}  // namespace ecps
