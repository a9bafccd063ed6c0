// A whole parameter-server cluster's data plane in one process: S servers
// and the endpoints of W workers, every worker connected to every server as
// in a real cluster. The one wiring that `ecps train --simulate`
// (launch/simulate.cc), bench/ps_bench.cc and the ps tests run on.
//
// Node ids are a real cluster's (launch/cluster_config.h ServerNode,
// WorkerNode): server s is node 1 + s, worker w node 1 + S + w (node 0, the
// scheduler, has no endpoint here).
//
// Thread-safety: the accessors from any thread; Stop() once no worker calls
// any more.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "comm/rpc.h"
#include "comm/transport.h"
#include "common/status.h"
#include "ps/client.h"
#include "ps/server.h"

namespace ecps::ps {

struct InProcClusterOptions {
  int servers = 1;
  int workers = 1;
  // Every server's options; server s gets rank s. shards.num_servers must be
  // `servers` and num_workers `workers`.
  ServerOptions server;
  // "inproc": queues between threads (comm/transport.h); "tcp": ZeroMQ over
  // 127.0.0.1 on free ports (what a network adds, for benchmarks).
  std::string transport = "inproc";
  // What every transport of the cluster accepts and sends at most
  // (comm/message.h): --simulate passes cluster.max_message_mb's, as every
  // process of a real cluster has.
  comm::DecodeLimits limits;
};

class InProcCluster {
 public:
  // Binds and connects every endpoint, starts the servers and the workers'
  // Rpcs. Errors: InvalidArgument for inconsistent options, and the
  // transports' Bind/Connect errors.
  static StatusOr<std::unique_ptr<InProcCluster>> Start(const InProcClusterOptions& options);
  ~InProcCluster();  // Stop()
  InProcCluster(const InProcCluster&) = delete;
  InProcCluster& operator=(const InProcCluster&) = delete;

  // Stops the workers' Rpcs (pending calls fail), then the servers.
  // Idempotent.
  void Stop();

  int num_servers() const { return opt_.servers; }
  int num_workers() const { return opt_.workers; }
  static int ServerNode(int s) { return 1 + s; }
  int WorkerNode(int w) const { return 1 + opt_.servers + w; }
  // ServerNode(s) for s in [0, S): ClientOptions::servers.
  const std::vector<int>& server_nodes() const { return server_nodes_; }

  Server& server(int s) { return *servers_[s]; }
  // Worker w's request/reply endpoint (node WorkerNode(w), started, no
  // callback: a client's data plane).
  comm::Rpc& rpc(int w) { return *rpcs_[w]; }
  // A client for worker w: `options` with worker = w and servers =
  // server_nodes(). It must be destroyed before this cluster.
  std::unique_ptr<Client> NewClient(int w, ClientOptions options);

  // Bytes sent by the workers' transports (pull requests, pushes, ...) and by
  // the servers' (replies, acknowledgements, checkpoint blobs).
  uint64_t worker_bytes() const;
  uint64_t server_bytes() const;

 private:
  explicit InProcCluster(const InProcClusterOptions& options) : opt_(options) {}

  const InProcClusterOptions opt_;
  comm::InProcHub hub_;  // outlives every transport (declared first)
  std::vector<std::unique_ptr<comm::Transport>> server_transports_, worker_transports_;
  std::vector<std::unique_ptr<Server>> servers_;
  std::vector<std::unique_ptr<comm::Rpc>> rpcs_;
  std::vector<int> server_nodes_;
  bool stopped_ = false;
};

}  // namespace ecps::ps
