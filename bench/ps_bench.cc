// Parameter-server benchmark (a plain program: the figures are ratios
// measured in one run, which is what a shared, noisy machine allows).
//
//  1. pull+push of 16-dim fp32 rows through ps::Client -> ps::Server, in
//     keys/s and GB/s, against a raw echo of the same bytes over the same
//     transport (two kEcho round trips of K*36 bytes each way per iteration,
//     the byte count and round trips of one pull + one push of K keys:
//     pull K*8 out, K*64 back; push K*72 out; every byte written by its
//     sender and read by its receiver, see `echo` below), for in-process and
//     loopback TCP (ZeroMQ).
//  2. end-to-end: 1 worker + 1 server in simulation (--simulate) against the
//     single-process trainer on the same config (training-loop seconds), and
//     network bytes per training sample.
//
// usage: ps_bench [--keys K] [--rows R] [--seconds S] [--steps N]
//                 [--only inproc|tcp|e2e]   (one part alone, for profiling)
//                 [--verbose 1]  (wall and process CPU time of every round)
//                 [--phases 1]  (pull+push alone: the wall and thread CPU time of
//                                Gather and of Push per iteration, so that a
//                                profiler run over it sees only that path)
//                 [--server-threads N]  (the server's handler threads, default 2)
//                 [--row-threads N]  (threads sharing one request's row work;
//                                     default 0: the usable CPUs)
//                 [--hot-keys N]  (0: no hottest-rows summary, to see its cost)
// docs/performance.md has the numbers and the command.
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "comm/rpc.h"
#include "common/check.h"
#include "common/cpu.h"
#include "common/logging.h"
#include "common/rng.h"
#include "embedding/row_store.h"
#include "launch/simulate.h"
#include "ps/inproc_cluster.h"
#include "ps/wire.h"
#include "worker/data/gen_data.h"
#include "worker/data/preprocess.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double CpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double ThreadCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

void Die(const Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "ps_bench: %s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

struct Rate {
  double pullpush_s = 0;  // seconds per pull+push iteration (median of rounds)
  double echo_s = 0;      // seconds per echo pair that moves the bytes
  double echo0_s = 0;     // seconds per zero-copy echo pair (information only)
  // seconds per Gather + Push of the same rows on a LocalRowStore: the row
  // work any store must do, with no transport (the single-process trainer's).
  double local_s = 0;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Setup {
  int keys = 4096;
  uint64_t rows = 1000000;
  double seconds = 4;
  bool verbose = false;
  bool phases = false;
  int server_threads = 2;
  int row_threads = 0;
  int hot_keys = 8;  // 0: no hottest-rows summary (its cost alone, by difference)
};

Rate MeasureTransport(const std::string& kind, const Setup& setup) {
  const int keys = setup.keys;
  const uint64_t rows = setup.rows;
  const double seconds = setup.seconds;
  const bool verbose = setup.verbose;
  ps::ServerOptions so;
  so.shards = {1, 8};
  so.threads = setup.server_threads;
  so.row_threads = setup.row_threads;
  so.hot_keys = setup.hot_keys;
  so.optimizer.kind = SparseOptimizerKind::kSgd;
  // One server (node 1) and one worker (node 2), over `kind`.
  ps::InProcClusterOptions copt;
  copt.server = so;
  copt.transport = kind;
  auto cluster = ps::InProcCluster::Start(copt);
  Die(cluster.status(), "cluster");
  comm::Rpc& rpc = (*cluster)->rpc(0);
  ps::ClientOptions co;
  co.virtual_shards = 8;
  co.optimizer = so.optimizer;
  std::unique_ptr<ps::Client> client_ptr = (*cluster)->NewClient(0, co);
  ps::Client& client = *client_ptr;
  RowTableSpec spec;
  spec.name = "E";
  spec.rows = rows;
  spec.width = 16;
  spec.init_bound = 0.01;
  Die(client.Reset({spec}, 1), "reset");

  // A few batches of K distinct random rows, reused round robin.
  Rng rng(7);
  std::vector<LookupPlan> plans(4);
  for (auto& p : plans) {
    p.Reset(keys, 1);
    std::vector<uint64_t> all(rows);
    for (uint64_t i = 0; i < rows; ++i) all[i] = i;
    for (int i = 0; i < keys; ++i) std::swap(all[i], all[i + rng.Below(rows - i)]);
    p.rows[0].assign(all.begin(), all.begin() + keys);
  }
  FetchedRows grads, values;
  grads.values = {std::vector<float>(static_cast<size_t>(keys) * 16, 1e-3f)};
  const std::vector<uint8_t> echo_src(static_cast<size_t>(keys) * 36, 1);
  std::vector<uint8_t> echo_dst(echo_src.size());
  const comm::Buffer echo_payload = comm::Buffer::Copy(echo_src.data(), echo_src.size());

  auto local = NewLocalRowStore(so.optimizer);
  Die(local->Reset({spec}, 1), "local reset");
  int64_t step = 0, local_step = 0;
  FetchedRows local_values;
  auto local_work = [&] {
    const LookupPlan& p = plans[local_step % plans.size()];
    ECPS_CHECK_OK(local->Gather(p, &local_values));
    ECPS_CHECK_OK(local->Push(p, grads, ++local_step));
  };
  auto pullpush = [&] {
    const LookupPlan& p = plans[step % plans.size()];
    ECPS_CHECK_OK(client.Gather(p, &values));
    ECPS_CHECK_OK(client.Push(p, grads, ++step));
  };
  // The baseline echo moves the bytes as any transport must: the sender
  // writes the request bytes into a fresh buffer, the server writes the reply
  // bytes into a fresh buffer (kEcho arg 1), the receiver reads them out.
  // The pull+push path does the same and no more: rows into a request
  // payload, values into a reply payload, values out of the reply. The
  // zero-copy echo (a shared pointer crosses in-process) is shown for
  // information only: it moves no bytes at all.
  auto echo = [&](bool copy) {
    for (int r = 0; r < 2; ++r) {
      comm::Message m;
      m.header.type = comm::MsgType::kEcho;
      ps::internal::SetEchoCopies(&m.header, copy);
      m.payloads.push_back(copy ? comm::Buffer::Copy(echo_src.data(), echo_src.size())
                                : echo_payload);
      auto f = rpc.Call(ps::InProcCluster::ServerNode(0), std::move(m));
      auto reply = rpc.Wait(f, 60000, "echo");
      Die(reply.status(), "echo");
      if (copy) std::memcpy(echo_dst.data(), reply->payloads[0].data, echo_dst.size());
    }
  };
  if (setup.phases) {
    // Pull+push alone. Gather's wall time holds the client's layout and
    // request building, the round trip (under BSP including the server's
    // application of the previous push) and the scatter; Push's holds the
    // client's gradient layout and the send (BSP does not wait for the ack).
    for (int i = 0; i < 3; ++i) pullpush();
    double gather_s = 0, push_s = 0, gather_cpu = 0, push_cpu = 0;
    int n = 0;
    const double c0 = CpuSeconds();
    const auto t0 = Clock::now();
    while (Since(t0) < seconds) {
      const LookupPlan& p = plans[step % plans.size()];
      auto a = Clock::now();
      double ca = ThreadCpuSeconds();
      ECPS_CHECK_OK(client.Gather(p, &values));
      auto b = Clock::now();
      double cb = ThreadCpuSeconds();
      ECPS_CHECK_OK(client.Push(p, grads, ++step));
      gather_s += std::chrono::duration<double>(b - a).count();
      push_s += Since(b);
      gather_cpu += cb - ca;
      push_cpu += ThreadCpuSeconds() - cb;
      ++n;
    }
    std::fprintf(stderr,
                 "%s pull+push alone: %.1f us per iteration (process CPU %.1f us); Gather %.1f us "
                 "wall / %.1f us client-thread CPU, Push %.1f / %.1f\n",
                 kind.c_str(), 1e6 * Since(t0) / n, 1e6 * (CpuSeconds() - c0) / n,
                 1e6 * gather_s / n, 1e6 * gather_cpu / n, 1e6 * push_s / n, 1e6 * push_cpu / n);
    (*cluster)->Stop();
    return {Since(t0) / n, 0, 0, 0};
  }
  // Alternating rounds so that all three see the same machine load.
  std::vector<double> pp, ec, ec0, lw;
  const int rounds = 5;
  for (int i = 0; i < 3; ++i) {
    pullpush();
    echo(true);
    echo(false);
    local_work();
  }
  for (int round = 0; round < rounds; ++round) {
    for (auto* which : {&pp, &ec, &ec0, &lw}) {
      int n = 0;
      auto t0 = Clock::now();
      const double c0 = CpuSeconds();
      while (Since(t0) < seconds / (4 * rounds)) {
        if (which == &pp)
          pullpush();
        else if (which == &lw)
          local_work();
        else
          echo(which == &ec);
        ++n;
      }
      which->push_back(Since(t0) / n);
      if (verbose)
        std::fprintf(stderr, "%s: %.1f us wall, %.1f us cpu per iteration\n",
                     which == &pp   ? "pullpush"
                     : which == &ec ? "echo"
                     : which == &lw ? "local"
                                    : "echo0",
                     1e6 * Since(t0) / n, 1e6 * (CpuSeconds() - c0) / n);
    }
  }
  (*cluster)->Stop();
  return {Median(pp), Median(ec), Median(ec0), Median(lw)};
}

struct E2e {
  double single_s = 0, sim_s = 0, bytes_per_sample = 0;
  double single_auc = 0, sim_auc = 0;
};

E2e MeasureEndToEnd(int steps) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("ecps_ps_bench." + std::to_string(::getpid())))
          .string();
  std::filesystem::create_directories(dir);
  GenDataOptions g;
  g.rows = 60000;
  g.features = 50000;
  g.seed = 5;
  Die(GenerateData(g, dir + "/gen.txt").status(), "gen-data");
  PreprocessOptions p;
  p.inputs = {dir + "/gen.txt"};
  p.output = dir + "/gen.ecache";
  p.split = "ratio";
  Die(Preprocess(p).status(), "preprocess");
  auto data = Dataset::Open(p.output);
  Die(data.status(), "open");
  auto config = [&](const std::string& out) {
    auto c = LoadTrainConfig(
        "", {"data.source=cache", "data.cache=" + p.output, "model.bottom=64,16", "model.top=64",
             "model.threads=1", "train.batch_size=256", "train.max_steps=" + std::to_string(steps),
             "train.evals_per_epoch=1", "train.latency_batches=2", "output.progress=none",
             "output.dir=" + dir + "/" + out});
    Die(c.status(), "config");
    return *c;
  };
  E2e e;
  std::vector<double> single, sim;
  for (int round = 0; round < 3; ++round) {
    auto t = Trainer::Create(config("single"), data->get());
    Die(t.status(), "trainer");
    auto a = (*t)->Run(false);
    Die(a.status(), "single run");
    single.push_back((*a)["train_loop_seconds"].get<double>());
    e.single_auc = (*a)["test_auc"].get<double>();
    TrainConfig c = config("sim");
    auto shape = launch::ClusterShapeFromConfig(c);
    Die(shape.status(), "shape");
    auto b = launch::RunSimulation(c, data->get(), *shape, false);
    Die(b.status(), "simulation");
    sim.push_back((*b)["train_loop_seconds"].get<double>());
    e.sim_auc = (*b)["test_auc"].get<double>();
    e.bytes_per_sample = (*b)["cluster"]["network_bytes"].get<double>() /
                         ((*b)["steps"].get<double>() * (*b)["batch_size"].get<double>());
  }
  e.single_s = *std::min_element(single.begin(), single.end());
  e.sim_s = *std::min_element(sim.begin(), sim.end());
  std::filesystem::remove_all(dir);
  return e;
}

int Main(int argc, char** argv) {
  Setup setup;
  int steps = 300;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--keys") setup.keys = std::atoi(argv[i + 1]);
    if (k == "--rows") setup.rows = std::strtoull(argv[i + 1], nullptr, 10);
    if (k == "--seconds") setup.seconds = std::atof(argv[i + 1]);
    if (k == "--steps") steps = std::atoi(argv[i + 1]);
    if (k == "--only") only = argv[i + 1];
    if (k == "--verbose") setup.verbose = std::atoi(argv[i + 1]) != 0;
    if (k == "--phases") setup.phases = std::atoi(argv[i + 1]) != 0;
    if (k == "--server-threads") setup.server_threads = std::max(1, std::atoi(argv[i + 1]));
    if (k == "--row-threads") setup.row_threads = std::max(0, std::atoi(argv[i + 1]));
    if (k == "--hot-keys") setup.hot_keys = std::max(0, std::atoi(argv[i + 1]));
  }
  const int keys = setup.keys;
  SetLogLevel("warn");
  std::printf("pull+push of %d distinct 16-dim fp32 rows (table of %llu rows, 1 server, SGD)\n",
              keys, static_cast<unsigned long long>(setup.rows));
  std::printf(
      "usable CPUs %d; server: %d handler threads, row-work threads %d (0: usable "
      "CPUs), 8 virtual shards\n\n",
      UsableCpus(), setup.server_threads, setup.row_threads);
  std::printf(
      "| transport | pull+push keys/s | pull+push GB/s | raw echo GB/s | ratio | zero-copy echo "
      "GB/s | per iteration: pull+push / echo / local row work us | ceiling |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  const double bytes = static_cast<double>(keys) * 144;  // per iteration, both ways
  for (const char* kind : {"inproc", "tcp"}) {
    if (!only.empty() && only != kind) continue;
    Rate r = MeasureTransport(kind, setup);
    if (setup.phases) continue;
    // ceiling: the ratio a store whose only cost beyond the echo were the
    // local row work would reach, echo / (echo + row work).
    std::printf("| %s | %.3g | %.3f | %.3f | %.0f%% | %.3f | %.0f / %.0f / %.0f | %.0f%% |\n", kind,
                keys / r.pullpush_s, bytes / r.pullpush_s / 1e9, bytes / r.echo_s / 1e9,
                100 * r.echo_s / r.pullpush_s, bytes / r.echo0_s / 1e9, 1e6 * r.pullpush_s,
                1e6 * r.echo_s, 1e6 * r.local_s, 100 * r.echo_s / (r.echo_s + r.local_s));
    std::fflush(stdout);
  }
  if (setup.phases || (!only.empty() && only != "e2e")) return 0;
  E2e e = MeasureEndToEnd(steps);
  std::printf("\nend to end, %d steps of batch 256 (DLRM 64,16 / 64, best of 3):\n", steps);
  std::printf("| run | train-loop s | overhead | test AUC |\n|---|---|---|---|\n");
  std::printf("| single process | %.3f | - | %.5f |\n", e.single_s, e.single_auc);
  std::printf("| simulate 1 server + 1 worker | %.3f | %+.0f%% | %.5f |\n", e.sim_s,
              100 * (e.sim_s / e.single_s - 1), e.sim_auc);
  std::printf("\nnetwork bytes per training sample (1+1, incl. evaluation): %.0f\n",
              e.bytes_per_sample);
  return 0;
}

}  // namespace
}  // namespace ecps

int main(int argc, char** argv) { return ecps::Main(argc, argv); }
