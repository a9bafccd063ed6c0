// launch/ internal: the pieces node.cc and mpi_launch.cc share.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "comm/transport.h"
#include "launch/node.h"

namespace ecps::launch::internal {

// The scheduler's process: opens the data, runs the job on the bound
// `control` transport (which carries `job_token`; FailedPrecondition if it
// is empty), and returns the results with a "cluster" object whose mode is
// `mode`.
StatusOr<nlohmann::json> RunScheduler(const TrainConfig& config, const ClusterShape& shape,
                                      comm::Transport* control, const DataOpener& open_data,
                                      const std::string& mode, const std::string& job_token);
// A server's or worker's process.
StatusOr<nlohmann::json> RunRole(const TrainConfig& config, const ClusterShape& shape,
                                 const NodeSpec& spec, const DataOpener& open_data, bool resume);

}  // namespace ecps::launch::internal
