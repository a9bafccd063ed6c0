// Evaluation (docs/methods.md §6, "Evaluation"): exact k-NN against a naive
// search, and recall/MSE of a lossless and a lossy codec.
#include "vectors/eval.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "tests/vectors/test_util.h"

namespace ecps::vectors {
namespace {

using testing::RandomVectors;

TEST(EvalTest, ExactKnnMatchesANaiveSearch) {
  const VectorSet base = RandomVectors(10000, 8, 1), q = RandomVectors(70, 8, 2);
  const std::vector<uint32_t> got = ExactKnn(base, q, 5);
  for (uint64_t i = 0; i < q.n; ++i) {
    std::vector<std::pair<double, uint32_t>> all;
    for (uint32_t r = 0; r < base.n; ++r) {
      double s = 0;
      for (int j = 0; j < 8; ++j) {
        const double t = double{q.row(i)[j]} - base.row(r)[j];
        s += t * t;
      }
      all.emplace_back(s, r);
    }
    std::partial_sort(all.begin(), all.begin() + 5, all.end());
    for (int k = 0; k < 5; ++k) EXPECT_EQ(got[i * 5 + k], all[k].second) << i << " " << k;
  }
}

TEST(EvalTest, LosslessAndLossyCodecs) {
  // 10% nonzeros: pruning at 100% keeps every nonzero, so it is lossless.
  VectorSet x = RandomVectors(2000, 16, 3);
  for (size_t i = 0; i < x.values.size(); ++i)
    if (i % 10 != 0) x.values[i] = 0;
  const VectorSet q = RandomVectors(50, 16, 4);
  CompressOptions o;
  o.budget = 1.0;
  std::unique_ptr<VectorCodec> exact = *Compress(x, "pruning", o);
  EvalOptions e;
  e.warmup = 1;
  e.timed = 2;
  EvalReport r = Evaluate(x, *exact, q, e);
  EXPECT_EQ(r.recall, 1.0);
  EXPECT_EQ(r.mse, 0.0);
  EXPECT_EQ(r.memory_bytes, exact->MemoryBytes());
  EXPECT_EQ(r.ratio, exact->MemoryBytes() / (4.0 * 2000 * 16));
  EXPECT_GT(r.decode_us_per_batch, 0);
  o.budget = 0.02;
  std::unique_ptr<VectorCodec> lossy = *Compress(x, "svd", o);
  r = Evaluate(x, *lossy, q, e);
  EXPECT_LT(r.recall, 1.0);
  EXPECT_GT(r.mse, 0.0);
  EXPECT_GT(r.rel_mse, 0.0);
  EXPECT_LT(r.rel_mse, 1.0);
}

}  // namespace
}  // namespace ecps::vectors
