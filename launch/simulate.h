// `ecps train --simulate`: every role of the cluster as threads of this
// process, over the in-process transport and collectives -- the very code
// paths of a multi-process run, only the transport differs.
//
// Thread-safety: call from one thread; it starts and joins the others.
#pragma once

#include <nlohmann/json.hpp>

#include "launch/cluster_config.h"
#include "worker/data/dataset.h"
#include "worker/train_config.h"

namespace ecps::launch {

// Trains `config` on `data` (shared read-only by the workers) with
// shape.servers servers and shape.workers workers; returns worker 0's results
// (plus a "cluster" object: shape, server statistics, bytes sent). The first
// failing role's error is returned.
StatusOr<nlohmann::json> RunSimulation(const TrainConfig& config, const Dataset* data,
                                       const ClusterShape& shape, bool resume);

}  // namespace ecps::launch
