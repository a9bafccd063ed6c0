// The cluster.* section of a TrainConfig, read in launch/ only (style.md
// rule 10): everything below launch/ receives explicit options.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "comm/message.h"
#include "comm/transport.h"
#include "common/status.h"
#include "embedding/sparse_optimizer.h"
#include "ps/client.h"
#include "ps/server.h"
#include "ps/sharding.h"
#include "worker/train_config.h"

namespace ecps::launch {

// The config name of a prefetch mode (cluster.prefetch).
const char* PrefetchName(ps::PrefetchMode mode);

struct ClusterShape {
  int servers = 1;
  int workers = 1;
  ps::Consistency consistency = ps::Consistency::kBsp;
  int64_t staleness = 0;
  ps::PrefetchMode prefetch = ps::PrefetchMode::kOff;
  std::string allreduce = "auto";  // cluster.allreduce: auto, mpi or scheduler
  int virtual_shards = 64;
  int server_threads = 2;
  int heartbeat_interval_ms = 500;
  int heartbeat_timeout_ms = 10000;
  int register_timeout_ms = 300000;  // a server's or worker's wait for the scheduler's answer
  std::string transport = "tcp";
  std::string host = "127.0.0.1";
  uint64_t max_message_bytes = uint64_t{16384} << 20;  // cluster.max_message_mb
  bool encrypt = false;                                // cluster.encrypt: CurveZMQ
  uint64_t server_memory_bytes = 0;  // cluster.server_memory_mb (0: the host's memory)
};

StatusOr<ClusterShape> ClusterShapeFromConfig(const TrainConfig& config);

// What the transports of a process of this cluster accept (comm/message.h):
// cluster.max_message_mb, the other limits at their defaults.
comm::DecodeLimits DecodeLimitsFor(const ClusterShape& shape);

// A ZeroMQ transport of a process of this cluster: it stamps `job_token` on
// every message and drops every message without it or over the shape's
// limits; with cluster.encrypt, CurveZMQ keyed from the token.
std::unique_ptr<comm::Transport> NewJobTransport(const ClusterShape& shape,
                                                 const std::string& job_token);

// The sparse optimizer the servers apply (the trainer's rule: optimizer.sparse
// with optimizer.sparse_lr, or optimizer.lr when that is 0).
StatusOr<SparseOptimizerConfig> ServerOptimizerFromConfig(const TrainConfig& config);

// The options of server `rank` and of worker `worker`'s client for this
// shape: one place for --simulate and for processes, so both run the same
// parameter server. `servers` = the node id of each server.
ps::ServerOptions ServerOptionsFor(const ClusterShape& shape, int rank,
                                   const SparseOptimizerConfig& sparse);
ps::ClientOptions ClientOptionsFor(const ClusterShape& shape, int worker, std::vector<int> servers,
                                   const SparseOptimizerConfig& sparse);

// Node ids: 0 = scheduler, 1..S = servers, S+1..S+W = workers (the mpirun
// rank layout).
inline int ServerNode(int s) { return 1 + s; }
inline int WorkerNode(const ClusterShape& c, int w) { return 1 + c.servers + w; }

}  // namespace ecps::launch
