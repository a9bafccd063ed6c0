#include "launch/cluster_config.h"

namespace ecps::launch {

StatusOr<SparseOptimizerConfig> ServerOptimizerFromConfig(const TrainConfig& config) {
  const ParamSet& p = config.params;
  SparseOptimizerConfig sparse;
  ASSIGN_OR_RETURN(sparse.kind, ParseSparseOptimizer(p.GetString("optimizer.sparse")));
  const double slr = p.GetFloat("optimizer.sparse_lr");
  sparse.lr = static_cast<float>(slr > 0 ? slr : p.GetFloat("optimizer.lr"));
  sparse.beta1 = static_cast<float>(p.GetFloat("optimizer.beta1"));
  sparse.beta2 = static_cast<float>(p.GetFloat("optimizer.beta2"));
  sparse.eps = static_cast<float>(p.GetFloat("optimizer.eps"));
  return sparse;
}

const char* PrefetchName(ps::PrefetchMode mode) {
  switch (mode) {
    case ps::PrefetchMode::kOrdered:
      return "ordered";
    case ps::PrefetchMode::kEager:
      return "eager";
    case ps::PrefetchMode::kOff:
      break;
  }
  return "off";
}

comm::DecodeLimits DecodeLimitsFor(const ClusterShape& shape) {
  comm::DecodeLimits l;
  l.max_message_bytes = shape.max_message_bytes;
  return l;
}

std::unique_ptr<comm::Transport> NewJobTransport(const ClusterShape& shape,
                                                 const std::string& job_token) {
  comm::ZmqOptions o;
  if (shape.encrypt) o.curve_secret = comm::CurveSecretFromToken(job_token);
  auto t = comm::NewZmqTransport(o);
  t->set_job_token(job_token);
  t->set_decode_limits(DecodeLimitsFor(shape));
  return t;
}

StatusOr<ClusterShape> ClusterShapeFromConfig(const TrainConfig& config) {
  const ParamSet& p = config.params;
  ClusterShape c;
  c.servers = static_cast<int>(p.GetInt("cluster.servers"));
  c.workers = static_cast<int>(p.GetInt("cluster.workers"));
  const std::string cons = p.GetString("cluster.consistency");
  c.consistency = cons == "asp"   ? ps::Consistency::kAsp
                  : cons == "ssp" ? ps::Consistency::kSsp
                                  : ps::Consistency::kBsp;
  c.staleness = p.GetInt("cluster.staleness");
  c.allreduce = p.GetString("cluster.allreduce");
  for (ps::PrefetchMode m :
       {ps::PrefetchMode::kOff, ps::PrefetchMode::kOrdered, ps::PrefetchMode::kEager})
    if (p.GetString("cluster.prefetch") == PrefetchName(m)) c.prefetch = m;
  if (c.prefetch == ps::PrefetchMode::kEager && c.consistency == ps::Consistency::kBsp)
    return InvalidArgument(config.origin,
                           ": config key 'cluster.prefetch' is 'eager', which needs "
                           "cluster.consistency asp or ssp (under bsp a read must see the step's "
                           "pushes: use 'ordered')");
  c.virtual_shards = static_cast<int>(p.GetInt("cluster.virtual_shards"));
  c.server_threads = static_cast<int>(p.GetInt("cluster.server_threads"));
  c.heartbeat_interval_ms = static_cast<int>(p.GetInt("cluster.heartbeat_interval_ms"));
  c.heartbeat_timeout_ms = static_cast<int>(p.GetInt("cluster.heartbeat_timeout_ms"));
  c.register_timeout_ms = static_cast<int>(p.GetInt("cluster.register_timeout_ms"));
  c.max_message_bytes = static_cast<uint64_t>(p.GetInt("cluster.max_message_mb")) << 20;
  c.encrypt = p.GetBool("cluster.encrypt");
  c.server_memory_bytes = static_cast<uint64_t>(p.GetInt("cluster.server_memory_mb")) << 20;
  c.transport = p.GetString("cluster.transport");
  c.host = p.GetString("cluster.host");
  if (c.virtual_shards < c.servers)
    return InvalidArgument(config.origin, ": config key 'cluster.virtual_shards' (",
                           c.virtual_shards, ") must be >= cluster.servers (", c.servers, ")");
  if (p.GetInt("train.batch_size") % c.workers != 0)
    return InvalidArgument(config.origin, ": config key 'train.batch_size' (",
                           p.GetInt("train.batch_size"), ") must be divisible by cluster.workers (",
                           c.workers, ")");
  if (c.heartbeat_timeout_ms <= c.heartbeat_interval_ms)
    return InvalidArgument(
        config.origin, ": cluster.heartbeat_timeout_ms must exceed cluster.heartbeat_interval_ms");
  return c;
}

ps::ServerOptions ServerOptionsFor(const ClusterShape& shape, int rank,
                                   const SparseOptimizerConfig& sparse) {
  ps::ServerOptions o;
  o.rank = rank;
  o.shards = {shape.servers, shape.virtual_shards};
  o.num_workers = shape.workers;
  o.consistency = shape.consistency;
  o.optimizer = sparse;
  o.threads = shape.server_threads;
  o.max_memory_bytes = shape.server_memory_bytes;
  return o;
}

ps::ClientOptions ClientOptionsFor(const ClusterShape& shape, int worker, std::vector<int> servers,
                                   const SparseOptimizerConfig& sparse) {
  ps::ClientOptions o;
  o.worker = worker;
  o.servers = std::move(servers);
  o.virtual_shards = shape.virtual_shards;
  o.consistency = shape.consistency;
  o.staleness = shape.staleness;
  o.prefetch = shape.prefetch;
  o.primary = worker == 0;
  o.optimizer = sparse;
  return o;
}

}  // namespace ecps::launch
