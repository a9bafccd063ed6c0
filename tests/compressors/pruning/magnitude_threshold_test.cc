// The distributed magnitude threshold (compressors/pruning/magnitude_threshold.h,
// docs/methods.md §2.23): the counts of |w| < τ (RowReductionKind::
// kThresholdCounts) against brute force, the search over 1 and 3 servers
// (ps::InProcCluster) equal to the single-process search over the same
// values, exact pruned counts within DeepLight's tolerance (as the naive
// reference bisection's), the budget's side, and the persistent mask's
// sentinels.
#include "compressors/pruning/magnitude_threshold.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/rng.h"
#include "compressors/row_reduction.h"
#include "embedding/row_store.h"
#include "ps/client.h"
#include "ps/inproc_cluster.h"
#include "tests/compressors/reference/pruning_reference.h"
#include "tests/testing/status_testing.h"

namespace ecps {
namespace {

SparseOptimizerConfig Optimizer() {
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  return opt;
}

// S servers, V virtual shards, one client.
struct Cluster {
  Cluster(int servers, int vshards) {
    ps::InProcClusterOptions o;
    o.servers = servers;
    o.workers = 1;
    o.server.shards = {servers, vshards};
    o.server.num_workers = 1;
    o.server.optimizer = Optimizer();
    o.server.threads = 2;
    o.server.row_threads = 2;
    auto started = ps::InProcCluster::Start(o);
    ECPS_CHECK_OK(started.status());
    cluster = std::move(*started);
    ps::ClientOptions co;
    co.virtual_shards = vshards;
    co.primary = true;
    co.optimizer = Optimizer();
    co.timeout_ms = 20000;
    client = cluster->NewClient(0, co);
  }
  ~Cluster() { cluster->Stop(); }
  std::unique_ptr<ps::InProcCluster> cluster;
  std::unique_ptr<ps::Client> client;
};

// A table of heavy-tailed values with ties and zeros.
std::vector<float> Values(uint64_t rows, int width, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(rows * width);
  for (size_t i = 0; i < v.size(); ++i) {
    const double z = rng.Normal();
    v[i] = i % 13 == 0 ? 0.0f : i % 17 == 0 ? 0.25f : static_cast<float>(z * std::fabs(z) * 0.1);
  }
  return v;
}

RowTableSpec Table(uint64_t rows, int width) {
  RowTableSpec t;
  t.name = "E";
  t.rows = rows;
  t.width = width;
  return t;
}

TEST(ThresholdCountsTest, CountsEqualBruteForce) {
  const std::vector<float> v = Values(500, 6, 1);
  auto store = NewLocalRowStore(Optimizer());
  ECPS_ASSERT_OK(store->Reset({Table(500, 6)}, 1));
  ECPS_ASSERT_OK(store->WriteRows(0, 0, 500, v.data()));
  RowReduction op;
  op.kind = RowReductionKind::kThresholdCounts;
  op.thresholds = {0.3, 0.0, 1e-9, 0.25, 0.2500001, 5.0, 0.01};
  auto counts = ReduceAllRows(op, *store);
  ASSERT_TRUE(counts.ok()) << counts.status();
  ASSERT_EQ(counts->size(), op.thresholds.size());
  for (size_t k = 0; k < op.thresholds.size(); ++k)
    EXPECT_EQ((*counts)[k], static_cast<double>(reference::CountBelow(v, op.thresholds[k]))) << k;
  // Malformed ops are refused.
  op.thresholds = {};
  EXPECT_EQ(ReduceAllRows(op, *store).status().code(), absl::StatusCode::kInvalidArgument);
  op.thresholds = {-1.0};
  EXPECT_EQ(ReduceAllRows(op, *store).status().code(), absl::StatusCode::kInvalidArgument);
  op.thresholds = {std::nan("")};
  EXPECT_EQ(ReduceAllRows(op, *store).status().code(), absl::StatusCode::kInvalidArgument);
}

// The search over 1 and 3 servers sends the same candidates and gets the
// same counts as the single process: the same τ. Its pruned count is exact
// (brute force) and within DeepLight's tolerance, as is the reference
// bisection's.
TEST(MagnitudeThresholdTest, OneAndThreeServersEqualTheSingleProcess) {
  const uint64_t rows = 2000;
  const int width = 8;
  const std::vector<float> v = Values(rows, width, 7);
  auto local = NewLocalRowStore(Optimizer());
  ECPS_ASSERT_OK(local->Reset({Table(rows, width)}, 1));
  ECPS_ASSERT_OK(local->WriteRows(0, 0, rows, v.data()));
  Cluster one(1, 4), three(3, 16);
  for (Cluster* c : {&one, &three}) {
    ECPS_ASSERT_OK(c->client->Reset({Table(rows, width)}, 1));
    ECPS_ASSERT_OK(c->client->WriteRows(0, 0, rows, v.data()));
  }
  const double total = static_cast<double>(v.size());
  for (double s : {0.001, 0.3, 0.78125, 0.99}) {
    SCOPED_TRACE("s " + std::to_string(s));
    const double tol = total * std::min(1e-4, 1e-3 * (1 - s));
    auto a = pruning::MagnitudeThreshold(*local, 0, s * total, tol, false);
    auto b = pruning::MagnitudeThreshold(*one.client, 0, s * total, tol, false);
    auto c = pruning::MagnitudeThreshold(*three.client, 0, s * total, tol, false);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << a.status() << b.status() << c.status();
    EXPECT_EQ(a->tau, b->tau);
    EXPECT_EQ(a->tau, c->tau);
    EXPECT_EQ(a->rounds, c->rounds);
    EXPECT_EQ(a->pruned, static_cast<double>(reference::CountBelow(v, a->tau)));
    // Within the tolerance where the values allow it (ties at 0 and 0.25
    // make some fractions unreachable: then the closest).
    const double ref = reference::BisectThreshold(v, s);
    const double ref_gap = std::fabs(reference::CountBelow(v, ref) - s * total);
    EXPECT_LE(std::fabs(a->pruned - s * total), std::max(tol, ref_gap)) << "tau " << a->tau;
    // at_least: the budget's side.
    auto d = pruning::MagnitudeThreshold(*three.client, 0, s * total, 1, true);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_GE(d->pruned, s * total);
    EXPECT_EQ(d->pruned, static_cast<double>(reference::CountBelow(v, d->tau)));
  }
}

// PEP's prune rate (kSoftThresholdCounts) over 3 servers equals the single
// process's.
TEST(MagnitudeThresholdTest, SoftThresholdCountsOnThreeServersEqualTheSingleProcess) {
  const std::vector<float> v = Values(700, 6, 11);
  auto local = NewLocalRowStore(Optimizer());
  ECPS_ASSERT_OK(local->Reset({Table(700, 6)}, 1));
  ECPS_ASSERT_OK(local->WriteRows(0, 0, 700, v.data()));
  Cluster three(3, 16);
  ECPS_ASSERT_OK(three.client->Reset({Table(700, 6)}, 1));
  ECPS_ASSERT_OK(three.client->WriteRows(0, 0, 700, v.data()));
  RowReduction op;
  op.kind = RowReductionKind::kSoftThresholdCounts;
  op.lo = 0.25;
  auto a = local->ReduceRows(op);
  auto b = three.client->ReduceRows(op);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  EXPECT_EQ(*a, *b);
  EXPECT_GT((*a)[0], 0);
}

TEST(MagnitudeThresholdTest, SentinelsCountAsPrunedAndLargeValuesWiden) {
  std::vector<float> v = Values(100, 4, 3);
  for (size_t i = 0; i < v.size(); i += 5) v[i] = pruning::kPrunedValue;
  v[1] = 5000.0f;
  auto store = NewLocalRowStore(Optimizer());
  ECPS_ASSERT_OK(store->Reset({Table(100, 4)}, 1));
  ECPS_ASSERT_OK(store->WriteRows(0, 0, 100, v.data()));
  // 80 sentinels: a target of 80 is reached at τ = 0.
  auto r = pruning::MagnitudeThreshold(*store, 0, 80, 0.5, false);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->pruned, 80);
  // Everything but the sentinels and the 5000: past 100.
  auto all = pruning::MagnitudeThreshold(*store, 0, 400, 0.5, true);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->pruned, 400);
  EXPECT_GT(all->tau, 5000.0);
}

}  // namespace
}  // namespace ecps
