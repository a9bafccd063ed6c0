#include "launch/simulate.h"

#include <thread>

#include "comm/collective.h"
#include "comm/rpc.h"
#include "common/logging.h"
#include "launch/cluster_checkpoints.h"
#include "ps/client.h"
#include "ps/server.h"
#include "scheduler/coordinator.h"
#include "worker/trainer.h"

namespace ecps::launch {

StatusOr<nlohmann::json> RunSimulation(const TrainConfig& config, const Dataset* data,
                                       const ClusterShape& shape, bool resume,
                                       const SimulationHooks& hooks) {
  ASSIGN_OR_RETURN(SparseOptimizerConfig sparse, ServerOptimizerFromConfig(config));
  comm::InProcHub hub;
  const int S = shape.servers, W = shape.workers;
  auto ep = [](const char* role, int i) { return absl::StrCat("inproc://", role, i); };
  std::vector<std::unique_ptr<comm::Transport>> st(S), wt(W);
  for (int s = 0; s < S; ++s) {
    st[s] = comm::NewInProcTransport(&hub);
    RETURN_IF_ERROR(st[s]->Bind(ep("server", s)).status());
  }
  for (int w = 0; w < W; ++w) {
    wt[w] = comm::NewInProcTransport(&hub);
    RETURN_IF_ERROR(wt[w]->Bind(ep("worker", w)).status());
  }
  std::vector<int> server_nodes;
  for (int s = 0; s < S; ++s) {
    server_nodes.push_back(ServerNode(s));
    for (int w = 0; w < W; ++w) {
      RETURN_IF_ERROR(st[s]->Connect(WorkerNode(shape, w), ep("worker", w)));
      RETURN_IF_ERROR(wt[w]->Connect(ServerNode(s), ep("server", s)));
    }
  }
  std::vector<std::unique_ptr<ps::Server>> servers;
  for (int s = 0; s < S; ++s) {
    servers.push_back(std::make_unique<ps::Server>(ServerOptionsFor(shape, s, sparse), st[s].get(),
                                                   ServerNode(s)));
    servers.back()->Start();
  }
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
      comm::Rpc rpc(wt[w].get(), WorkerNode(shape, w));
      rpc.Start();
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
      env.make_store = [&](const SparseOptimizerConfig& opt) {
        auto c = std::make_unique<ps::Client>(ClientOptionsFor(shape, w, server_nodes, opt), &rpc);
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
      rpc.Stop();
    });
  }
  for (auto& t : threads) t.join();
  for (auto& s : servers) s->Stop();
  for (int w = 0; w < W; ++w)
    if (!results[w].ok())
      return Annotate(results[w].status(), absl::StrCat("worker ", w, " (simulation)"));
  nlohmann::json r = std::move(*results[0]);
  uint64_t worker_bytes = 0, server_bytes = 0;
  for (auto& t : wt) worker_bytes += t->bytes_sent();
  for (auto& t : st) server_bytes += t->bytes_sent();
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
  return r;
}

}  // namespace ecps::launch
