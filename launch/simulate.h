// `ecps train --simulate`: every role of the cluster as threads of this
// process, over the in-process transport and collectives -- the very code
// paths of a multi-process run, only the transport differs.
//
// Thread-safety: call from one thread; it starts and joins the others.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>

#include "launch/cluster_config.h"
#include "worker/data/dataset.h"
#include "worker/train_config.h"

namespace ecps::launch {

// Trains `config` on `data` (shared read-only by the workers) with
// shape.servers servers and shape.workers workers; returns worker 0's results
// (plus a "cluster" object: shape, server statistics, bytes sent). The first
// failing role's error is returned.
//
// The simulation plays the scheduler's part with a scheduler::Coordinator:
// it commits the checkpoints' manifests (docs/formats.md "Sharded
// checkpoint").
struct SimulationHooks {
  // Test failpoint: runs on worker 0 after every part of a checkpoint is
  // written, before its manifest is committed; an error fails the save there,
  // as a crash would (launch/cluster_checkpoints.h).
  std::function<Status(uint64_t generation)> before_checkpoint_commit;
};

StatusOr<nlohmann::json> RunSimulation(const TrainConfig& config, const Dataset* data,
                                       const ClusterShape& shape, bool resume,
                                       const SimulationHooks& hooks = {});

}  // namespace ecps::launch
