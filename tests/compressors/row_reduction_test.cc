// The whole-table reductions of compressors/row_reduction.h against brute
// force on random tables (a partial last block included), the split over
// holders (a virtual shard's view: every V-th row from v, summed over v, is
// the whole-table result), and the refusal of malformed ops.
#include "compressors/row_reduction.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/rng.h"
#include "tests/testing/status_testing.h"

namespace ecps {
namespace {

// A RowAccess over one in-memory fp32 table.
class VectorRows final : public RowAccess {
 public:
  VectorRows(uint64_t rows, int width, std::vector<float> values)
      : rows_(rows), width_(width), values_(std::move(values)) {}
  std::vector<RowTableSpec> StoredTables() const override {
    RowTableSpec s;
    s.name = "T";
    s.rows = rows_;
    s.width = width_;
    return {s};
  }
  Status ReadRows(int table, uint64_t begin, uint64_t count, float* out) const override {
    if (table != 0 || begin + count > rows_) return OutOfRange("rows");
    std::copy(values_.begin() + begin * width_, values_.begin() + (begin + count) * width_, out);
    return OkStatus();
  }
  Status WriteRows(int, uint64_t, uint64_t, const float*, const float*) override {
    return Unimplemented("read only");
  }
  StatusOr<std::vector<double>> ReduceRows(const RowReduction& op) const override {
    return ReduceAllRows(op, *this);
  }
  const std::vector<float>& values() const { return values_; }

 private:
  uint64_t rows_;
  int width_;
  std::vector<float> values_;
};

constexpr uint64_t kRows = 1000;  // 15 full blocks of 64 rows + one of 40
constexpr int kWidth = 5;
constexpr uint64_t kBlock = 64;

// Values in [-0.1, 0.1), with block 3 a near-copy of block 1 and the partial
// block 15 a near-copy of block 2's first rows (so agreements are not all 0).
VectorRows RandomTable() {
  Rng rng(17);
  std::vector<float> v(kRows * kWidth);
  for (float& x : v) x = static_cast<float>(rng.Uniform(-0.1, 0.1));
  for (uint64_t i = 0; i < kBlock * kWidth; ++i)
    v[3 * kBlock * kWidth + i] = v[1 * kBlock * kWidth + i] + (i % 3 == 0 ? 0.05f : 0.001f);
  for (uint64_t i = 0; i < (kRows - 15 * kBlock) * kWidth; ++i)
    v[15 * kBlock * kWidth + i] = v[2 * kBlock * kWidth + i] + (i % 4 == 0 ? 0.5f : 0.0f);
  return VectorRows(kRows, kWidth, std::move(v));
}

uint64_t Blocks() { return (kRows + kBlock - 1) / kBlock; }

std::vector<double> BruteProjections(const VectorRows& t, const RowReduction& op) {
  std::vector<double> out(Blocks() * op.bands, 0.0);
  for (uint64_t r = 0; r < kRows; ++r)
    for (int c = 0; c < kWidth; ++c)
      for (int j = 0; j < op.bands; ++j)
        out[(r / kBlock) * op.bands + j] +=
            static_cast<double>(RowReductionDirection(op.seed, j, (r % kBlock) * kWidth + c)) *
            t.values()[r * kWidth + c];
  return out;
}

std::vector<double> BruteHistogram(const VectorRows& t, const RowReduction& op) {
  std::vector<double> out(Blocks() * op.bins, 0.0);
  for (uint64_t r = 0; r < kRows; ++r)
    for (int c = 0; c < kWidth; ++c) {
      const double x = t.values()[r * kWidth + c];
      int k = static_cast<int>(std::floor((x - op.lo) / (op.hi - op.lo) * op.bins));
      k = std::clamp(k, 0, op.bins - 1);
      out[(r / kBlock) * op.bins + k] += 1;
    }
  return out;
}

std::vector<double> BrutePairs(const VectorRows& t, const RowReduction& op) {
  std::vector<double> out;
  for (size_t q = 0; q < op.pairs.size(); q += 2) {
    const uint64_t a = op.pairs[q], b = op.pairs[q + 1];
    double agree = 0;
    for (uint64_t j = 0; j < kBlock; ++j) {
      const uint64_t ra = a * kBlock + j, rb = b * kBlock + j;
      if (ra >= kRows || rb >= kRows) continue;
      for (int c = 0; c < kWidth; ++c)
        agree += std::fabs(t.values()[ra * kWidth + c] - t.values()[rb * kWidth + c]) <=
                         static_cast<float>(op.tol)
                     ? 1
                     : 0;
    }
    out.push_back(agree);
  }
  return out;
}

RowReduction Projections() {
  RowReduction op;
  op.kind = RowReductionKind::kBlockProjections;
  op.block_rows = kBlock;
  op.bands = 7;
  op.seed = 99;
  return op;
}
RowReduction Histogram() {
  RowReduction op;
  op.kind = RowReductionKind::kBlockHistogram;
  op.block_rows = kBlock;
  op.bins = 13;
  op.lo = -0.08;  // some values fall below and above: the end bins
  op.hi = 0.09;
  return op;
}
RowReduction Pairs() {
  RowReduction op;
  op.kind = RowReductionKind::kBlockPairAgreement;
  op.block_rows = kBlock;
  op.tol = 0.01;
  // Repeated first blocks (read once), the partial block on either side,
  // a block with itself.
  op.pairs = {3, 1, 3, 0, 3, 2, 15, 2, 2, 15, 1, 1, 0, 14};
  return op;
}

void ExpectNear(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol * (1 + std::fabs(want[i]))) << "value " << i;
}

TEST(RowReductionTest, SizesFollowTheBlocks) {
  EXPECT_EQ(RowReductionSize(Projections(), kRows), 16u * 7);
  EXPECT_EQ(RowReductionSize(Histogram(), kRows), 16u * 13);
  EXPECT_EQ(RowReductionSize(Pairs(), kRows), 7u);
  RowReduction one = Histogram();
  one.block_rows = kRows;
  EXPECT_EQ(RowReductionSize(one, kRows), 13u);
}

TEST(RowReductionTest, DirectionsAreDeterministicStandardNormals) {
  EXPECT_EQ(RowReductionDirection(5, 3, 1234), RowReductionDirection(5, 3, 1234));
  EXPECT_NE(RowReductionDirection(5, 3, 1234), RowReductionDirection(6, 3, 1234));
  EXPECT_NE(RowReductionDirection(5, 3, 1234), RowReductionDirection(5, 4, 1234));
  double sum = 0, sq = 0;
  const int n = 100000;
  for (int p = 0; p < n; ++p) {
    const double x = RowReductionDirection(1, p % 9, static_cast<uint64_t>(p));
    sum += x;
    sq += x * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.02);
  EXPECT_NEAR(sq / n, 1.0, 0.02);
}

TEST(RowReductionTest, KernelsMatchBruteForce) {
  const VectorRows t = RandomTable();
  auto proj = t.ReduceRows(Projections());
  ASSERT_TRUE(proj.ok()) << proj.status();
  ExpectNear(*proj, BruteProjections(t, Projections()), 1e-5);
  auto hist = t.ReduceRows(Histogram());
  ASSERT_TRUE(hist.ok()) << hist.status();
  EXPECT_EQ(*hist, BruteHistogram(t, Histogram()));
  // The partial block holds 40 rows of 5 values.
  double partial = 0;
  for (int k = 0; k < 13; ++k) partial += (*hist)[15 * 13 + k];
  EXPECT_EQ(partial, 40.0 * kWidth);
  auto pairs = t.ReduceRows(Pairs());
  ASSERT_TRUE(pairs.ok()) << pairs.status();
  EXPECT_EQ(*pairs, BrutePairs(t, Pairs()));
  // The planted near-copies: 2/3 of block 3 agrees with block 1, 3/4 of the
  // partial block with block 2's first 40 rows, a block with itself fully.
  EXPECT_NEAR((*pairs)[0], kBlock * kWidth * 2.0 / 3, 2);
  EXPECT_NEAR((*pairs)[3], 40.0 * kWidth * 3 / 4, 1);
  EXPECT_EQ((*pairs)[3], (*pairs)[4]);
  EXPECT_EQ((*pairs)[5], kBlock * kWidth);
}

// A holder of every V-th row from v (a virtual shard), reading from `t`.
HeldRows Shard(const VectorRows& t, uint64_t v, uint64_t stride) {
  HeldRows h;
  h.table_rows = kRows;
  h.width = kWidth;
  h.first = v;
  h.stride = stride;
  h.count = v < kRows ? (kRows - v + stride - 1) / stride : 0;
  h.read = [&t, v, stride](uint64_t begin, uint64_t n, float* out) {
    for (uint64_t i = 0; i < n; ++i)
      RETURN_IF_ERROR(t.ReadRows(0, v + (begin + i) * stride, 1, out + i * kWidth));
    return OkStatus();
  };
  return h;
}

TEST(RowReductionTest, VirtualShardsSumToTheWholeTable) {
  const VectorRows t = RandomTable();
  for (uint64_t stride : {uint64_t{1}, uint64_t{4}, uint64_t{8}, uint64_t{64}}) {
    SCOPED_TRACE("stride " + std::to_string(stride));
    for (const RowReduction& op : {Projections(), Histogram(), Pairs()}) {
      const RowReductionContext ctx(op, kWidth);
      std::vector<double> sum(RowReductionSize(op, kRows), 0.0);
      for (uint64_t v = 0; v < stride; ++v)
        ECPS_ASSERT_OK(AccumulateRowReduction(ctx, Shard(t, v, stride), sum.data()));
      auto whole = t.ReduceRows(op);
      ASSERT_TRUE(whole.ok()) << whole.status();
      if (op.kind == RowReductionKind::kBlockProjections) {
        ExpectNear(sum, *whole, 1e-9);
      } else {
        EXPECT_EQ(sum, *whole) << static_cast<int>(op.kind);
      }
    }
  }
}

TEST(RowReductionTest, PairAgreementNeedsBlocksThatShardsDivide) {
  const VectorRows t = RandomTable();
  RowReduction op = Pairs();
  op.block_rows = 60;  // not a multiple of 8
  op.pairs = {1, 0};
  const RowReductionContext ctx(op, kWidth);
  std::vector<double> out(1, 0.0);
  const Status st = AccumulateRowReduction(ctx, Shard(t, 3, 8), out.data());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(std::string(st.message()).find("stride"), std::string::npos) << st;
  // The other kinds are plain sums: any stride.
  for (RowReduction other : {Projections(), Histogram()}) {
    other.block_rows = 60;
    std::vector<double> o(RowReductionSize(other, kRows), 0.0);
    ECPS_EXPECT_OK(
        AccumulateRowReduction(RowReductionContext(other, kWidth), Shard(t, 3, 8), o.data()));
  }
  // The whole table in one holder compares any block size.
  ECPS_EXPECT_OK(t.ReduceRows(op).status());
}

void ExpectRefused(const RowReduction& op, absl::StatusCode code, const std::string& field) {
  const VectorRows t = RandomTable();
  auto r = t.ReduceRows(op);
  ASSERT_FALSE(r.ok()) << field;
  EXPECT_EQ(r.status().code(), code) << r.status();
  EXPECT_NE(std::string(r.status().message()).find(field), std::string::npos) << r.status();
}

TEST(RowReductionTest, MalformedOpsAreRefusedNamingTheField) {
  RowReduction op = Projections();
  op.block_rows = 0;
  ExpectRefused(op, absl::StatusCode::kInvalidArgument, "block_rows");
  op = Projections();
  op.bands = 0;
  ExpectRefused(op, absl::StatusCode::kInvalidArgument, "bands");
  op = Projections();
  op.block_rows = uint64_t{1} << 40;  // directions for 2^40 rows
  ExpectRefused(op, absl::StatusCode::kInvalidArgument, "block_rows");
  op = Histogram();
  op.bins = -3;
  ExpectRefused(op, absl::StatusCode::kInvalidArgument, "bins");
  op = Histogram();
  op.block_rows = 1;
  op.bins = 1 << 30;  // 1000 x 2^30 doubles
  ExpectRefused(op, absl::StatusCode::kInvalidArgument, "bins");
  op = Histogram();
  op.lo = op.hi;
  ExpectRefused(op, absl::StatusCode::kInvalidArgument, "range");
  op = Histogram();
  op.hi = std::nan("");
  ExpectRefused(op, absl::StatusCode::kInvalidArgument, "range");
  op = Pairs();
  op.pairs.pop_back();
  ExpectRefused(op, absl::StatusCode::kInvalidArgument, "pairs");
  op = Pairs();
  op.pairs = {0, 16};
  ExpectRefused(op, absl::StatusCode::kOutOfRange, "block 16");
  op = Pairs();
  op.tol = -1;
  ExpectRefused(op, absl::StatusCode::kInvalidArgument, "tol");
  op = Histogram();
  op.table = 1;
  ExpectRefused(op, absl::StatusCode::kOutOfRange, "table 1");
  op = Histogram();
  op.kind = static_cast<RowReductionKind>(9);
  ExpectRefused(op, absl::StatusCode::kInvalidArgument, "kind");
}

TEST(RowReductionTest, HeldRowsPastTheTableAreRefused) {
  const VectorRows t = RandomTable();
  HeldRows h = Shard(t, 0, 1);
  h.table_rows = 500;  // the holder claims rows the table does not have
  const RowReduction op = Histogram();
  std::vector<double> out(RowReductionSize(op, 500), 0.0);
  const Status st = AccumulateRowReduction(RowReductionContext(op, kWidth), h, out.data());
  EXPECT_EQ(st.code(), absl::StatusCode::kOutOfRange) << st;
}

}  // namespace
}  // namespace ecps
