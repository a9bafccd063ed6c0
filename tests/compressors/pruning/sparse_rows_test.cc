// The sparse row layout (compressors/pruning/sparse_rows.h, docs/methods.md
// §1.8): CSR and COO lookups through a real store equal the masked dense
// reference for random patterns with empty and fully dense rows, the format
// switch at r = CR·d = 3, the exact bytes and the budget's nonzeros, the
// gradient of the values, and refused damaged indices.
#include "compressors/pruning/sparse_rows.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/rng.h"
#include "embedding/row_store.h"
#include "tests/compressors/reference/pruning_reference.h"
#include "tests/testing/status_testing.h"

namespace ecps::pruning {
namespace {

constexpr uint64_t kRows = 300;

// Random values with a random keep pattern; rows 0 and 7 empty, rows 1 and
// 8 fully dense, the others at `density`.
void RandomTable(int d, double density, uint64_t seed, std::vector<float>* values,
                 std::vector<uint8_t>* keep) {
  Rng rng(seed);
  values->resize(kRows * d);
  keep->resize(kRows * d);
  for (uint64_t r = 0; r < kRows; ++r)
    for (int c = 0; c < d; ++c) {
      const size_t i = r * d + c;
      (*values)[i] = static_cast<float>(rng.Normal());
      (*keep)[i] = r == 0 || r == 7 ? 0 : r == 1 || r == 8 ? 1 : rng.Uniform(0.0, 1.0) < density;
    }
}

struct Built {
  SparseRows sparse;
  std::unique_ptr<RowStore> store;
};

Built Build(SparseFormat f, int d, const std::vector<float>& values,
            const std::vector<uint8_t>& keep) {
  Built b;
  b.sparse.Start(f, kRows, d);
  for (uint64_t r = 0; r < kRows; ++r) b.sparse.AppendRow(&values[r * d], &keep[r * d]);
  EXPECT_TRUE(b.sparse.Finish().ok());
  b.store = NewLocalRowStore(SparseOptimizerConfig{});
  const uint64_t nnz = b.sparse.nnz();
  const Status reset = b.store->Reset({ValuesTable(nnz), ColumnsTable(nnz, d)}, 1);
  EXPECT_TRUE(reset.ok()) << reset;
  if (nnz > 0) {
    EXPECT_TRUE(b.store->WriteRows(0, 0, nnz, b.sparse.values().data()).ok());
    EXPECT_TRUE(b.store->WriteRows(1, 0, nnz, b.sparse.columns().data()).ok());
  }
  return b;
}

class SparseRowsTest : public ::testing::TestWithParam<std::tuple<SparseFormat, int>> {};

TEST_P(SparseRowsTest, LookupsEqualTheMaskedDenseReference) {
  const auto [format, d] = GetParam();
  for (double density : {0.0, 0.05, 0.3, 1.0}) {
    SCOPED_TRACE("density " + std::to_string(density));
    std::vector<float> values;
    std::vector<uint8_t> keep;
    RandomTable(d, density, 17 + static_cast<uint64_t>(density * 100), &values, &keep);
    const std::vector<float> want = reference::MaskedDense(values, keep);
    Built b = Build(format, d, values, keep);
    uint64_t kept = 0;
    for (uint8_t k : keep) kept += k;
    EXPECT_EQ(b.sparse.nnz(), kept);
    // Every row once, then random keys with repeats.
    Rng rng(5);
    std::vector<uint64_t> rows;
    for (uint64_t r = 0; r < kRows; ++r) rows.push_back(r);
    for (int i = 0; i < 500; ++i) rows.push_back(rng.Below(kRows));
    LookupPlan plan;
    plan.Reset(static_cast<int>(rows.size()), 2);
    b.sparse.Encode(rows, 0, 1, &plan);
    // The plan names exactly the keys' stored nonzeros.
    uint64_t expected_ids = 0;
    for (uint64_t r : rows)
      for (int c = 0; c < d; ++c) expected_ids += keep[r * d + c];
    ASSERT_EQ(plan.rows[0].size(), expected_ids);
    EXPECT_EQ(plan.rows[1], plan.rows[0]);
    EXPECT_EQ(plan.per_key[0], kPackedRows);
    FetchedRows fetched;
    ECPS_ASSERT_OK(b.store->Gather(plan, &fetched));
    std::vector<float> out(rows.size() * d, std::nanf(""));
    b.sparse.Decode(plan, fetched, 0, 1, out.data());
    for (size_t i = 0; i < rows.size(); ++i)
      for (int c = 0; c < d; ++c)
        ASSERT_EQ(out[i * d + c], want[rows[i] * d + c]) << "row " << rows[i] << " col " << c;

    // Gradients: d(sum g·out)/d value = g at the value's key and column,
    // checked by a finite difference of the (linear) lookup.
    const std::vector<float> g = [&] {
      std::vector<float> v(out.size());
      for (float& x : v) x = static_cast<float>(rng.Normal());
      return v;
    }();
    FetchedRows grads;
    grads.values = {std::vector<float>(fetched.values[0].size(), std::nanf("")),
                    std::vector<float>(fetched.values[1].size(), std::nanf(""))};
    b.sparse.DecodeBackward(plan, fetched, g.data(), 0, 1, &grads);
    auto loss = [&](const FetchedRows& f) {
      std::vector<float> o(out.size());
      b.sparse.Decode(plan, f, 0, 1, o.data());
      double s = 0;
      for (size_t i = 0; i < o.size(); ++i) s += static_cast<double>(g[i]) * o[i];
      return s;
    };
    for (size_t j = 0; j < std::min<size_t>(fetched.values[0].size(), 50); ++j) {
      FetchedRows plus = fetched, minus = fetched;
      plus.values[0][j] += 0.5f;
      minus.values[0][j] -= 0.5f;
      EXPECT_NEAR(grads.values[0][j], (loss(plus) - loss(minus)) / 1.0, 1e-4) << j;
      EXPECT_EQ(grads.values[1][j], 0.0f);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, SparseRowsTest,
                         ::testing::Combine(::testing::Values(SparseFormat::kCsr,
                                                              SparseFormat::kCoo),
                                            ::testing::Values(1, 16, 300)),
                         [](const auto& info) {
                           return std::string(SparseFormatName(std::get<0>(info.param))) + "_d" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST(SparseFormatTest, CsrFromThreeWordsPerRow) {
  EXPECT_EQ(FormatForBudget(3.0 / 16, 16), SparseFormat::kCsr);
  EXPECT_EQ(FormatForBudget(0.5, 16), SparseFormat::kCsr);
  EXPECT_EQ(FormatForBudget(0.187, 16), SparseFormat::kCoo);
  EXPECT_EQ(FormatForBudget(0.1, 16), SparseFormat::kCoo);
  EXPECT_EQ(FormatForBudget(0.375, 8), SparseFormat::kCsr);
  EXPECT_EQ(FormatForBudget(0.374, 8), SparseFormat::kCoo);
}

TEST(SparseFormatTest, BytesAreExactAndTheBudgetsNonzerosFit) {
  EXPECT_EQ(SparseBytes(SparseFormat::kCsr, 10, 16, 7), 7 * 5 + 4 * 11u);
  EXPECT_EQ(SparseBytes(SparseFormat::kCoo, 10, 16, 7), 7 * 9u);
  EXPECT_EQ(SparseBytes(SparseFormat::kCsr, 10, 300, 7), 7 * 6 + 4 * 11u);
  EXPECT_EQ(ColumnType(256), DType::kU8);
  EXPECT_EQ(ColumnType(257), DType::kU16);
  for (SparseFormat f : {SparseFormat::kCsr, SparseFormat::kCoo})
    for (uint64_t budget : {0ull, 44ull, 45ull, 1000ull, 12345ull}) {
      const uint64_t k = NonzerosForBudget(f, 10, 16, budget);
      if (k > 0) {
        EXPECT_LE(SparseBytes(f, 10, 16, k), budget);
      }
      if (k < 160) {
        EXPECT_GT(SparseBytes(f, 10, 16, k + 1), budget);
      }
    }
  EXPECT_EQ(NonzerosForBudget(SparseFormat::kCsr, 10, 16, 1u << 20), 160u);
  // The store holds exactly the tables' bytes.
  std::vector<float> values;
  std::vector<uint8_t> keep;
  RandomTable(16, 0.2, 3, &values, &keep);
  Built b = Build(SparseFormat::kCsr, 16, values, keep);
  EXPECT_EQ(b.store->parameter_bytes(), b.sparse.nnz() * 5);
  EXPECT_EQ(b.sparse.index_bytes(), 4 * (kRows + 1));
}

TEST(SparseRowsLoadTest, SavedIndexLoadsAndDamagedOnesAreRefused) {
  std::vector<float> values;
  std::vector<uint8_t> keep;
  RandomTable(8, 0.3, 9, &values, &keep);
  for (SparseFormat f : {SparseFormat::kCsr, SparseFormat::kCoo}) {
    Built b = Build(f, 8, values, keep);
    BlobWriter w("ECPSTEST", 1);
    b.sparse.Save(&w);
    const std::string blob = w.Finish();
    BlobReader r;
    ECPS_ASSERT_OK(r.Open(blob, "ECPSTEST", 1, "test"));
    SparseRows loaded;
    ECPS_ASSERT_OK(loaded.Load(&r, "test", kRows, 8));
    EXPECT_EQ(loaded.nnz(), b.sparse.nnz());
    for (uint64_t row = 0; row < kRows; ++row) {
      uint64_t b0, c0, b1, c1;
      b.sparse.Range(row, &b0, &c0);
      loaded.Range(row, &b1, &c1);
      ASSERT_EQ(b0, b1);
      ASSERT_EQ(c0, c1);
    }
    // Another shape.
    BlobReader r2;
    ECPS_ASSERT_OK(r2.Open(blob, "ECPSTEST", 1, "test"));
    EXPECT_EQ(loaded.Load(&r2, "test", kRows + 1, 8).code(), absl::StatusCode::kDataLoss);
  }
  // Row pointers that go backwards.
  BlobWriter w("ECPSTEST", 1);
  w.Pod<uint8_t>(0);
  w.Pod<uint64_t>(3);
  w.Pod<int32_t>(4);
  w.Pod<uint64_t>(2);
  w.Vec(std::vector<uint32_t>{0, 2, 1, 2});
  const std::string bad = w.Finish();
  BlobReader r;
  ECPS_ASSERT_OK(r.Open(bad, "ECPSTEST", 1, "test"));
  SparseRows s;
  const Status st = s.Load(&r, "test", 3, 4);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
}

}  // namespace
}  // namespace ecps::pruning
