#include "launch/simulate.h"

#include <thread>

#include "comm/collective.h"
#include "common/logging.h"
#include "launch/cluster_checkpoints.h"
#include "ps/inproc_cluster.h"
#include "scheduler/coordinator.h"
#include "worker/trainer.h"

namespace ecps::launch {

StatusOr<nlohmann::json> RunSimulation(const TrainConfig& config, const Dataset* data,
                                       const ClusterShape& shape, bool resume,
                                       const SimulationHooks& hooks) {
  ASSIGN_OR_RETURN(SparseOptimizerConfig sparse, ServerOptimizerFromConfig(config));
  const int S = shape.servers, W = shape.workers;
  ps::InProcClusterOptions copt;
  copt.servers = S;
  copt.workers = W;
  copt.server = ServerOptionsFor(shape, 0, sparse);
  copt.limits = DecodeLimitsFor(shape);  // as a process's transports have (NewJobTransport)
  ASSIGN_OR_RETURN(std::unique_ptr<ps::InProcCluster> cluster, ps::InProcCluster::Start(copt));
  scheduler::Coordinator coordinator;  // the scheduler's part
  comm::InProcCollectiveGroup group(
      W, [&](const std::vector<std::string>& parts) { return coordinator.Decide(parts); });
  const std::string config_yaml = config.ToYaml();
  std::vector<StatusOr<nlohmann::json>> results(W, absl::UnknownError("not run"));
  std::vector<std::string> stats(W);
  uint64_t prefetch_hits = 0;  // worker 0's
  std::vector<std::thread> threads;
  for (int w = 0; w < W; ++w) {
    threads.emplace_back([&, w] {
      ps::Client* client = nullptr;
      TrainerEnv env;
      auto collective = group.Member(w);
      env.workers = W > 1 ? collective.get() : nullptr;
      ClusterCheckpoints checkpoints(
          config.params.GetString("output.dir"), shape, config_yaml,
          [&](const std::string& request) { return coordinator.CommitCheckpoint(request); },
          w == 0 ? hooks.before_checkpoint_commit : nullptr);
      env.checkpoints = &checkpoints;
      env.prefetch = shape.prefetch != ps::PrefetchMode::kOff;
      // Written below with the cluster's fields, as --json prints it.
      env.launcher_writes_results = true;
      env.make_store = [&](const SparseOptimizerConfig& opt) {
        auto c = cluster->NewClient(w, ClientOptionsFor(shape, w, cluster->server_nodes(), opt));
        client = c.get();
        checkpoints.set_client(client);
        return c;
      };
      auto trainer = Trainer::Create(config, data, std::move(env));
      if (!trainer.ok()) {
        results[w] = trainer.status();
      } else {
        results[w] = (*trainer)->Run(resume);
        if (client != nullptr && w == 0) {
          auto s = client->ServerStats();
          if (s.ok()) stats[w] = *s;
          prefetch_hits = client->prefetch_hits();
        }
      }
      if (!results[w].ok())
        group.Abort(absl::StrCat("worker ", w, " failed: ", results[w].status().message()));
    });
  }
  for (auto& t : threads) t.join();
  cluster->Stop();
  for (int w = 0; w < W; ++w)
    if (!results[w].ok())
      return Annotate(results[w].status(), absl::StrCat("worker ", w, " (simulation)"));
  nlohmann::json r = std::move(*results[0]);
  const uint64_t worker_bytes = cluster->worker_bytes(), server_bytes = cluster->server_bytes();
  const uint64_t bytes = worker_bytes + server_bytes;
  // Every byte that crossed the transport (pulls, pushes, collectives,
  // evaluation) over the training samples: the cost of the parameter server.
  const double trained = r.value("steps", 0.0) * r.value("batch_size", 0.0);
  r["network_bytes_per_sample"] = trained > 0 ? static_cast<double>(bytes) / trained : 0.0;
  r["cluster"] = {
      {"mode", "simulate"},
      {"allreduce", "in-process"},  // rank-order sums (comm/collective.h)
      {"consistency", config.params.GetString("cluster.consistency")},
      {"servers", S},
      {"workers", W},
      {"virtual_shards", shape.virtual_shards},
      {"network_bytes", bytes},
      {"worker_bytes", worker_bytes},  // pull requests, pushes, collectives
      {"server_bytes", server_bytes},  // pull replies, acknowledgements, checkpoint blobs
      // Worker 0's training pulls served by the pull it sent a step ahead.
      {"prefetch", {{"mode", PrefetchName(shape.prefetch)}, {"hits", prefetch_hits}}},
      {"coordinator",
       {{"checkpoints", coordinator.checkpoints_committed()},
        {"evaluations", coordinator.evaluations_decided()},
        {"stages", coordinator.stage_decisions()}}},
      {"servers_stats", stats[0].empty() ? nlohmann::json() : nlohmann::json::parse(stats[0])}};
  RETURN_IF_ERROR(WriteResultsFile(config, r));
  return r;
}

}  // namespace ecps::launch
