// Whole-table work at the parameter servers (docs/architecture.md
// "Whole-table work where the rows are"): ps::Client::ReduceRows and
// ps::Client::Reshape over an in-process cluster equal the single-process
// LocalRowStore's results, move no rows over the transport when the work
// splits by virtual shard, fall back to reading the rows when it does not,
// and malformed requests get error replies.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <thread>

#include "comm/rpc.h"
#include "common/check.h"
#include "compressors/row_reduction.h"
#include "ps/client.h"
#include "ps/inproc_cluster.h"
#include "ps/wire.h"
#include "tests/testing/status_testing.h"

// lhs = the value of a StatusOr expression, or a fatal failure naming it.
#define RR_CONCAT_INNER(a, b) a##b
#define RR_CONCAT(a, b) RR_CONCAT_INNER(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL(RR_CONCAT(rr_status_or_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, rexpr)                    \
  auto tmp = (rexpr);                                                 \
  ASSERT_TRUE(tmp.ok()) << #rexpr << ": " << tmp.status().ToString(); \
  lhs = std::move(*tmp)

namespace ecps::ps {
namespace {

using comm::Buffer;
using comm::Message;
using comm::MsgType;

SparseOptimizerConfig Optimizer() {
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  return opt;
}

// S servers, V virtual shards and W clients in one process.
struct Cluster {
  Cluster(int servers, int workers, int vshards) {
    InProcClusterOptions o;
    o.servers = servers;
    o.workers = workers;
    o.server.shards = {servers, vshards};
    o.server.num_workers = workers;
    o.server.optimizer = Optimizer();
    o.server.threads = 2;
    o.server.row_threads = 2;
    auto started = InProcCluster::Start(o);
    ECPS_CHECK_OK(started.status());
    cluster = std::move(*started);
    for (int w = 0; w < workers; ++w) {
      ClientOptions co;
      co.virtual_shards = vshards;
      co.primary = w == 0;
      co.optimizer = Optimizer();
      co.timeout_ms = 20000;
      clients.push_back(cluster->NewClient(w, co));
    }
  }
  ~Cluster() { cluster->Stop(); }
  uint64_t bytes() const { return cluster->worker_bytes() + cluster->server_bytes(); }
  std::unique_ptr<InProcCluster> cluster;
  std::vector<std::unique_ptr<Client>> clients;
};

std::vector<RowTableSpec> Specs(uint64_t rows = 1000) {
  RowTableSpec a;
  a.name = "E";
  a.rows = rows;
  a.width = 4;
  a.init_bound = 0.1;
  RowTableSpec b;
  b.name = "w";
  b.rows = 37;
  b.width = 1;
  b.init_bound = 0.5;
  return {a, b};
}

// A few training steps, so that the rows are not only their initial values.
// The first store gets the gradients, the others (the other workers of a
// BSP cluster, whose pushes complete each step) the same rows with zeros.
void Train(const std::vector<RowStore*>& stores, const std::vector<RowTableSpec>& specs,
           int steps) {
  for (int step = 1; step <= steps; ++step) {
    LookupPlan p;
    p.Reset(64, 2);
    FetchedRows g;
    g.values.resize(2);
    for (uint64_t i = 0; i < 64; ++i) {
      p.rows[0].push_back((i * 37 + step * 11) % specs[0].rows);
      p.rows[1].push_back((i + step) % specs[1].rows);
    }
    for (int t = 0; t < 2; ++t)
      for (size_t i = 0; i < p.rows[t].size() * specs[t].width; ++i)
        g.values[t].push_back(static_cast<float>((i * 7919 + step) % 101) / 101.0f - 0.5f);
    for (size_t k = 0; k < stores.size(); ++k) {
      if (k == 1)
        for (auto& v : g.values) std::fill(v.begin(), v.end(), 0.0f);
      ECPS_ASSERT_OK(stores[k]->Push(p, g, step));
    }
  }
}
void Train(RowStore* store, const std::vector<RowTableSpec>& specs, int steps) {
  Train(std::vector<RowStore*>{store}, specs, steps);
}

std::vector<float> AllRows(const RowStore& store, int table) {
  const RowTableSpec s = store.StoredTables()[table];  // a copy: StoredTables() is a value
  std::vector<float> v(s.rows * s.width);
  ECPS_EXPECT_OK(store.ReadRows(table, 0, s.rows, v.data()));
  return v;
}

RowReduction Projections(int table, uint64_t block_rows, int bands) {
  RowReduction op;
  op.kind = RowReductionKind::kBlockProjections;
  op.table = table;
  op.block_rows = block_rows;
  op.bands = bands;
  op.seed = 17;
  return op;
}

RowReduction Histogram(int table, uint64_t block_rows) {
  RowReduction op;
  op.kind = RowReductionKind::kBlockHistogram;
  op.table = table;
  op.block_rows = block_rows;
  op.bins = 7;
  op.lo = -0.08;
  op.hi = 0.08;
  return op;
}

RowReduction Pairs(int table, uint64_t block_rows, std::vector<uint64_t> pairs) {
  RowReduction op;
  op.kind = RowReductionKind::kBlockPairAgreement;
  op.table = table;
  op.block_rows = block_rows;
  op.tol = 0.02;
  op.pairs = std::move(pairs);
  return op;
}

void ExpectNearlyEqual(const std::vector<double>& want, const std::vector<double>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_LE(std::abs(want[i] - got[i]), 1e-12 * std::max(std::abs(want[i]), std::abs(got[i])))
        << "element " << i << ": " << want[i] << " vs " << got[i];
}

TEST(RowReductionPsTest, EveryKindOnOneAndThreeServersEqualsTheLocalStore) {
  const auto specs = Specs();
  auto local = NewLocalRowStore(Optimizer());
  ECPS_ASSERT_OK(local->Reset(specs, 5));
  Train(local.get(), specs, 3);
  // Block 62 of 16 rows is the partial last one; (3, 3) compares a block
  // with itself.
  const std::vector<uint64_t> pairs = {0, 1, 2, 5, 3, 3, 61, 62, 7, 40};
  const std::vector<RowReduction> ops = {
      Projections(0, 16, 4), Projections(0, 10, 3), Projections(1, 5, 2),       Histogram(0, 50),
      Histogram(1, 37),      Pairs(0, 16, pairs),   Pairs(0, 8, {0, 1, 124, 3})};
  for (int servers : {1, 3}) {
    Cluster c(servers, 1, 8);
    Client& cl = *c.clients[0];
    ECPS_ASSERT_OK(cl.Reset(specs, 5));
    Train(&cl, specs, 3);
    for (size_t i = 0; i < ops.size(); ++i) {
      SCOPED_TRACE(testing::Message() << servers << " servers, op " << i);
      ASSERT_OK_AND_ASSIGN(std::vector<double> want, local->ReduceRows(ops[i]));
      ASSERT_OK_AND_ASSIGN(std::vector<double> got, cl.ReduceRows(ops[i]));
      ASSERT_EQ(want.size(), RowReductionSize(ops[i], specs[ops[i].table].rows));
      if (ops[i].kind == RowReductionKind::kBlockProjections) {
        ExpectNearlyEqual(want, got);
      } else {
        EXPECT_EQ(want, got);  // counts: exact
      }
    }
    // The local store's own errors, from the servers or the client.
    EXPECT_EQ(cl.ReduceRows(Projections(2, 16, 4)).status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_EQ(cl.ReduceRows(Pairs(0, 16, {0, 63})).status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_EQ(cl.ReduceRows(Projections(0, 0, 4)).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

// Every replica asks for the same reduction: each server computes it once
// while the rows stay as they are, and again after they changed.
TEST(RowReductionPsTest, TheWorkersIdenticalReductionsAreComputedOnce) {
  const auto specs = Specs(5000);
  Cluster c(2, 2, 8);
  for (auto& cl : c.clients) ECPS_ASSERT_OK(cl->Reset(specs, 4));
  auto computed = [&] {
    return c.cluster->server(0).reductions_computed() + c.cluster->server(1).reductions_computed();
  };
  auto both = [&](const RowReduction& op) {
    std::vector<std::vector<double>> out(2);
    std::vector<std::thread> threads;
    for (int k = 0; k < 2; ++k)
      threads.emplace_back([&, k] {
        auto r = c.clients[k]->ReduceRows(op);
        ECPS_EXPECT_OK(r.status());
        if (r.ok()) out[k] = std::move(*r);
      });
    for (auto& t : threads) t.join();
    EXPECT_EQ(out[0], out[1]);
    return out[0];
  };
  const RowReduction op = Projections(0, 64, 6);
  const std::vector<double> first = both(op);
  EXPECT_EQ(computed(), 2u);  // once per server
  ASSERT_OK_AND_ASSIGN(auto again, c.clients[0]->ReduceRows(op));
  EXPECT_EQ(again, first);
  EXPECT_EQ(computed(), 2u);
  both(Histogram(0, 100));  // another op
  EXPECT_EQ(computed(), 4u);
  std::vector<RowStore*> stores = {c.clients[0].get(), c.clients[1].get()};
  Train(stores, specs, 1);
  const std::vector<double> trained = both(op);
  EXPECT_EQ(computed(), 6u);  // the rows changed
  EXPECT_NE(trained, first);
  auto local = NewLocalRowStore(Optimizer());
  ECPS_ASSERT_OK(local->Reset(specs, 4));
  Train(local.get(), specs, 1);
  ASSERT_OK_AND_ASSIGN(auto want, local->ReduceRows(op));
  ExpectNearlyEqual(want, trained);
  // A write changes them too.
  std::vector<float> row(4, 0.5f);
  ECPS_ASSERT_OK(c.clients[0]->WriteRows(0, 3, 1, row.data()));
  both(op);
  EXPECT_EQ(computed(), 8u);
}

TEST(RowReductionPsTest, PairsAcrossVirtualShardsFallBackToReadingTheRows) {
  const auto specs = Specs();
  auto local = NewLocalRowStore(Optimizer());
  ECPS_ASSERT_OK(local->Reset(specs, 3));
  Cluster c(2, 1, 8);
  Client& cl = *c.clients[0];
  ECPS_ASSERT_OK(cl.Reset(specs, 3));
  // 10 rows per block, 8 virtual shards: a pair's rows are in other shards.
  const RowReduction op = Pairs(0, 10, {0, 1, 4, 99, 50, 50});
  ASSERT_OK_AND_ASSIGN(std::vector<double> want, local->ReduceRows(op));
  const uint64_t before = c.bytes();
  ASSERT_OK_AND_ASSIGN(std::vector<double> got, cl.ReduceRows(op));
  EXPECT_EQ(want, got);
  EXPECT_EQ(got[2], 10.0 * 4);  // a block agrees with itself
  // The pairs' blocks crossed the network: at least 5 distinct blocks of 10
  // rows x 4 floats.
  EXPECT_GE(c.bytes() - before, 5u * 10 * 4 * 4);
}

TEST(RowReductionPsTest, ReduceAndReshapeMoveNoRowPayload) {
  const auto specs = Specs(20000);
  Cluster c(2, 1, 8);
  Client& cl = *c.clients[0];
  ECPS_ASSERT_OK(cl.Reset(specs, 1));
  const uint64_t payload = specs[0].rows * specs[0].width * 4;
  uint64_t before = c.bytes();
  ASSERT_OK_AND_ASSIGN(auto proj, cl.ReduceRows(Projections(0, 1000, 4)));
  ASSERT_OK_AND_ASSIGN(auto pairs, cl.ReduceRows(Pairs(0, 1000, {0, 1, 2, 3})));
  const uint64_t reduced = c.bytes() - before;
  EXPECT_EQ(proj.size(), 20u * 4);
  EXPECT_LT(reduced, payload / 20) << reduced << " bytes";
  RowTableSpec kept = specs[0];
  kept.name = "kept";
  kept.rows = 10000;
  before = c.bytes();
  const std::vector<RowCopy> copies = {
      {0, 8000, 0, 0, 5000}, {0, 16, 0, 5000, 5000}, {1, 0, 1, 0, 37}};
  ECPS_ASSERT_OK(cl.Reshape({kept, specs[1]}, 2, copies));
  const uint64_t reshaped = c.bytes() - before;
  EXPECT_LT(reshaped, payload / 20) << reshaped << " bytes";
  EXPECT_EQ(cl.StoredTables()[0].rows, 10000u);
}

// The single-process RowStore::Reshape and the cluster's, row for row: the
// copies' rows, and every other row's initial value from the seed.
void ExpectReshapeMatches(int servers, int workers, const std::vector<RowCopy>& copies) {
  const auto specs = Specs();
  RowTableSpec a = specs[0];
  a.name = "A";
  a.rows = 600;
  RowTableSpec b = specs[0];
  b.name = "B";
  b.rows = 301;
  b.init_bound = 0.3;
  RowTableSpec w = specs[1];
  const std::vector<RowTableSpec> next = {a, b, w};
  auto local = NewLocalRowStore(Optimizer());
  ECPS_ASSERT_OK(local->Reset(specs, 5));
  Train(local.get(), specs, 4);
  ECPS_ASSERT_OK(local->Reshape(next, 77, copies));
  Cluster c(servers, workers, 8);
  ECPS_ASSERT_OK(c.clients[0]->Reset(specs, 5));
  for (int k = 1; k < workers; ++k) ECPS_ASSERT_OK(c.clients[k]->Reset(specs, 5));
  std::vector<RowStore*> stores;
  for (auto& cl : c.clients) stores.push_back(cl.get());
  Train(stores, specs, 4);
  // Every worker asks (the replicas' stage changes); the servers change the
  // rows once all have.
  std::vector<Status> st(workers);
  std::vector<std::thread> threads;
  for (int k = 0; k < workers; ++k)
    threads.emplace_back([&, k] { st[k] = c.clients[k]->Reshape(next, 77, copies); });
  for (auto& t : threads) t.join();
  for (int k = 0; k < workers; ++k) ECPS_ASSERT_OK(st[k]);
  for (int t = 0; t < 3; ++t) {
    EXPECT_EQ(AllRows(*local, t), AllRows(*c.clients[0], t)) << next[t].name;
    EXPECT_EQ(c.clients[workers - 1]->StoredTables(), next);
  }
  EXPECT_EQ(local->parameter_bytes(), c.clients[0]->parameter_bytes());
  // The optimizer state starts fresh: a step after the reshape agrees too.
  LookupPlan p;
  p.Reset(4, 3);
  FetchedRows g;
  g.values.resize(3);
  for (int t = 0; t < 3; ++t) {
    for (uint64_t r : {0ul, 5ul, 17ul, 36ul}) p.rows[t].push_back(r);
    g.values[t].assign(4 * next[t].width, 0.25f);
  }
  ECPS_ASSERT_OK(local->Push(p, g, 1));
  if (workers == 1) {
    ECPS_ASSERT_OK(c.clients[0]->Push(p, g, 1));
    FetchedRows x, y;
    ECPS_ASSERT_OK(local->Gather(p, &x));
    ECPS_ASSERT_OK(c.clients[0]->Gather(p, &y));
    EXPECT_EQ(x.values, y.values);
  }
}

TEST(RowReductionPsTest, ReshapeOnTwoServersEqualsTheLocalStoreRowForRow) {
  // 8 virtual shards: every copy keeps its rows' shards (dst = src mod 8),
  // two overlap (the later wins) and w keeps its rows.
  const std::vector<RowCopy> aligned = {
      {0, 16, 0, 8, 200}, {0, 500, 1, 4, 100}, {0, 40, 1, 96, 64}, {1, 0, 2, 0, 37}};
  ExpectReshapeMatches(2, 1, aligned);
  ExpectReshapeMatches(2, 2, aligned);
  ExpectReshapeMatches(1, 1, aligned);
}

TEST(RowReductionPsTest, ReshapeAcrossVirtualShardsSendsTheRowsThroughThePrimary) {
  // 3 -> 0 and 999 -> 300 change shards; the others do not.
  const std::vector<RowCopy> mixed = {
      {0, 3, 0, 0, 50}, {0, 16, 0, 200, 100}, {0, 999, 1, 300, 1}, {1, 5, 2, 0, 30}};
  ExpectReshapeMatches(2, 1, mixed);
  ExpectReshapeMatches(3, 2, mixed);
}

TEST(RowReductionPsTest, ReshapedRowsCheckpointAndRestoreOntoThreeServers) {
  const auto specs = Specs();
  RowTableSpec a = specs[0];
  a.name = "A";
  a.rows = 300;
  const std::vector<RowTableSpec> next = {a, specs[1]};
  const std::vector<RowCopy> copies = {{0, 800, 0, 0, 100}, {1, 0, 1, 0, 37}};
  const std::string dir = (std::filesystem::path(::testing::TempDir()) /
                           ("ecps_reshape_ckpt." + std::to_string(::getpid())))
                              .string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::vector<std::vector<float>> rows;
  std::string encoded;
  std::vector<Client::ShardFile> files;
  {
    Cluster c(2, 1, 8);
    Client& cl = *c.clients[0];
    ECPS_ASSERT_OK(cl.Reset(specs, 5));
    Train(&cl, specs, 2);
    ECPS_ASSERT_OK(cl.Reshape(next, 9, copies));
    for (int t = 0; t < 2; ++t) rows.push_back(AllRows(cl, t));
    ASSERT_OK_AND_ASSIGN(files, cl.SaveShards(dir + "/ckpt"));
    encoded = cl.EncodedSpecs();
  }
  Cluster c(3, 1, 8);
  Client& cl = *c.clients[0];
  ECPS_ASSERT_OK(cl.LoadShards(encoded, files));
  EXPECT_EQ(cl.StoredTables(), next);
  for (int t = 0; t < 2; ++t) EXPECT_EQ(rows[t], AllRows(cl, t));
  std::filesystem::remove_all(dir);
}

TEST(RowReductionPsTest, BadCopiesFailAndLeaveTheTablesAsTheyWere) {
  const auto specs = Specs();
  Cluster c(2, 1, 8);
  Client& cl = *c.clients[0];
  ECPS_ASSERT_OK(cl.Reset(specs, 5));
  const std::vector<float> before = AllRows(cl, 0);
  RowTableSpec narrow = specs[0];
  narrow.width = 2;
  EXPECT_EQ(cl.Reshape({narrow}, 1, std::vector<RowCopy>{{0, 0, 0, 0, 8}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cl.Reshape(specs, 1, std::vector<RowCopy>{{0, 990, 0, 0, 20}}).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(cl.Reshape(specs, 1, std::vector<RowCopy>{{2, 0, 0, 0, 1}}).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(cl.StoredTables(), specs);
  EXPECT_EQ(before, AllRows(cl, 0));
}

TEST(RowReductionPsTest, MalformedRequestsAreAnsweredWithErrors) {
  const auto specs = Specs();
  Cluster c(1, 1, 4);
  Client& cl = *c.clients[0];
  ECPS_ASSERT_OK(cl.Reset(specs, 1));
  comm::Rpc& rpc = c.cluster->rpc(0);
  const int server = InProcCluster::ServerNode(0);
  auto call = [&](Message m) {
    auto f = rpc.Call(server, std::move(m));
    return rpc.Wait(f, 5000, "test").status();
  };
  auto reduce = [&](const RowReduction& op) {
    Message m;
    m.header.type = MsgType::kReduceRows;
    internal::SetMinClock(&m.header, internal::kNoWait);
    m.payloads = internal::EncodeRowReduction(op);
    return m;
  };
  const uint64_t rejected = c.cluster->server(0).rejected_messages();
  Message m = reduce(Projections(0, 16, 4));
  m.payloads.pop_back();
  EXPECT_EQ(call(m).code(), absl::StatusCode::kInvalidArgument);  // 1 payload
  m = reduce(Projections(0, 16, 4));
  m.payloads[0] = Buffer::FromString("abc");
  EXPECT_EQ(call(m).code(), absl::StatusCode::kDataLoss);
  m.payloads[0] = Buffer::FromVector(std::vector<uint64_t>{0, 0, 16});
  EXPECT_EQ(call(m).code(), absl::StatusCode::kInvalidArgument);  // 3 fields
  std::vector<uint64_t> f(internal::kRowReductionWords, 0);
  f[0] = 9;  // no such kind
  m.payloads[0] = Buffer::FromVector(std::vector<uint64_t>(f));
  EXPECT_EQ(call(m).code(), absl::StatusCode::kInvalidArgument);
  f[0] = 0;
  f[1] = uint64_t{1} << 40;  // table past int
  m.payloads[0] = Buffer::FromVector(std::vector<uint64_t>(f));
  EXPECT_EQ(call(m).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(call(reduce(Projections(5, 16, 4))).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(call(reduce(Projections(0, 0, 4))).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(call(reduce(Projections(0, 16, -1))).code(), absl::StatusCode::kInvalidArgument);
  // Sizes a server refuses to allocate.
  EXPECT_EQ(call(reduce(Projections(0, uint64_t{1} << 40, 4))).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(call(reduce(Projections(0, 1, 1 << 30))).code(), absl::StatusCode::kInvalidArgument);
  RowReduction h = Histogram(0, 1);
  h.bins = 1 << 30;
  EXPECT_EQ(call(reduce(h)).code(), absl::StatusCode::kInvalidArgument);
  h = Histogram(0, 16);
  h.hi = std::nan("");
  EXPECT_EQ(call(reduce(h)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(call(reduce(Pairs(0, 16, {0, 1, 2}))).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(call(reduce(Pairs(0, 16, {0, 1u << 30}))).code(), absl::StatusCode::kOutOfRange);
  // 4 virtual shards, 6 rows per block: the server cannot pair alone.
  EXPECT_EQ(call(reduce(Pairs(0, 6, {0, 1}))).code(), absl::StatusCode::kFailedPrecondition);

  auto reshape = [&](std::vector<RowCopy> copies, int64_t worker = 0) {
    Message r;
    r.header.type = MsgType::kReshape;
    internal::SetReshapeFields(&r.header, {internal::kNoWait, 3, worker});
    r.payloads = {Buffer::FromString(internal::EncodeSpecs(specs)),
                  internal::EncodeRowCopies(copies)};
    return r;
  };
  EXPECT_EQ(call(reshape({}, 1)).code(), absl::StatusCode::kInvalidArgument);  // worker 1 of 1
  EXPECT_EQ(call(reshape({}, -1)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(call(reshape({{0, 0, 3, 0, 1}})).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(call(reshape({{0, 999, 0, 0, 2}})).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(call(reshape({{0, 0, 1, 0, 1}})).code(), absl::StatusCode::kInvalidArgument);  // width
  Message r = reshape({});
  r.payloads[1] = Buffer::FromVector(std::vector<uint64_t>{1, 2, 3});
  EXPECT_EQ(call(r).code(), absl::StatusCode::kInvalidArgument);
  r = reshape({});
  r.payloads[0] = Buffer::FromString("\x01\x02");
  EXPECT_EQ(call(r).code(), absl::StatusCode::kDataLoss);
  r = reshape({{0, 1, 0, 0, 4}});  // unaligned: needs its rows ...
  EXPECT_EQ(call(r).code(), absl::StatusCode::kInvalidArgument);
  r.payloads.push_back(Buffer::FromVector(std::vector<float>(3, 0.0f)));  // ... all of them
  EXPECT_EQ(call(r).code(), absl::StatusCode::kInvalidArgument);
  r.payloads.back() = Buffer::FromVector(std::vector<float>(16, std::nanf("")));
  EXPECT_EQ(call(r).code(), absl::StatusCode::kInvalidArgument);  // not finite
  r = reshape({});
  r.payloads.push_back(Buffer::FromVector(std::vector<float>(4, 0.0f)));  // values of no copy
  EXPECT_EQ(call(r).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_GE(c.cluster->server(0).rejected_messages() - rejected, 25u);
  // Still serving, with the tables unchanged.
  EXPECT_EQ(cl.StoredTables(), specs);
  ASSERT_OK_AND_ASSIGN(auto counts, cl.ReduceRows(Histogram(1, 37)));
  double total = 0;
  for (double x : counts) total += x;
  EXPECT_EQ(total, 37.0);
}

}  // namespace
}  // namespace ecps::ps
