#include "launch/node.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "comm/job_token.h"
#include "comm/rpc.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "launch/cluster_checkpoints.h"
#include "launch/node_internal.h"
#include "ps/client.h"
#include "ps/server.h"
#include "scheduler/node_agent.h"
#include "scheduler/scheduler.h"
#include "worker/git_commit.h"  // generated: ECPS_GIT_COMMIT
#include "worker/trainer.h"

namespace ecps::launch {
namespace {

// What a node does when the job must stop: there is no way to cancel a pull
// or a collective blocked on a dead peer, so the process ends here.
[[noreturn]] void ExitOnAbort(const std::string& who, const std::string& why) {
  std::fprintf(stderr, "ecps train (%s): %s\n", who.c_str(), why.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  std::_Exit(1);
}

std::string LocalEndpoint(const ClusterShape& shape, const std::string& what) {
  if (shape.transport == "ipc") return absl::StrCat("ipc:///tmp/ecps.", ::getpid(), ".", what);
  return absl::StrCat("tcp://", shape.host, ":0");
}

// output.dir as this process sees it, absolute (the scheduler's check that
// every process sees the same directory names it in its error).
std::string OutputDir(const TrainConfig& config) {
  return std::filesystem::absolute(config.params.GetString("output.dir"))
      .lexically_normal()
      .string();
}

// What every process of the job must agree on: the effective configuration
// (the method's parameters included, as TrainConfig::ToYaml lists them)
// without the per-process keys, and the build.
scheduler::JobIdentity IdentityOf(const TrainConfig& config) {
  std::map<std::string, std::string> flat = config.params.EffectiveValues();
  if (config.method_params.schema() != nullptr)
    for (const auto& [k, v] : config.method_params.EffectiveValues())
      flat["embedding.params." + k] = v;
  scheduler::JobIdentity id;
  const std::string build = ECPS_GIT_COMMIT;
  if (build != "unknown") id.build = build;
  for (auto& [k, v] : flat)
    if (!scheduler::ProcessLocalKey(k)) id.config.emplace(k, std::move(v));
  return id;
}

scheduler::NodeAgentOptions AgentOptions(const TrainConfig& config, const ClusterShape& shape,
                                         const std::string& role, int rank) {
  scheduler::NodeAgentOptions o;
  o.shared_dir = OutputDir(config);
  o.role = role;
  o.rank = rank;
  o.num_servers = shape.servers;
  o.num_workers = shape.workers;
  o.heartbeat_interval_ms = shape.heartbeat_interval_ms;
  o.heartbeat_timeout_ms = shape.heartbeat_timeout_ms;
  o.register_timeout_ms = shape.register_timeout_ms;
  o.identity = IdentityOf(config);
  return o;
}

// How often a registering server or worker says that it still waits.
constexpr int kRegisterNoticeMs = 5000;

// Registers with the scheduler, saying every kRegisterNoticeMs that this
// process still waits: ZeroMQ connects lazily and retries by itself, so a
// wrong --scheduler address and a job whose other processes are still
// starting look alike from here, and both used to be silent for the whole
// cluster.register_timeout_ms.
StatusOr<std::vector<scheduler::NodeAddress>> RegisterSaying(scheduler::NodeAgent& agent,
                                                             const std::string& who,
                                                             const ClusterShape& shape,
                                                             const NodeSpec& spec,
                                                             const std::string& data_ep) {
  Mutex mu;
  CondVar cv;
  bool done = false;  // guarded by mu (a local: no annotation)
  std::thread notice([&] {
    const auto start = CondVar::Clock::now();
    MutexLock l(&mu);
    for (int n = 1; !done; ++n) {
      const auto at = start + std::chrono::milliseconds(int64_t{kRegisterNoticeMs} * n);
      while (!done && !cv.WaitUntil(&mu, at)) {
      }
      if (done) break;
      ECPS_LOG_WARN(
          "{}: no answer yet from the scheduler at {} after {} s (it answers once all {} "
          "servers and {} workers registered; if it never does, check --scheduler); giving up "
          "after {} s (cluster.register_timeout_ms)",
          who, spec.scheduler, int64_t{kRegisterNoticeMs} * n / 1000, shape.servers, shape.workers,
          shape.register_timeout_ms / 1000);
    }
  });
  StatusOr<std::vector<scheduler::NodeAddress>> nodes = agent.Register(spec.scheduler, data_ep);
  {
    MutexLock l(&mu);
    done = true;
  }
  cv.SignalAll();
  notice.join();
  if (nodes.status().code() == absl::StatusCode::kDeadlineExceeded)
    return absl::DeadlineExceededError(absl::StrCat(
        who, ": the scheduler at ", spec.scheduler, " did not answer within ",
        shape.register_timeout_ms,
        " ms (cluster.register_timeout_ms): is --scheduler its address, and did every server "
        "and worker start? (",
        nodes.status().message(), ")"));
  return nodes;
}

Status NoJobToken() {
  return FailedPrecondition(
      "processes started with --role authenticate their messages with a job token that "
      "every process of the job must be given: export ECPS_JOB_TOKEN=<16 or more "
      "characters> (e.g. $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n')) or "
      "ECPS_JOB_TOKEN_FILE=<a file holding it> for the scheduler, every server and every "
      "worker (docs/security.md)");
}

Status RunServer(const TrainConfig& config, const ClusterShape& shape, const NodeSpec& spec) {
  ASSIGN_OR_RETURN(SparseOptimizerConfig sparse, ServerOptimizerFromConfig(config));
  auto data = NewJobTransport(shape, spec.job_token);
  auto control = NewJobTransport(shape, spec.job_token);
  ASSIGN_OR_RETURN(std::string data_ep, data->Bind(LocalEndpoint(shape, "data")));
  ASSIGN_OR_RETURN(std::string control_ep, control->Bind(LocalEndpoint(shape, "control")));
  const std::string who = absl::StrCat("server ", spec.rank);
  scheduler::NodeAgent agent(
      AgentOptions(config, shape, "server", spec.rank), control.get(), control_ep,
      [who](const std::string& why) { ExitOnAbort(who, why); },
      [&] { return data->bytes_sent() + control->bytes_sent(); });
  ASSIGN_OR_RETURN(auto nodes, RegisterSaying(agent, who, shape, spec, data_ep));
  for (const auto& n : nodes)
    if (n.role == "worker") RETURN_IF_ERROR(data->Connect(n.node, n.data));
  ps::Server server(ServerOptionsFor(shape, spec.rank, sparse), data.get(), agent.node());
  server.Start();
  // Its tables' bytes and hottest rows go with every heartbeat (ecps status --scheduler).
  agent.SetStatusReporter([&server] { return server.StatsJson(); });
  ECPS_LOG_INFO("{} (node {}) serving at {}", who, agent.node(), data_ep);
  agent.WaitForShutdown();
  agent.SetStatusReporter(nullptr);  // before `server` goes
  server.Stop();
  return OkStatus();
}

Status RunWorker(const TrainConfig& config, const ClusterShape& shape, const NodeSpec& spec,
                 const DataOpener& open_data, bool resume) {
  auto data_transport = NewJobTransport(shape, spec.job_token);
  auto control = NewJobTransport(shape, spec.job_token);
  ASSIGN_OR_RETURN(std::string data_ep, data_transport->Bind(LocalEndpoint(shape, "data")));
  ASSIGN_OR_RETURN(std::string control_ep, control->Bind(LocalEndpoint(shape, "control")));
  const std::string who = absl::StrCat("worker ", spec.rank);
  std::atomic<uint64_t> mpi_bytes{0};  // the dense all-reduce's, when MPI does it
  // The trainer's last position (TrainerEnv::on_progress), reported with
  // every heartbeat (ecps status --scheduler); outlives the agent.
  Mutex progress_mu;
  std::string progress;  // guarded by progress_mu (a local: no annotation)
  scheduler::NodeAgent agent(
      AgentOptions(config, shape, "worker", spec.rank), control.get(), control_ep,
      [who](const std::string& why) { ExitOnAbort(who, why); },
      [&] { return data_transport->bytes_sent() + control->bytes_sent() + mpi_bytes.load(); });
  agent.SetStatusReporter([&] {
    MutexLock l(&progress_mu);
    return progress;
  });
  ASSIGN_OR_RETURN(auto nodes, RegisterSaying(agent, who, shape, spec, data_ep));
  std::vector<int> server_nodes(shape.servers);
  for (const auto& n : nodes) {
    if (n.role != "server") continue;
    RETURN_IF_ERROR(data_transport->Connect(n.node, n.data));
    server_nodes[n.rank] = n.node;
  }
  StatusOr<nlohmann::json> results = [&]() -> StatusOr<nlohmann::json> {
    ASSIGN_OR_RETURN(std::unique_ptr<Dataset> data, open_data());
    comm::Rpc rpc(data_transport.get(), agent.node());
    rpc.Start();
    auto via_scheduler = agent.WorkerCollective();
    comm::Collective* collective = via_scheduler.get();
    std::unique_ptr<comm::Collective> mixed;
    if (spec.dense_sums != nullptr) {
      mixed = comm::SumsThrough(via_scheduler.get(), spec.dense_sums, &mpi_bytes);
      collective = mixed.get();
    }
    ps::Client* client = nullptr;
    TrainerEnv env;
    env.workers = shape.workers > 1 ? collective : nullptr;
    // The servers write their shards, this worker (rank 0) the dense part,
    // and the scheduler commits the manifest.
    ClusterCheckpoints checkpoints(
        config.params.GetString("output.dir"), shape, config.ToYaml(),
        [&](const std::string& request) { return agent.CommitCheckpoint(request); });
    env.checkpoints = &checkpoints;
    env.prefetch = shape.prefetch != ps::PrefetchMode::kOff;
    // The scheduler adds the cluster's fields (network bytes, coordinator
    // decisions) and writes output.results, so the file equals --json.
    env.launcher_writes_results = true;
    env.on_progress = [&](const nlohmann::json& j) {
      std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      MutexLock l(&progress_mu);
      progress = std::move(text);
    };
    env.make_store = [&](const SparseOptimizerConfig& opt) {
      auto c =
          std::make_unique<ps::Client>(ClientOptionsFor(shape, spec.rank, server_nodes, opt), &rpc);
      client = c.get();
      checkpoints.set_client(client);
      return c;
    };
    ASSIGN_OR_RETURN(auto trainer, Trainer::Create(config, data.get(), std::move(env)));
    ASSIGN_OR_RETURN(nlohmann::json r, trainer->Run(resume));
    if (spec.rank == 0 && client != nullptr) {
      auto stats = client->ServerStats();
      if (stats.ok()) r["servers_stats"] = nlohmann::json::parse(*stats);
      r["prefetch_hits"] = client->prefetch_hits();
    }
    return r;
  }();
  if (!results.ok()) {
    agent.Failed(results.status());
    return Annotate(results.status(), who);
  }
  return agent.Done(spec.rank == 0 ? results->dump() : std::string());
}

}  // namespace

namespace internal {

StatusOr<nlohmann::json> RunScheduler(const TrainConfig& config, const ClusterShape& shape,
                                      comm::Transport* control, const DataOpener& open_data,
                                      const std::string& mode, const std::string& job_token) {
  // The job owns output.dir from here until its results are in: another job
  // there would mix checkpoints and results. The other processes of this job
  // write into it too; they are the scheduler's (the shared-directory check).
  ASSIGN_OR_RETURN(auto output_lock, OutputDirLock::Acquire(OutputDir(config)));
  if (job_token.empty()) return NoJobToken();
  // Build (or just open) the data before any worker gets going, so generated
  // data is written once, not raced by every worker.
  {
    ASSIGN_OR_RETURN(auto data, open_data());
    (void)data;
  }
  scheduler::SchedulerOptions o;
  o.num_servers = shape.servers;
  o.num_workers = shape.workers;
  o.heartbeat_timeout_ms = shape.heartbeat_timeout_ms;
  // Every process writes into output.dir (shards, the dense part, manifests):
  // check before the job starts that they all see one directory.
  o.shared_dir = OutputDir(config);
  // One job, one configuration: every node's must equal this one.
  o.identity = IdentityOf(config);
  scheduler::Scheduler sched(o, control);
  ASSIGN_OR_RETURN(scheduler::JobResult job, sched.Run());
  nlohmann::json r;
  try {
    r = nlohmann::json::parse(job.results);
  } catch (const std::exception& e) {
    return DataLoss("worker 0's results are unreadable: ", e.what());
  }
  nlohmann::json stats = r.contains("servers_stats") ? r["servers_stats"] : nlohmann::json();
  r.erase("servers_stats");
  const uint64_t prefetch_hits = r.value("prefetch_hits", uint64_t{0});
  r.erase("prefetch_hits");
  // Every byte that crossed the transport (pulls, pushes, collectives,
  // evaluation) over the training samples: the cost of the parameter server.
  const double trained = r.value("steps", 0.0) * r.value("batch_size", 0.0);
  r["network_bytes_per_sample"] =
      trained > 0 ? static_cast<double>(job.network_bytes) / trained : 0.0;
  r["cluster"] = {
      {"mode", mode},
      {"allreduce", mode == "mpirun" && shape.allreduce != "scheduler" ? "mpi" : "scheduler"},
      {"consistency", config.params.GetString("cluster.consistency")},
      {"servers", shape.servers},
      {"workers", shape.workers},
      {"virtual_shards", shape.virtual_shards},
      {"transport", shape.transport},
      {"network_bytes", job.network_bytes},
      {"scheduler_rejected_messages", job.rejected_messages},
      {"prefetch", {{"mode", PrefetchName(shape.prefetch)}, {"hits", prefetch_hits}}},
      {"coordinator",
       {{"checkpoints", job.checkpoints_committed},
        {"evaluations", job.evaluations_decided},
        {"stages", job.stage_decisions}}},
      {"servers_stats", stats}};
  RETURN_IF_ERROR(WriteResultsFile(config, r));
  return r;
}

StatusOr<nlohmann::json> RunRole(const TrainConfig& config, const ClusterShape& shape,
                                 const NodeSpec& spec, const DataOpener& open_data, bool resume) {
  switch (spec.role) {
    case Role::kServer:
      RETURN_IF_ERROR(RunServer(config, shape, spec));
      return nlohmann::json();
    case Role::kWorker:
      RETURN_IF_ERROR(RunWorker(config, shape, spec, open_data, resume));
      return nlohmann::json();
    case Role::kScheduler:
      break;
  }
  return InvalidArgument("RunRole: the scheduler is started with RunScheduler");
}

}  // namespace internal

StatusOr<Role> ParseRole(const std::string& name) {
  if (name == "scheduler") return Role::kScheduler;
  if (name == "server") return Role::kServer;
  if (name == "worker") return Role::kWorker;
  return InvalidArgument("--role '", name, "' is not one of scheduler|server|worker");
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kScheduler:
      return "scheduler";
    case Role::kServer:
      return "server";
    case Role::kWorker:
      return "worker";
  }
  return "?";
}

StatusOr<nlohmann::json> RunNode(const TrainConfig& config, const ClusterShape& shape,
                                 const NodeSpec& spec, const DataOpener& open_data, bool resume) {
  if (spec.scheduler.empty())
    return InvalidArgument(
        "--scheduler ENDPOINT (e.g. tcp://127.0.0.1:7000) is required with --role");
  if (shape.allreduce == "mpi")
    return InvalidArgument(config.origin,
                           ": config key 'cluster.allreduce' is 'mpi', which needs mpirun; "
                           "processes started with --role sum through the scheduler ('auto' or "
                           "'scheduler')");
  const int count = spec.role == Role::kServer ? shape.servers : shape.workers;
  if (spec.role != Role::kScheduler && (spec.rank < 0 || spec.rank >= count))
    return InvalidArgument("--rank ", spec.rank, " outside [0, ", count, ") for role ",
                           RoleName(spec.role));
  NodeSpec with_token = spec;
  ASSIGN_OR_RETURN(with_token.job_token, JobTokenFromEnvironment());
  // The scheduler refuses a missing token in RunScheduler, once it holds
  // output.dir (a second job there is told whose it is first).
  if (spec.role != Role::kScheduler && with_token.job_token.empty()) return NoJobToken();
  if (spec.role == Role::kScheduler) {
    auto control = NewJobTransport(shape, with_token.job_token);
    ASSIGN_OR_RETURN(std::string ep, control->Bind(spec.scheduler));
    ECPS_LOG_INFO("scheduler listening at {} for {} servers and {} workers", ep, shape.servers,
                  shape.workers);
    return internal::RunScheduler(config, shape, control.get(), open_data, "processes",
                                  with_token.job_token);
  }
  return internal::RunRole(config, shape, with_token, open_data, resume);
}

StatusOr<std::string> JobTokenFromEnvironment() {
  const char* token = std::getenv("ECPS_JOB_TOKEN");
  const char* file = std::getenv("ECPS_JOB_TOKEN_FILE");
  if (token != nullptr && file != nullptr)
    return InvalidArgument(
        "both ECPS_JOB_TOKEN and ECPS_JOB_TOKEN_FILE are set: give the job token one way");
  if (token != nullptr) return comm::CheckJobToken(token, "ECPS_JOB_TOKEN");
  if (file == nullptr) return std::string();
  StatusOr<std::string> contents = ReadFile(file);
  if (!contents.ok()) return Annotate(contents.status(), "ECPS_JOB_TOKEN_FILE");
  return comm::CheckJobToken(*contents,
                             absl::StrCat("the file ", file, " named by ECPS_JOB_TOKEN_FILE"));
}

}  // namespace ecps::launch
