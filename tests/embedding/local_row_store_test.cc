#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "embedding/row_store.h"
#include "tests/testing/status_testing.h"

namespace ecps {
namespace {

RowTableSpec Spec(const std::string& name, uint64_t rows, int width, double bound = 0.01) {
  RowTableSpec s;
  s.name = name;
  s.rows = rows;
  s.width = width;
  s.init_bound = bound;
  return s;
}

SparseOptimizerConfig Opt(SparseOptimizerKind kind, float lr = 0.1f) {
  SparseOptimizerConfig c;
  c.kind = kind;
  c.lr = lr;
  return c;
}

std::vector<float> ReadAll(const RowStore& s, int table) {
  const RowTableSpec spec = s.StoredTables()[table];
  std::vector<float> v(spec.rows * spec.width);
  EXPECT_TRUE(s.ReadRows(table, 0, spec.rows, v.data()).ok());
  return v;
}

std::vector<float> Row(const RowStore& s, int table, uint64_t row) {
  const int w = s.StoredTables()[table].width;
  std::vector<float> v(w);
  EXPECT_TRUE(s.ReadRows(table, row, 1, v.data()).ok());
  return v;
}

// A plan over one table with one row per key.
LookupPlan OnePerKey(const std::vector<uint64_t>& rows, size_t num_tables = 1, size_t table = 0) {
  LookupPlan p;
  p.Reset(static_cast<int>(rows.size()), num_tables);
  p.per_key[table] = 1;
  p.rows[table] = rows;
  return p;
}

TEST(LocalRowStoreTest, InitIsUniformWithinBoundAndSeeded) {
  const double b = std::sqrt(1.0 / 10131227.0);  // Criteo's largest field
  auto a = NewLocalRowStore(Opt(SparseOptimizerKind::kAdam));
  ASSERT_TRUE(a->Reset({Spec("E", 5000, 16, b), Spec("F", 10, 3, 0.0)}, 7).ok());
  const std::vector<float> e = ReadAll(*a, 0);
  double sum = 0, max_abs = 0;
  for (float x : e) {
    ASSERT_LE(std::fabs(x), static_cast<float>(b));
    sum += x;
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(x)));
  }
  EXPECT_GT(max_abs, 0.99 * b);                       // fills the range
  EXPECT_LT(std::fabs(sum / e.size()), b / 50);       // centred
  for (float x : ReadAll(*a, 1)) EXPECT_EQ(x, 0.0f);  // bound 0 -> zeros

  auto same = NewLocalRowStore(Opt(SparseOptimizerKind::kAdam));
  ASSERT_TRUE(same->Reset({Spec("E", 5000, 16, b), Spec("F", 10, 3, 0.0)}, 7).ok());
  EXPECT_EQ(ReadAll(*same, 0), e);
  auto other = NewLocalRowStore(Opt(SparseOptimizerKind::kAdam));
  ASSERT_TRUE(other->Reset({Spec("E", 5000, 16, b), Spec("F", 10, 3, 0.0)}, 8).ok());
  EXPECT_NE(ReadAll(*other, 0), e);
}

// A constant init fills every element; the retired RowInit 2 (normal tails)
// is refused, not drawn as something else.
TEST(LocalRowStoreTest, ConstantInitAndTheRetiredTailsInit) {
  RowTableSpec c = Spec("w", 4, 2);
  c.init = RowInit::kConstant;
  c.init_value = 1.0;
  auto s = NewLocalRowStore(Opt(SparseOptimizerKind::kAdam));
  ASSERT_TRUE(s->Reset({c}, 1).ok());
  for (float x : ReadAll(*s, 0)) EXPECT_EQ(x, 1.0f);
  RowTableSpec t = Spec("core", 200, 4);
  t.init = static_cast<RowInit>(2);
  EXPECT_EQ(s->Reset({c, t}, 1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(LocalRowStoreTest, RejectsUnsupportedTables) {
  // fp16 and int8/int16/uint4 tables are supported (tests/compressors/
  // quantization/); i32 tables and inconsistent quantisation specs are not.
  auto s = NewLocalRowStore(Opt(SparseOptimizerKind::kAdam));
  RowTableSpec i = Spec("E", 10, 4);
  i.dtype = DType::kI32;
  EXPECT_EQ(s->Reset({i}, 1).code(), absl::StatusCode::kUnimplemented);
  RowTableSpec q = Spec("E", 10, 4);
  q.dtype = DType::kI8;  // integer codes need a scheme
  EXPECT_EQ(s->Reset({q}, 1).code(), absl::StatusCode::kInvalidArgument);
  q.quant = QuantScheme::kGlobal;
  q.scale = 0;  // and a positive global scale
  EXPECT_EQ(s->Reset({q}, 1).code(), absl::StatusCode::kInvalidArgument);
  q.quant = QuantScheme::kPerRow;
  EXPECT_TRUE(s->Reset({q}, 1).ok());
  RowTableSpec h = Spec("E", 10, 4);
  h.dtype = DType::kF16;
  EXPECT_TRUE(s->Reset({h}, 1).ok());
  EXPECT_EQ(s->Reset({Spec("E", 10, 0)}, 1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(LocalRowStoreTest, GatherMatchesTableAndZeroesNoRow) {
  auto s = NewLocalRowStore(Opt(SparseOptimizerKind::kAdam));
  ASSERT_TRUE(s->Reset({Spec("A", 50, 3), Spec("B", 7, 5)}, 3).ok());
  const std::vector<float> a = ReadAll(*s, 0), b = ReadAll(*s, 1);
  LookupPlan p;
  p.Reset(3, 2);
  p.per_key = {1, 2};
  p.rows[0] = {49, 0, 49};
  p.rows[1] = {6, kNoRow, 2, 2, kNoRow, 0};
  FetchedRows v;
  ECPS_EXPECT_OK(s->Gather(p, &v));
  ASSERT_EQ(v.values.size(), 2u);
  ASSERT_EQ(v.values[0].size(), 9u);
  ASSERT_EQ(v.values[1].size(), 30u);
  for (size_t i = 0; i < p.rows[0].size(); ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(v.values[0][i * 3 + j], a[p.rows[0][i] * 3 + j]);
  for (size_t i = 0; i < p.rows[1].size(); ++i)
    for (int j = 0; j < 5; ++j)
      EXPECT_EQ(v.values[1][i * 5 + j], p.rows[1][i] == kNoRow ? 0.0f : b[p.rows[1][i] * 5 + j]);
}

// Duplicates are summed and get ONE optimizer step: with Adam, one step with
// the summed gradient differs from three steps with the parts.
TEST(LocalRowStoreTest, DuplicateRowsGetSummedGradientAndOneAdamStep) {
  const SparseOptimizerConfig opt = Opt(SparseOptimizerKind::kAdam);
  auto s = NewLocalRowStore(opt);
  ASSERT_TRUE(s->Reset({Spec("E", 10, 2)}, 11).ok());
  const std::vector<float> before = ReadAll(*s, 0);
  LookupPlan p = OnePerKey({3, 5, 3, kNoRow, 3});
  FetchedRows g;
  g.values = {{0.5f, -1.0f, 2.0f, 0.25f, 0.25f, 0.5f, 9.0f, 9.0f, -0.125f, 1.5f}};
  ECPS_EXPECT_OK(s->Push(p, g, 1));

  std::vector<float> ref3 = {before[6], before[7]}, st3(4, 0.0f);
  const float sum3[2] = {0.5f + 0.25f - 0.125f, -1.0f + 0.5f + 1.5f};
  ApplySparseUpdate(opt, 1, 2, sum3, ref3.data(), st3.data());
  EXPECT_EQ(Row(*s, 0, 3), ref3);
  std::vector<float> ref5 = {before[10], before[11]}, st5(4, 0.0f);
  ApplySparseUpdate(opt, 1, 2, &g.values[0][2], ref5.data(), st5.data());
  EXPECT_EQ(Row(*s, 0, 5), ref5);
  // Every other row is untouched.
  const std::vector<float> after = ReadAll(*s, 0);
  for (uint64_t r = 0; r < 10; ++r) {
    if (r == 3 || r == 5) continue;
    EXPECT_EQ(after[2 * r], before[2 * r]);
    EXPECT_EQ(after[2 * r + 1], before[2 * r + 1]);
  }
}

TEST(LocalRowStoreTest, DuplicatesWithSgdMoveByLrTimesSum) {
  auto s = NewLocalRowStore(Opt(SparseOptimizerKind::kSgd, 0.5f));
  ASSERT_TRUE(s->Reset({Spec("E", 4, 1)}, 1).ok());
  const std::vector<float> before = ReadAll(*s, 0);
  LookupPlan p = OnePerKey({2, 2, 2, 0});
  FetchedRows g;
  g.values = {{1.0f, 2.0f, 4.0f, -2.0f}};
  ECPS_EXPECT_OK(s->Push(p, g, 1));
  EXPECT_FLOAT_EQ(Row(*s, 0, 2)[0], before[2] - 0.5f * 7.0f);
  EXPECT_FLOAT_EQ(Row(*s, 0, 0)[0], before[0] + 1.0f);
}

// Summation follows plan order, whatever the hash layout: (1e8 + 1) - 1e8 is
// 0 in float while 1e8 - 1e8 + 1 would be 1.
TEST(LocalRowStoreTest, SummationOrderIsPlanOrder) {
  auto s = NewLocalRowStore(Opt(SparseOptimizerKind::kSgd, 1.0f));
  ASSERT_TRUE(s->Reset({Spec("E", 2, 1, 0.0)}, 1).ok());
  LookupPlan p = OnePerKey({1, 1, 1});
  FetchedRows g;
  g.values = {{1e8f, 1.0f, -1e8f}};
  ECPS_EXPECT_OK(s->Push(p, g, 1));
  EXPECT_EQ(Row(*s, 0, 1)[0], -((1e8f + 1.0f) + -1e8f));
}

// Lazy: a row not in the batch keeps its weights even though its Adam
// momentum is non-zero (dense Adam would keep moving it).
TEST(LocalRowStoreTest, AdamIsLazy) {
  auto s = NewLocalRowStore(Opt(SparseOptimizerKind::kAdam));
  ASSERT_TRUE(s->Reset({Spec("E", 8, 4)}, 2).ok());
  FetchedRows g;
  g.values = {{1, 1, 1, 1}};
  ECPS_EXPECT_OK(s->Push(OnePerKey({3}), g, 1));
  const std::vector<float> row3 = Row(*s, 0, 3);
  ECPS_EXPECT_OK(s->Push(OnePerKey({4}), g, 2));
  ECPS_EXPECT_OK(s->Push(OnePerKey({5}), g, 3));
  EXPECT_EQ(Row(*s, 0, 3), row3);
}

TEST(LocalRowStoreTest, NonTrainableTablesAreNotUpdated) {
  RowTableSpec fixed = Spec("map", 4, 2);
  fixed.trainable = false;
  auto s = NewLocalRowStore(Opt(SparseOptimizerKind::kAdam));
  ASSERT_TRUE(s->Reset({Spec("E", 4, 2), fixed}, 2).ok());
  EXPECT_EQ(s->optimizer_bytes(), 4u * 2 * 2 * 4);  // only E has m and v
  const std::vector<float> before = ReadAll(*s, 1);
  LookupPlan p;
  p.Reset(1, 2);
  p.per_key = {1, 1};
  p.rows = {{1}, {1}};
  FetchedRows g;
  g.values = {{1, 1}, {1, 1}};
  ECPS_EXPECT_OK(s->Push(p, g, 1));
  EXPECT_EQ(ReadAll(*s, 1), before);
}

TEST(LocalRowStoreTest, MemoryAccounting) {
  const uint64_t n = 1000, d = 16;
  struct Case {
    SparseOptimizerKind kind;
    uint64_t opt_bytes;
  } cases[] = {{SparseOptimizerKind::kAdam, 8 * n * d},
               {SparseOptimizerKind::kSgd, 0},
               {SparseOptimizerKind::kAdagrad, 4 * n * d},
               {SparseOptimizerKind::kRowwiseAdagrad, 4 * n}};
  for (const Case& c : cases) {
    auto s = NewLocalRowStore(Opt(c.kind));
    ASSERT_TRUE(s->Reset({Spec("E", n, d)}, 1).ok());
    EXPECT_EQ(s->parameter_bytes(), 4 * n * d);
    EXPECT_EQ(s->optimizer_bytes(), c.opt_bytes);
  }
}

TEST(LocalRowStoreTest, ResetOptimizerStateGivesFreshAdam) {
  const SparseOptimizerConfig opt = Opt(SparseOptimizerKind::kAdam);
  auto s = NewLocalRowStore(opt);
  ASSERT_TRUE(s->Reset({Spec("E", 4, 2)}, 2).ok());
  FetchedRows g;
  g.values = {{1, -1}};
  ECPS_EXPECT_OK(s->Push(OnePerKey({1}), g, 1));
  ECPS_EXPECT_OK(s->ResetOptimizerState());
  std::vector<float> ref = Row(*s, 0, 1), st(4, 0.0f);
  ApplySparseUpdate(opt, 2, 2, g.values[0].data(), ref.data(), st.data());
  ECPS_EXPECT_OK(s->Push(OnePerKey({1}), g, 2));
  EXPECT_EQ(Row(*s, 0, 1), ref);
}

class StoreRoundTripTest : public ::testing::TestWithParam<SparseOptimizerKind> {};

// Save, load into a fresh store, then train both on the same batches: rows
// and the full state stay bit-identical.
TEST_P(StoreRoundTripTest, ResumedTrainingIsBitIdentical) {
  const SparseOptimizerConfig opt = Opt(GetParam(), 0.01f);
  auto a = NewLocalRowStore(opt);
  ASSERT_TRUE(a->Reset({Spec("E", 100, 8), Spec("F", 30, 3)}, 5).ok());
  Rng rng(9);
  auto step = [&](RowStore* s, int64_t t, Rng r) {
    LookupPlan p;
    p.Reset(64, 2);
    p.per_key = {1, 1};
    FetchedRows g;
    g.values.resize(2);
    for (int i = 0; i < 64; ++i) {
      p.rows[0].push_back(r.Below(100));
      p.rows[1].push_back(r.Below(30));
    }
    for (int i = 0; i < 64 * 8; ++i) g.values[0].push_back(static_cast<float>(r.Normal()));
    for (int i = 0; i < 64 * 3; ++i) g.values[1].push_back(static_cast<float>(r.Normal()));
    ECPS_EXPECT_OK(s->Push(p, g, t));
  };
  for (int64_t t = 1; t <= 5; ++t) step(a.get(), t, rng.Fork(t));
  const std::string blob = a->Save().value();
  auto b = NewLocalRowStore(opt);
  ASSERT_TRUE(b->Load(blob).ok());
  EXPECT_EQ(b->Save().value(), blob);
  for (int64_t t = 6; t <= 10; ++t) {
    const Rng r = rng.Fork(t);
    step(a.get(), t, r);
    step(b.get(), t, r);
  }
  EXPECT_EQ(ReadAll(*a, 0), ReadAll(*b, 0));
  EXPECT_EQ(ReadAll(*a, 1), ReadAll(*b, 1));
  EXPECT_EQ(a->Save().value(), b->Save().value());
}

INSTANTIATE_TEST_SUITE_P(AllOptimizers, StoreRoundTripTest,
                         ::testing::Values(SparseOptimizerKind::kAdam, SparseOptimizerKind::kSgd,
                                           SparseOptimizerKind::kAdagrad,
                                           SparseOptimizerKind::kRowwiseAdagrad));

TEST(LocalRowStoreTest, LoadRejectsCorruptionAndOptimizerMismatch) {
  auto a = NewLocalRowStore(Opt(SparseOptimizerKind::kAdam));
  ASSERT_TRUE(a->Reset({Spec("E", 10, 4)}, 5).ok());
  std::string blob = a->Save().value();
  auto b = NewLocalRowStore(Opt(SparseOptimizerKind::kAdam));
  std::string flipped = blob;
  flipped[flipped.size() / 2] ^= 1;
  EXPECT_EQ(b->Load(flipped).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(b->Load(blob.substr(0, blob.size() - 3)).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(b->Load("").code(), absl::StatusCode::kDataLoss);
  auto sgd = NewLocalRowStore(Opt(SparseOptimizerKind::kSgd));
  EXPECT_EQ(sgd->Load(blob).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(LocalRowStoreTest, RowAccessReadsAndWritesRanges) {
  auto s = NewLocalRowStore(Opt(SparseOptimizerKind::kAdam));
  ASSERT_TRUE(s->Reset({Spec("E", 10, 2)}, 5).ok());
  const float vals[4] = {1, 2, 3, 4};
  ASSERT_TRUE(s->WriteRows(0, 8, 2, vals).ok());
  EXPECT_EQ(Row(*s, 0, 9), (std::vector<float>{3, 4}));
  float out[6];
  EXPECT_EQ(s->ReadRows(0, 8, 3, out).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s->ReadRows(1, 0, 1, out).code(), absl::StatusCode::kOutOfRange);
}

// Bad input on the data path is an error, never an abort or a silent wrong
// row: rows out of range on Gather/Push, and non-finite values, which a
// whole-table write refuses before writing anything and an optimizer step of
// an integer-coded table reports (the code holds the value nearest 0, not an
// undefined cast).
TEST(LocalRowStoreTest, BadRowsAndNonFiniteValuesAreErrors) {
  auto s = NewLocalRowStore(Opt(SparseOptimizerKind::kSgd, 1.0f));
  RowTableSpec q = Spec("Q", 4, 2);
  q.dtype = DType::kU16;
  q.quant = QuantScheme::kGlobal;
  q.scale = 1.0 / 1024;
  q.zero = -32.0;
  ASSERT_TRUE(s->Reset({Spec("E", 4, 2), q}, 5).ok());
  LookupPlan far;
  far.Reset(1, 2);
  far.per_key = {1, 0};
  far.rows[0] = {4};
  FetchedRows v;
  EXPECT_EQ(s->Gather(far, &v).code(), absl::StatusCode::kOutOfRange);
  FetchedRows g;
  g.values = {{1.0f, 1.0f}, {}};
  EXPECT_EQ(s->Push(far, g, 1).code(), absl::StatusCode::kOutOfRange);

  const std::vector<float> e_before = ReadAll(*s, 0), q_before = ReadAll(*s, 1);
  const float nan = std::nanf("");
  const float bad[4] = {0.5f, 0.25f, nan, 1.0f};
  for (int t : {0, 1}) {
    Status w = s->WriteRows(t, 0, 2, bad);
    EXPECT_EQ(w.code(), absl::StatusCode::kInvalidArgument) << w;
    EXPECT_NE(w.message().find("not finite"), std::string_view::npos) << w;
  }
  EXPECT_EQ(ReadAll(*s, 0), e_before);  // nothing was written
  EXPECT_EQ(ReadAll(*s, 1), q_before);

  LookupPlan one;
  one.Reset(1, 2);
  one.per_key = {0, 1};
  one.rows[1] = {2};
  g.values = {{}, {nan, 0.0f}};
  Status p = s->Push(one, g, 1);
  EXPECT_EQ(p.code(), absl::StatusCode::kInvalidArgument) << p;
  EXPECT_NE(p.message().find("'Q'"), std::string_view::npos) << p;
  // The value read back is the code nearest 0, finite.
  for (float x : Row(*s, 1, 2)) EXPECT_TRUE(std::isfinite(x)) << x;
}

}  // namespace
}  // namespace ecps
