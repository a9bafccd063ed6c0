// Multi-process runs of the `ecps` binary (label: integration): mpirun -np 5
// over ZeroMQ tcp matches the in-process simulation; a killed server stops
// the job within the heartbeat timeout naming it; the job resumes from the
// last checkpoint, also onto 3 servers; a worker or a server killed while
// checkpoints are written (sharded: servers write their shards, the scheduler
// the manifest last) leaves the previous one loadable; a process whose
// output.dir is not the scheduler's stops the job before training.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace ecps {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A child process with stdout/stderr sent to files.
struct Proc {
  pid_t pid = -1;
  std::string out, err;
  int status = -1;

  static Proc Start(const std::vector<std::string>& args, const std::string& stem) {
    Proc p;
    p.out = stem + ".out";
    p.err = stem + ".err";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, p.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, p.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawnp(&p.pid, argv[0], &fa, nullptr, argv.data(), environ), 0) << args[0];
    posix_spawn_file_actions_destroy(&fa);
    return p;
  }
  // Waits up to `seconds`; false if still running (then it is killed).
  bool Wait(double seconds) {
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
      if (waitpid(pid, &status, WNOHANG) == pid) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return false;
  }
  int ExitCode() const { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }
};

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t n = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  close(fd);
  return ntohs(a.sin_port);
}

class MultiProcessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Processes started with --role need the job's token (docs/security.md);
    // the children inherit it.
    setenv("ECPS_JOB_TOKEN", ("multiprocess-test-" + std::to_string(::getpid())).c_str(), 1);
    dir_ = (fs::temp_directory_path() / ("ecps_mp_test." + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ + "/small.yaml") << R"(data:
  source: generate
  format: criteo
  generate: {rows: 20000, features: 10000, seed: 3}
  split: ratio
  cache_dir: )" << dir_ << R"(/cache
model: {name: dlrm, bottom: "16", top: "16", threads: 1}
embedding: {method: full, dim: 16}
optimizer: {lr: 0.003}
train: {batch_size: 128, epochs: 1, evals_per_epoch: 2, latency_batches: 2}
cluster: {servers: 2, workers: 2, heartbeat_interval_ms: 100, heartbeat_timeout_ms: 1500}
output: {progress: none}
)";
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // `ecps train --config small.yaml --json` plus `extra`, run to completion.
  nlohmann::json Train(const std::string& name, std::vector<std::string> extra,
                       std::vector<std::string> prefix = {}) {
    std::vector<std::string> args = prefix;
    for (std::string a : {std::string(ECPS_BINARY), std::string("train"), std::string("--config"),
                          dir_ + "/small.yaml", std::string("--json")})
      args.push_back(a);
    args.insert(args.end(), extra.begin(), extra.end());
    Proc p = Proc::Start(args, dir_ + "/" + name);
    EXPECT_TRUE(p.Wait(120)) << name << " timed out";
    EXPECT_EQ(p.ExitCode(), 0) << name << ":\n" << ReadAll(p.err);
    try {
      return nlohmann::json::parse(ReadAll(p.out));
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ": no results JSON: " << e.what() << "\n" << ReadAll(p.err);
      return {};
    }
  }

  // Starts a loopback job (scheduler, S servers, W workers) by hand.
  struct Job {
    Proc scheduler;
    std::vector<Proc> servers, workers;
  };
  // `per_node(role, rank)`: more arguments for one process.
  using PerNode = std::function<std::vector<std::string>(const std::string& role, int rank)>;
  Job StartLoopback(const std::string& name, int servers, int workers,
                    std::vector<std::string> extra, const PerNode& per_node = nullptr) {
    const std::string ep = "tcp://127.0.0.1:" + std::to_string(FreePort());
    auto args = [&](const std::string& role, int rank) {
      std::vector<std::string> a = {ECPS_BINARY,
                                    "train",
                                    "--config",
                                    dir_ + "/small.yaml",
                                    "--json",
                                    "--role",
                                    role,
                                    "--rank",
                                    std::to_string(rank),
                                    "--scheduler",
                                    ep,
                                    "--servers",
                                    std::to_string(servers),
                                    "--workers",
                                    std::to_string(workers)};
      a.insert(a.end(), extra.begin(), extra.end());
      if (per_node) {
        auto more = per_node(role, rank);
        a.insert(a.end(), more.begin(), more.end());
      }
      return a;
    };
    Job j;
    const std::string stem = dir_ + "/" + name;
    j.scheduler = Proc::Start(args("scheduler", 0), stem + ".scheduler");
    for (int s = 0; s < servers; ++s)
      j.servers.push_back(Proc::Start(args("server", s), stem + ".server" + std::to_string(s)));
    for (int w = 0; w < workers; ++w)
      j.workers.push_back(Proc::Start(args("worker", w), stem + ".worker" + std::to_string(w)));
    return j;
  }
  static void Reap(Job* j) {
    for (auto* v : {&j->servers, &j->workers})
      for (Proc& p : *v) p.Wait(10);
  }
  static bool WaitForFile(const std::string& path, double seconds) {
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
      if (fs::exists(path)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Startup probes (.ecps-probe.*) and checkpoint files in `dir`.
  static std::vector<std::string> ProbesAndCheckpoints(const std::string& dir) {
    std::vector<std::string> found;
    if (!fs::exists(dir)) return found;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(".ecps-probe.", 0) == 0 || name.find("ckpt") != std::string::npos)
        found.push_back(name);
    }
    return found;
  }

  static std::string dir_;
};
std::string MultiProcessTest::dir_;

// Issue 14 item 6: the wire of a --role job is authenticated by a token the
// launcher gives every process; without one a process refuses to start,
// saying how to give it (rather than running unauthenticated).
TEST_F(MultiProcessTest, RoleLaunchWithoutAJobTokenIsRefusedSayingHowToGiveIt) {
  const std::string token = std::getenv("ECPS_JOB_TOKEN");
  unsetenv("ECPS_JOB_TOKEN");
  Proc p = Proc::Start({ECPS_BINARY, "train", "--config", dir_ + "/small.yaml", "--role", "worker",
                        "--rank", "0", "--scheduler", "tcp://127.0.0.1:1"},
                       dir_ + "/no_token");
  setenv("ECPS_JOB_TOKEN", "short", 1);
  Proc q = Proc::Start({ECPS_BINARY, "train", "--config", dir_ + "/small.yaml", "--role", "server",
                        "--rank", "0", "--scheduler", "tcp://127.0.0.1:1"},
                       dir_ + "/short_token");
  setenv("ECPS_JOB_TOKEN", token.c_str(), 1);
  ASSERT_TRUE(p.Wait(30));
  EXPECT_NE(p.ExitCode(), 0);
  EXPECT_NE(ReadAll(p.err).find("ECPS_JOB_TOKEN"), std::string::npos) << ReadAll(p.err);
  ASSERT_TRUE(q.Wait(30));
  EXPECT_NE(q.ExitCode(), 0);
  EXPECT_NE(ReadAll(q.err).find("job token from ECPS_JOB_TOKEN has 5 characters"),
            std::string::npos)
      << ReadAll(q.err);
}

TEST_F(MultiProcessTest, MpirunFiveRanksMatchesSimulation) {
  if (system("mpirun --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun not found";
  nlohmann::json sim = Train("sim", {"--simulate", "--set", "output.dir=" + dir_ + "/sim"});
  nlohmann::json mpi = Train("mpi", {"--set", "output.dir=" + dir_ + "/mpi"},
                             {"mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "5"});
  ASSERT_TRUE(sim.contains("test_auc") && mpi.contains("test_auc"));
  EXPECT_EQ(mpi["cluster"]["mode"], "mpirun");
  // The dense gradients were summed by MPI_Allreduce (cluster.allreduce=auto);
  // with two workers that is a + b, as in the simulation.
  EXPECT_EQ(mpi["cluster"]["allreduce"], "mpi");
  EXPECT_EQ(mpi["cluster"]["servers"], 2);
  EXPECT_EQ(mpi["cluster"]["workers"], 2);
  // BSP over the same shards and the same rank-order reductions: identical.
  EXPECT_NEAR(mpi["test_auc"].get<double>(), sim["test_auc"].get<double>(), 1e-6);
  EXPECT_EQ(mpi["test_auc"], sim["test_auc"]);
  EXPECT_EQ(mpi["val_auc"], sim["val_auc"]);
  EXPECT_EQ(mpi["steps"], sim["steps"]);
  EXPECT_GT(mpi["test_auc"].get<double>(), 0.65);
  // The scheduler decided the evaluations and committed the checkpoints.
  EXPECT_EQ(mpi["cluster"]["coordinator"], sim["cluster"]["coordinator"]);
  EXPECT_GT(mpi["cluster"]["coordinator"]["evaluations"].get<int>(), 2);
  EXPECT_GT(mpi["cluster"]["coordinator"]["checkpoints"].get<int>(), 0);
  // results.json is what --json printed, cluster fields included (worker 0
  // wrote it before the scheduler added them).
  EXPECT_EQ(nlohmann::json::parse(ReadAll(dir_ + "/mpi/results.json")), mpi);
  // Every rank passed the shared output.dir check, whose probes are gone.
  for (const auto& e : fs::directory_iterator(dir_ + "/mpi"))
    EXPECT_NE(e.path().filename().string().rfind(".ecps-probe.", 0), 0u) << e.path();
}

// Issue 15: the keyed tables' mappings and counters live on the servers of a
// real multi-process job, resolved, counted and advanced there: mpirun -np 5
// (2 servers, 2 workers over ZeroMQ) equals the in-process simulation.
TEST_F(MultiProcessTest, MpirunKeyedTablesMatchSimulation) {
  if (system("mpirun --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun not found";
  for (const std::string method : {"adaptemb", "mch"}) {
    const std::vector<std::string> sets = {"--set", "embedding.method=" + method, "--set",
                                           "embedding.budget=0.2"};
    std::vector<std::string> a = {"--simulate", "--set", "output.dir=" + dir_ + "/sim_" + method};
    a.insert(a.end(), sets.begin(), sets.end());
    std::vector<std::string> b = {"--set", "output.dir=" + dir_ + "/mpi_" + method};
    b.insert(b.end(), sets.begin(), sets.end());
    nlohmann::json sim = Train("sim_" + method, a);
    nlohmann::json mpi =
        Train("mpi_" + method, b, {"mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "5"});
    ASSERT_TRUE(sim.contains("test_auc") && mpi.contains("test_auc")) << method;
    EXPECT_EQ(mpi["cluster"]["mode"], "mpirun");
    EXPECT_EQ(mpi["test_auc"], sim["test_auc"]) << method;
    EXPECT_EQ(mpi["steps"], sim["steps"]) << method;
    EXPECT_GT(mpi["test_auc"].get<double>(), 0.6) << method;
    EXPECT_GT(mpi["inference_memory_mapping_bytes"].get<uint64_t>(), 0u) << method;
  }
}

// A server whose output.dir is not the scheduler's (as on a host without the
// shared file system) stops the job at startup: the scheduler names it and
// the path, every process exits non-zero, no training step ran (no
// checkpoint, although one is due every step) and no probe is left behind.
TEST_F(MultiProcessTest, OutputDirNotSharedStopsTheJobBeforeTraining) {
  const std::string shared = dir_ + "/notshared", local = dir_ + "/notshared_server";
  Job job = StartLoopback("notshared", 1, 1, {"--set", "output.checkpoint_every=1"},
                          [&](const std::string& role, int) {
                            return std::vector<std::string>{
                                "--set", "output.dir=" + (role == "server" ? local : shared)};
                          });
  ASSERT_TRUE(job.scheduler.Wait(60));
  Reap(&job);
  EXPECT_NE(job.scheduler.ExitCode(), 0);
  const std::string err = ReadAll(job.scheduler.err);
  for (const std::string& part :
       {std::string("output.dir is not shared"),
        std::string("node 1 (role server, rank 0) on host"), local + "/.ecps-probe.server.0",
        shared + "/.ecps-probe.server.0", std::string("a file system shared by all hosts"),
        std::string("job stopped before training started")})
    EXPECT_NE(err.find(part), std::string::npos) << part << "\n" << err;
  // The worker passed the check: the error does not name it.
  const size_t error = err.find("output.dir is not shared");
  const std::string error_line =
      error == std::string::npos ? "" : err.substr(error, err.find('\n', error) - error);
  EXPECT_EQ(error_line.find("role worker"), std::string::npos) << error_line;
  EXPECT_NE(job.servers[0].ExitCode(), 0);
  EXPECT_NE(job.workers[0].ExitCode(), 0);
  EXPECT_NE(ReadAll(job.workers[0].err).find("output.dir is not shared"), std::string::npos)
      << ReadAll(job.workers[0].err);
  EXPECT_TRUE(ProbesAndCheckpoints(shared).empty());
  EXPECT_TRUE(ProbesAndCheckpoints(local).empty());
}

// Issue 14 item 4: a worker started with another optimizer.lr silently
// changed the result while results.json claimed the scheduler's lr. Now the
// job is refused before any training step, naming the worker and the key,
// and every process exits non-zero.
TEST_F(MultiProcessTest, WorkerWithAnotherLearningRateIsRefusedBeforeTraining) {
  const std::string out = dir_ + "/otherlr";
  Job job = StartLoopback("otherlr", 1, 2,
                          {"--set", "output.dir=" + out, "--set", "output.checkpoint_every=1"},
                          [&](const std::string& role, int rank) {
                            if (role == "worker" && rank == 1)
                              return std::vector<std::string>{"--set", "optimizer.lr=0.01"};
                            return std::vector<std::string>{};
                          });
  ASSERT_TRUE(job.scheduler.Wait(60));
  Reap(&job);
  EXPECT_NE(job.scheduler.ExitCode(), 0);
  const std::string err = ReadAll(job.scheduler.err);
  for (const std::string& part :
       {std::string("do not run one configuration"),
        std::string("node 3 (role worker, rank 1) on host"),
        std::string("config key 'optimizer.lr' is '0.01' there, '0.003' at the scheduler"),
        std::string("job stopped before training started")})
    EXPECT_NE(err.find(part), std::string::npos) << part << "\n" << err;
  for (const Proc* p : {&job.servers[0], &job.workers[0], &job.workers[1]}) {
    EXPECT_NE(p->ExitCode(), 0);
    EXPECT_NE(ReadAll(p->err).find("optimizer.lr"), std::string::npos) << ReadAll(p->err);
  }
  EXPECT_TRUE(ProbesAndCheckpoints(out).empty());
}

// cluster.encrypt: the same loopback job over CurveZMQ (keys from the job
// token) trains to the same result as without it.
TEST_F(MultiProcessTest, EncryptedLoopbackJobTrainsToTheSameResult) {
  nlohmann::json runs[2];
  for (int encrypt = 0; encrypt < 2; ++encrypt) {
    const std::string name = encrypt ? "curve" : "plain";
    Job job = StartLoopback(name, 1, 1,
                            {"--set", "output.dir=" + dir_ + "/" + name, "--set",
                             std::string("cluster.encrypt=") + (encrypt ? "true" : "false")});
    ASSERT_TRUE(job.scheduler.Wait(120)) << name;
    Reap(&job);
    ASSERT_EQ(job.scheduler.ExitCode(), 0) << name << ":\n" << ReadAll(job.scheduler.err);
    runs[encrypt] = nlohmann::json::parse(ReadAll(job.scheduler.out));
  }
  ASSERT_TRUE(runs[1].contains("test_auc"));
  EXPECT_EQ(runs[1]["test_auc"], runs[0]["test_auc"]);
  EXPECT_EQ(runs[1]["steps"], runs[0]["steps"]);
}

TEST_F(MultiProcessTest, KilledServerStopsTheJobNamingItAndResumeOntoThreeServersCompletes) {
  const std::string out = "output.dir=" + dir_ + "/fault";
  // Long enough to be killed mid-run; a checkpoint every 20 steps.
  Job job = StartLoopback(
      "fault", 2, 2,
      {"--set", out, "--set", "train.epochs=50", "--set", "output.checkpoint_every=20"});
  ASSERT_TRUE(WaitForFile(dir_ + "/fault/last.ckpt", 60)) << ReadAll(job.scheduler.err);
  kill(job.servers[1].pid, SIGKILL);
  const auto killed = Clock::now();
  ASSERT_TRUE(job.scheduler.Wait(30));
  const double took = std::chrono::duration<double>(Clock::now() - killed).count();
  Reap(&job);
  const std::string err = ReadAll(job.scheduler.err);
  EXPECT_NE(job.scheduler.ExitCode(), 0);
  EXPECT_LT(took, 1.5 + 3.0) << "heartbeat timeout 1.5 s";
  EXPECT_NE(err.find("node 2 (role server, rank 1)"), std::string::npos) << err;
  EXPECT_NE(err.find("heartbeat"), std::string::npos) << err;
  for (Proc& w : job.workers) EXPECT_NE(w.ExitCode(), 0);
  // Every other process ends with a message naming the dead node, through the
  // scheduler's failure path: no CHECK failure, no abort backtrace.
  std::vector<Proc*> others = {&job.servers[0]};
  for (Proc& w : job.workers) others.push_back(&w);
  for (Proc* p : others) {
    const std::string e = ReadAll(p->err);
    EXPECT_NE(e.find("node 2 (role server, rank 1)"), std::string::npos) << p->err << ":\n" << e;
    for (const char* bad : {"Check failed", "CHECK", "Aborted", "backtrace", "terminate called"})
      EXPECT_EQ(e.find(bad), std::string::npos) << p->err << " has '" << bad << "':\n" << e;
    EXPECT_FALSE(WIFSIGNALED(p->status)) << p->err << " was killed by a signal:\n" << e;
  }

  // Resume onto 3 servers with a 5-epoch limit; it must equal an
  // uninterrupted 5-epoch run.
  Job resumed = StartLoopback(
      "resume", 3, 2,
      {"--set", out, "--set", "train.epochs=5", "--set", "output.checkpoint_every=20", "--resume"});
  ASSERT_TRUE(resumed.scheduler.Wait(120));
  Reap(&resumed);
  ASSERT_EQ(resumed.scheduler.ExitCode(), 0) << ReadAll(resumed.scheduler.err);
  nlohmann::json r = nlohmann::json::parse(ReadAll(resumed.scheduler.out));
  EXPECT_EQ(r["cluster"]["servers"], 3);
  nlohmann::json ref = Train("ref", {"--simulate", "--set", "output.dir=" + dir_ + "/ref", "--set",
                                     "train.epochs=5", "--set", "output.checkpoint_every=20"});
  EXPECT_EQ(r["steps"], ref["steps"]);
  EXPECT_NEAR(r["test_auc"].get<double>(), ref["test_auc"].get<double>(), 1e-9);
}

// Issue 19: `ecps status --scheduler` of a running --role job: each
// worker's stage, step, epoch, throughput and, after an evaluation, its
// validation AUC, each server's table bytes and hottest rows, from the
// scheduler over the job's transport; a caller without the job's token gets
// no answer (dropped unanswered: exit 1 after its timeout).
TEST_F(MultiProcessTest, StatusFromTheSchedulerOfARunningJob) {
  const std::string out = "output.dir=" + dir_ + "/status";
  Job job = StartLoopback(
      "status", 2, 2,
      {"--set", out, "--set", "train.epochs=50", "--set", "output.checkpoint_every=20"});
  // The scheduler's endpoint, as StartLoopback gave it.
  std::string ep;
  {
    std::ifstream cmd("/proc/" + std::to_string(job.scheduler.pid) + "/cmdline");
    std::string arg;
    bool next = false;
    while (std::getline(cmd, arg, '\0')) {
      if (next) ep = arg;
      next = arg == "--scheduler";
    }
  }
  ASSERT_EQ(ep.rfind("tcp://127.0.0.1:", 0), 0u) << ep;
  // Until both workers have reported an evaluation (at most two minutes).
  nlohmann::json st;
  const auto end = Clock::now() + std::chrono::seconds(120);
  bool evaluated = false;
  while (!evaluated && Clock::now() < end) {
    Proc q = Proc::Start({ECPS_BINARY, "status", "--scheduler", ep, "--json", "--timeout", "5"},
                         dir_ + "/status.query");
    ASSERT_TRUE(q.Wait(30));
    if (q.ExitCode() == 0) {
      st = nlohmann::json::parse(ReadAll(q.out));
      int with_eval = 0;
      for (const auto& n : st["nodes"])
        if (n["role"] == "worker" && n["status"].is_object() &&
            n["status"]["last_evaluation"].is_object())
          ++with_eval;
      evaluated = with_eval == 2;
    }
    if (!evaluated) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ASSERT_TRUE(evaluated) << st.dump(2) << ReadAll(job.scheduler.err);
  EXPECT_EQ(st["phase"], "running");
  EXPECT_EQ(st["servers"], 2);
  EXPECT_EQ(st["workers"], 2);
  ASSERT_EQ(st["nodes"].size(), 4u) << st.dump(2);
  for (const auto& n : st["nodes"]) {
    const nlohmann::json& s = n["status"];
    ASSERT_TRUE(s.is_object()) << n.dump(2);
    if (n["role"] == "worker") {
      EXPECT_EQ(s["stage_name"], "train");
      EXPECT_GT(s["step"].get<int64_t>(), 0);
      EXPECT_GE(s["epoch"].get<int64_t>(), 0);
      EXPECT_GT(s["samples_per_s"].get<double>(), 0);
      const double auc = s["last_evaluation"]["val_auc"].get<double>();
      EXPECT_GT(auc, 0.5);
      EXPECT_LT(auc, 1.0);
    } else {
      ASSERT_EQ(s["tables"].size(), 1u) << s.dump(2);
      EXPECT_EQ(s["tables"][0]["name"], "E");
      EXPECT_GT(s["tables"][0]["bytes"].get<uint64_t>(), 0u);
      EXPECT_GT(s["tables"][0]["hot"].size(), 0u);
    }
  }
  // The text form names them too.
  Proc text = Proc::Start({ECPS_BINARY, "status", "--scheduler", ep}, dir_ + "/status.text");
  ASSERT_TRUE(text.Wait(30));
  EXPECT_EQ(text.ExitCode(), 0) << ReadAll(text.err);
  EXPECT_NE(ReadAll(text.out).find("samples/s"), std::string::npos) << ReadAll(text.out);
  EXPECT_NE(ReadAll(text.out).find("hottest rows"), std::string::npos) << ReadAll(text.out);
  // Another token: dropped unanswered.
  const std::string token = std::getenv("ECPS_JOB_TOKEN");
  setenv("ECPS_JOB_TOKEN", "not-this-jobs-token-at-all", 1);
  Proc bad = Proc::Start({ECPS_BINARY, "status", "--scheduler", ep, "--timeout", "2"},
                         dir_ + "/status.bad");
  setenv("ECPS_JOB_TOKEN", token.c_str(), 1);
  ASSERT_TRUE(bad.Wait(30));
  EXPECT_EQ(bad.ExitCode(), 1);
  EXPECT_NE(ReadAll(bad.err).find("token"), std::string::npos) << ReadAll(bad.err);
  kill(job.scheduler.pid, SIGTERM);
  job.scheduler.Wait(20);
  for (auto* v : {&job.servers, &job.workers})
    for (Proc& p : *v) {
      kill(p.pid, SIGKILL);
      p.Wait(10);
    }
}

TEST_F(MultiProcessTest, ProcessKilledWhileWritingCheckpointsLeavesThePreviousLoadable) {
  const std::string out = "output.dir=" + dir_ + "/ckkill";
  // A checkpoint after every step (the servers write their shards, worker 0
  // the dense part, the scheduler the manifest), so a kill lands in (or next
  // to) a write; kill worker 0 or a server, at several moments.
  for (int attempt = 0; attempt < 4; ++attempt) {
    fs::remove_all(dir_ + "/ckkill");
    Job job = StartLoopback(
        "ckkill" + std::to_string(attempt), 2, 2,
        {"--set", out, "--set", "train.epochs=50", "--set", "output.checkpoint_every=1"});
    ASSERT_TRUE(WaitForFile(dir_ + "/ckkill/last.ckpt", 60));
    std::this_thread::sleep_for(std::chrono::milliseconds(37 * (attempt / 2)));
    const bool server = attempt % 2 == 1;
    kill(server ? job.servers[1].pid : job.workers[0].pid, SIGKILL);
    ASSERT_TRUE(job.scheduler.Wait(30));
    Reap(&job);
    EXPECT_NE(job.scheduler.ExitCode(), 0);
    const std::string err = ReadAll(job.scheduler.err);
    EXPECT_NE(err.find(server ? "node 2 (role server, rank 1)" : "node 3 (role worker, rank 0)"),
              std::string::npos)
        << err;
    // The sharded layout: a manifest naming per-virtual-shard files.
    EXPECT_TRUE(fs::exists(dir_ + "/ckkill/last.ckpt"));
    bool shards = false;
    for (const auto& e : fs::directory_iterator(dir_ + "/ckkill"))
      shards = shards || e.path().extension() == ".shard";
    EXPECT_TRUE(shards);
  }
  // The checkpoint left behind loads: a resumed simulation completes.
  nlohmann::json r = Train("ckkill_resume", {"--simulate", "--resume", "--set", out, "--set",
                                             "train.epochs=1", "--set", "train.max_steps=1"});
  EXPECT_TRUE(r["test_auc"].is_number());
}

}  // namespace
}  // namespace ecps
