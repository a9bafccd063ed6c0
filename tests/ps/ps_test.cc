// Parameter-server shard and client over the in-process transport: equality
// with LocalRowStore, restore onto another server count, statistics, SSP
// staleness bound, and rejection of malformed requests.
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "comm/rpc.h"
#include "common/check.h"
#include "common/process_memory.h"
#include "common/rng.h"
#include "ps/client.h"
#include "ps/inproc_cluster.h"
#include "ps/server.h"
#include "ps/wire.h"
#include "tests/testing/status_testing.h"

namespace ecps::ps {
namespace {

using comm::Buffer;
using comm::Message;
using comm::MsgType;

// S servers and W clients in one process (ps/inproc_cluster.h).
struct Cluster {
  Cluster(int servers, int workers, int vshards, Consistency c = Consistency::kBsp,
          int64_t staleness = 0, int row_threads = 0, PrefetchMode prefetch = PrefetchMode::kOff,
          uint64_t max_memory_bytes = 0) {
    SparseOptimizerConfig opt;
    opt.lr = 0.01f;
    InProcClusterOptions o;
    o.servers = servers;
    o.workers = workers;
    o.server.shards = {servers, vshards};
    o.server.num_workers = workers;
    o.server.consistency = c;
    o.server.optimizer = opt;
    o.server.threads = 2;
    o.server.row_threads = row_threads;
    o.server.max_memory_bytes = max_memory_bytes;
    auto started = InProcCluster::Start(o);
    ECPS_CHECK_OK(started.status());
    cluster = std::move(*started);
    for (int s = 0; s < servers; ++s) this->servers.push_back(&cluster->server(s));
    for (int w = 0; w < workers; ++w) {
      ClientOptions co;
      co.virtual_shards = vshards;
      co.consistency = c;
      co.staleness = staleness;
      co.primary = w == 0;
      co.optimizer = opt;
      co.timeout_ms = 20000;
      co.prefetch = prefetch;
      rpcs.push_back(&cluster->rpc(w));
      clients.push_back(cluster->NewClient(w, co));
    }
  }
  ~Cluster() { cluster->Stop(); }  // before the clients go
  std::unique_ptr<InProcCluster> cluster;
  std::vector<Server*> servers;
  std::vector<comm::Rpc*> rpcs;
  std::vector<std::unique_ptr<Client>> clients;
};

// A fresh directory for one test's checkpoint files, removed afterwards.
class ScopedDir {
 public:
  ScopedDir() {
    path_ = std::filesystem::path(::testing::TempDir()) /
            ("ecps_ps_test." + std::to_string(::getpid()) + "." +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScopedDir() { std::filesystem::remove_all(path_); }
  // The path prefix of a checkpoint's shard files in this directory.
  std::string Prefix() const { return (path_ / "ckpt.g1").string(); }

 private:
  std::filesystem::path path_;
};

std::vector<RowTableSpec> Specs() {
  RowTableSpec a;
  a.name = "E";
  a.rows = 1000;
  a.width = 4;
  a.init_bound = 0.1;
  RowTableSpec b;
  b.name = "w";
  b.rows = 37;
  b.width = 1;
  b.init = RowInit::kConstant;
  b.init_value = 1.0;
  return {a, b};
}

LookupPlan Plan(uint64_t salt) {
  LookupPlan p;
  p.Reset(64, 2);
  for (uint64_t i = 0; i < 64; ++i) {
    p.rows[0].push_back((i * 37 + salt * 11) % 1000);
    p.rows[0].push_back(i % 5);  // duplicates
    p.rows[1].push_back(i % 3 == 0 ? kNoRow : (i + salt) % 37);
  }
  return p;
}

FetchedRows Grads(const LookupPlan& p, float scale) {
  FetchedRows g;
  g.values.resize(2);
  for (int t = 0; t < 2; ++t) {
    const int w = t == 0 ? 4 : 1;
    for (size_t i = 0; i < p.rows[t].size() * w; ++i)
      g.values[t].push_back(scale * static_cast<float>((i * 7919) % 101) / 101.0f - 0.5f * scale);
  }
  return g;
}

TEST(PsTest, MatchesLocalRowStoreBitForBitAndRestoresOntoThreeServers) {
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  auto local = NewLocalRowStore(opt);
  ASSERT_TRUE(local->Reset(Specs(), 5).ok());
  ScopedDir dir;
  std::string specs;
  std::vector<Client::ShardFile> files;
  {
    Cluster c(2, 1, 8);
    Client& cl = *c.clients[0];
    ASSERT_TRUE(cl.Reset(Specs(), 5).ok());
    for (int step = 1; step <= 5; ++step) {
      LookupPlan p = Plan(step);
      FetchedRows a, b;
      ECPS_EXPECT_OK(local->Gather(p, &a));
      ECPS_EXPECT_OK(cl.Gather(p, &b));
      ASSERT_EQ(a.values, b.values) << "step " << step;
      FetchedRows g = Grads(p, static_cast<float>(step));
      ECPS_EXPECT_OK(local->Push(p, g, step));
      ECPS_EXPECT_OK(cl.Push(p, g, step));
    }
    std::vector<float> ra(1000 * 4), rb(1000 * 4);
    ASSERT_TRUE(local->ReadRows(0, 0, 1000, ra.data()).ok());
    ASSERT_TRUE(cl.ReadRows(0, 0, 1000, rb.data()).ok());
    EXPECT_EQ(ra, rb);
    std::vector<float> five(4 * 3, 0.25f);
    ASSERT_TRUE(local->WriteRows(0, 10, 3, five.data()).ok());
    ASSERT_TRUE(cl.WriteRows(0, 10, 3, five.data()).ok());
    auto saved = cl.SaveShards(dir.Prefix());
    ASSERT_TRUE(saved.ok()) << saved.status();
    files = *saved;
    specs = cl.EncodedSpecs();
    ASSERT_EQ(files.size(), 8u);
    for (int v = 0; v < 8; ++v) {
      EXPECT_EQ(files[v].vshard, v);
      EXPECT_EQ(files[v].path, internal::ShardFilePath(dir.Prefix(), v));
      EXPECT_EQ(std::filesystem::file_size(files[v].path), files[v].bytes);
    }
    auto stats = cl.ServerStats();
    ASSERT_TRUE(stats.ok());
    auto j = nlohmann::json::parse(*stats);
    ASSERT_EQ(j.size(), 2u);
    EXPECT_EQ(j[0]["tables"][0]["rows"], 1000);
    EXPECT_EQ(j[0]["tables"][0]["rows_here"].get<int>() + j[1]["tables"][0]["rows_here"].get<int>(),
              1000);
    EXPECT_GT(j[0]["tables"][0]["pulls"].get<int>(), 0);
    EXPECT_GT(j[1]["tables"][0]["pushes"].get<int>(), 0);
    EXPECT_FALSE(j[0]["tables"][0]["hot"].empty());
  }
  // A checkpoint from 2 servers restored onto 3 continues identically.
  Cluster c3(3, 1, 8);
  Client& cl = *c3.clients[0];
  ASSERT_TRUE(cl.LoadShards(specs, files).ok());
  for (int step = 6; step <= 8; ++step) {
    LookupPlan p = Plan(step);
    FetchedRows a, b;
    ECPS_EXPECT_OK(local->Gather(p, &a));
    ECPS_EXPECT_OK(cl.Gather(p, &b));
    ASSERT_EQ(a.values, b.values) << "step " << step;
    FetchedRows g = Grads(p, 1.0f);
    ECPS_EXPECT_OK(local->Push(p, g, step));
    ECPS_EXPECT_OK(cl.Push(p, g, step));
  }
}

// One table of every quantised kind a method declares: fp16, global-scale
// int8, per-row f32 (INT8 use_qparam) and f16 (MixedPrec) scales, packed
// 4-bit rows of odd width (Post4Bits), learned scales (ALPT, 8 and 16 bits)
// and a learned scale stored as f16 (no method: its Adam-updated scales are
// not fp16 values, so it must fall back to fp32 pulls).
std::vector<RowTableSpec> QuantizedSpecs() {
  std::vector<RowTableSpec> v;
  auto add = [&](const char* name, DType dtype, QuantScheme q, int width) -> RowTableSpec& {
    RowTableSpec s;
    s.name = name;
    s.rows = 300;
    s.width = width;
    s.dtype = dtype;
    s.quant = q;
    s.init_bound = 0.05;
    s.rounding = Rounding::kStochasticPerRow;
    v.push_back(s);
    return v.back();
  };
  add("f16", DType::kF16, QuantScheme::kNone, 4).rounding = Rounding::kStochasticPerElement;
  RowTableSpec& g = add("u8_global", DType::kU8, QuantScheme::kGlobal, 4);
  g.scale = 1.0 / 512;
  g.zero = -128.0 / 512;
  add("u8_row_f32", DType::kU8, QuantScheme::kPerRow, 4);
  add("u8_row_f16", DType::kU8, QuantScheme::kPerRow, 4).scale_dtype = DType::kF16;
  RowTableSpec& u4 = add("u4_row_f16", DType::kU4, QuantScheme::kPerRow, 5);
  u4.scale_dtype = DType::kF16;
  u4.rounding = Rounding::kNearest;
  for (DType d : {DType::kI8, DType::kI16}) {
    RowTableSpec& a = add(d == DType::kI8 ? "alpt8" : "alpt16", d, QuantScheme::kPerRow, 4);
    a.learn_scale = true;
    a.scale = d == DType::kI8 ? 1.0 / 512 : 1.0 / 32768;
    a.scale_lr = 1e-3;
  }
  RowTableSpec& h = add("alpt8_f16", DType::kI8, QuantScheme::kPerRow, 4);
  h.learn_scale = true;
  h.scale = 1.0 / 512;
  h.scale_lr = 1e-3;
  h.scale_dtype = DType::kF16;
  return v;
}

// Rows of every table with duplicates (and kNoRow in table 1): as in a batch.
LookupPlan QuantizedPlan(const std::vector<RowTableSpec>& specs, uint64_t salt) {
  LookupPlan p;
  p.Reset(48, specs.size());
  for (size_t t = 0; t < specs.size(); ++t)
    for (uint64_t i = 0; i < 48; ++i) {
      p.rows[t].push_back((i * 37 + salt * 11 + t) % specs[t].rows);
      p.rows[t].push_back(t == 1 && i % 4 == 0 ? kNoRow : (i + t) % 7);
    }
  return p;
}

FetchedRows QuantizedGrads(const std::vector<RowTableSpec>& specs, const LookupPlan& p,
                           float scale) {
  FetchedRows g;
  g.values.resize(specs.size());
  for (size_t t = 0; t < specs.size(); ++t)
    for (size_t i = 0; i < p.rows[t].size() * specs[t].width; ++i)
      g.values[t].push_back(scale * (static_cast<float>((i * 7919 + t) % 101) / 101.0f - 0.5f));
  return g;
}

// Every RowInit kind: the rows a 1-server and a 3-server cluster start from
// are the single-process LocalRowStore's, bit for bit (one initialiser,
// embedding/row_init.h). Several tables, so each draws from its own fork, and
// an f16 table, whose fp32 init is rounded to nearest on every store.
TEST(PsTest, InitialRowsOfEveryRowInitMatchLocalRowStoreBitForBit) {
  std::vector<RowTableSpec> specs(5);
  specs[0].name = "uniform";
  specs[0].rows = 301;
  specs[0].width = 3;
  specs[0].init_bound = 0.05;
  specs[1].name = "zeros";
  specs[1].rows = 17;
  specs[1].width = 2;
  specs[2].name = "constant";
  specs[2].rows = 29;
  specs[2].width = 5;
  specs[2].init = RowInit::kConstant;
  specs[2].init_value = -0.75;
  specs[3].name = "uniform_wide";
  specs[3].rows = 203;
  specs[3].width = 4;
  specs[3].init_bound = 0.5;
  specs[4] = specs[3];
  specs[4].name = "uniform_f16";
  specs[4].rows = 41;
  specs[4].dtype = DType::kF16;
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  auto local = NewLocalRowStore(opt);
  ASSERT_TRUE(local->Reset(specs, 77).ok());
  auto rows_of = [&](RowStore& store, size_t t) {
    std::vector<float> v(specs[t].rows * specs[t].width);
    EXPECT_TRUE(store.ReadRows(static_cast<int>(t), 0, specs[t].rows, v.data()).ok());
    std::vector<uint32_t> bits;
    for (float x : v) bits.push_back(std::bit_cast<uint32_t>(x));
    return bits;
  };
  for (int servers : {1, 3}) {
    Cluster c(servers, 1, 8);
    Client& cl = *c.clients[0];
    ASSERT_TRUE(cl.Reset(specs, 77).ok());
    for (size_t t = 0; t < specs.size(); ++t) {
      const std::vector<uint32_t> want = rows_of(*local, t);
      EXPECT_EQ(rows_of(cl, t), want) << servers << " servers, table " << specs[t].name;
      if (specs[t].init_bound != 0.0) {  // drawn, not all equal
        EXPECT_NE(want.front(), want.back()) << specs[t].name;
      }
    }
  }
}

// Pulls of quantised tables carry codes plus per-row (scale, zero), and the
// client decodes them to exactly the rows LocalRowStore::Gather returns. With
// one server and one virtual shard the shard also rounds with the same stream
// and uses the batch's lookups as ALPT's N, so every step matches bit for bit.
TEST(PsTest, CodedPullsOfQuantizedTablesMatchLocalRowStoreBitForBit) {
  const std::vector<RowTableSpec> specs = QuantizedSpecs();
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  auto local = NewLocalRowStore(opt);
  ASSERT_TRUE(local->Reset(specs, 9).ok());
  Cluster c(1, 1, 1);
  Client& cl = *c.clients[0];
  ASSERT_TRUE(cl.Reset(specs, 9).ok());
  for (int step = 1; step <= 6; ++step) {
    LookupPlan p = QuantizedPlan(specs, step);
    FetchedRows a, b;
    ECPS_EXPECT_OK(local->Gather(p, &a));
    ECPS_EXPECT_OK(cl.Gather(p, &b));
    for (size_t t = 0; t < specs.size(); ++t)
      ASSERT_EQ(a.values[t], b.values[t]) << specs[t].name << " step " << step;
    FetchedRows g = QuantizedGrads(specs, p, 0.5f * static_cast<float>(step));
    ECPS_EXPECT_OK(local->Push(p, g, step));
    ECPS_EXPECT_OK(cl.Push(p, g, step));
  }
  for (size_t t = 0; t < specs.size(); ++t) {
    const size_t n = specs[t].rows * specs[t].width;
    std::vector<float> ra(n), rb(n);
    ASSERT_TRUE(local->ReadRows(static_cast<int>(t), 0, specs[t].rows, ra.data()).ok());
    ASSERT_TRUE(cl.ReadRows(static_cast<int>(t), 0, specs[t].rows, rb.data()).ok());
    EXPECT_EQ(ra, rb) << specs[t].name;
  }
}

// On 2 servers x 8 virtual shards: a pull decodes to the servers' own fp32
// rows (ReadRows), and its reply carries RowBytes + per-row parameter bytes
// per unique row (fp32 only for the f16 learned scale after it moved).
TEST(PsTest, CodedPullsSendCodesAndPerRowParameters) {
  const std::vector<RowTableSpec> specs = QuantizedSpecs();
  Cluster c(2, 1, 8);
  Client& cl = *c.clients[0];
  ASSERT_TRUE(cl.Reset(specs, 3).ok());
  for (int step = 1; step <= 4; ++step) {
    LookupPlan p = QuantizedPlan(specs, step);
    FetchedRows v;
    ECPS_EXPECT_OK(cl.Gather(p, &v));
    ECPS_EXPECT_OK(cl.Push(p, QuantizedGrads(specs, p, 1.0f), step));
  }
  auto server_bytes = [&] { return c.cluster->server_bytes(); };
  for (size_t t = 0; t < specs.size(); ++t) {
    // A plan that reads table t only.
    LookupPlan full = QuantizedPlan(specs, 9);
    LookupPlan p;
    p.Reset(full.num_keys, specs.size());
    p.rows[t] = full.rows[t];
    std::set<uint64_t> unique(p.rows[t].begin(), p.rows[t].end());
    unique.erase(kNoRow);
    const uint64_t before = server_bytes();
    FetchedRows v;
    ECPS_EXPECT_OK(cl.Gather(p, &v));
    const uint64_t sent = server_bytes() - before;
    // The servers' fp32 rows, row by row.
    const size_t w = specs[t].width;
    for (size_t i = 0; i < p.rows[t].size(); ++i) {
      std::vector<float> row(w, 0.0f);
      if (p.rows[t][i] != kNoRow) {
        ASSERT_TRUE(cl.ReadRows(static_cast<int>(t), p.rows[t][i], 1, row.data()).ok());
      }
      ASSERT_EQ(std::vector<float>(v.values[t].begin() + i * w, v.values[t].begin() + (i + 1) * w),
                row)
          << specs[t].name << " position " << i;
    }
    const bool fp32 = specs[t].name == "alpt8_f16";
    const size_t row_bytes = fp32 ? w * 4 : internal::CodedPullRowBytes(specs[t]);
    const uint64_t payload = unique.size() * row_bytes;
    EXPECT_GE(sent, payload) << specs[t].name;
    // Headers (each with the 32-byte job token), empty tables, modes.
    EXPECT_LT(sent, payload + 640) << specs[t].name;
  }
  EXPECT_EQ(internal::CodedPullRowBytes(specs[2]), 4u + 8u);  // u8 x 4, f32 (scale, zero)
  EXPECT_EQ(internal::CodedPullRowBytes(specs[3]), 4u + 4u);  // u8 x 4, f16 (scale, zero)
  EXPECT_EQ(internal::CodedPullRowBytes(specs[4]), 3u + 4u);  // u4 x 5 packed, f16 pair
  EXPECT_EQ(internal::CodedPullRowBytes(specs[5]), 4u + 4u);  // i8 x 4, f32 scale only
  EXPECT_EQ(internal::CodedPullRowBytes(specs[6]), 8u + 4u);  // i16 x 4, f32 scale only
}

// The memory report over the PS charges what the servers' LocalRowStores
// hold: per-row scales in their scale_dtype (2 bytes each for f16), a learned
// scale without a zero, and ALPT's Adam state of the scale.
TEST(PsTest, MemoryReportMatchesLocalRowStoreForF16ScalesAndAlpt) {
  std::vector<RowTableSpec> specs;
  for (const RowTableSpec& s : QuantizedSpecs())
    if (s.name == "u8_row_f16" || s.name == "u4_row_f16" || s.name == "alpt8" ||
        s.name == "alpt8_f16")
      specs.push_back(s);
  ASSERT_EQ(specs.size(), 4u);
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  auto local = NewLocalRowStore(opt);
  ASSERT_TRUE(local->Reset(specs, 4).ok());
  Cluster c(2, 1, 4);
  Client& cl = *c.clients[0];
  ASSERT_TRUE(cl.Reset(specs, 4).ok());
  EXPECT_EQ(cl.parameter_bytes(), local->parameter_bytes());
  EXPECT_EQ(cl.optimizer_bytes(), local->optimizer_bytes());
  // 300 rows each: u8 x 4 + f16 (scale, zero); u4 x 5 (3 B) + f16 pair;
  // i8 x 4 + f32 scale; i8 x 4 + f16 scale.
  EXPECT_EQ(local->parameter_bytes(), 300u * ((4 + 4) + (3 + 4) + (4 + 4) + (4 + 2)));
  // Adam: 2 x width floats per row; ALPT adds (m, v) of its scale.
  EXPECT_EQ(local->optimizer_bytes(), 300u * 4 * (8 + 10 + (8 + 2) + (8 + 2)));
  // The servers' own report and per-table bytes agree with it.
  auto stats = cl.ServerStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  auto j = nlohmann::json::parse(*stats);
  uint64_t param = 0, optim = 0, table_bytes = 0;
  for (const auto& server : j) {
    param += server["parameter_bytes"].get<uint64_t>();
    optim += server["optimizer_bytes"].get<uint64_t>();
    for (const auto& t : server["tables"]) table_bytes += t["bytes"].get<uint64_t>();
  }
  EXPECT_EQ(param, local->parameter_bytes());
  EXPECT_EQ(optim, local->optimizer_bytes());
  EXPECT_EQ(table_bytes, local->parameter_bytes());
}

TEST(PsTest, CheckpointWithOtherVirtualShardCountIsRejected) {
  ScopedDir dir;
  std::string specs;
  std::vector<Client::ShardFile> files;
  {
    Cluster c(1, 1, 4);
    ASSERT_TRUE(c.clients[0]->Reset(Specs(), 1).ok());
    auto saved = c.clients[0]->SaveShards(dir.Prefix());
    ASSERT_TRUE(saved.ok()) << saved.status();
    files = *saved;
    specs = c.clients[0]->EncodedSpecs();
  }
  Cluster c(1, 1, 8);
  Status s = c.clients[0]->LoadShards(specs, files);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("virtual shard"), std::string::npos) << s;
}

// A shard file that differs from what its server reported (size or checksum)
// is refused by the server that reads it, naming the file.
TEST(PsTest, DamagedShardFileIsRefusedNamingIt) {
  ScopedDir dir;
  Cluster c(2, 1, 4);
  Client& cl = *c.clients[0];
  ASSERT_TRUE(cl.Reset(Specs(), 1).ok());
  auto saved = cl.SaveShards(dir.Prefix());
  ASSERT_TRUE(saved.ok()) << saved.status();
  std::vector<Client::ShardFile> files = *saved;
  ASSERT_TRUE(cl.LoadShards(cl.EncodedSpecs(), files).ok());
  std::filesystem::resize_file(files[3].path, files[3].bytes - 1);
  Status s = cl.LoadShards(cl.EncodedSpecs(), files);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find(files[3].path), std::string::npos) << s;
}

// The rows live on the servers: RowStore's one-blob Load is refused with a
// pointer to the sharded path (EmbeddingLayer never asks a client for it).
TEST(PsTest, OneBlobLoadPointsToTheShardedPath) {
  Cluster c(1, 1, 2);
  ASSERT_TRUE(c.clients[0]->Reset(Specs(), 1).ok());
  auto local = NewLocalRowStore(SparseOptimizerConfig{});
  ASSERT_TRUE(local->Reset(Specs(), 1).ok());
  Status s = c.clients[0]->Load(local->Save().value());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("SaveShards/LoadShards"), std::string::npos) << s;
}

// Issue 14 item 6: a forged "reset optimizer state" or shutdown, well formed
// but without the job's token, is rejected and counted, and changes nothing:
// the rows after it equal those of a run that never received it, while a
// real reset would change them.
TEST(PsTest, ForgedResetOptimizerStateAndShutdownWithoutTheTokenHaveNoEffect) {
  auto run = [](int mode) {  // 0: nothing, 1: forged messages, 2: a real reset
    Cluster c(1, 1, 2);
    EXPECT_TRUE(c.clients[0]->Reset(Specs(), 1).ok());
    const LookupPlan plan = Plan(3);
    const FetchedRows g = Grads(plan, 1.0f);
    EXPECT_TRUE(c.clients[0]->Push(plan, g, 1).ok());
    const int server = InProcCluster::ServerNode(0);
    if (mode == 1) {
      for (MsgType type : {MsgType::kResetOptState, MsgType::kShutdown}) {
        Message forged;
        forged.header.type = type;
        forged.header.sender = c.cluster->WorkerNode(0);
        forged.header.recipient = server;
        EXPECT_TRUE(c.rpcs[0]->transport().SendRaw(server, comm::EncodeMessage(forged)).ok());
      }
      for (int i = 0; i < 1000 && c.servers[0]->rejected_messages() < 2; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      EXPECT_EQ(c.servers[0]->rejected_messages(), 2u);
    } else if (mode == 2) {
      EXPECT_TRUE(c.clients[0]->ResetOptimizerState().ok());
    }
    EXPECT_TRUE(c.clients[0]->Push(plan, g, 2).ok());
    FetchedRows rows;
    EXPECT_TRUE(c.clients[0]->Gather(plan, &rows).ok());  // still serving
    return rows.values;
  };
  const auto untouched = run(0);
  EXPECT_EQ(run(1), untouched);
  EXPECT_NE(run(2), untouched);  // the test would see a reset
}

TEST(PsTest, MalformedRequestsAreRejectedAndTheServerKeepsServing) {
  Cluster c(1, 1, 4);
  ASSERT_TRUE(c.clients[0]->Reset(Specs(), 1).ok());
  comm::Rpc& rpc = *c.rpcs[0];
  const int server = InProcCluster::ServerNode(0);
  auto call = [&](Message m) {
    auto f = rpc.Call(server, std::move(m));
    return rpc.Wait(f, 5000, "test").status();
  };
  // Undecodable bytes: dropped and counted.
  ASSERT_TRUE(rpc.transport().SendRaw(server, comm::WireMessage{"junk", {}}).ok());
  comm::WireMessage truncated = comm::EncodeMessage(Message{});
  truncated.header.resize(truncated.header.size() - 3);
  ASSERT_TRUE(rpc.transport().SendRaw(server, std::move(truncated)).ok());
  comm::WireMessage wrong_version = comm::EncodeMessage(Message{});
  wrong_version.header[5] = 99;
  ASSERT_TRUE(rpc.transport().SendRaw(server, std::move(wrong_version)).ok());
  // Decodable but wrong: an error reply each.
  Message pull;
  pull.header.type = MsgType::kPull;
  ps::internal::SetPullFields(&pull.header, {ps::internal::kNoWait, 0, 0});
  EXPECT_FALSE(call(pull).ok());  // no tables
  pull.payloads = {Buffer::FromVector(std::vector<uint64_t>{5000}),
                   Buffer::FromVector(std::vector<uint64_t>{})};
  Status oob = call(pull);
  EXPECT_EQ(oob.code(), absl::StatusCode::kOutOfRange) << oob;
  pull.payloads = {Buffer::FromString("abc"), Buffer::FromVector(std::vector<uint64_t>{})};
  EXPECT_EQ(call(pull).code(), absl::StatusCode::kDataLoss);
  Message push;
  push.header.type = MsgType::kPush;
  push.payloads = {Buffer::FromVector(std::vector<uint64_t>{1}),
                   Buffer::FromVector(std::vector<float>{1.0f}),  // width is 4
                   Buffer::FromVector(std::vector<uint64_t>{}),
                   Buffer::FromVector(std::vector<float>{}),
                   Buffer::FromVector(std::vector<uint64_t>{1, 0})};
  EXPECT_EQ(call(push).code(), absl::StatusCode::kInvalidArgument);
  push.payloads.back() = Buffer::FromVector(std::vector<uint64_t>{1});  // lookups of one table
  push.payloads[1] = Buffer::FromVector(std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f});
  EXPECT_EQ(call(push).code(), absl::StatusCode::kInvalidArgument);
  Message odd;
  odd.header.type = static_cast<MsgType>(999);
  EXPECT_FALSE(call(odd).ok());
  Message reset;
  reset.header.type = MsgType::kReset;
  reset.payloads = {Buffer::FromString("\x01\x02")};
  EXPECT_EQ(call(reset).code(), absl::StatusCode::kDataLoss);
  // Still serving.
  LookupPlan p = Plan(1);
  FetchedRows v;
  ECPS_EXPECT_OK(c.clients[0]->Gather(p, &v));
  EXPECT_EQ(v.values[0].size(), p.rows[0].size() * 4);
  EXPECT_GE(c.servers[0]->rejected_messages(), 8u);
}

// Issue 14: the specs of a reset or reshape are checked as a locally built
// table's before a server draws anything for them. A forged table whose
// initialiser the store does not draw (7) aborted the server in
// RowInitStream's check; now every server refuses it naming the table, and
// keeps its tables and serving.
TEST(PsTest, ForgedSpecWithAnUnknownInitialiserIsRefusedAndTheServersServeOn) {
  Cluster c(2, 1, 4);
  ASSERT_TRUE(c.clients[0]->Reset(Specs(), 1).ok());
  const LookupPlan p = Plan(1);
  FetchedRows before, after;
  ECPS_ASSERT_OK(c.clients[0]->Gather(p, &before));
  std::vector<RowTableSpec> forged = Specs();
  forged[1].init = static_cast<RowInit>(7);
  comm::Rpc& rpc = *c.rpcs[0];
  Message reset;
  reset.header.type = MsgType::kReset;
  internal::SetResetSeed(&reset.header, 3);
  reset.payloads = {Buffer::FromString(internal::EncodeSpecs(forged))};
  for (int s = 0; s < 2; ++s) {
    auto f = rpc.Call(InProcCluster::ServerNode(s), reset);
    const Status st = rpc.Wait(f, 5000, "forged reset").status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_NE(st.message().find("reset: table 'w': unknown row initialiser 7"), std::string::npos)
        << st;
  }
  const Status reshaped = c.clients[0]->Reshape(forged, 3, {});
  EXPECT_EQ(reshaped.code(), absl::StatusCode::kInvalidArgument) << reshaped;
  EXPECT_NE(reshaped.message().find("reshape: table 'w': unknown row initialiser 7"),
            std::string::npos)
      << reshaped;
  ECPS_ASSERT_OK(c.clients[0]->Gather(p, &after));
  EXPECT_EQ(after.values, before.values);
  for (Server* s : c.servers) EXPECT_GE(s->rejected_messages(), 2u);
}

// Issue 14: a server allocates the rows a reset or reshape asks for only if
// its share fits the memory it may use (ServerOptions::max_memory_bytes,
// cluster.server_memory_mb; by default its host's). A forged spec of 2^38
// rows made the server reserve 2^39 floats per virtual shard (bad_alloc on a
// handler thread: the process terminated); now it is refused naming the
// sizes, before anything is allocated, and the server serves on.
TEST(PsTest, TablesLargerThanTheServerMayHoldAreRefusedBeforeAllocating) {
  RowTableSpec huge;
  huge.name = "E";
  huge.rows = uint64_t{1} << 38;
  huge.width = 4;
  huge.init_bound = 0.1;
  {
    Cluster c(2, 1, 4);  // the host's memory
    const uint64_t rss = CurrentRssBytes();
    const Status s = c.clients[0]->Reset({huge}, 1);
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    EXPECT_NE(s.message().find("its host's or cgroup's memory"), std::string::npos) << s;
    EXPECT_NE(s.message().find("table 0 'E' of 274877906944 rows x 4 (137438953472 rows here)"),
              std::string::npos)
        << s;
    EXPECT_LT(CurrentRssBytes(), rss + (uint64_t{256} << 20));
    ECPS_ASSERT_OK(c.clients[0]->Reset(Specs(), 1));
    FetchedRows v;
    ECPS_EXPECT_OK(c.clients[0]->Gather(Plan(1), &v));
  }
  // A configured limit of 1 MiB: the 1037 rows of Specs() fit, 50,000 rows
  // of width 4 (at least 32 bytes each: the row and its initial value) do
  // not, by reset or by reshape; the tables stay as they were.
  Cluster c(1, 1, 4, Consistency::kBsp, 0, 0, PrefetchMode::kOff, uint64_t{1} << 20);
  ECPS_ASSERT_OK(c.clients[0]->Reset(Specs(), 1));
  const LookupPlan p = Plan(2);
  FetchedRows before, after;
  ECPS_ASSERT_OK(c.clients[0]->Gather(p, &before));
  std::vector<RowTableSpec> big = Specs();
  big[0].rows = 50000;
  const Status reshaped = c.clients[0]->Reshape(big, 2, {});
  EXPECT_EQ(reshaped.code(), absl::StatusCode::kResourceExhausted) << reshaped;
  EXPECT_NE(reshaped.message().find("reshape: the 2 tables would take"), std::string::npos)
      << reshaped;
  EXPECT_NE(reshaped.message().find("more than the 1 MiB it may use (cluster.server_memory_mb)"),
            std::string::npos)
      << reshaped;
  ECPS_ASSERT_OK(c.clients[0]->Gather(p, &after));  // the client kept its tables too
  EXPECT_EQ(after.values, before.values);
  const Status reset = c.clients[0]->Reset(big, 1);
  EXPECT_EQ(reset.code(), absl::StatusCode::kResourceExhausted) << reset;
  EXPECT_NE(reset.message().find("table 0 'E' of 50000 rows x 4 (50000 rows here)"),
            std::string::npos)
      << reset;
}

TEST(PsTest, SspStalenessBoundHolds) {
  constexpr int64_t kStaleness = 2;
  Cluster c(2, 2, 4, Consistency::kSsp, kStaleness);
  ASSERT_TRUE(c.clients[0]->Reset(Specs(), 1).ok());
  ASSERT_TRUE(c.clients[1]->Reset(Specs(), 1).ok());
  LookupPlan p = Plan(2);
  FetchedRows g = Grads(p, 1.0f), v;
  // Worker 0 runs ahead while worker 1 is stalled: its pulls are served until
  // it is kStaleness clocks ahead, then they wait.
  for (int step = 1; step <= kStaleness; ++step) {
    ECPS_EXPECT_OK(c.clients[0]->Gather(p, &v));
    ECPS_EXPECT_OK(c.clients[0]->Push(p, g, step));
  }
  ECPS_EXPECT_OK(c.clients[0]->Gather(p, &v));  // clock 2 - 0 <= 2: served
  ECPS_EXPECT_OK(c.clients[0]->Push(p, g, 3));
  auto blocked = c.clients[0]->PullAsync(p, &v);  // clock 3 - 0 > 2: waits
  EXPECT_EQ(blocked.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  FetchedRows v1;
  ECPS_EXPECT_OK(c.clients[1]->Gather(p, &v1));
  ECPS_EXPECT_OK(c.clients[1]->Push(p, g, 1));  // worker 1 reaches clock 1: 3 - 1 <= 2
  ASSERT_EQ(blocked.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(blocked.get().ok());
  for (auto& s : c.servers) EXPECT_LE(s->max_staleness(), kStaleness);
  EXPECT_EQ(std::max(c.servers[0]->max_staleness(), c.servers[1]->max_staleness()), kStaleness);
}

TEST(PsTest, BspAppliesAStepOnceAllWorkersPushed) {
  Cluster c(1, 2, 4, Consistency::kBsp);
  ASSERT_TRUE(c.clients[0]->Reset(Specs(), 1).ok());
  ASSERT_TRUE(c.clients[1]->Reset(Specs(), 1).ok());
  LookupPlan p = Plan(3);
  FetchedRows before, g = Grads(p, 1.0f), v;
  ECPS_EXPECT_OK(c.clients[0]->Gather(p, &before));
  ECPS_EXPECT_OK(c.clients[0]->Push(p, g, 1));
  auto waiting = c.clients[0]->PullAsync(p, &v);  // needs worker 1's step 1
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  ECPS_EXPECT_OK(c.clients[1]->Push(p, g, 1));
  ASSERT_TRUE(waiting.get().ok());
  EXPECT_NE(v.values[0], before.values[0]);
  EXPECT_EQ(c.servers[0]->max_staleness(), 0);
}

// An ordered prefetch, sent before the push of its step, is served only once
// that push is applied (here: both workers' pushes, BSP): the rows are exactly
// those of a pull after the push. Other pulls in between (an evaluation)
// leave it pending; a prefetch read for another clock, or before a
// whole-store operation, is not used.
TEST(PsTest, OrderedPrefetchReadsExactlyWhatAPullAfterThePushReads) {
  Cluster c(2, 2, 4, Consistency::kBsp, 0, 0, PrefetchMode::kOrdered);
  for (auto& cl : c.clients) ASSERT_TRUE(cl->Reset(Specs(), 1).ok());
  const LookupPlan p1 = Plan(1), p2 = Plan(2), other = Plan(5);
  const FetchedRows g = Grads(p1, 1.0f);
  FetchedRows v0, v1, eval;
  for (auto& cl : c.clients) ECPS_EXPECT_OK(cl->Gather(p1, &v0));
  c.clients[0]->Prefetch(p2);
  // Were the prefetch served before the pushes, it would read the old rows.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ECPS_EXPECT_OK(c.clients[0]->Gather(other, &eval));  // not the prefetched rows: a pull of its own
  ECPS_EXPECT_OK(c.clients[1]->Gather(other, &v1));
  EXPECT_EQ(eval.values, v1.values);
  EXPECT_EQ(c.clients[0]->prefetch_hits(), 0u);
  ECPS_EXPECT_OK(c.clients[0]->Push(p1, g, 1));
  ECPS_EXPECT_OK(c.clients[1]->Push(p1, g, 1));
  ECPS_EXPECT_OK(c.clients[0]->Gather(p2, &v0));  // the prefetch
  ECPS_EXPECT_OK(c.clients[1]->Gather(p2, &v1));  // a pull after both pushes
  EXPECT_EQ(c.clients[0]->prefetch_hits(), 1u);
  EXPECT_EQ(v0.values, v1.values);
  FetchedRows before;
  ECPS_EXPECT_OK(c.clients[1]->Gather(p1, &before));
  // Read for the clock after a push that never came: not used.
  c.clients[0]->Prefetch(p1);
  ECPS_EXPECT_OK(c.clients[0]->Gather(p1, &v0));
  EXPECT_EQ(c.clients[0]->prefetch_hits(), 1u);
  EXPECT_EQ(v0.values, before.values);
  // Dropped by a whole-store operation (the rows it would read change).
  c.clients[0]->Prefetch(p1);
  const std::vector<float> sevens(4, 7.0f);
  for (auto& cl : c.clients) ASSERT_TRUE(cl->WriteRows(0, 0, 1, sevens.data()).ok());
  for (auto& cl : c.clients) ECPS_EXPECT_OK(cl->Push(p2, Grads(p2, 1.0f), 2));
  ECPS_EXPECT_OK(c.clients[0]->Gather(p1, &v0));
  ECPS_EXPECT_OK(c.clients[1]->Gather(p1, &v1));
  EXPECT_EQ(c.clients[0]->prefetch_hits(), 1u);
  EXPECT_EQ(v0.values, v1.values);
}

// Under ASP (and SSP) an ordered prefetch waits for the worker's own push
// only: it reads its own writes, as a pull after the push does.
TEST(PsTest, OrderedPrefetchUnderAspReadsTheOwnPush) {
  Cluster c(1, 1, 4, Consistency::kAsp, 0, 0, PrefetchMode::kOrdered);
  ASSERT_TRUE(c.clients[0]->Reset(Specs(), 1).ok());
  const LookupPlan p = Plan(1);
  FetchedRows before, v, after;
  ECPS_EXPECT_OK(c.clients[0]->Gather(p, &before));
  c.clients[0]->Prefetch(p);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ECPS_EXPECT_OK(c.clients[0]->Push(p, Grads(p, 1.0f), 1));
  ECPS_EXPECT_OK(c.clients[0]->Gather(p, &v));  // the prefetch
  EXPECT_EQ(c.clients[0]->prefetch_hits(), 1u);
  ECPS_EXPECT_OK(c.clients[0]->Gather(p, &after));  // a pull of its own
  EXPECT_NE(v.values, before.values);
  EXPECT_EQ(v.values, after.values);
}

// An eager prefetch (ASP) is served without waiting for the worker's own
// push, and the next step's Gather() takes it.
TEST(PsTest, EagerPrefetchIsServedBeforeTheOwnPush) {
  Cluster c(1, 1, 4, Consistency::kAsp, 0, 0, PrefetchMode::kEager);
  ASSERT_TRUE(c.clients[0]->Reset(Specs(), 1).ok());
  const LookupPlan p = Plan(1);
  FetchedRows before, v;
  ECPS_EXPECT_OK(c.clients[0]->Gather(p, &before));
  auto pulled = [&] {
    return nlohmann::json::parse(c.servers[0]->StatsJson())["tables"][0]["pulls"].get<uint64_t>();
  };
  const uint64_t pulls = pulled();
  c.clients[0]->Prefetch(p);
  // The server serves it without waiting for a push: it reads the rows as
  // they were.
  for (int i = 0; i < 1000 && pulled() == pulls; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_GT(pulled(), pulls);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ECPS_EXPECT_OK(c.clients[0]->Push(p, Grads(p, 1.0f), 1));
  ECPS_EXPECT_OK(c.clients[0]->Gather(p, &v));
  EXPECT_EQ(c.clients[0]->prefetch_hits(), 1u);
  EXPECT_EQ(v.values, before.values);
}

// The hottest rows are the ones in most pulls, even when each pull holds
// hundreds of other rows (a client sends a row once per pull, so a row in
// every pull is a small share of all rows pulled). The counters survive a
// checkpoint load of the same tables.
TEST(PsTest, HotRowsAreTheRowsInMostPullsAndStatsSurviveALoad) {
  RowTableSpec big;
  big.name = "E";
  big.rows = 200000;
  big.width = 4;
  Cluster c(1, 1, 4);
  Client& cl = *c.clients[0];
  ASSERT_TRUE(cl.Reset({big}, 1).ok());
  Rng rng(3);
  // The server counts one row in 32 (server.cc TableStats): 1,000 pulls give
  // row 7 about 31 samples, an estimate within ~20%.
  constexpr int kPulls = 1000;
  for (int i = 0; i < kPulls; ++i) {
    LookupPlan p;
    p.Reset(0, 1);
    p.rows[0].push_back(7);                  // in every pull
    if (i % 2 == 0) p.rows[0].push_back(8);  // in every other pull
    for (int j = 0; j < 450; ++j) p.rows[0].push_back(100 + rng.Below(big.rows - 100));
    FetchedRows v;
    ECPS_EXPECT_OK(cl.Gather(p, &v));
    if (i % 250 == 0) {
      FetchedRows g;
      g.values = {std::vector<float>(v.values[0].size(), 0.01f)};
      ECPS_EXPECT_OK(cl.Push(p, g, i / 250 + 1));
    }
  }
  auto table = [&] {
    auto stats = cl.ServerStats();
    EXPECT_TRUE(stats.ok()) << stats.status();
    return nlohmann::json::parse(*stats)[0]["tables"][0];
  };
  nlohmann::json t = table();
  ASSERT_GE(t["hot"].size(), 2u);
  EXPECT_EQ(t["hot"][0][0], 7);
  EXPECT_NEAR(t["hot"][0][1].get<double>(), kPulls, 0.35 * kPulls);
  EXPECT_EQ(t["hot"][1][0], 8);
  EXPECT_NEAR(t["hot"][1][1].get<double>(), kPulls / 2, 0.35 * kPulls);
  const uint64_t pushes = t["pushes"].get<uint64_t>();
  EXPECT_GT(pushes, 0u);

  ScopedDir dir;
  auto files = cl.SaveShards(dir.Prefix());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_TRUE(cl.LoadShards(cl.EncodedSpecs(), *files).ok());
  t = table();
  EXPECT_EQ(t["pushes"].get<uint64_t>(), pushes);
  EXPECT_EQ(t["hot"][0][0], 7);
}

TEST(DividerTest, MatchesTheHardwareDivision) {
  // Edge values of n and d around the fast path's 2^32 limits, and random ones.
  std::vector<uint64_t> ds = {1,
                              2,
                              3,
                              7,
                              8,
                              10,
                              64,
                              1000,
                              65535,
                              65536,
                              0x7FFFFFFFull,
                              0xFFFFFFFEull,
                              0xFFFFFFFFull,
                              0x100000000ull,
                              0x100000001ull,
                              ~uint64_t{0}};
  std::vector<uint64_t> ns = {
      0, 1, 2, 0xFFFFFFFEull, 0xFFFFFFFFull, 0x100000000ull, 0x100000001ull, ~uint64_t{0}};
  Rng rng(3);
  for (int i = 0; i < 200; ++i) {
    ds.push_back(1 + rng.Below(1000));
    ds.push_back(1 + (rng.Next() >> 32));
  }
  for (int i = 0; i < 2000; ++i) {
    ns.push_back(rng.Next() >> 32);
    ns.push_back(rng.Below(1000000));
  }
  ns.push_back(rng.Next());
  for (uint64_t d : ds) {
    const Divider div(d);
    for (int k = 0; k < 3; ++k) ns.push_back((d << k) - 1), ns.push_back(d << k);
    for (uint64_t n : ns) {
      uint64_t q, r;
      div.DivMod(n, &q, &r);
      ASSERT_EQ(q, n / d) << n << " / " << d;
      ASSERT_EQ(r, n % d) << n << " % " << d;
      ASSERT_EQ(div.Mod(n), n % d) << n << " % " << d;
    }
  }
  const FastShardMap fast(ShardMap{3, 24});
  const ShardMap sm{3, 24};
  for (uint64_t row = 0; row < 5000; ++row) {
    int v;
    uint64_t local;
    fast.Split(row, &v, &local);
    ASSERT_EQ(v, sm.VShardOf(row));
    ASSERT_EQ(local, sm.LocalRow(row));
    ASSERT_EQ(fast.ServerOf(row), sm.ServerOf(row));
  }
}

// Big requests (>= the server's parallel threshold) with duplicates, over
// several row-work threads: each virtual shard's rows are still summed,
// updated and rounded in request order by one thread, so fp32 tables match
// LocalRowStore bit for bit (one worker: gradients applied in place) and
// quantised tables with stochastic rounding match a one-thread server (two
// workers: duplicates across pushes summed by the store).
TEST(PsTest, RowWorkThreadsKeepResultsBitForBit) {
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  RowTableSpec big;
  big.name = "big";
  big.rows = 50000;
  big.width = 8;
  big.init_bound = 0.1;
  auto plan = [](uint64_t rows, uint64_t salt, int n) {
    LookupPlan p;
    p.Reset(n, 1);
    for (int i = 0; i < n; ++i)
      p.rows[0].push_back(i % 7 == 0 ? static_cast<uint64_t>(i % 50)
                                     : (static_cast<uint64_t>(i) * 7919 + salt * 104729) % rows);
    return p;
  };
  auto grads = [](const LookupPlan& p, int w, float scale) {
    FetchedRows g;
    g.values.resize(p.rows.size());
    for (size_t t = 0; t < p.rows.size(); ++t)
      for (size_t i = 0; i < p.rows[t].size() * w; ++i)
        g.values[t].push_back(scale * (static_cast<float>((i * 7919 + t) % 101) / 101.0f - 0.5f));
    return g;
  };
  {
    auto local = NewLocalRowStore(opt);
    ASSERT_TRUE(local->Reset({big}, 5).ok());
    Cluster c(1, 1, 8, Consistency::kBsp, 0, 4);
    Client& cl = *c.clients[0];
    ASSERT_TRUE(cl.Reset({big}, 5).ok());
    for (int step = 1; step <= 4; ++step) {
      LookupPlan p = plan(big.rows, step, 6000);
      FetchedRows a, b;
      ECPS_EXPECT_OK(local->Gather(p, &a));
      ECPS_EXPECT_OK(cl.Gather(p, &b));
      ASSERT_EQ(a.values, b.values) << "step " << step;
      FetchedRows g = grads(p, big.width, static_cast<float>(step));
      ECPS_EXPECT_OK(local->Push(p, g, step));
      ECPS_EXPECT_OK(cl.Push(p, g, step));
    }
    std::vector<float> ra(big.rows * big.width), rb(ra.size());
    ASSERT_TRUE(local->ReadRows(0, 0, big.rows, ra.data()).ok());
    ASSERT_TRUE(cl.ReadRows(0, 0, big.rows, rb.data()).ok());
    EXPECT_EQ(ra, rb);
  }
  std::vector<RowTableSpec> specs = QuantizedSpecs();
  for (RowTableSpec& s : specs) s.rows = 4000;
  auto run = [&](int row_threads) {
    Cluster c(1, 2, 8, Consistency::kBsp, 0, row_threads);
    EXPECT_TRUE(c.clients[0]->Reset(specs, 7).ok());
    EXPECT_TRUE(c.clients[1]->Reset(specs, 7).ok());
    for (int step = 1; step <= 3; ++step)
      for (int w = 0; w < 2; ++w) {
        LookupPlan p;
        p.Reset(1500, specs.size());
        for (size_t t = 0; t < specs.size(); ++t)
          p.rows[t] = plan(specs[t].rows, step * 2 + w, 1500).rows[0];
        FetchedRows v;
        ECPS_EXPECT_OK(c.clients[w]->Gather(p, &v));
        FetchedRows g;
        for (size_t t = 0; t < specs.size(); ++t) {
          LookupPlan one;
          one.rows = {p.rows[t]};
          g.values.push_back(grads(one, specs[t].width, 0.5f).values[0]);
        }
        ECPS_EXPECT_OK(c.clients[w]->Push(p, g, step));
      }
    std::vector<std::vector<float>> rows(specs.size());
    for (size_t t = 0; t < specs.size(); ++t) {
      rows[t].resize(specs[t].rows * specs[t].width);
      EXPECT_TRUE(
          c.clients[0]->ReadRows(static_cast<int>(t), 0, specs[t].rows, rows[t].data()).ok());
    }
    return rows;
  };
  const auto one = run(1), four = run(4);
  for (size_t t = 0; t < specs.size(); ++t) EXPECT_EQ(one[t], four[t]) << specs[t].name;
}

}  // namespace
}  // namespace ecps::ps
