// The scheduler and its node agents in one process over the in-process
// transport: registration and endpoint exchange, collectives rooted at the
// scheduler (rank-order sums), completion and shutdown, a node that stops
// heartbeating, bad registrations, heartbeats answered during an evaluation,
// the startup check that every node sees the scheduler's output.dir.
#include "scheduler/scheduler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "common/evaluation.h"
#include "common/file_util.h"
#include "scheduler/node_agent.h"
#include "scheduler/shared_dir_probe.h"

namespace ecps::scheduler {
namespace {

struct Cluster {
  // Declared first, destroyed last: the agents' abort callbacks write them
  // from the agents' threads until ~NodeAgent joins those.
  std::mutex mu;
  std::string last_abort;
  std::atomic<int> aborts{0};
  comm::InProcHub hub;
  std::unique_ptr<comm::Transport> sched_transport;
  std::vector<std::unique_ptr<comm::Transport>> transports;
  std::vector<std::unique_ptr<NodeAgent>> agents;

  explicit Cluster() {
    sched_transport = comm::NewInProcTransport(&hub);
    EXPECT_TRUE(sched_transport->Bind("inproc://sched").ok());
  }
  NodeAgent* Add(const std::string& role, int rank, int servers, int workers,
                 const std::string& shared_dir = "", const JobIdentity& identity = {}) {
    transports.push_back(comm::NewInProcTransport(&hub));
    const std::string ep = "inproc://" + role + std::to_string(rank);
    EXPECT_TRUE(transports.back()->Bind(ep).ok());
    NodeAgentOptions o;
    o.role = role;
    o.rank = rank;
    o.num_servers = servers;
    o.num_workers = workers;
    o.heartbeat_interval_ms = 20;
    o.heartbeat_timeout_ms = 400;
    o.register_timeout_ms = 3000;
    o.shared_dir = shared_dir;
    o.identity = identity;
    agents.push_back(std::make_unique<NodeAgent>(
        o, transports.back().get(), ep,
        [this](const std::string& why) {
          std::lock_guard<std::mutex> l(mu);
          last_abort = why;
          ++aborts;
        },
        [] { return uint64_t{100}; }));
    return agents.back().get();
  }
  // Registers 1 server (agents[0]) and 1 worker (agents[1]) with a scheduler
  // already running; returns once both have the endpoint table.
  void RegisterOneServerOneWorker() {
    NodeAgent* server = Add("server", 0, 1, 1);
    NodeAgent* worker = Add("worker", 0, 1, 1);
    std::thread a([&] { ASSERT_TRUE(server->Register("inproc://sched", "d0").ok()); });
    ASSERT_TRUE(worker->Register("inproc://sched", "d1").ok());
    a.join();
  }
};

SchedulerOptions Options(int servers, int workers) {
  SchedulerOptions o;
  o.num_servers = servers;
  o.num_workers = workers;
  o.heartbeat_timeout_ms = 400;
  o.register_timeout_ms = 5000;
  return o;
}

JobIdentity Identity(const std::string& lr, const std::string& build = "abc123") {
  JobIdentity id;
  id.build = build;
  id.config = {{"embedding.dim", "16"}, {"optimizer.lr", lr}, {"train.batch_size", "128"}};
  return id;
}

// Issue 14 item 4: a worker started with another optimizer.lr silently
// changed the result. The job is refused once everyone registered, before
// any node is released, naming the node, its host and the first differing
// key, and every node's registration fails with that message.
TEST(SchedulerTest, NodeWithAnotherConfigurationIsRefusedBeforeTheJobStarts) {
  Cluster c;
  SchedulerOptions o = Options(1, 2);
  o.identity = Identity("0.003");
  Scheduler sched(o, c.sched_transport.get());
  StatusOr<JobResult> job = absl::UnknownError("not run");
  std::thread st([&] { job = sched.Run(); });
  NodeAgent* server = c.Add("server", 0, 1, 2, "", Identity("0.003"));
  NodeAgent* w0 = c.Add("worker", 0, 1, 2, "", Identity("0.003"));
  NodeAgent* w1 = c.Add("worker", 1, 1, 2, "", Identity("0.01"));
  std::vector<Status> got(3);
  std::vector<std::thread> t;
  const std::vector<NodeAgent*> agents = {server, w0, w1};
  for (size_t i = 0; i < agents.size(); ++i)
    t.emplace_back([&, i] { got[i] = agents[i]->Register("inproc://sched", "d").status(); });
  for (auto& th : t) th.join();
  st.join();
  ASSERT_FALSE(job.ok());
  const std::string why(job.status().message());
  EXPECT_NE(why.find("node 3 (role worker, rank 1) on host"), std::string::npos) << why;
  EXPECT_NE(why.find("config key 'optimizer.lr' is '0.01' there, '0.003' at the scheduler"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("before training started"), std::string::npos) << why;
  EXPECT_EQ(why.find("rank 0"), std::string::npos) << "agreeing nodes are not named: " << why;
  for (const Status& s : got) {
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("optimizer.lr"), std::string::npos) << s;
  }
}

TEST(JobIdentityTest, FirstDifferenceNamesTheFirstKeyInOrderAndCountsTheRest) {
  EXPECT_EQ(FirstDifference(Identity("0.1"), Identity("0.1")), "");
  JobIdentity other = Identity("0.2");
  other.config["embedding.dim"] = "32";
  other.config["zzz.extra"] = "1";
  EXPECT_EQ(FirstDifference(Identity("0.1"), other),
            "config key 'embedding.dim' is '32' there, '16' at the scheduler (3 keys differ)");
  EXPECT_EQ(FirstDifference(Identity("0.1", "abc"), Identity("0.1", "def")),
            "build def there, abc at the scheduler");
  EXPECT_EQ(FirstDifference(Identity("0.1", ""), Identity("0.1", "def")), "");  // unknown build
  EXPECT_EQ(Identity("0.1").Fingerprint(), Identity("0.1").Fingerprint());
  EXPECT_NE(Identity("0.1").Fingerprint(), Identity("0.2").Fingerprint());
  auto back = JobIdentity::FromJson(other.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->config, other.config);
  EXPECT_FALSE(JobIdentity::FromJson(nlohmann::json{{"build", 1}}).ok());
  EXPECT_TRUE(ProcessLocalKey("output.dir"));
  EXPECT_TRUE(ProcessLocalKey("cluster.host"));
  EXPECT_TRUE(ProcessLocalKey("cluster.register_timeout_ms"));
  EXPECT_FALSE(ProcessLocalKey("optimizer.lr"));
}

// Issue 14 item 6 at the scheduler: a forged abort and a forged worker
// "done" from a process without the job's token change nothing; the job runs
// to completion and reports what it dropped.
TEST(SchedulerTest, ForgedControlMessagesWithoutTheTokenAreCountedAndIgnored) {
  Cluster c;
  Scheduler sched(Options(1, 1), c.sched_transport.get());
  StatusOr<JobResult> job = absl::UnknownError("not run");
  std::thread st([&] { job = sched.Run(); });
  auto forger = comm::NewInProcTransport(&c.hub);
  ASSERT_TRUE(forger->Bind("inproc://forger").ok());
  forger->set_job_token("another-jobs-token-0123");
  ASSERT_TRUE(forger->Connect(0, "inproc://sched").ok());
  for (comm::MsgType type : {comm::MsgType::kAbort, comm::MsgType::kDone}) {
    comm::Message m;
    m.header.type = type;
    m.header.sender = 2;  // claims to be the worker
    m.header.arg = 1;     // a failed worker's kDone would stop the job
    m.header.text = "forged";
    ASSERT_TRUE(forger->Send(0, std::move(m)).ok());
  }
  c.RegisterOneServerOneWorker();
  std::thread server_thread([&] { c.agents[0]->WaitForShutdown(); });
  ASSERT_TRUE(c.agents[1]->Done("{\"test_auc\": 0.5}").ok());
  server_thread.join();
  st.join();
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->rejected_messages, 2u);
  EXPECT_EQ(c.aborts.load(), 0);
}

TEST(SchedulerTest, RegistersRunsCollectivesAndShutsDown) {
  Cluster c;
  Scheduler sched(Options(1, 2), c.sched_transport.get());
  StatusOr<JobResult> job = absl::UnknownError("not run");
  std::thread st([&] { job = sched.Run(); });
  NodeAgent* server = c.Add("server", 0, 1, 2);
  std::vector<NodeAgent*> workers = {c.Add("worker", 0, 1, 2), c.Add("worker", 1, 1, 2)};
  std::thread server_thread([&] {
    auto nodes = server->Register("inproc://sched", "inproc://server0.data");
    ASSERT_TRUE(nodes.ok()) << nodes.status();
    ASSERT_EQ(nodes->size(), 3u);
    server->WaitForShutdown();
  });
  std::vector<std::thread> wt;
  std::vector<std::vector<float>> sums(2);
  std::vector<std::vector<std::string>> gathered(2);
  std::vector<std::string> bcast(2), decisions(2);
  for (int w = 0; w < 2; ++w) {
    wt.emplace_back([&, w] {
      auto nodes = workers[w]->Register("inproc://sched", "inproc://data" + std::to_string(w));
      ASSERT_TRUE(nodes.ok()) << nodes.status();
      for (const auto& n : *nodes)
        if (n.role == "server") {
          EXPECT_EQ(n.data, "inproc://server0.data");
        }
      auto coll = workers[w]->WorkerCollective();
      EXPECT_EQ(coll->rank(), w);
      EXPECT_EQ(coll->size(), 2);
      sums[w] = {0.1f * (w + 1), 1e8f * (w == 0 ? 1 : -1), 1.0f};
      ASSERT_TRUE(coll->AllreduceSum(std::span<float>(sums[w])).ok());
      ASSERT_TRUE(coll->Allgather("part" + std::to_string(w), &gathered[w]).ok());
      bcast[w] = w == 1 ? "from one" : "";
      ASSERT_TRUE(coll->Broadcast(&bcast[w], 1).ok());
      ASSERT_TRUE(coll->Barrier().ok());
      // The scheduler's coordinator decides evaluations from every worker's share.
      EvalContribution mine;
      mine.track = true;
      mine.logits = {w == 0 ? 0.2f : 0.8f};
      mine.labels = {w == 0 ? 0.0f : 1.0f};
      ASSERT_TRUE(coll->Decide(EncodeEvalContribution(mine), &decisions[w]).ok());
      EXPECT_TRUE(workers[w]->Done(w == 0 ? "{\"test_auc\": 0.5}" : "").ok());
    });
  }
  for (auto& t : wt) t.join();
  server_thread.join();
  st.join();
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->results, "{\"test_auc\": 0.5}");
  EXPECT_EQ(job->network_bytes, 300u);  // 100 per node
  // Rank-order sum, identical on both ranks.
  const float expect0 = 0.1f + 0.2f;
  for (int w = 0; w < 2; ++w) {
    EXPECT_EQ(sums[w][0], expect0);
    EXPECT_EQ(sums[w][1], 0.0f);
    EXPECT_EQ(sums[w][2], 2.0f);
    EXPECT_EQ(gathered[w], (std::vector<std::string>{"part0", "part1"}));
    EXPECT_EQ(bcast[w], "from one");
    auto d = DecodeEvalDecision(decisions[w]);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->auc, 1.0);
    EXPECT_EQ(d->rows, 2u);
    EXPECT_TRUE(d->improved);
  }
  EXPECT_EQ(job->evaluations_decided, 1);
  EXPECT_EQ(c.aborts.load(), 0);
}

// A decision (an exact AUC over a large validation split) is computed off the
// scheduler's receive thread: while it runs, a heartbeat still gets its
// answer, and the decision reaches the worker afterwards. The server here is
// a bare Rpc, so the test sends that heartbeat itself and sees its reply.
TEST(SchedulerTest, HeartbeatsAreAnsweredWhileAnEvaluationIsComputed) {
  Cluster c;
  SchedulerOptions o = Options(1, 1);
  o.heartbeat_timeout_ms = 5000;  // the bare server sends no heartbeats of its own
  Scheduler sched(o, c.sched_transport.get());
  std::promise<void> deciding, release;
  std::shared_future<void> released = release.get_future().share();
  sched.TEST_SetBeforeDecide([&] {
    deciding.set_value();
    released.wait_for(std::chrono::seconds(10));  // bounded: a broken build must not hang
  });
  StatusOr<JobResult> job = absl::UnknownError("not run");
  std::thread st([&] { job = sched.Run(); });

  auto server_transport = comm::NewInProcTransport(&c.hub);
  ASSERT_TRUE(server_transport->Bind("inproc://bare_server").ok());
  ASSERT_TRUE(server_transport->Connect(0, "inproc://sched").ok());
  comm::Rpc* server_rpc = nullptr;
  comm::Rpc rpc(server_transport.get(), NodeId("server", 0, 1), [&](comm::Message m) {
    if (m.header.type == comm::MsgType::kShutdown)
      (void)server_rpc->Send(0, comm::MakeReply(m.header, comm::MsgType::kAck));
  });
  server_rpc = &rpc;
  rpc.Start();
  comm::Message reg;
  reg.header.type = comm::MsgType::kRegister;
  reg.header.text = R"({"role": "server", "rank": 0, "control": "inproc://bare_server",)"
                    R"( "data": "d0"})";
  auto registered = rpc.Call(0, std::move(reg));

  NodeAgent* worker = c.Add("worker", 0, 1, 1);
  std::atomic<bool> decided{false};
  std::string decision;
  std::thread wt([&] {
    ASSERT_TRUE(worker->Register("inproc://sched", "d1").ok());
    EvalContribution mine;
    mine.track = true;
    mine.logits = {0.2f, 0.8f};
    mine.labels = {0.0f, 1.0f};
    auto coll = worker->WorkerCollective();
    EXPECT_TRUE(coll->Decide(EncodeEvalContribution(mine), &decision).ok());
    decided = true;
    EXPECT_TRUE(worker->Done("{}").ok());
  });
  ASSERT_TRUE(rpc.Wait(registered, 5000, "registration").ok());

  // The evaluation is being computed (and held there by the hook) ...
  ASSERT_EQ(deciding.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  // ... and a heartbeat round trip completes meanwhile, before the decision.
  comm::Message hb;
  hb.header.type = comm::MsgType::kHeartbeat;
  auto ack = rpc.Call(0, std::move(hb));
  auto answered = rpc.Wait(ack, 2000, "heartbeat during an evaluation");
  EXPECT_TRUE(answered.ok()) << answered.status();
  if (answered.ok()) {
    EXPECT_EQ(answered->header.type, comm::MsgType::kAck);
  }
  EXPECT_FALSE(decided.load());
  release.set_value();

  wt.join();
  st.join();
  rpc.Stop();
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->evaluations_decided, 1);
  auto d = DecodeEvalDecision(decision);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->auc, 1.0);
  EXPECT_EQ(c.aborts.load(), 0);
}

TEST(SchedulerTest, SilentNodeStopsTheJobNamingIt) {
  Cluster c;
  Scheduler sched(Options(1, 1), c.sched_transport.get());
  StatusOr<JobResult> job = absl::UnknownError("not run");
  std::thread st([&] { job = sched.Run(); });
  c.RegisterOneServerOneWorker();
  const auto t0 = std::chrono::steady_clock::now();
  c.agents[0].reset();  // the server "dies": its heartbeats stop
  st.join();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kAborted);
  EXPECT_NE(job.status().message().find("node 1 (role server, rank 0)"), std::string::npos)
      << job.status();
  EXPECT_LT(took, 0.4 + 2.0);
  // The surviving worker was told why.
  for (int i = 0; i < 100 && c.aborts.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::lock_guard<std::mutex> l(c.mu);
  EXPECT_NE(c.last_abort.find("node 1 (role server, rank 0)"), std::string::npos) << c.last_abort;
}

TEST(SchedulerTest, WorkerFailureStopsTheJob) {
  Cluster c;
  Scheduler sched(Options(1, 1), c.sched_transport.get());
  StatusOr<JobResult> job = absl::UnknownError("not run");
  std::thread st([&] { job = sched.Run(); });
  c.RegisterOneServerOneWorker();
  c.agents[1]->Failed(absl::InternalError("disk full"));
  st.join();
  ASSERT_FALSE(job.ok());
  EXPECT_NE(job.status().message().find("node 2 (role worker, rank 0) failed: disk full"),
            std::string::npos)
      << job.status();
}

TEST(SchedulerTest, RejectsBadRegistrations) {
  Cluster c;
  SchedulerOptions o = Options(1, 1);
  o.register_timeout_ms = 300;
  Scheduler sched(o, c.sched_transport.get());
  StatusOr<JobResult> job = absl::UnknownError("not run");
  std::thread st([&] { job = sched.Run(); });
  // Rank 5 of a 1-worker job: rejected (the agent believes in 6 workers).
  NodeAgent* bad = c.Add("worker", 5, 1, 6);
  auto r = bad->Register("inproc://sched", "d");
  EXPECT_FALSE(r.ok());
  st.join();
  ASSERT_FALSE(job.ok());
  EXPECT_NE(job.status().message().find("registration timed out"), std::string::npos)
      << job.status();
  EXPECT_NE(job.status().message().find("server 0, worker 0"), std::string::npos) << job.status();
}

namespace fs = std::filesystem;

// A fresh directory per test (the probes' output.dir).
std::string TestDir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() /
                     ("ecps_scheduler_test." + std::to_string(::getpid()) + "." + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

std::vector<std::string> ProbeFiles(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(".ecps-probe.", 0) == 0)
      files.push_back(e.path().filename().string());
  return files;
}

// A 1-server, 1-worker job whose scheduler checks that every node shares
// `dir`, running on its own thread from construction until Join().
struct SharedDirJob {
  SharedDirJob(Cluster& c, const std::string& dir, int probe_wait_ms = -1)
      : sched(WithSharedDir(dir, probe_wait_ms), c.sched_transport.get()),
        thread([this] { job = sched.Run(); }) {}
  static SchedulerOptions WithSharedDir(const std::string& dir, int probe_wait_ms) {
    SchedulerOptions o = Options(1, 1);
    o.shared_dir = dir;
    if (probe_wait_ms >= 0) o.probe_wait_ms = probe_wait_ms;
    return o;
  }
  void Join() { thread.join(); }

  Scheduler sched;
  StatusOr<JobResult> job = absl::UnknownError("not run");
  std::thread thread;  // last: starts once sched and job exist
};

// Every node sees the scheduler's output.dir: the job starts, and no probe is
// left behind.
TEST(SchedulerTest, SharedOutputDirIsCheckedBeforeTheJobStarts) {
  const std::string dir = TestDir("shared");
  Cluster c;
  SharedDirJob run(c, dir);
  NodeAgent* server = c.Add("server", 0, 1, 1, dir);
  NodeAgent* worker = c.Add("worker", 0, 1, 1, dir);
  std::thread server_thread([&] {
    ASSERT_TRUE(server->Register("inproc://sched", "d0").ok());
    server->WaitForShutdown();
  });
  auto nodes = worker->Register("inproc://sched", "d1");
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  EXPECT_EQ(nodes->size(), 2u);
  EXPECT_TRUE(ProbeFiles(dir).empty());
  EXPECT_TRUE(worker->Done("{}").ok());
  server_thread.join();
  run.Join();
  ASSERT_TRUE(run.job.ok()) << run.job.status();
  EXPECT_EQ(c.aborts.load(), 0);
  fs::remove_all(dir);
}

// A server whose output.dir is another directory (as on a host without the
// shared file system) stops the job at registration, before any training
// step: the error names the node, its host and both paths, and says what
// output.dir must be. A probe of another run in the scheduler's directory
// does not pass, and is left alone; this run's probes are removed.
TEST(SchedulerTest, NodeThatCannotShareOutputDirStopsTheJobBeforeItStarts) {
  const std::string dir = TestDir("scheduler_view");
  const std::string elsewhere = TestDir("server_view");
  ASSERT_TRUE(AtomicWriteFile(ProbePath(dir, "server", 0), "0123456789abcdef").ok());
  Cluster c;
  SharedDirJob run(c, dir, /*probe_wait_ms=*/100);
  NodeAgent* server = c.Add("server", 0, 1, 1, elsewhere);
  NodeAgent* worker = c.Add("worker", 0, 1, 1, dir);
  Status server_registered;
  std::thread server_thread(
      [&] { server_registered = server->Register("inproc://sched", "d0").status(); });
  // The worker is never released: no training step can run.
  auto nodes = worker->Register("inproc://sched", "d1");
  server_thread.join();
  run.Join();
  EXPECT_FALSE(nodes.ok());
  EXPECT_FALSE(server_registered.ok());
  ASSERT_FALSE(run.job.ok());
  EXPECT_EQ(run.job.status().code(), absl::StatusCode::kAborted);
  const std::string msg(run.job.status().message());
  for (const std::string& part :
       {std::string("output.dir is not shared"),
        "node 1 (role server, rank 0) on host " + LocalHostName(),
        "wrote " + ProbePath(elsewhere, "server", 0), ProbePath(dir, "server", 0),
        std::string("another run's nonce"), "reads output.dir as " + dir,
        std::string("a file system shared by all hosts"),
        std::string("job stopped before training started")})
    EXPECT_NE(msg.find(part), std::string::npos) << part << "\n" << msg;
  EXPECT_EQ(msg.find("role worker"), std::string::npos) << msg;  // the worker passed
  // Both nodes heard why.
  EXPECT_NE(nodes.status().message().find("output.dir is not shared"), std::string::npos)
      << nodes.status();
  EXPECT_EQ(ProbeFiles(dir), std::vector<std::string>{".ecps-probe.server.0"});  // not ours
  EXPECT_TRUE(ProbeFiles(elsewhere).empty());
  fs::remove_all(dir);
  fs::remove_all(elsewhere);
}

// A node that cannot even write its probe (its output.dir cannot be created)
// is named with the reason, in the same startup error.
TEST(SchedulerTest, NodeThatCannotWriteItsProbeIsNamed) {
  const std::string dir = TestDir("unwritable");
  ASSERT_TRUE(AtomicWriteFile(dir + "/a_file", "").ok());
  Cluster c;
  SharedDirJob run(c, dir);
  NodeAgent* server = c.Add("server", 0, 1, 1, dir);
  NodeAgent* worker = c.Add("worker", 0, 1, 1, dir + "/a_file/out");
  std::thread server_thread([&] { EXPECT_FALSE(server->Register("inproc://sched", "d0").ok()); });
  EXPECT_FALSE(worker->Register("inproc://sched", "d1").ok());
  server_thread.join();
  run.Join();
  ASSERT_FALSE(run.job.ok());
  const std::string msg(run.job.status().message());
  EXPECT_NE(
      msg.find("node 2 (role worker, rank 0) on host " + LocalHostName() +
               " could not write its probe: cannot create directory '" + dir + "/a_file/out'"),
      std::string::npos)
      << msg;
  EXPECT_EQ(msg.find("role server"), std::string::npos) << msg;
  EXPECT_TRUE(ProbeFiles(dir).empty());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ecps::scheduler
