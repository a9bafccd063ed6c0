// mpirun: roles from world ranks, the scheduler's endpoint by one broadcast.
#include <mpi.h>
#include <unistd.h>

#include <cstdlib>

#include "comm/job_token.h"
#include "comm/mpi_collective.h"
#include "common/logging.h"
#include "launch/node.h"
#include "launch/node_internal.h"

namespace ecps::launch {

bool LaunchedByMpirun() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(var) != nullptr) return true;
  return false;
}

namespace {

StatusOr<nlohmann::json> RunRank(const TrainConfig& config, ClusterShape shape, int rank, int size,
                                 const DataOpener& open_data, bool resume) {
  const int workers = size - 1 - shape.servers;
  if (workers < 1)
    return InvalidArgument("mpirun -np ", size, " with cluster.servers=", shape.servers,
                           " leaves no worker: -np must be at least servers + 2");
  if (workers != shape.workers && rank == 0)
    ECPS_LOG_INFO("mpirun -np {}: 1 scheduler, {} servers, {} workers (cluster.workers={} ignored)",
                  size, shape.servers, workers, shape.workers);
  shape.workers = workers;
  if (config.params.GetInt("train.batch_size") % workers != 0)
    return InvalidArgument("config key 'train.batch_size' (",
                           config.params.GetInt("train.batch_size"), ") must be divisible by the ",
                           workers, " workers of mpirun -np ", size);
  ASSIGN_OR_RETURN(auto world, comm::NewMpiCollective(0));
  std::string endpoint;
  // The job token: rank 0 takes the launcher's (mpirun -x ECPS_JOB_TOKEN) or
  // makes one, and MPI hands it to every rank with the endpoint; nothing
  // outside the job sees either.
  std::string token;
  std::unique_ptr<comm::Transport> control;
  if (rank == 0) {
    ASSIGN_OR_RETURN(token, JobTokenFromEnvironment());
    if (token.empty()) token = comm::NewJobToken();
    control = NewJobTransport(shape, token);
    const std::string bind = shape.transport == "ipc"
                                 ? absl::StrCat("ipc:///tmp/ecps.", ::getpid(), ".scheduler")
                                 : absl::StrCat("tcp://", shape.host, ":0");
    ASSIGN_OR_RETURN(endpoint, control->Bind(bind));
  }
  RETURN_IF_ERROR(Annotate(world->Broadcast(&endpoint, 0), "broadcasting the scheduler endpoint"));
  RETURN_IF_ERROR(Annotate(world->Broadcast(&token, 0), "broadcasting the job token"));
  world.reset();
  // The workers' own communicator for the dense all-reduce: every world rank
  // takes part in the split, only the workers keep theirs.
  const bool worker = rank > shape.servers;
  std::unique_ptr<comm::Collective> dense_sums;
  if (shape.allreduce != "scheduler") {
    ASSIGN_OR_RETURN(dense_sums, comm::NewMpiCollective(worker ? 1 : 0));
    if (!worker) dense_sums.reset();
  }
  if (rank == 0)
    return internal::RunScheduler(config, shape, control.get(), open_data, "mpirun", token);
  NodeSpec spec;
  spec.scheduler = endpoint;
  spec.job_token = token;
  spec.dense_sums = dense_sums.get();
  if (rank <= shape.servers) {
    spec.role = Role::kServer;
    spec.rank = rank - 1;
  } else {
    spec.role = Role::kWorker;
    spec.rank = rank - 1 - shape.servers;
  }
  return internal::RunRole(config, shape, spec, open_data, resume);
}

}  // namespace

StatusOr<nlohmann::json> RunUnderMpirun(const TrainConfig& config, ClusterShape shape,
                                        const DataOpener& open_data, bool resume) {
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    return IoError("MPI_Init_thread failed");
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  StatusOr<nlohmann::json> r = RunRank(config, shape, rank, size, open_data, resume);
  // On failure the peers may be gone; MPI_Finalize could wait for them, so
  // the process leaves without it (mpirun reports the non-zero exit).
  if (r.ok()) MPI_Finalize();
  return r;
}

}  // namespace ecps::launch
