// Stage transitions of a method's stage plan (warm-up, search, retrain,
// prune, ...), decided by the coordinator: when a stage ends, every worker
// reports the stage it finished; the coordinator checks that they agree and
// answers the stage to run next (num_stages: the plan is done). The answer
// reaches every worker at once (comm::Collective::Decide), so the table
// reshape that follows on the servers (sent by worker 0) starts from one
// decision. A single trainer runs the same function itself.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ecps {

struct StageReport {
  int32_t stage = 0;       // the stage this worker finished
  int32_t num_stages = 0;  // the method's plan
};

std::string EncodeStageReport(const StageReport& r);
// Whether `bytes` is an encoded report (the coordinator routes on it).
bool IsStageReport(std::string_view bytes);

// The stage to run next (stage + 1; num_stages when the plan is done).
// Errors: InvalidArgument for malformed reports or workers that disagree.
StatusOr<int32_t> DecideNextStage(const std::vector<std::string>& reports);
std::string EncodeNextStage(int32_t stage);
StatusOr<int32_t> DecodeNextStage(std::string_view bytes);

}  // namespace ecps
