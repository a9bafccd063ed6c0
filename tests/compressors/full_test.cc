#include "compressors/full.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "common/rng.h"
#include "tests/testing/feature_space.h"

namespace ecps {
namespace {

using testing::Space;

const ParamSchema& Schema() {
  static const ParamSchema schema = FullEmbedding::Schema();
  return schema;
}

std::unique_ptr<Compressor> Init(const FeatureSpace& s, double budget = 1.0) {
  auto c = FullEmbedding::Create();
  CompressorContext ctx;
  ctx.space = s;
  ctx.budget = budget;
  EXPECT_TRUE(c->Init(ctx, ParamSet(&Schema())).ok());
  return c;
}

// A store stand-in that records WriteRows calls into one fp32 table.
class RecordingRows : public RowAccess {
 public:
  RecordingRows(uint64_t rows, int width) : width_(width), values_(rows * width, 0.0f) {}
  std::vector<RowTableSpec> StoredTables() const override { return {}; }
  Status ReadRows(int, uint64_t, uint64_t, float*) const override { return OkStatus(); }
  Status WriteRows(int table, uint64_t begin, uint64_t count, const float* values,
                   const float*) override {
    EXPECT_EQ(table, 0);
    std::copy(values, values + count * width_, values_.begin() + begin * width_);
    return OkStatus();
  }
  const std::vector<float>& values() const { return values_; }

 private:
  int width_;
  std::vector<float> values_;
};

TEST(FullTest, PerFieldInitUsesEachFieldsBound) {
  const FeatureSpace s = Space({4, 100, 10000}, 8);
  auto c = FullEmbedding::Create();
  CompressorContext ctx;
  ctx.space = s;
  ctx.seed = 3;
  ParamSet p(&Schema());
  ASSERT_TRUE(p.Set("init", "per_field").ok());
  ASSERT_TRUE(c->Init(ctx, p).ok());
  RecordingRows rows(s.total(), s.dim);
  c->AttachRows(&rows);
  ASSERT_TRUE(c->InitStageRows(0).ok());
  for (int f = 0; f < s.num_fields(); ++f) {
    const float b = std::sqrt(1.0f / static_cast<float>(s.cardinalities[f]));
    float max_abs = 0;
    for (uint64_t i = s.offsets[f] * s.dim; i < (s.offsets[f] + s.cardinalities[f]) * s.dim; ++i)
      max_abs = std::max(max_abs, std::fabs(rows.values()[i]));
    EXPECT_LE(max_abs, b) << "field " << f;
    EXPECT_GT(max_abs, 0.5f * b) << "field " << f;  // spread over the whole range
  }
  // The default ("global") writes nothing: the store's seeded init stays.
  auto g = Init(s);
  RecordingRows untouched(s.total(), s.dim);
  g->AttachRows(&untouched);
  ASSERT_TRUE(g->InitStageRows(0).ok());
  for (float v : untouched.values()) ASSERT_EQ(v, 0.0f);
}

TEST(FullTest, OneTableOverAllFeatures) {
  const FeatureSpace s = Space({1460, 583, 305, 24}, 16);
  auto c = Init(s, /*budget=*/0.01);  // ignored
  const std::vector<RowTableSpec> t = c->Tables();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].name, "E");
  EXPECT_EQ(t[0].rows, 1460u + 583 + 305 + 24);
  EXPECT_EQ(t[0].width, 16);
  EXPECT_EQ(t[0].dtype, DType::kF32);
  EXPECT_TRUE(t[0].trainable);
  EXPECT_EQ(t[0].init, RowInit::kUniform);
  EXPECT_DOUBLE_EQ(t[0].init_bound, std::sqrt(1.0 / 1460));
  EXPECT_EQ(c->Stages().size(), 1u);
  EXPECT_TRUE(c->DenseParams().empty());
}

TEST(FullTest, MemoryIgnoresBudget) {
  const FeatureSpace s = Space({100, 7}, 16);
  for (double budget : {1.0, 0.5, 0.001}) {
    const MemoryReport m = Init(s, budget)->Memory();
    EXPECT_EQ(m.inference_bytes, 4u * 107 * 16);
    EXPECT_EQ(m.parameter_bytes, 4u * 107 * 16);
    EXPECT_EQ(m.optimizer_bytes, 0u);  // the store's optimizer fills it in
    EXPECT_EQ(m.auxiliary_bytes, 0u);
  }
}

TEST(FullTest, RejectsBadSpaces) {
  auto c = FullEmbedding::Create();
  const ParamSet none(&Schema());
  CompressorContext ctx;
  EXPECT_EQ(c->Init(ctx, none).code(), absl::StatusCode::kInvalidArgument);
  ctx.space = Space({3}, 0);
  EXPECT_EQ(c->Init(ctx, none).code(), absl::StatusCode::kInvalidArgument);
  ctx.space = Space({3, 4}, 4);
  ctx.space.offsets.pop_back();
  EXPECT_EQ(c->Init(ctx, none).code(), absl::StatusCode::kInvalidArgument);
}

// Encode/Decode/DecodeBackward against a naive reference (style.md rule 13):
// row = offsets[i % F] + key, out = E[row], row grad = grad_out.
class FullReferenceTest : public ::testing::TestWithParam<std::tuple<int, int, uint64_t>> {};

TEST_P(FullReferenceTest, MatchesNaiveLookup) {
  const auto [dim, batch, seed] = GetParam();
  const FeatureSpace s = Space({9, 1, 250, 33, 2}, dim);
  auto c = Init(s);
  Rng rng(seed);
  std::vector<uint32_t> keys;
  for (int i = 0; i < batch * s.num_fields(); ++i)
    keys.push_back(static_cast<uint32_t>(rng.Below(s.cardinalities[i % s.num_fields()])));
  std::vector<float> table(s.total() * dim);
  for (float& x : table) x = static_cast<float>(rng.Uniform(-1, 1));

  LookupPlan plan;
  c->Encode(keys, &plan);
  ASSERT_EQ(plan.num_keys, static_cast<int>(keys.size()));
  ASSERT_EQ(plan.per_key, std::vector<int>{1});
  ASSERT_EQ(plan.rows[0].size(), keys.size());
  FetchedRows fetched;
  fetched.values.resize(1);
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint64_t ref_row = s.offsets[i % s.num_fields()] + keys[i];
    ASSERT_EQ(plan.rows[0][i], ref_row);
    for (int j = 0; j < dim; ++j) fetched.values[0].push_back(table[ref_row * dim + j]);
  }
  std::vector<float> out(keys.size() * dim, -7.0f);
  c->Decode(plan, fetched, out.data());
  for (size_t i = 0; i < keys.size(); ++i)
    for (int j = 0; j < dim; ++j) ASSERT_EQ(out[i * dim + j], table[plan.rows[0][i] * dim + j]);

  std::vector<float> grad_out(out.size());
  for (float& g : grad_out) g = static_cast<float>(rng.Normal());
  FetchedRows grads;
  grads.values.assign(1, std::vector<float>(out.size()));
  c->DecodeBackward(plan, fetched, grad_out.data(), &grads);
  EXPECT_EQ(grads.values[0], grad_out);

  // A reused plan gives the same result (no stale state).
  c->Encode(keys, &plan);
  EXPECT_EQ(plan.rows[0].size(), keys.size());
}

INSTANTIATE_TEST_SUITE_P(DimBatchSeed, FullReferenceTest,
                         ::testing::Combine(::testing::Values(1, 8, 16, 33),
                                            ::testing::Values(1, 7, 128),
                                            ::testing::Values(1u, 2u)));

}  // namespace
}  // namespace ecps
