// Tests of DHE (docs/methods.md §2.8): the lookup against the naive double
// reference (tests/compressors/reference/dhe_reference.h) in evaluation mode
// (given running statistics) and training mode (batch statistics, and the
// running statistics' update), finite-difference gradients of every kind of
// dense parameter (Linear, BatchNorm in both modes, Mish), the hash
// constants, the budget solvers on Criteo's cardinalities (CODE's widths
// 3626/1372/271/29 with solver=authors), determinism, refused states and bad
// parameters, SyncBN (two in-process ranks against the reference over the
// concatenated batch; a failed all-reduce surfaces in AfterStep), and
// training end to end: one process, and 1 vs 2 simulated workers.
#include "compressors/hashing/dhe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "comm/collective.h"
#include "common/file_util.h"
#include "common/rng.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"
#include "embedding/row_store.h"
#include "launch/cluster_config.h"
#include "launch/simulate.h"
#include "tests/compressors/reference/dhe_reference.h"
#include "tests/testing/feature_space.h"
#include "tests/testing/small_dataset.h"
#include "tests/testing/status_testing.h"
#include "worker/checkpoint.h"
#include "worker/train_config.h"
#include "worker/trainer.h"

namespace ecps {
namespace {

using testing::Keys;
using testing::Normal;
using testing::Space;

FeatureSpace Criteo() {
  return Space({1460,  583,  10131227, 2202608, 305, 24,     12517,   633,   3,
                93145, 5683, 8351593,  3194,    27,  14992,  5461306, 10,    5652,
                2173,  4,    7046547,  18,      15,  286181, 105,     142572},
               16);
}

// A small space: a field kept full and two DHE fields.
FeatureSpace Tiny() { return Space({3, 200, 500}, 3); }

ParamSet Params(const std::vector<std::string>& sets) {
  static const ParamSchema* const kSchema = new ParamSchema(DheEmbedding::Schema());
  ParamSet p(kSchema);
  EXPECT_TRUE(p.ApplyOverrides(sets).ok());
  return p;
}

CompressorContext Context(const FeatureSpace& s, double budget = 0.5, uint64_t seed = 5) {
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  ctx.seed = seed;
  return ctx;
}

const std::vector<std::string> kSmallMlp = {"num_hash=8", "width=4", "layers=2",
                                            "num_buckets=1000"};

std::unique_ptr<EmbeddingLayer> MakeLayer(const FeatureSpace& s,
                                          const std::vector<std::string>& sets, uint64_t seed = 5) {
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  auto layer = std::make_unique<EmbeddingLayer>(DheEmbedding::Create(), NewLocalRowStore(opt));
  const Status st = layer->Init(Context(s, 0.5, seed), Params(sets));
  EXPECT_TRUE(st.ok()) << st;
  return layer;
}

DheEmbedding& Dhe(EmbeddingLayer& l) { return static_cast<DheEmbedding&>(l.compressor()); }

std::vector<std::vector<float>> AllRows(EmbeddingLayer& l) {
  std::vector<std::vector<float>> rows;
  for (const RowTableSpec& t : l.store().StoredTables()) {
    rows.emplace_back(t.rows * static_cast<uint64_t>(t.width));
    EXPECT_TRUE(
        l.store().ReadRows(static_cast<int>(rows.size() - 1), 0, t.rows, rows.back().data()).ok());
  }
  return rows;
}

std::vector<double> ToDouble(std::span<const float> v) { return {v.begin(), v.end()}; }

// Runs Encode + Gather + Decode on the layer's method directly.
struct Pass {
  LookupPlan plan;
  FetchedRows values;
  std::vector<float> out;
};
Pass Lookup(EmbeddingLayer& l, std::span<const uint32_t> keys, bool training) {
  Pass p;
  p.plan.training = training;
  l.compressor().Encode(keys, &p.plan);
  EXPECT_TRUE(l.store().Gather(p.plan, &p.values).ok());
  p.out.assign(keys.size() * l.compressor().Tables()[0].width, std::nanf(""));
  l.compressor().Decode(p.plan, p.values, p.out.data());
  return p;
}

void ExpectClose(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * std::max(1.0, std::abs(want[i]))) << "element " << i;
}

TEST(DheTest, HashConstantsAreInRangeAndPrime) {
  auto layer =
      MakeLayer(Space({3, 5000, 9000}, 3), {"num_hash=64", "width=4", "num_buckets=1000000"});
  const DheEmbedding& m = Dhe(*layer);
  EXPECT_EQ(m.width(0), 0);
  for (int f : {1, 2}) {
    ASSERT_EQ(m.width(f), 4);
    const auto& h = m.hashes(f);
    ASSERT_EQ(h.p.size(), 64u);
    for (int i = 0; i < 64; ++i) {
      EXPECT_GE(h.a[i], 1u);
      EXPECT_LT(h.a[i], 1000000u);
      EXPECT_GE(h.b[i], 1u);
      EXPECT_LT(h.b[i], 1000000u);
      EXPECT_GE(h.p[i], 1000000u);
      EXPECT_LT(h.p[i], 2000000u);
      EXPECT_TRUE(DheEmbedding::IsPrime(h.p[i])) << h.p[i];
    }
  }
  EXPECT_NE(m.hashes(1), m.hashes(2)) << "each field has its own hash functions";
  for (uint64_t n : {2ull, 3ull, 1000003ull, 2305843009213693951ull})
    EXPECT_TRUE(DheEmbedding::IsPrime(n));
  for (uint64_t n : {0ull, 1ull, 1000001ull, 3215031751ull, 2305843009213693953ull})
    EXPECT_FALSE(DheEmbedding::IsPrime(n)) << n;
}

// The encodings exactly: every 32-bit id (not only those below n_f) under
// both arithmetic paths (M = 10^6: doubles; M = 2^30: 64-bit integers).
TEST(DheTest, EncodingsEqualTheLiteralHashes) {
  for (const std::string m : {"1000000", "1073741824", "7"}) {
    for (const std::string dist : {"uniform", "gaussian"}) {
      SCOPED_TRACE(m + " " + dist);
      auto layer = MakeLayer(
          Tiny(), {"num_hash=64", "width=4", "layers=1", "num_buckets=" + m, "dist=" + dist});
      const DheEmbedding& e = Dhe(*layer);
      ASSERT_EQ(e.width(2), 4);
      Rng rng(6);
      std::vector<uint32_t> ids = {0, 1, 2, 499, 4294967295u, 4294967294u, 1000000, 999999};
      for (int i = 0; i < 200; ++i) ids.push_back(static_cast<uint32_t>(rng.Next()));
      // Repeats (hashed once, copied) between distinct ids spread over the
      // hashing threads (more than 128 distinct ids).
      for (int i = 0; i < 100; ++i) ids.push_back(ids[static_cast<size_t>(rng.Next() % 150)]);
      std::vector<float> u(ids.size() * 64);
      e.Encodings(2, ids, u.data());
      const double big_m = static_cast<double>(e.num_buckets());
      for (size_t j = 0; j < ids.size(); ++j) {
        const std::vector<double> want = dhe_ref::Encoding(e, 2, ids[j]);
        for (int i = 0; i < 64; ++i) {
          if (dist == "uniform") {
            // The same float the method computes from the literal hash.
            const double h = static_cast<double>(dhe_ref::Hash(e, 2, i, ids[j]));
            ASSERT_EQ(u[j * 64 + i], static_cast<float>(2.0 / (big_m - 1) * h - 1.0))
                << "id " << ids[j] << " hash " << i;
          } else {
            ASSERT_NEAR(u[j * 64 + i], want[i], 1e-5 * std::max(1.0, std::abs(want[i])))
                << "id " << ids[j] << " hash " << i;
          }
        }
      }
    }
  }
}

// Evaluation mode with non-trivial running statistics: the reference in
// double, for both encodings.
TEST(DheTest, EvalLookupEqualsReference) {
  // M = 10^6 takes the double path of the hashes, M = 2^30 the integer one.
  for (const std::string dist : {"uniform", "gaussian", "uniform_big_m", "gaussian_big_m"}) {
    SCOPED_TRACE(dist);
    const bool big = dist.ends_with("_big_m");
    std::vector<std::string> sets = {"num_hash=32", "width=6", "layers=3",
                                     "dist=" + dist.substr(0, dist.find('_')),
                                     big ? "num_buckets=1073741824" : "num_buckets=1000000"};
    auto layer = MakeLayer(Tiny(), sets);
    DheEmbedding& m = Dhe(*layer);
    Rng rng(3);
    std::span<float> buf = m.DenseBuffers();
    ASSERT_EQ(buf.size(), 2u * 2 * 3 * 6);
    for (int f : {1, 2})
      for (int l = 0; l < 3; ++l)
        for (int c = 0; c < 6; ++c) {
          buf[m.buffer_offset(f) + 2 * l * 6 + c] = static_cast<float>(rng.Normal() * 0.3);
          buf[m.buffer_offset(f) + (2 * l + 1) * 6 + c] = static_cast<float>(0.5 + rng.Uniform());
        }
    const std::vector<uint32_t> keys = Keys(Tiny(), 9, &rng);
    Pass p = Lookup(*layer, keys, false);
    const auto want = dhe_ref::Lookup(m, Tiny(), AllRows(*layer), ToDouble(m.DenseParams()),
                                      ToDouble(m.DenseBuffers()), keys, false);
    ExpectClose(p.out, want, 1e-4);
  }
}

// Training mode: batch statistics; DecodeBackward then moves the running
// statistics 10% of the way to the batch mean and unbiased variance.
TEST(DheTest, TrainingLookupAndRunningStatisticsEqualReference) {
  auto layer = MakeLayer(Tiny(), {"num_hash=32", "width=5", "layers=2"});
  DheEmbedding& m = Dhe(*layer);
  Rng rng(4);
  const std::vector<uint32_t> keys = Keys(Tiny(), 12, &rng);
  Pass p = Lookup(*layer, keys, true);
  const std::vector<double> before = ToDouble(m.DenseBuffers());
  std::vector<double> stats;
  const auto want = dhe_ref::Lookup(m, Tiny(), AllRows(*layer), ToDouble(m.DenseParams()), before,
                                    keys, true, &stats);
  ExpectClose(p.out, want, 1e-4);
  FetchedRows grads;
  grads.values = p.values.values;
  const std::vector<float> g = Normal(p.out.size(), &rng);
  m.DecodeBackward(p.plan, p.values, g.data(), &grads);
  const std::span<float> after = m.DenseBuffers();
  for (size_t i = 0; i < after.size(); ++i)
    EXPECT_NEAR(after[i], 0.9 * before[i] + 0.1 * stats[i],
                1e-5 * std::max(1.0, std::abs(stats[i])))
        << i;
  // An evaluation pass leaves them alone.
  Pass e = Lookup(*layer, keys, false);
  std::vector<float> copy(after.begin(), after.end());
  m.DecodeBackward(e.plan, e.values, g.data(), &grads);
  EXPECT_TRUE(std::equal(copy.begin(), copy.end(), m.DenseBuffers().begin()));
  // The rows of the full field get the output gradient, DHE keys zeros.
  for (size_t i = 0; i < keys.size(); ++i)
    for (int c = 0; c < 3; ++c)
      EXPECT_EQ(grads.values[0][i * 3 + c], i % 3 == 0 ? g[i * 3 + c] : 0.0f) << i;
}

// Central differences of L = <g, out> on the double reference against the
// float analytic DenseGrads(), for every parameter of a small MLP (Linear
// weights and biases, BN γ and β, the output layer), in training mode (batch
// statistics) and in evaluation mode.
TEST(DheTest, FiniteDifferenceGradients) {
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "eval");
    auto layer = MakeLayer(Tiny(), kSmallMlp);
    DheEmbedding& m = Dhe(*layer);
    Rng rng(8);
    // Perturb β away from 0 so that Mish is probed on both sides, and set
    // running statistics for the eval pass.
    std::span<float> params = m.DenseParams();
    for (float& v : params) v += static_cast<float>(0.3 * rng.Normal());
    for (int f : {1, 2})
      for (int c = 0; c < 2 * 2 * 4; ++c)
        m.DenseBuffers()[m.buffer_offset(f) + c] = (c / 4) % 2 == 0
                                                       ? static_cast<float>(rng.Normal() * 0.2)
                                                       : static_cast<float>(0.5 + rng.Uniform());
    const std::vector<uint32_t> keys = Keys(Tiny(), 7, &rng);
    const std::vector<double> buffers = ToDouble(m.DenseBuffers());
    Pass p = Lookup(*layer, keys, training);
    const std::vector<float> g = Normal(p.out.size(), &rng);
    FetchedRows grads;
    grads.values = p.values.values;
    m.DecodeBackward(p.plan, p.values, g.data(), &grads);
    const std::vector<float> analytic(m.DenseGrads().begin(), m.DenseGrads().end());
    const auto rows = AllRows(*layer);
    std::vector<double> theta = ToDouble(params);
    auto loss = [&](const std::vector<double>& th) {
      const auto out = dhe_ref::Lookup(m, Tiny(), rows, th, buffers, keys, training);
      double s = 0;
      for (size_t i = 0; i < out.size(); ++i) s += g[i] * out[i];
      return s;
    };
    ASSERT_EQ(theta.size(), 2 * DheEmbedding::FieldParams(8, 2, 3, 4));
    const double eps = 1e-5;
    int checked = 0;
    for (size_t i = 0; i < theta.size(); ++i) {
      std::vector<double> up = theta, down = theta;
      up[i] += eps;
      down[i] -= eps;
      const double numeric = (loss(up) - loss(down)) / (2 * eps);
      ASSERT_NEAR(analytic[i], numeric, 2e-3 * std::max(1.0, std::abs(numeric)))
          << "parameter " << i;
      ++checked;
    }
    EXPECT_EQ(checked, static_cast<int>(theta.size()));
  }
}

// The trainer's adapter, over an in-process collective.
struct CollectiveSums final : WorkerSums {
  explicit CollectiveSums(comm::Collective* c) : c(c) {}
  int size() const override { return c->size(); }
  Status AllreduceSum(std::span<double> data) override { return c->AllreduceSum(data); }
  comm::Collective* c;
};

// SyncBN: two ranks, each with half of a batch's samples, normalise by the
// whole batch's statistics: each rank's outputs are the double reference's
// over the concatenated batch, the ranks' DenseGrads() sum to one process's
// gradient of the whole batch, and both ranks' running statistics equal that
// process's. Without sync_bn the halves use their own statistics.
TEST(DheTest, SyncBnOverTwoRanksEqualsTheConcatenatedBatch) {
  const std::vector<std::string> sets = {"num_hash=16", "width=5", "layers=3"};
  constexpr int kSamples = 12;
  Rng rng(21);
  const std::vector<uint32_t> keys = Keys(Tiny(), kSamples, &rng);
  const size_t half = keys.size() / 2;
  auto whole = MakeLayer(Tiny(), sets);
  DheEmbedding& w = Dhe(*whole);
  // Running statistics away from their init, so the update is checked.
  for (float& v : w.DenseBuffers()) v += static_cast<float>(0.5 * rng.Uniform());
  const std::vector<double> before = ToDouble(w.DenseBuffers());
  const auto want =
      dhe_ref::Lookup(w, Tiny(), AllRows(*whole), ToDouble(w.DenseParams()), before, keys, true);
  Pass p = Lookup(*whole, keys, true);
  ExpectClose(p.out, want, 1e-4);
  const std::vector<float> g = Normal(p.out.size(), &rng);
  FetchedRows grads;
  grads.values = p.values.values;
  w.DecodeBackward(p.plan, p.values, g.data(), &grads);

  for (bool sync : {true, false}) {
    SCOPED_TRACE(sync ? "sync_bn=true" : "sync_bn=false");
    std::vector<std::string> rsets = sets;
    rsets.push_back(sync ? "sync_bn=true" : "sync_bn=false");
    comm::InProcCollectiveGroup group(2);
    std::vector<std::unique_ptr<EmbeddingLayer>> layers;
    std::vector<std::vector<float>> out(2), dense_grads(2), buffers(2);
    for (int r = 0; r < 2; ++r) {
      layers.push_back(MakeLayer(Tiny(), rsets));
      std::ranges::copy(before, Dhe(*layers[r]).DenseBuffers().begin());
    }
    std::vector<Status> after_step(2);
    std::vector<std::thread> threads;
    for (int r = 0; r < 2; ++r)
      threads.emplace_back([&, r] {
        std::unique_ptr<comm::Collective> member = group.Member(r);
        CollectiveSums sums(member.get());
        DheEmbedding& m = Dhe(*layers[r]);
        m.AttachWorkers(&sums);
        const std::span<const uint32_t> mine(keys.data() + r * half, half);
        Pass q = Lookup(*layers[r], mine, true);
        out[r] = q.out;
        FetchedRows gr;
        gr.values = q.values.values;
        m.DecodeBackward(q.plan, q.values, g.data() + r * half * 3, &gr);
        dense_grads[r].assign(m.DenseGrads().begin(), m.DenseGrads().end());
        buffers[r].assign(m.DenseBuffers().begin(), m.DenseBuffers().end());
        after_step[r] = m.AfterStep(1);
        m.AttachWorkers(nullptr);
      });
    for (std::thread& t : threads) t.join();
    std::vector<float> joined = out[0];
    joined.insert(joined.end(), out[1].begin(), out[1].end());
    if (!sync) {
      // Each half by its own statistics: not the whole batch's.
      double diff = 0;
      for (size_t i = 0; i < joined.size(); ++i)
        diff = std::max(diff, std::abs(joined[i] - want[i]));
      EXPECT_GT(diff, 1e-3);
      continue;
    }
    for (int r = 0; r < 2; ++r) ECPS_EXPECT_OK(after_step[r]);
    ExpectClose(joined, want, 1e-4);
    const std::span<float> gw = w.DenseGrads();
    ASSERT_EQ(dense_grads[0].size(), gw.size());
    for (size_t i = 0; i < gw.size(); ++i)
      ASSERT_NEAR(dense_grads[0][i] + dense_grads[1][i], gw[i],
                  1e-4 * std::max(1.0f, std::abs(gw[i])))
          << "gradient " << i;
    for (int r = 0; r < 2; ++r)
      for (size_t i = 0; i < buffers[r].size(); ++i)
        ASSERT_NEAR(buffers[r][i], w.DenseBuffers()[i],
                    1e-5 * std::max(1.0f, std::abs(w.DenseBuffers()[i])))
            << "rank " << r << " buffer " << i;
  }
}

// A failed all-reduce does not crash or hang: the decode falls back to the
// local statistics, AfterStep() of that step returns the error, naming
// SyncBN, and the next step starts clean.
TEST(DheTest, FailedSyncBnAllReduceSurfacesInAfterStep) {
  struct Failing final : WorkerSums {
    int size() const override { return 2; }
    Status AllreduceSum(std::span<double>) override {
      ++calls;
      return IoError("worker 1 is gone");
    }
    int calls = 0;
  } failing;
  auto layer = MakeLayer(Tiny(), kSmallMlp);
  DheEmbedding& m = Dhe(*layer);
  m.AttachWorkers(&failing);
  Rng rng(3);
  const std::vector<uint32_t> keys = Keys(Tiny(), 6, &rng);
  Pass p = Lookup(*layer, keys, true);
  for (float v : p.out) ASSERT_TRUE(std::isfinite(v));
  FetchedRows grads;
  grads.values = p.values.values;
  const std::vector<float> g = Normal(p.out.size(), &rng);
  m.DecodeBackward(p.plan, p.values, g.data(), &grads);
  EXPECT_EQ(failing.calls, 1) << "no all-reduce after the first failure";
  const Status st = m.AfterStep(1);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_NE(st.message().find("SyncBN"), std::string::npos) << st;
  ECPS_EXPECT_OK(m.AfterStep(2));
  // Evaluation never calls the collective.
  Lookup(*layer, keys, false);
  EXPECT_EQ(failing.calls, 1);
  m.AttachWorkers(nullptr);
}

TEST(DheTest, SameSeedSameModelOtherSeedRefused) {
  auto a = MakeLayer(Tiny(), kSmallMlp, 9);
  auto b = MakeLayer(Tiny(), kSmallMlp, 9);
  auto c = MakeLayer(Tiny(), kSmallMlp, 10);
  EXPECT_EQ(a->compressor().SaveState(), b->compressor().SaveState());
  EXPECT_TRUE(std::ranges::equal(a->compressor().DenseParams(), b->compressor().DenseParams()));
  Rng rng(1);
  const std::vector<uint32_t> keys = Keys(Tiny(), 5, &rng);
  EXPECT_EQ(Lookup(*a, keys, true).out, Lookup(*b, keys, true).out);
  EXPECT_NE(Dhe(*a).hashes(1), Dhe(*c).hashes(1));
  const Status st = a->compressor().LoadState(c->compressor().SaveState());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(std::string(st.message()).find("dhe"), std::string::npos) << st;
  ECPS_EXPECT_OK(a->compressor().LoadState(b->compressor().SaveState()));
}

TEST(DheTest, BadParametersAreRefused) {
  DheEmbedding m;
  const Status st = m.Init(Context(Tiny()), Params({"num_hash=7", "dist=gaussian"}));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(std::string(st.message()).find("embedding.params.num_hash"), std::string::npos) << st;
}

// Widths on Criteo (d = 16): CODE's solver reproduces docs/methods.md §5's
// h = 3626 / 1372 / 271 / 29; the default (fill) stays within 1% below every
// budget, counting the running statistics and hash constants.
TEST(DheTest, BudgetOnCriteo) {
  const FeatureSpace s = Criteo();
  const double full = 4.0 * static_cast<double>(s.total()) * s.dim;
  const double budgets[] = {0.5, 0.1, 0.01, 0.001};
  const int authors[] = {3626, 1372, 271, 29};
  for (int i = 0; i < 4; ++i) {
    DheEmbedding a;
    ECPS_ASSERT_OK(a.Init(Context(s, budgets[i]), Params({"solver=authors", "init=tiny"})));
    EXPECT_EQ(a.width(2), authors[i]) << budgets[i];  // the 10,131,227-id field
    for (const std::string solver : {"fill", "shared"}) {
      DheEmbedding m;
      ECPS_ASSERT_OK(m.Init(Context(s, budgets[i]), Params({"solver=" + solver})));
      const double r = static_cast<double>(m.Memory().inference_bytes) / full;
      int dhe_fields = 0, lo = 1 << 30, hi = 0;
      for (int f = 0; f < s.num_fields(); ++f)
        if (m.width(f) != 0)
          ++dhe_fields, lo = std::min(lo, m.width(f)), hi = std::max(hi, m.width(f));
      std::printf("dhe %-6s budget %-6g ratio %.6f widths %d..%d over %d fields\n", solver.c_str(),
                  budgets[i], r, lo, hi, dhe_fields);
      EXPECT_LE(r, budgets[i]);
      if (solver == "fill") {
        EXPECT_GE(r, 0.99 * budgets[i]);
      }
    }
  }
}

// Memory is the E rows plus each DHE field's bytes(h).
TEST(DheTest, MemoryFromTheShapes) {
  auto layer = MakeLayer(Tiny(), kSmallMlp);
  const MemoryReport r = layer->Memory();
  EXPECT_EQ(r.parameter_bytes, 4u * 3 * 3);
  EXPECT_EQ(r.auxiliary_bytes, 2 * DheEmbedding::FieldBytes(8, 2, 3, 4));
  EXPECT_EQ(DheEmbedding::FieldBytes(8, 2, 3, 4),
            4 * (9 * 4 + 5 * 4 + 5 * 3 + 2 * 2 * 4 + 2 * 2 * 4) + 24 * 8);
  EXPECT_EQ(layer->compressor().DenseParams().size(), 2 * DheEmbedding::FieldParams(8, 2, 3, 4));
  EXPECT_EQ(r.inference_bytes, r.parameter_bytes + r.auxiliary_bytes);
}

// ------------------------------------------------------------ end to end --

// DHE under a test-only name that records its DenseBuffers() after every
// step, per replica (the trainer side of the contract: with 2 workers the
// replicas' running statistics stay identical).
constexpr char kRecordingName[] = "test-dhe-recording";
struct BufferLog {
  std::mutex mu;
  std::vector<std::vector<std::vector<float>>> per_replica;
};
BufferLog& Buffers() {
  static BufferLog* const kLog = new BufferLog;
  return *kLog;
}

class RecordingDhe final : public Compressor {
 public:
  RecordingDhe() {
    std::lock_guard<std::mutex> l(Buffers().mu);
    id_ = Buffers().per_replica.size();
    Buffers().per_replica.emplace_back();
  }
  static std::unique_ptr<Compressor> Create() { return std::make_unique<RecordingDhe>(); }
  std::string Name() const override { return kRecordingName; }
  Status Init(const CompressorContext& ctx, const ParamSet& p) override { return m_.Init(ctx, p); }
  std::vector<RowTableSpec> Tables() const override { return m_.Tables(); }
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override {
    m_.Encode(keys, plan);
  }
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override {
    m_.Decode(plan, rows, out);
  }
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* g,
                      FetchedRows* grads) override {
    m_.DecodeBackward(plan, rows, g, grads);
  }
  std::span<float> DenseParams() override { return m_.DenseParams(); }
  std::span<float> DenseGrads() override { return m_.DenseGrads(); }
  std::span<float> DenseBuffers() override { return m_.DenseBuffers(); }
  void AttachWorkers(WorkerSums* workers) override { m_.AttachWorkers(workers); }
  Status AfterStep(int64_t step) override {
    RETURN_IF_ERROR(m_.AfterStep(step));
    std::lock_guard<std::mutex> l(Buffers().mu);
    const std::span<float> b = m_.DenseBuffers();
    Buffers().per_replica[id_].emplace_back(b.begin(), b.end());
    return OkStatus();
  }
  MemoryReport Memory() const override { return m_.Memory(); }
  std::string SaveState() const override { return m_.SaveState(); }
  Status LoadState(const std::string& blob) override { return m_.LoadState(blob); }

 private:
  size_t id_ = 0;
  DheEmbedding m_;
};

class DheTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(RegisterTestOnlyCompressor({kRecordingName, "test", "DHE recording its buffers",
                                            DheEmbedding::Schema(), &RecordingDhe::Create})
                    .ok());
    ds_ = testing::SmallDataset::Create("ecps_dhe_test", 12000, 6000);
  }
  static void TearDownTestSuite() { ds_.reset(); }
  static inline std::unique_ptr<testing::SmallDataset> ds_;

  // A small DHE (k = 64, h = 16, 2 layers) on the fields above 300 ids.
  static std::vector<std::string> Sets(const std::string& out, const std::string& method = "dhe") {
    std::vector<std::string> sets = ds_->FastConfig(out);
    sets.insert(sets.end(), {"embedding.method=" + method, "embedding.budget=0.5",
                             "embedding.params.num_hash=64", "embedding.params.width=16",
                             "embedding.params.layers=2", "embedding.params.threshold=300",
                             "train.max_steps=300", "train.evals_per_epoch=2"});
    return sets;
  }
};

TEST_F(DheTrainTest, TrainsInOneProcessAndOnTwoWorkers) {
  auto cfg = LoadTrainConfig("", Sets("dhe_single"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto t = Trainer::Create(*cfg, ds_->data());
  ASSERT_TRUE(t.ok()) << t.status();
  auto one = (*t)->Run(false);
  ASSERT_TRUE(one.ok()) << one.status();
  const double auc1 = (*one)["test_auc"].get<double>();

  std::vector<std::string> csets = Sets("dhe_sim22");
  csets.insert(csets.end(), {"cluster.servers=2", "cluster.workers=2"});
  auto ccfg = LoadTrainConfig("", csets);
  ASSERT_TRUE(ccfg.ok()) << ccfg.status();
  auto shape = launch::ClusterShapeFromConfig(*ccfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto two = launch::RunSimulation(*ccfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(two.ok()) << two.status();
  const double auc2 = (*two)["test_auc"].get<double>();
  std::printf("dhe test_auc %.5f (1 process) %.5f (2 servers, 2 workers) ratio %.4f\n", auc1, auc2,
              (*one)["inference_memory_ratio"].get<double>());
  EXPECT_GT(auc1, 0.65) << one->dump(2);
  EXPECT_EQ((*one)["steps"], (*two)["steps"]);
  // SyncBN: the workers normalise by the global batch's statistics, as the
  // single process does, so the runs differ only by float summation order.
  EXPECT_NEAR(auc1, auc2, 0.002);
  // The MLPs' Adam state (2 floats per parameter, held by the trainer) is in
  // the embedding's training memory.
  const auto& tm = (*one)["training_memory"];
  const uint64_t mlp_params = (*one)["inference_memory_bytes"].get<uint64_t>() / 4;  // upper bound
  const uint64_t adam = tm["embedding_dense_optimizer_bytes"].get<uint64_t>();
  EXPECT_GT(adam, 0u);
  EXPECT_EQ(adam % 8, 0u);
  EXPECT_LE(adam, 8 * mlp_params);
  EXPECT_GE(tm["embedding_total_bytes"].get<uint64_t>(),
            adam + tm["embedding_parameter_bytes"].get<uint64_t>() +
                tm["embedding_auxiliary_bytes"].get<uint64_t>());
}

// With 2 workers both replicas hold the same running statistics after every
// step (SyncBN moves them by the global batch's statistics, and the trainer
// averages them), worker 0's last checkpoint holds them (MDBF), and after the
// first step they are the single process's (the same global batch) within
// float tolerance.
TEST_F(DheTrainTest, TwoWorkersKeepIdenticalRunningStatistics) {
  std::vector<float> single_step1;
  {
    {
      std::lock_guard<std::mutex> l(Buffers().mu);
      Buffers().per_replica.clear();
    }
    std::vector<std::string> sets = Sets("dhe_buffers1", kRecordingName);
    sets.push_back("train.max_steps=1");
    auto cfg = LoadTrainConfig("", sets);
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    auto t = Trainer::Create(*cfg, ds_->data());
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE((*t)->Run(false).ok());
    std::lock_guard<std::mutex> l(Buffers().mu);
    for (const auto& b : Buffers().per_replica)
      if (!b.empty()) single_step1 = b.front();
    Buffers().per_replica.clear();
  }
  ASSERT_FALSE(single_step1.empty());
  std::vector<std::string> sets = Sets("dhe_buffers", kRecordingName);
  sets.insert(sets.end(), {"train.max_steps=20", "cluster.servers=2", "cluster.workers=2"});
  auto cfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto shape = launch::ClusterShapeFromConfig(*cfg);
  ASSERT_TRUE(shape.ok()) << shape.status();
  auto r = launch::RunSimulation(*cfg, ds_->data(), *shape, /*resume=*/false);
  ASSERT_TRUE(r.ok()) << r.status();
  std::lock_guard<std::mutex> l(Buffers().mu);
  std::vector<const std::vector<std::vector<float>>*> replicas;
  for (const auto& b : Buffers().per_replica)
    if (!b.empty()) replicas.push_back(&b);
  ASSERT_EQ(replicas.size(), 2u);
  ASSERT_EQ(replicas[0]->size(), 20u);
  EXPECT_EQ(*replicas[0], *replicas[1]);
  EXPECT_NE(replicas[0]->front(), replicas[0]->back()) << "the statistics never moved";
  const std::vector<float>& step1 = replicas[0]->front();
  ASSERT_EQ(step1.size(), single_step1.size());
  for (size_t i = 0; i < step1.size(); ++i)
    ASSERT_NEAR(step1[i], single_step1[i], 1e-5 * std::max(1.0f, std::abs(single_step1[i])))
        << "running statistic " << i << " after step 1";
  // The newest dense part of the sharded checkpoint (ckpt.g<N>.dense,
  // docs/formats.md) holds the final statistics.
  std::string newest;
  int generation = -1;
  for (const auto& e : std::filesystem::directory_iterator(ds_->dir() + "/dhe_buffers")) {
    const std::string name = e.path().filename().string();
    int g = 0;
    if (std::sscanf(name.c_str(), "ckpt.g%d.dense", &g) == 1 && name.ends_with(".dense") &&
        g > generation)
      generation = g, newest = e.path().string();
  }
  ASSERT_FALSE(newest.empty());
  auto ck = CheckpointReader::Open(newest);
  ASSERT_TRUE(ck.ok()) << ck.status();
  auto mdbf = ck->Get("MDBF");
  ASSERT_TRUE(mdbf.ok()) << mdbf.status();
  const std::vector<float>& last = replicas[0]->back();
  ASSERT_EQ(mdbf->size(), last.size() * sizeof(float));
  EXPECT_EQ(std::memcmp(mdbf->data(), last.data(), mdbf->size()), 0);
}

// The running statistics survive a checkpoint: a run stopped at step 75 (an
// evaluation, so last.ckpt) and resumed to 150 equals the uninterrupted run
// bit for bit (its evaluations read the running statistics); a checkpoint
// without MDBF is refused, naming the file.
TEST_F(DheTrainTest, RunningStatisticsSurviveResume) {
  auto run = [&](const std::string& out, const std::string& steps, bool resume) {
    std::vector<std::string> sets = Sets(out);
    sets.push_back("train.max_steps=" + steps);
    auto cfg = LoadTrainConfig("", sets);
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    auto t = Trainer::Create(*cfg, ds_->data());
    EXPECT_TRUE(t.ok()) << t.status();
    return (*t)->Run(resume);
  };
  auto full = run("dhe_resume_full", "150", false);
  ASSERT_TRUE(full.ok()) << full.status();
  ASSERT_TRUE(run("dhe_resume_split", "75", false).ok());
  const std::string path = ds_->dir() + "/dhe_resume_split/last.ckpt";
  const std::string saved = *ReadFile(path);
  auto resumed = run("dhe_resume_split", "150", true);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ((*resumed)["test_auc"], (*full)["test_auc"]);
  EXPECT_EQ((*resumed)["val_auc"], (*full)["val_auc"]);
  auto a = CheckpointReader::Open(ds_->dir() + "/dhe_resume_full/last.ckpt");
  auto b = CheckpointReader::Open(path);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->Has("MDBF"));
  EXPECT_GT(a->Get("MDBF")->size(), 0u);
  EXPECT_EQ(*a->Get("MDBF"), *b->Get("MDBF"));

  // The step-75 checkpoint without its MDBF section.
  auto old = CheckpointReader::Parse(path, saved);
  ASSERT_TRUE(old.ok()) << old.status();
  CheckpointWriter w;
  for (const auto& [tag, payload] : old->sections())
    if (tag != "MDBF") w.Add(tag, payload);
  ECPS_ASSERT_OK(w.Write(path));
  auto refused = run("dhe_resume_split", "150", true);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find("last.ckpt"), std::string::npos) << refused.status();
  EXPECT_NE(refused.status().message().find("MDBF"), std::string::npos) << refused.status();

  // A method without buffers resumes from a checkpoint without MDBF (one
  // written before the section existed).
  std::vector<std::string> sets = ds_->FastConfig("hash_no_mdbf");
  sets.insert(sets.end(), {"embedding.method=hash", "embedding.budget=0.5",
                           "train.evals_per_epoch=2", "train.max_steps=75"});
  auto hash_cfg = LoadTrainConfig("", sets);
  ASSERT_TRUE(hash_cfg.ok()) << hash_cfg.status();
  auto h1 = Trainer::Create(*hash_cfg, ds_->data());
  ASSERT_TRUE(h1.ok() && (*h1)->Run(false).ok());
  const std::string hash_path = ds_->dir() + "/hash_no_mdbf/last.ckpt";
  auto hash_ck = CheckpointReader::Open(hash_path);
  ASSERT_TRUE(hash_ck.ok()) << hash_ck.status();
  CheckpointWriter hw;
  for (const auto& [tag, payload] : hash_ck->sections())
    if (tag != "MDBF") hw.Add(tag, payload);
  ECPS_ASSERT_OK(hw.Write(hash_path));
  sets.back() = "train.max_steps=150";
  auto hash_cfg2 = LoadTrainConfig("", sets);
  ASSERT_TRUE(hash_cfg2.ok());
  auto h2 = Trainer::Create(*hash_cfg2, ds_->data());
  ASSERT_TRUE(h2.ok());
  auto hr = (*h2)->Run(true);
  ASSERT_TRUE(hr.ok()) << hr.status();
  EXPECT_EQ((*hr)["steps"], 150);
}

}  // namespace
}  // namespace ecps
