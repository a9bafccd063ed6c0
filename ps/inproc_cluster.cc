#include "ps/inproc_cluster.h"

#include "absl/strings/str_cat.h"
#include "comm/job_token.h"

namespace ecps::ps {

StatusOr<std::unique_ptr<InProcCluster>> InProcCluster::Start(const InProcClusterOptions& options) {
  const int S = options.servers, W = options.workers;
  if (S < 1 || W < 1)
    return InvalidArgument("an in-process cluster needs >= 1 server and worker, got ", S, " and ",
                           W);
  if (options.server.shards.num_servers != S || options.server.num_workers != W)
    return InvalidArgument("server options for ", options.server.shards.num_servers,
                           " servers and ", options.server.num_workers, " workers in a cluster of ",
                           S, " and ", W);
  const bool tcp = options.transport == "tcp";
  if (!tcp && options.transport != "inproc")
    return InvalidArgument("transport '", options.transport, "' is not inproc or tcp");
  std::unique_ptr<InProcCluster> c(new InProcCluster(options));
  // A token of its own, as a job of processes has: over tcp other local
  // processes can reach the ports.
  const std::string token = comm::NewJobToken();
  auto bind = [&](const std::string& name)
      -> StatusOr<std::pair<std::unique_ptr<comm::Transport>, std::string>> {
    std::unique_ptr<comm::Transport> t =
        tcp ? comm::NewZmqTransport() : comm::NewInProcTransport(&c->hub_);
    t->set_job_token(token);
    t->set_decode_limits(options.limits);
    ASSIGN_OR_RETURN(std::string ep, t->Bind(tcp ? "tcp://127.0.0.1:0" : "inproc://" + name));
    return std::make_pair(std::move(t), std::move(ep));
  };
  std::vector<std::string> server_eps(S), worker_eps(W);
  for (int s = 0; s < S; ++s) {
    ASSIGN_OR_RETURN(auto t, bind(absl::StrCat("server", s)));
    c->server_transports_.push_back(std::move(t.first));
    server_eps[s] = std::move(t.second);
    c->server_nodes_.push_back(ServerNode(s));
  }
  for (int w = 0; w < W; ++w) {
    ASSIGN_OR_RETURN(auto t, bind(absl::StrCat("worker", w)));
    c->worker_transports_.push_back(std::move(t.first));
    worker_eps[w] = std::move(t.second);
  }
  for (int s = 0; s < S; ++s)
    for (int w = 0; w < W; ++w) {
      RETURN_IF_ERROR(c->server_transports_[s]->Connect(c->WorkerNode(w), worker_eps[w]));
      RETURN_IF_ERROR(c->worker_transports_[w]->Connect(ServerNode(s), server_eps[s]));
    }
  for (int s = 0; s < S; ++s) {
    ServerOptions o = options.server;
    o.rank = s;
    c->servers_.push_back(
        std::make_unique<Server>(o, c->server_transports_[s].get(), ServerNode(s)));
    c->servers_.back()->Start();
  }
  for (int w = 0; w < W; ++w) {
    c->rpcs_.push_back(
        std::make_unique<comm::Rpc>(c->worker_transports_[w].get(), c->WorkerNode(w)));
    c->rpcs_.back()->Start();
  }
  return c;
}

InProcCluster::~InProcCluster() { Stop(); }

void InProcCluster::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& r : rpcs_) r->Stop();
  for (auto& s : servers_) s->Stop();
}

std::unique_ptr<Client> InProcCluster::NewClient(int w, ClientOptions options) {
  options.worker = w;
  options.servers = server_nodes_;
  return std::make_unique<Client>(std::move(options), rpcs_[w].get());
}

uint64_t InProcCluster::worker_bytes() const {
  uint64_t b = 0;
  for (const auto& t : worker_transports_) b += t->bytes_sent();
  return b;
}

uint64_t InProcCluster::server_bytes() const {
  uint64_t b = 0;
  for (const auto& t : server_transports_) b += t->bytes_sent();
  return b;
}

}  // namespace ecps::ps
