// compressors/internal/l2lsh.h: the hash, the offsets, the directions the
// row reductions use, and the buckets' candidate order.
#include "compressors/internal/l2lsh.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/rng.h"
#include "compressors/storage.h"

namespace ecps::method_internal {
namespace {

TEST(L2LshTest, HashIsTheCeilingOfTheShiftedProjection) {
  EXPECT_EQ(L2LshHash(0.95, 0.05, 0.5), 2);    // ceil(1.0 / 0.5)
  EXPECT_EQ(L2LshHash(0.96, 0.05, 0.5), 3);    // ceil(2.02)
  EXPECT_EQ(L2LshHash(-0.26, 0.0, 0.5), 0);    // ceil(-0.52)
  EXPECT_EQ(L2LshHash(-0.76, 0.01, 0.5), -1);  // ceil(-1.5)
  EXPECT_EQ(L2LshHash(1e300, 0, 1e-12), INT64_MAX);
  EXPECT_EQ(L2LshHash(-1e300, 0, 1e-12), INT64_MIN);
  EXPECT_EQ(L2LshHash(NAN, 0, 1), INT64_MIN);
}

TEST(L2LshTest, OffsetsAreTheSeedsUniformDrawsInBandOrder) {
  const std::vector<double> b = L2LshOffsets(9, 5, 0.25);
  ASSERT_EQ(b.size(), 5u);
  Rng rng(9);
  for (double v : b) {
    EXPECT_EQ(v, rng.Uniform(0.0, 0.25));
    EXPECT_GE(v, 0.0);
    EXPECT_LT(v, 0.25);
  }
}

// The row reductions' directions are these (one implementation): the table
// is position-major, and a row's projections are its float dot products.
TEST(L2LshTest, DirectionsAndRowProjections) {
  const int bands = 3;
  const std::vector<float> a = L2LshDirections(4, bands, 10);
  ASSERT_EQ(a.size(), 30u);
  for (uint64_t p = 0; p < 10; ++p)
    for (int j = 0; j < bands; ++j) {
      EXPECT_EQ(a[p * bands + j], L2LshDirection(4, j, p));
      EXPECT_EQ(a[p * bands + j], RowReductionDirection(4, j, p));
    }
  const float v[5] = {1, -2, 0.5f, 3, 0};
  float acc[bands] = {7, 7, 7};
  L2LshRowProjections(a.data() + 5 * bands, v, 5, bands, acc);  // positions 5..9
  for (int j = 0; j < bands; ++j) {
    float want = 0;
    for (int c = 0; c < 5; ++c) want += L2LshDirection(4, j, 5 + c) * v[c];
    EXPECT_EQ(acc[j], want) << "band " << j;
  }
}

TEST(L2LshTest, CandidatesByCollisionsThenItem) {
  L2LshBuckets buckets(3);
  const int64_t h0[3] = {1, 2, 3}, h1[3] = {1, 9, 3}, h2[3] = {1, 2, 3}, h3[3] = {8, 8, 8};
  buckets.Insert(0, h0);
  buckets.Insert(5, h1);
  buckets.Insert(2, h2);
  buckets.Insert(3, h3);
  std::vector<uint32_t> c;
  const int64_t q[3] = {1, 2, 3};
  buckets.Candidates(q, 1, &c);
  EXPECT_EQ(c, (std::vector<uint32_t>{0, 2, 5}));  // 3, 3, 2 collisions
  buckets.Candidates(q, 3, &c);
  EXPECT_EQ(c, (std::vector<uint32_t>{0, 2}));
  // The scratch counts are reset between calls.
  buckets.Candidates(q, 3, &c);
  EXPECT_EQ(c, (std::vector<uint32_t>{0, 2}));
  const int64_t none[3] = {0, 0, 0};
  buckets.Candidates(none, 1, &c);
  EXPECT_TRUE(c.empty());
  // The band matters: the same value in another band is no collision.
  const int64_t shifted[3] = {2, 3, 1};
  buckets.Candidates(shifted, 1, &c);
  EXPECT_TRUE(c.empty());
}

}  // namespace
}  // namespace ecps::method_internal
