// In-process clusters against the single-process trainer: 1 worker + 1
// server reproduces it exactly under BSP; 2 workers + 2 servers reach the
// same test AUC; SSP and ASP runs train; sharded checkpoints (servers write
// their shards, the coordinator the manifest last) resume onto another server
// count and survive a crash between the parts and the manifest.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "comm/transport.h"
#include "common/file_util.h"
#include "launch/node.h"
#include "launch/simulate.h"
#include "scheduler/checkpoint_manifest.h"
#include "worker/data/gen_data.h"
#include "worker/data/preprocess.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

namespace fs = std::filesystem;

class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ =
        (fs::temp_directory_path() / ("ecps_cluster_test." + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    GenDataOptions g;
    g.rows = 24000;
    g.features = 10000;
    g.seed = 11;
    ASSERT_TRUE(GenerateData(g, dir_ + "/gen.txt").ok());
    PreprocessOptions p;
    p.inputs = {dir_ + "/gen.txt"};
    p.output = dir_ + "/gen.ecache";
    p.split = "ratio";
    p.val_ratio = 0.1;
    p.test_ratio = 0.1;
    ASSERT_TRUE(Preprocess(p).ok());
    auto ds = Dataset::Open(p.output);
    ASSERT_TRUE(ds.ok()) << ds.status();
    data_ = ds->release();
  }
  static void TearDownTestSuite() {
    delete data_;
    fs::remove_all(dir_);
  }

  TrainConfig Config(const std::string& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> sets = {"data.source=cache",
                                     "data.cache=" + dir_ + "/gen.ecache",
                                     "model.bottom=16",
                                     "model.top=16",
                                     "model.threads=1",
                                     "train.batch_size=128",
                                     "train.evals_per_epoch=2",
                                     "train.latency_batches=2",
                                     "optimizer.lr=0.003",
                                     "output.progress=none",
                                     "output.dir=" + dir_ + "/" + out};
    sets.insert(sets.end(), extra.begin(), extra.end());
    auto cfg = LoadTrainConfig("", sets);
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    return *cfg;
  }

  nlohmann::json Simulate(const TrainConfig& cfg, bool resume = false) {
    auto shape = launch::ClusterShapeFromConfig(cfg);
    EXPECT_TRUE(shape.ok()) << shape.status();
    auto r = launch::RunSimulation(cfg, data_, *shape, resume);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : nlohmann::json();
  }

  static std::string dir_;
  static Dataset* data_;
};
std::string ClusterTest::dir_;
Dataset* ClusterTest::data_ = nullptr;

TEST_F(ClusterTest, OneWorkerOneServerIsIdenticalToSingleProcessUnderBsp) {
  auto single = Trainer::Create(Config("single"), data_);
  ASSERT_TRUE(single.ok()) << single.status();
  auto a = (*single)->Run(false);
  ASSERT_TRUE(a.ok()) << a.status();
  nlohmann::json b = Simulate(Config("sim11", {"cluster.servers=1", "cluster.workers=1"}));
  ASSERT_FALSE(b.is_null());
  EXPECT_EQ((*a)["test_auc"], b["test_auc"]);
  EXPECT_EQ((*a)["test_logloss"], b["test_logloss"]);
  EXPECT_EQ((*a)["val_auc"], b["val_auc"]);
  EXPECT_EQ((*a)["steps"], b["steps"]);
  ASSERT_EQ((*a)["history"].size(), b["history"].size());
  for (size_t i = 0; i < b["history"].size(); ++i)
    EXPECT_EQ((*a)["history"][i]["val_auc"], b["history"][i]["val_auc"]) << i;
  EXPECT_GT(b["cluster"]["network_bytes"].get<uint64_t>(), 0u);
}

TEST_F(ClusterTest, TwoWorkersTwoServersReachTheSameAuc) {
  auto single = Trainer::Create(Config("single2"), data_);
  ASSERT_TRUE(single.ok());
  auto a = (*single)->Run(false);
  ASSERT_TRUE(a.ok());
  nlohmann::json b = Simulate(Config("sim22", {"cluster.servers=2", "cluster.workers=2"}));
  ASSERT_FALSE(b.is_null());
  EXPECT_NEAR((*a)["test_auc"].get<double>(), b["test_auc"].get<double>(), 0.002);
  EXPECT_GT(b["test_auc"].get<double>(), 0.6);
  // Deterministic under BSP: the same cluster gives the same result.
  nlohmann::json c = Simulate(Config("sim22b", {"cluster.servers=2", "cluster.workers=2"}));
  EXPECT_EQ(b["test_auc"], c["test_auc"]);
  // The coordinator decided every evaluation (each validation during
  // training, then the final validation and test) and committed the
  // checkpoints.
  EXPECT_EQ(b["cluster"]["coordinator"]["evaluations"].get<size_t>(), b["history"].size() + 2);
  EXPECT_GT(b["cluster"]["coordinator"]["checkpoints"].get<int>(), 0);
  EXPECT_EQ(b["cluster"]["coordinator"]["stages"], 1);  // `full`: one stage, then done
}

// Quantised tables live coded on the servers (each vshard's LocalRowStore
// decodes pulls and re-encodes pushes with its own rounding stream): two
// servers reach the single-process AUC of the same method, deterministically,
// and pulls of fp16 / int8 tables (global or per-row scales: ALPT, MixedPrec)
// send codes, so fewer bytes than `full`. MixedPrec runs at a 40% budget: an
// INT8 table and an fp32 cache of the hottest rows (at 100% everything is
// cached).
TEST_F(ClusterTest, QuantizedTablesTrainOverTwoServers) {
  const std::vector<std::string> two = {"cluster.servers=2", "cluster.workers=1"};
  std::vector<std::string> full_sets = two;
  full_sets.push_back("embedding.method=full");
  const double full_bytes =
      Simulate(Config("q_sim_full", full_sets)).value("network_bytes_per_sample", 0.0);
  std::printf("[quantized-ps] full bytes/sample %.1f\n", full_bytes);
  for (const std::string method : {"fp16", "int8", "alpt", "post4bits", "mixedprec"}) {
    std::vector<std::string> m = {"embedding.method=" + method};
    if (method == "mixedprec") m.push_back("embedding.budget=0.4");
    auto single = Trainer::Create(Config("q_single_" + method, m), data_);
    ASSERT_TRUE(single.ok()) << method << ": " << single.status();
    auto a = (*single)->Run(false);
    ASSERT_TRUE(a.ok()) << method << ": " << a.status();
    std::vector<std::string> sets = m;
    sets.insert(sets.end(), two.begin(), two.end());
    nlohmann::json b = Simulate(Config("q_sim_" + method, sets));
    nlohmann::json c = Simulate(Config("q_sim2_" + method, sets));
    ASSERT_FALSE(b.is_null()) << method;
    ASSERT_FALSE(c.is_null()) << method;
    const double sa = (*a)["test_auc"].get<double>(), sb = b["test_auc"].get<double>();
    std::printf("[quantized-ps] %s single %.6f two-servers %.6f bytes/sample %.1f\n",
                method.c_str(), sa, sb, b.value("network_bytes_per_sample", 0.0));
    EXPECT_NEAR(sa, sb, 0.01) << method;
    EXPECT_GT(sb, 0.6) << method;
    EXPECT_EQ(b["test_auc"], c["test_auc"]) << method;
    EXPECT_EQ(b["test_logloss"], c["test_logloss"]) << method;
    // Pulls of fp16 and int8 tables (global or per-row scales) carry codes,
    // not fp32. (Post4Bits trains in fp32; only its final stage is 4-bit.)
    if (method != "post4bits") {
      EXPECT_LT(b.value("network_bytes_per_sample", 0.0), full_bytes) << method;
    }
  }
}

// ALPT over the parameter server uses the single-process N (the lookups of
// the whole batch, carried in the push) in its scale gradient, and a shard
// rounds with the single-process stream when it holds every row (one
// virtual shard): 1 worker + 1 server is the single-process run, bit for
// bit. Two servers (64 virtual shards, each its own rounding stream) stay
// close.
TEST_F(ClusterTest, AlptOverOneServerIsIdenticalToSingleProcess) {
  const std::vector<std::string> m = {"embedding.method=alpt"};
  auto single = Trainer::Create(Config("alpt_single", m), data_);
  ASSERT_TRUE(single.ok()) << single.status();
  auto a = (*single)->Run(false);
  ASSERT_TRUE(a.ok()) << a.status();
  std::vector<std::string> one = m;
  one.insert(one.end(), {"cluster.servers=1", "cluster.workers=1", "cluster.virtual_shards=1"});
  nlohmann::json b = Simulate(Config("alpt_sim11", one));
  ASSERT_FALSE(b.is_null());
  EXPECT_EQ((*a)["test_auc"], b["test_auc"]);
  EXPECT_EQ((*a)["test_logloss"], b["test_logloss"]);
  ASSERT_EQ((*a)["history"].size(), b["history"].size());
  for (size_t i = 0; i < b["history"].size(); ++i)
    EXPECT_EQ((*a)["history"][i]["val_auc"], b["history"][i]["val_auc"]) << i;
  std::vector<std::string> two = m;
  two.insert(two.end(), {"cluster.servers=2", "cluster.workers=1"});
  nlohmann::json c = Simulate(Config("alpt_sim12", two));
  ASSERT_FALSE(c.is_null());
  std::printf("[alpt-ps] single %.6f 1+1 %.6f 1 worker + 2 servers %.6f\n",
              (*a)["test_auc"].get<double>(), b["test_auc"].get<double>(),
              c["test_auc"].get<double>());
  EXPECT_NEAR((*a)["test_auc"].get<double>(), c["test_auc"].get<double>(), 0.005);
}

// A two-stage plan over two workers: the coordinator decides each transition
// (post4bits: train -> quantize, whose table reshape worker 0 then sends to
// the servers, -> done), every worker follows the one decision.
TEST_F(ClusterTest, CoordinatorDrivesTheStagePlan) {
  nlohmann::json r = Simulate(Config("stages", {"embedding.method=post4bits", "cluster.servers=2",
                                                "cluster.workers=2", "train.max_steps=40"}));
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["cluster"]["coordinator"]["stages"], 2);
  ASSERT_EQ(r["stages"].size(), 2u);
  EXPECT_EQ(r["stages"][1]["name"], "quantize");
  // Evaluated in both stages, through the coordinator.
  EXPECT_EQ(r["history"].back()["stage"], 1);
  EXPECT_EQ(r["cluster"]["coordinator"]["evaluations"].get<size_t>(), r["history"].size() + 2);
  EXPECT_GT(r["test_auc"].get<double>(), 0.55);
}

TEST_F(ClusterTest, SspAndAspTrain) {
  for (const char* mode : {"ssp", "asp"}) {
    nlohmann::json r =
        Simulate(Config(std::string("sim_") + mode, {"cluster.servers=2", "cluster.workers=2",
                                                     std::string("cluster.consistency=") + mode,
                                                     "cluster.staleness=2", "train.max_steps=60"}));
    ASSERT_FALSE(r.is_null()) << mode;
    EXPECT_GT(r["test_auc"].get<double>(), 0.55) << mode;
  }
}

// The next batch's pull goes out while the current batch is computed
// (cluster.prefetch, default ordered). Ordered prefetches read exactly what
// the pull after the push reads, so BSP results do not change; eager ones
// (ASP/SSP) train too; eager under BSP is refused before anything starts.
TEST_F(ClusterTest, PrefetchKeepsBspResultsAndTrainsEagerUnderAsp) {
  const std::vector<std::string> two = {"cluster.servers=2", "cluster.workers=2"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), two.begin(), two.end());
    return extra;
  };
  nlohmann::json off = Simulate(Config("pf_off", with({"cluster.prefetch=off"})));
  nlohmann::json ordered = Simulate(Config("pf_ordered", with({})));
  ASSERT_FALSE(off.is_null());
  ASSERT_FALSE(ordered.is_null());
  EXPECT_EQ(off["cluster"]["prefetch"]["hits"], 0);
  EXPECT_EQ(ordered["cluster"]["prefetch"]["mode"], "ordered");
  // Every step but the first of each epoch takes the rows pulled ahead.
  EXPECT_GE(ordered["cluster"]["prefetch"]["hits"].get<int64_t>(),
            ordered["steps"].get<int64_t>() * 9 / 10);
  EXPECT_EQ(off["test_auc"], ordered["test_auc"]);
  ASSERT_EQ(off["history"].size(), ordered["history"].size());
  for (size_t i = 0; i < off["history"].size(); ++i)
    EXPECT_EQ(off["history"][i]["val_auc"], ordered["history"][i]["val_auc"]) << i;

  nlohmann::json eager = Simulate(
      Config("pf_eager",
             with({"cluster.consistency=asp", "cluster.prefetch=eager", "train.max_steps=60"})));
  ASSERT_FALSE(eager.is_null());
  EXPECT_GT(eager["cluster"]["prefetch"]["hits"].get<int64_t>(), 50);
  EXPECT_GT(eager["test_auc"].get<double>(), 0.55);

  auto bad = launch::ClusterShapeFromConfig(Config("pf_bad", {"cluster.prefetch=eager"}));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("cluster.prefetch"), std::string::npos) << bad.status();
}

// Processes started by hand have no MPI: cluster.allreduce=mpi is refused
// before the process connects anywhere.
TEST_F(ClusterTest, MpiAllreduceOutsideMpirunIsRefused) {
  TrainConfig cfg = Config("role_mpi", {"cluster.allreduce=mpi", "cluster.workers=2"});
  auto shape = launch::ClusterShapeFromConfig(cfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  launch::NodeSpec spec;
  spec.role = launch::Role::kWorker;
  spec.scheduler = "tcp://127.0.0.1:1";
  auto r = launch::RunNode(
      cfg, *shape, spec, [] { return StatusOr<std::unique_ptr<Dataset>>(nullptr); }, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cluster.allreduce"), std::string::npos) << r.status();
}

// The files of a checkpoint directory, sorted.
std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Every file of a sharded checkpoint directory is a manifest or a part that
// a manifest names, and every part matches its checksum.
void ExpectCompleteShardedCheckpoints(const std::string& dir, int virtual_shards) {
  std::set<std::string> named = {"best.ckpt", "last.ckpt"};
  for (const char* name : {"best", "last"}) {
    auto m = scheduler::ReadManifest(scheduler::ManifestPath(dir, name));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->virtual_shards, virtual_shards);
    EXPECT_EQ(m->parts.size(), static_cast<size_t>(virtual_shards) + 1);
    for (const auto& p : m->parts) {
      named.insert(p.file);
      EXPECT_TRUE(scheduler::ReadPart(dir, p).ok()) << p.file;
    }
  }
  for (const std::string& f : Files(dir))
    EXPECT_TRUE(f == "results.json" || named.count(f)) << "stale file " << f;
}

TEST_F(ClusterTest, ResumeFromTwoServersOntoThree) {
  // Stop after 40 steps on 2 servers; resume with more steps on 3 servers
  // and compare with an uninterrupted 2-server run.
  nlohmann::json full = Simulate(
      Config("resume_ref", {"cluster.servers=2", "cluster.workers=2", "train.max_steps=80"}));
  Simulate(Config("resume", {"cluster.servers=2", "cluster.workers=2", "train.max_steps=40",
                             "output.checkpoint_every=10"}));
  // The servers wrote their shards, worker 0 the dense part, the coordinator
  // the manifests; nothing else is left in the directory.
  ExpectCompleteShardedCheckpoints(dir_ + "/resume", 64);
  auto m = scheduler::ReadManifest(dir_ + "/resume/last.ckpt");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->servers, 2);
  nlohmann::json resumed = Simulate(
      Config("resume", {"cluster.servers=3", "cluster.workers=2", "train.max_steps=80"}), true);
  ASSERT_FALSE(resumed.is_null());
  EXPECT_EQ(resumed["steps"], full["steps"]);
  EXPECT_NEAR(resumed["test_auc"].get<double>(), full["test_auc"].get<double>(), 1e-9);
  ExpectCompleteShardedCheckpoints(dir_ + "/resume", 64);
  m = scheduler::ReadManifest(dir_ + "/resume/last.ckpt");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->servers, 3);
}

// A crash after every part of a checkpoint is written but before its
// manifest is committed (a failpoint on worker 0): the previous checkpoint
// stays the one `last` names, it resumes (onto 3 servers) exactly, and the
// orphaned parts are cleaned up by the next commit.
TEST_F(ClusterTest, CrashBeforeManifestLeavesThePreviousCheckpointLoadable) {
  const std::vector<std::string> two = {"cluster.servers=2", "cluster.workers=2",
                                        "train.max_steps=80", "output.checkpoint_every=10"};
  nlohmann::json full = Simulate(Config("crash_ref", two));
  TrainConfig cfg = Config("crash", two);
  auto shape = launch::ClusterShapeFromConfig(cfg);
  ASSERT_TRUE(shape.ok());
  launch::SimulationHooks hooks;
  uint64_t crashed = 0;
  hooks.before_checkpoint_commit = [&](uint64_t generation) {
    if (generation < 4) return OkStatus();
    crashed = generation;
    return absl::AbortedError("failpoint: crash before the manifest");
  };
  auto r = launch::RunSimulation(cfg, data_, *shape, false, hooks);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("failpoint"), std::string::npos) << r.status();
  ASSERT_EQ(crashed, 4u);
  const std::string dir = dir_ + "/crash";
  auto last = scheduler::ReadManifest(dir + "/last.ckpt");
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->generation, 3u);
  // Generation 4's parts are all there, but no manifest names them.
  EXPECT_TRUE(fs::exists(dir + "/ckpt.g4.dense"));
  EXPECT_TRUE(fs::exists(dir + "/ckpt.g4.vs63.shard"));

  nlohmann::json resumed =
      Simulate(Config("crash", {"cluster.servers=3", "cluster.workers=2", "train.max_steps=80",
                                "output.checkpoint_every=10"}),
               true);
  ASSERT_FALSE(resumed.is_null());
  EXPECT_EQ(resumed["steps"], full["steps"]);
  EXPECT_NEAR(resumed["test_auc"].get<double>(), full["test_auc"].get<double>(), 1e-9);
  EXPECT_FALSE(fs::exists(dir + "/ckpt.g4.dense"));
  ExpectCompleteShardedCheckpoints(dir, 64);
}

// A damaged shard is found through the manifest's checksum, naming the file.
TEST_F(ClusterTest, DamagedShardFailsTheResumeNamingIt) {
  const std::vector<std::string> sets = {"cluster.servers=2", "cluster.workers=1",
                                         "train.max_steps=20"};
  Simulate(Config("damaged", sets));
  auto last = scheduler::ReadManifest(dir_ + "/damaged/last.ckpt");
  ASSERT_TRUE(last.ok());
  const std::string shard = last->parts[5].file;
  const std::string path = dir_ + "/damaged/" + shard;
  auto bytes = ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  (*bytes)[bytes->size() / 2] ^= 0x10;
  ASSERT_TRUE(AtomicWriteFile(path, *bytes).ok());
  TrainConfig cfg = Config("damaged", sets);
  auto shape = launch::ClusterShapeFromConfig(cfg);
  ASSERT_TRUE(shape.ok());
  auto r = launch::RunSimulation(cfg, data_, *shape, true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(shard), std::string::npos) << r.status();
  // The single-process trainer refuses a cluster checkpoint with a clear message.
  auto single = Trainer::Create(Config("damaged", {"train.max_steps=20"}), data_);
  ASSERT_TRUE(single.ok());
  auto s = (*single)->Run(true);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("cluster checkpoint"), std::string::npos) << s.status();
}

// Issue 14: --simulate applies cluster.max_message_mb to its in-process
// transports as a job's processes do (it ignored the key: this run trained),
// and a message over it fails the run naming the key instead of being
// dropped by its receiver while the sender waits; cluster.server_memory_mb
// bounds the tables the servers allocate. A table of 1,024 floats per row
// (thousands of rows) pulled by batches of 4,096 rows fits neither in 1 MiB
// messages nor in 1 MiB of server memory; with 256 MiB of each the same run
// trains (one run with both).
TEST_F(ClusterTest, SimulationAppliesTheClusterLimits) {
  const std::vector<std::string> sets = {"cluster.servers=1", "cluster.workers=1",
                                         "embedding.dim=1024", "train.batch_size=4096",
                                         "train.max_steps=2"};
  auto with = [&](const std::string& out, std::vector<std::string> limits) {
    std::vector<std::string> all = sets;
    all.insert(all.end(), limits.begin(), limits.end());
    const TrainConfig cfg = Config(out, all);
    auto shape = launch::ClusterShapeFromConfig(cfg);
    EXPECT_TRUE(shape.ok()) << shape.status();
    return launch::RunSimulation(cfg, data_, *shape, false);
  };
  auto memory = with("limit_mem", {"cluster.server_memory_mb=1"});
  ASSERT_FALSE(memory.ok());
  EXPECT_EQ(memory.status().code(), absl::StatusCode::kResourceExhausted) << memory.status();
  EXPECT_NE(memory.status().message().find("more than the 1 MiB it may use "
                                           "(cluster.server_memory_mb)"),
            std::string::npos)
      << memory.status();
  auto message = with("limit_msg", {"cluster.max_message_mb=1"});
  ASSERT_FALSE(message.ok()) << (*message)["cluster"].dump();
  EXPECT_EQ(message.status().code(), absl::StatusCode::kResourceExhausted) << message.status();
  EXPECT_NE(message.status().message().find("over the limit of 1048576 bytes"), std::string::npos)
      << message.status();
  EXPECT_NE(message.status().message().find("(cluster.max_message_mb)"), std::string::npos)
      << message.status();
  auto fits = with("limit_ok", {"cluster.max_message_mb=256", "cluster.server_memory_mb=256"});
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ((*fits)["steps"], 2);
}

// Issue 14 item 5: the largest message a process accepts is configured
// (cluster.max_message_mb), and a transport with that limit drops a larger
// message, saying which limit it exceeded.
TEST(ClusterConfigTest, MaxMessageKeyBoundsWhatTheTransportsAccept) {
  auto cfg = LoadTrainConfig("", {"cluster.max_message_mb=1"});
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto shape = launch::ClusterShapeFromConfig(*cfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->max_message_bytes, uint64_t{1} << 20);
  comm::InProcHub hub;
  auto a = comm::NewInProcTransport(&hub), b = comm::NewInProcTransport(&hub);
  ASSERT_TRUE(a->Bind("inproc://max_a").ok() && b->Bind("inproc://max_b").ok());
  b->set_decode_limits(launch::DecodeLimitsFor(*shape));
  ASSERT_TRUE(a->Connect(2, "inproc://max_b").ok());
  comm::Message big;
  big.header.type = comm::MsgType::kPush;
  big.payloads.push_back(comm::Buffer::FromString(std::string((1 << 20) + 1, 'g')));
  ASSERT_TRUE(a->Send(2, big).ok());
  comm::Message small;
  small.header.type = comm::MsgType::kPush;
  small.payloads.push_back(comm::Buffer::FromString(std::string(1000, 's')));
  ASSERT_TRUE(a->Send(2, small).ok());
  auto rejected = b->Recv(5000);
  ASSERT_FALSE(rejected.ok());
  EXPECT_NE(rejected.status().message().find("more than the limit of 1048576"), std::string::npos)
      << rejected.status();
  auto ok = b->Recv(5000);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->payloads[0].size, 1000u);
  EXPECT_FALSE(LoadTrainConfig("", {"cluster.max_message_mb=0"}).ok());
}

}  // namespace
}  // namespace ecps
