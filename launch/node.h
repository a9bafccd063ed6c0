// One process of a multi-process job: the scheduler, a parameter server or a
// worker, over ZeroMQ (cluster.transport: tcp, or ipc on one host).
//
// Two ways to start the processes:
//   - mpirun: `mpirun -np N ecps train ...`. Roles come from the world rank
//     (0 = scheduler, 1..S = servers, the remaining N-1-S = workers); the
//     scheduler binds tcp://<cluster.host>:0 and its endpoint reaches the
//     other ranks by one MPI broadcast. The workers also sum their dense
//     gradients with MPI_Allreduce (cluster.allreduce: auto or mpi); every
//     other collective goes through the scheduler.
//   - by hand (e.g. loopback TCP on one machine): `ecps train --role
//     scheduler --scheduler tcp://127.0.0.1:PORT`, then `--role server
//     --rank s` and `--role worker --rank w` with the same --scheduler.
// Every other endpoint is exchanged through the scheduler at registration.
//
// A node that the scheduler aborts (another node died, a worker failed) or
// that loses the scheduler logs the reason and exits the process with status
// 1, like MPI_Abort: blocked pulls or collectives cannot be cancelled.
//
// This file and mpi_launch.cc are the only places that read the MPI
// environment (style.md rule 10).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "comm/collective.h"
#include "launch/cluster_config.h"
#include "worker/data/dataset.h"
#include "worker/train_config.h"

namespace ecps::launch {

enum class Role { kScheduler, kServer, kWorker };
StatusOr<Role> ParseRole(const std::string& name);
const char* RoleName(Role role);

struct NodeSpec {
  Role role = Role::kWorker;
  int rank = 0;           // index within the role (servers, workers)
  std::string scheduler;  // the scheduler's control endpoint (it binds it)
  // The job's token (comm/job_token.h), the same for every process of the
  // job: set on every transport this process opens. RunNode() fills it from
  // the environment (JobTokenFromEnvironment); under mpirun rank 0's reaches
  // every rank with the scheduler's endpoint.
  std::string job_token;
  // A worker under mpirun with cluster.allreduce mpi/auto: the workers' MPI
  // communicator, which sums the dense gradients (everything else the
  // workers do together still goes through the scheduler). Not owned.
  comm::Collective* dense_sums = nullptr;
};

// Opens the training data. Called by the scheduler before it answers the
// registrations (so generated data is built once) and then by each worker.
using DataOpener = std::function<StatusOr<std::unique_ptr<Dataset>>()>;

// Runs this process's role. The scheduler returns the job's results (worker
// 0's results plus a "cluster" object); servers and workers return null.
// Errors: for the scheduler, Aborted naming the failed node.
StatusOr<nlohmann::json> RunNode(const TrainConfig& config, const ClusterShape& shape,
                                 const NodeSpec& spec, const DataOpener& open_data, bool resume);

// True when this process was started by mpirun (Open MPI or a PMI launcher).
bool LaunchedByMpirun();

// The job token the launcher handed this process: ECPS_JOB_TOKEN, or the
// contents of the file that ECPS_JOB_TOKEN_FILE names (docs/security.md);
// "" when neither is set. Errors: both set, an unreadable file, a token
// comm::CheckJobToken refuses (too short, ...).
StatusOr<std::string> JobTokenFromEnvironment();

// Initialises MPI, takes the role from the world rank (the number of workers
// is N - 1 - shape.servers), broadcasts the scheduler's endpoint, runs the
// role and finalises MPI. Returns what RunNode returns.
StatusOr<nlohmann::json> RunUnderMpirun(const TrainConfig& config, ClusterShape shape,
                                        const DataOpener& open_data, bool resume);

}  // namespace ecps::launch
