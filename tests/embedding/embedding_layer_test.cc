#include "embedding/embedding_layer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/rng.h"
#include "compressors/registry.h"
#include "tests/testing/feature_space.h"
#include "tests/testing/status_testing.h"

namespace ecps {
namespace {

using testing::Space;

std::unique_ptr<EmbeddingLayer> MakeLayer(const FeatureSpace& space, SparseOptimizerConfig opt,
                                          uint64_t seed = 42) {
  auto method = CreateCompressor("full");
  EXPECT_TRUE(method.ok());
  auto layer = std::make_unique<EmbeddingLayer>(std::move(method).value(), NewLocalRowStore(opt));
  CompressorContext ctx;
  ctx.space = space;
  ctx.seed = seed;
  static const ParamSchema schema = FindCompressor("full")->schema;
  EXPECT_TRUE(layer->Init(ctx, ParamSet(&schema)).ok());
  return layer;
}

std::vector<float> Table(EmbeddingLayer& l) {
  const RowTableSpec spec = l.store().StoredTables()[0];
  std::vector<float> v(spec.rows * spec.width);
  EXPECT_TRUE(l.store().ReadRows(0, 0, spec.rows, v.data()).ok());
  return v;
}

std::vector<uint32_t> RandomKeys(const FeatureSpace& s, int batch, Rng* rng) {
  std::vector<uint32_t> k;
  for (int i = 0; i < batch; ++i)
    for (int f = 0; f < s.num_fields(); ++f)
      k.push_back(static_cast<uint32_t>(rng->Below(s.cardinalities[f])));
  return k;
}

TEST(EmbeddingLayerTest, FullForwardEqualsDirectIndexing) {
  const FeatureSpace s = Space({5, 1, 17, 3}, 6);
  auto l = MakeLayer(s, {});
  const std::vector<float> table = Table(*l);
  Rng rng(1);
  const std::vector<uint32_t> keys = RandomKeys(s, 9, &rng);
  std::vector<float> out(keys.size() * 6);
  ECPS_EXPECT_OK(l->Forward(keys, out.data(), false));
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint64_t row = s.offsets[i % 4] + keys[i];
    for (int j = 0; j < 6; ++j) ASSERT_EQ(out[i * 6 + j], table[row * 6 + j]) << i;
  }
}

TEST(EmbeddingLayerTest, BackwardSumsDuplicatesIntoOneStep) {
  const FeatureSpace s = Space({4, 4}, 2);
  SparseOptimizerConfig opt;
  opt.lr = 0.05f;
  auto l = MakeLayer(s, opt);
  const std::vector<float> before = Table(*l);
  // Two samples with the same key in field 0 (global row 1), different in field 1.
  const std::vector<uint32_t> keys = {1, 0, 1, 3};
  std::vector<float> out(8), grad = {0.5f, -1.0f, 1.0f, 2.0f, 0.25f, 0.5f, -3.0f, 0.125f};
  ECPS_EXPECT_OK(l->Forward(keys, out.data(), true));
  ECPS_EXPECT_OK(l->Backward(grad.data(), 1));
  const std::vector<float> after = Table(*l);

  auto one_step = [&](uint64_t row, float g0, float g1) {
    float w[2] = {before[row * 2], before[row * 2 + 1]}, st[4] = {0, 0, 0, 0}, g[2] = {g0, g1};
    ApplySparseUpdate(opt, 1, 2, g, w, st);
    return std::vector<float>{w[0], w[1]};
  };
  EXPECT_EQ((std::vector<float>{after[2], after[3]}), one_step(1, 0.75f, -0.5f));
  EXPECT_EQ((std::vector<float>{after[8], after[9]}), one_step(4, 1.0f, 2.0f));  // field 1 key 0
  EXPECT_EQ((std::vector<float>{after[14], after[15]}), one_step(7, -3.0f, 0.125f));
  for (uint64_t r : {0, 2, 3, 5, 6}) {
    EXPECT_EQ(after[2 * r], before[2 * r]) << r;
    EXPECT_EQ(after[2 * r + 1], before[2 * r + 1]) << r;
  }
}

TEST(EmbeddingLayerTest, EvaluationForwardDoesNotDisturbBackward) {
  const FeatureSpace s = Space({10, 10}, 4);
  auto a = MakeLayer(s, {});
  auto b = MakeLayer(s, {});
  std::vector<float> out(8), g(8, 0.5f);
  const std::vector<uint32_t> train = {1, 2}, eval = {7, 8};
  ECPS_EXPECT_OK(a->Forward(train, out.data(), true));
  ECPS_EXPECT_OK(a->Forward(eval, out.data(), false));
  ECPS_EXPECT_OK(a->Backward(g.data(), 1));
  ECPS_EXPECT_OK(b->Forward(train, out.data(), true));
  ECPS_EXPECT_OK(b->Backward(g.data(), 1));
  EXPECT_EQ(Table(*a), Table(*b));
}

// Issue 13: a feature's value multiplies its vector, and so its gradient:
// out[k] = v_k * row(k), d loss / d row(k) = v_k * grad_out[k] (summed over
// the batch's duplicates), in training and in evaluation forwards.
TEST(EmbeddingLayerTest, FeatureValuesScaleVectorsAndGradients) {
  const FeatureSpace s = Space({4, 4}, 2);
  SparseOptimizerConfig opt;
  opt.kind = SparseOptimizerKind::kSgd;  // the update is the gradient itself (Adam's sign-like
                                         // first step would hide a scale)
  opt.lr = 0.05f;
  auto l = MakeLayer(s, opt);
  const std::vector<float> before = Table(*l);
  const std::vector<uint32_t> keys = {1, 0, 1, 3};  // rows 1, 4, 1, 7
  const std::vector<float> values = {0.5f, 2.0f, -1.0f, 0.0f};
  std::vector<float> out(8), eval(8);
  const std::vector<float> grad = {0.5f, -1.0f, 1.0f, 2.0f, 0.25f, 0.5f, -3.0f, 0.125f};
  ECPS_EXPECT_OK(l->Forward(keys, eval.data(), false, values));
  ECPS_EXPECT_OK(l->Forward(keys, out.data(), true, values));
  const uint64_t rows[4] = {1, 4, 1, 7};
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 2; ++j) {
      EXPECT_EQ(out[k * 2 + j], values[k] * before[rows[k] * 2 + j]) << k;
      EXPECT_EQ(eval[k * 2 + j], out[k * 2 + j]) << k;
    }
  ECPS_EXPECT_OK(l->Backward(grad.data(), 1));
  const std::vector<float> after = Table(*l);
  auto one_step = [&](uint64_t row, float g0, float g1) {
    float w[2] = {before[row * 2], before[row * 2 + 1]}, st[4] = {0, 0, 0, 0}, g[2] = {g0, g1};
    ApplySparseUpdate(opt, 1, 2, g, w, st);
    return std::vector<float>{w[0], w[1]};
  };
  // Row 1: 0.5 * (0.5, -1) + -1 * (0.25, 0.5); row 4: 2 * (1, 2); row 7: 0 * (-3, 0.125).
  EXPECT_EQ((std::vector<float>{after[2], after[3]}),
            one_step(1, 0.5f * 0.5f + -1.0f * 0.25f, 0.5f * -1.0f + -1.0f * 0.5f));
  EXPECT_EQ((std::vector<float>{after[8], after[9]}), one_step(4, 2.0f, 4.0f));
  EXPECT_EQ((std::vector<float>{after[14], after[15]}), one_step(7, 0.0f, 0.0f));
  // Without values the same step moves row 4 by the unscaled gradient: the
  // scaling is what differs.
  auto plain = MakeLayer(s, opt);
  ECPS_EXPECT_OK(plain->Forward(keys, out.data(), true));
  ECPS_EXPECT_OK(plain->Backward(grad.data(), 1));
  const std::vector<float> unscaled = Table(*plain);
  EXPECT_EQ((std::vector<float>{unscaled[8], unscaled[9]}), one_step(4, 1.0f, 2.0f));
  EXPECT_NE(unscaled[8], after[8]);
}

// Values of 1 give bit for bit what no values give (the path of formats
// without values), over several steps.
TEST(EmbeddingLayerTest, ValuesOfOneAreBitIdenticalToNoValues) {
  const FeatureSpace s = Space({7, 3, 11}, 4);
  auto a = MakeLayer(s, {});
  auto b = MakeLayer(s, {});
  Rng rng(3);
  for (int step = 1; step <= 3; ++step) {
    const std::vector<uint32_t> keys = RandomKeys(s, 5, &rng);
    const std::vector<float> ones(keys.size(), 1.0f);
    std::vector<float> oa(keys.size() * 4), ob(keys.size() * 4), g(keys.size() * 4);
    for (float& x : g) x = static_cast<float>(rng.Uniform()) - 0.5f;
    ECPS_EXPECT_OK(a->Forward(keys, oa.data(), true, ones));
    ECPS_EXPECT_OK(b->Forward(keys, ob.data(), true));
    EXPECT_EQ(oa, ob);
    ECPS_EXPECT_OK(a->Backward(g.data(), step));
    ECPS_EXPECT_OK(b->Backward(g.data(), step));
    EXPECT_EQ(Table(*a), Table(*b));
  }
}

TEST(EmbeddingLayerTest, MemoryOfFullIsExact) {
  const FeatureSpace s = Space({1000, 24, 31337}, 16);
  auto l = MakeLayer(s, {});
  const uint64_t n = 1000 + 24 + 31337, d = 16;
  const MemoryReport m = l->Memory();
  EXPECT_EQ(m.inference_bytes, 4 * n * d);
  EXPECT_EQ(m.parameter_bytes, 4 * n * d);
  EXPECT_EQ(m.optimizer_bytes, 8 * n * d);
  EXPECT_EQ(m.auxiliary_bytes, 0u);
  EXPECT_EQ(m.training_bytes(), 3 * m.inference_bytes);  // 300%
  EXPECT_EQ(l->store().parameter_bytes(), m.parameter_bytes);
}

TEST(EmbeddingLayerTest, InitBoundIsSqrtOfInverseMaxCardinality) {
  const FeatureSpace s = Space({3, 400, 20}, 8);
  auto l = MakeLayer(s, {});
  const float b = static_cast<float>(std::sqrt(1.0 / 400.0));
  float max_abs = 0;
  for (float x : Table(*l)) {
    ASSERT_LE(std::fabs(x), b);
    max_abs = std::max(max_abs, std::fabs(x));
  }
  EXPECT_GT(max_abs, 0.95f * b);
  // Same seed, same init; another seed, another one.
  EXPECT_EQ(Table(*MakeLayer(s, {}, 42)), Table(*l));
  EXPECT_NE(Table(*MakeLayer(s, {}, 43)), Table(*l));
}

class LayerRoundTripTest : public ::testing::TestWithParam<SparseOptimizerKind> {};

TEST_P(LayerRoundTripTest, SaveLoadThenIdenticalContinuedTraining) {
  const FeatureSpace s = Space({50, 7, 300, 2}, 8);
  SparseOptimizerConfig opt;
  opt.kind = GetParam();
  opt.lr = 0.01f;
  auto a = MakeLayer(s, opt);
  Rng rng(3);
  std::vector<float> out, grad;
  auto train = [&](EmbeddingLayer* l, int64_t step, Rng r) {
    const std::vector<uint32_t> keys = RandomKeys(s, 32, &r);
    out.resize(keys.size() * 8);
    grad.resize(keys.size() * 8);
    ECPS_EXPECT_OK(l->Forward(keys, out.data(), true));
    for (float& g : grad) g = static_cast<float>(r.Normal());
    ECPS_EXPECT_OK(l->Backward(grad.data(), step));
    return out;
  };
  for (int64_t t = 1; t <= 4; ++t) train(a.get(), t, rng.Fork(t));
  const std::string blob = a->Save().value();

  auto b = MakeLayer(s, opt, /*seed=*/999);  // different init: Load must overwrite it
  ASSERT_TRUE(b->Load(blob).ok());
  EXPECT_EQ(b->Save().value(), blob);
  for (int64_t t = 5; t <= 9; ++t) {
    const Rng r = rng.Fork(t);
    const std::vector<float> oa = train(a.get(), t, r);
    const std::vector<float> ob = train(b.get(), t, r);
    ASSERT_EQ(oa, ob) << "step " << t;
  }
  EXPECT_EQ(Table(*a), Table(*b));
  EXPECT_EQ(a->Save().value(), b->Save().value());
}

INSTANTIATE_TEST_SUITE_P(AllOptimizers, LayerRoundTripTest,
                         ::testing::Values(SparseOptimizerKind::kAdam, SparseOptimizerKind::kSgd,
                                           SparseOptimizerKind::kAdagrad,
                                           SparseOptimizerKind::kRowwiseAdagrad));

TEST(EmbeddingLayerTest, LoadRejectsMismatchedLayer) {
  auto a = MakeLayer(Space({5, 5}, 4), {});
  const std::string blob = a->Save().value();
  auto wrong_dim = MakeLayer(Space({5, 5}, 8), {});
  EXPECT_EQ(wrong_dim->Load(blob).code(), absl::StatusCode::kFailedPrecondition);
  auto wrong_rows = MakeLayer(Space({5, 6}, 4), {});
  EXPECT_EQ(wrong_rows->Load(blob).code(), absl::StatusCode::kFailedPrecondition);
  std::string bad = blob;
  bad[20] ^= 0x40;
  EXPECT_EQ(a->Load(bad).code(), absl::StatusCode::kDataLoss);
}

TEST(EmbeddingLayerTest, StagesOfFull) {
  auto l = MakeLayer(Space({5}, 4), {});
  ASSERT_EQ(l->compressor().Stages().size(), 1u);
  EXPECT_TRUE(l->BeginStage(0).ok());
  EXPECT_EQ(l->BeginStage(1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(l->StageComplete());
}

}  // namespace
}  // namespace ecps
