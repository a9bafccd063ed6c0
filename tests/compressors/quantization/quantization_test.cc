// Unit tests of the quantization family: the store's row codecs against the
// naive references, lookups against the references, budget solving, save /
// load continuation, gradient flow (incl. finite differences of ALPT's scale
// gradient), unbiased stochastic rounding and Post4Bits' range search.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "common/rng.h"
#include "compressors/quantization/alpt.h"
#include "compressors/quantization/int_quant.h"
#include "compressors/quantization/mixed_prec.h"
#include "compressors/quantization/post4bits.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"
#include "embedding/row_codec.h"
#include "tests/compressors/reference/quantization_reference.h"
#include "tests/testing/feature_space.h"
#include "tests/testing/status_testing.h"

namespace ecps {
namespace {

namespace ref = quant_reference;

using testing::Space;

struct Built {
  std::unique_ptr<EmbeddingLayer> layer;
  std::unique_ptr<ParamSet> params;
};

// A layer running `method` with `sets` ("key=value") over `space`.
Built MakeLayer(const std::string& method, const FeatureSpace& space,
                std::vector<std::string> sets = {}, double budget = 1.0,
                SparseOptimizerConfig opt = {}, std::span<const uint32_t> counts = {},
                uint64_t seed = 42) {
  const CompressorInfo* info = FindCompressor(method);
  EXPECT_NE(info, nullptr) << method;
  Built b;
  b.params = std::make_unique<ParamSet>(&info->schema);
  EXPECT_TRUE(b.params->ApplyOverrides(sets).ok());
  b.layer = std::make_unique<EmbeddingLayer>(info->create(), NewLocalRowStore(opt));
  CompressorContext ctx;
  ctx.space = space;
  ctx.budget = budget;
  ctx.seed = seed;
  ctx.train_counts = counts;
  const Status st = b.layer->Init(ctx, *b.params);
  EXPECT_TRUE(st.ok()) << st;
  return b;
}

std::vector<uint32_t> RandomKeys(const FeatureSpace& s, int batch, Rng* rng) {
  std::vector<uint32_t> k;
  for (int i = 0; i < batch; ++i)
    for (int f = 0; f < s.num_fields(); ++f)
      k.push_back(static_cast<uint32_t>(rng->Below(s.cardinalities[f])));
  return k;
}

std::vector<float> RandomValues(size_t n, double bound, Rng* rng) {
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng->Uniform(-bound, bound));
  return v;
}

uint64_t GlobalId(const FeatureSpace& s, size_t i, uint32_t key) {
  return s.offsets[i % s.num_fields()] + key;
}

double Ratio(const EmbeddingLayer& l, const FeatureSpace& s) {
  return static_cast<double>(l.Memory().inference_bytes) /
         (4.0 * static_cast<double>(s.total()) * s.dim);
}

// ---------------------------------------------------------------- codecs

TEST(RowCodecTest, HalfConversionsMatchTheReference) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t b = static_cast<uint16_t>(h);
    if (((b >> 10) & 0x1F) == 31) continue;  // inf / NaN
    ASSERT_EQ(row_codec::HalfToFloat(b), static_cast<float>(ref::HalfBitsToValue(b))) << h;
  }
  Rng rng(3);
  for (int i = 0; i < 200000; ++i) {
    const double mag = std::ldexp(1.0, static_cast<int>(rng.Below(40)) - 28);
    const float x = static_cast<float>(rng.Uniform(-mag, mag));
    const float u = rng.UniformFloat();
    ASSERT_EQ(row_codec::HalfToFloat(row_codec::FloatToHalf(x)),
              static_cast<float>(ref::RoundToHalf(x)))
        << x;
    ASSERT_EQ(row_codec::HalfToFloat(row_codec::FloatToHalfStochastic(x, u)),
              static_cast<float>(ref::StochasticHalf(x, u)))
        << x << " u " << u;
    ASSERT_EQ(row_codec::HalfFloor(x), static_cast<float>(ref::HalfFloor(x))) << x;
    ASSERT_EQ(row_codec::HalfCeil(x), static_cast<float>(ref::HalfCeil(x))) << x;
  }
  EXPECT_EQ(row_codec::HalfToFloat(row_codec::FloatToHalf(1e9f)), 65504.0f);  // saturates
}

TEST(RowCodecTest, IntegerRowsMatchTheReference) {
  Rng rng(5);
  for (DType dt : {DType::kI8, DType::kU8, DType::kI16, DType::kU16, DType::kU4}) {
    const row_codec::CodeRange r = row_codec::Range(dt);
    for (int width : {1, 7, 16}) {
      const float scale = 0.013f, zero = dt == DType::kI8 || dt == DType::kI16 ? 0.0f : -0.5f;
      const std::vector<float> x = RandomValues(width, 1.2, &rng);
      std::vector<float> u(width);
      for (float& v : u) v = rng.UniformFloat();
      std::vector<uint8_t> row(row_codec::RowBytes(dt, width));
      std::vector<float> out(width);
      // Nearest.
      row_codec::EncodeRow(dt, width, x.data(), scale, zero, nullptr, 0, row.data());
      row_codec::DecodeRow(dt, width, row.data(), scale, zero, out.data());
      for (int j = 0; j < width; ++j) {
        const int64_t q = ref::QuantizeNearest(x[j], scale, zero, r.qmin, r.qmax);
        EXPECT_FLOAT_EQ(out[j], static_cast<float>(ref::Dequantize(q, scale, zero)))
            << DTypeName(dt) << " " << j;
      }
      // Stochastic, one draw per element.
      row_codec::EncodeRow(dt, width, x.data(), scale, zero, u.data(), 1, row.data());
      row_codec::DecodeRow(dt, width, row.data(), scale, zero, out.data());
      for (int j = 0; j < width; ++j) {
        const int64_t q = ref::QuantizeStochastic(x[j], scale, zero, u[j], r.qmin, r.qmax);
        EXPECT_FLOAT_EQ(out[j], static_cast<float>(ref::Dequantize(q, scale, zero)));
      }
    }
  }
}

TEST(RowCodecTest, PerRowMinMaxCoversTheRowInFp16) {
  Rng rng(9);
  for (DType dt : {DType::kU8, DType::kI8, DType::kU4}) {
    for (int i = 0; i < 200; ++i) {
      std::vector<float> x = RandomValues(16, 3e-4 * (1 + i), &rng);
      float s, z;
      row_codec::RowMinMaxParams(dt, 16, x.data(), true, &s, &z);
      EXPECT_EQ(s, static_cast<float>(ref::RoundToHalf(s)));
      EXPECT_EQ(z, static_cast<float>(ref::RoundToHalf(z)));
      const row_codec::CodeRange r = row_codec::Range(dt);
      const float lo = *std::min_element(x.begin(), x.end());
      const float hi = *std::max_element(x.begin(), x.end());
      EXPECT_LE(r.qmin * s + z, lo);
      EXPECT_GE(r.qmax * s + z, hi);
    }
  }
}

// ---------------------------------------------------------------- lookups

// Writes known fp32 rows (nearest rounding) and checks Forward() against the
// reference quantiser of each method.
TEST(QuantizationLookupTest, LookupEqualsTheReference) {
  const FeatureSpace s = Space({50, 7, 300}, 16);
  const uint64_t n = s.total();
  Rng rng(11);
  const std::vector<float> values = RandomValues(n * s.dim, 0.3, &rng);
  const std::vector<uint32_t> keys = RandomKeys(s, 40, &rng);
  std::vector<float> out(keys.size() * s.dim);

  struct Case {
    std::string method;
    std::vector<std::string> sets;
    // reference value of element j of global row g
    std::function<double(uint64_t g, int j)> expect;
  };
  auto row = [&](uint64_t g) { return values.data() + g * s.dim; };
  const double s16 = std::ldexp(1.0, -15), s8 = std::ldexp(1.0, -7),
               z8 = 0.25 - 128 * s8;  // int8 auto step 2^-7
  std::vector<Case> cases = {
      {"fp16",
       {"rounding=nearest"},
       [&](uint64_t g, int j) { return ref::RoundToHalf(row(g)[j]); }},
      {"int16",
       {"rounding=nearest"},
       [&](uint64_t g, int j) {
         return ref::Dequantize(ref::QuantizeNearest(row(g)[j], s16, -1.0, 0, 65535), s16, -1.0);
       }},
      {"int8",
       {"rounding=nearest", "middle=0.25"},
       [&](uint64_t g, int j) {
         return ref::Dequantize(ref::QuantizeNearest(row(g)[j], s8, z8, 0, 255), s8, z8);
       }},
      {"alpt",
       {"rounding=nearest", "digit=8", "init_scale=0.004"},
       [&](uint64_t g, int j) {
         return ref::Dequantize(ref::QuantizeNearest(row(g)[j], 0.004f, 0, -128, 127), 0.004f, 0);
       }},
  };
  for (const Case& c : cases) {
    Built b = MakeLayer(c.method, s, c.sets);
    ASSERT_TRUE(b.layer->store().WriteRows(0, 0, n, values.data()).ok());
    ECPS_EXPECT_OK(b.layer->Forward(keys, out.data(), false));
    for (size_t i = 0; i < keys.size(); ++i)
      for (int j = 0; j < s.dim; ++j)
        ASSERT_FLOAT_EQ(out[i * s.dim + j],
                        static_cast<float>(c.expect(GlobalId(s, i, keys[i]), j)))
            << c.method << " key " << i << " elem " << j;
  }
}

TEST(QuantizationLookupTest, MixedPrecReadsCacheRowsInFp32AndOthersFromInt8) {
  const FeatureSpace s = Space({50, 7, 300}, 16);
  const uint64_t n = s.total();
  std::vector<uint32_t> counts(n, 0);
  for (uint64_t g = 0; g < n; g += 9) counts[g] = 100 + static_cast<uint32_t>(g);
  Built b = MakeLayer("mixedprec", s, {"rounding=nearest", "cache_rows=10"}, 1.0, {}, counts);
  auto& mp = static_cast<MixedPrecEmbedding&>(b.layer->compressor());
  ASSERT_EQ(mp.cache_rows(), 10u);
  // The hottest ids: the 10 largest multiples of 9.
  std::vector<uint64_t> hot;
  for (uint64_t g = (n - 1) / 9 * 9; hot.size() < 10; g -= 9) hot.push_back(g);
  std::sort(hot.begin(), hot.end());

  Rng rng(12);
  const std::vector<float> q = RandomValues(n * s.dim, 0.3, &rng);
  const std::vector<float> c = RandomValues(10 * s.dim, 0.3, &rng);
  ASSERT_TRUE(b.layer->store().WriteRows(0, 0, n, q.data()).ok());
  ASSERT_TRUE(b.layer->store().WriteRows(1, 0, 10, c.data()).ok());
  std::vector<uint32_t> keys = RandomKeys(s, 60, &rng);
  keys[2] = static_cast<uint32_t>(hot.back() - s.offsets[2]);  // a cached key of field 2
  std::vector<float> out(keys.size() * s.dim);
  ECPS_EXPECT_OK(b.layer->Forward(keys, out.data(), false));
  int cached = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint64_t g = GlobalId(s, i, keys[i]);
    const auto it = std::find(hot.begin(), hot.end(), g);
    const float* x = q.data() + g * s.dim;
    float lo = *std::min_element(x, x + s.dim), hi = *std::max_element(x, x + s.dim);
    double scale = ref::HalfCeil((hi - lo) / 255.0f);
    double zero = ref::HalfFloor(lo);
    // Grown by one fp16 step until the top code reaches the max (in float,
    // as the codec compares).
    while (255.0f * static_cast<float>(scale) + static_cast<float>(zero) < hi)
      scale = ref::HalfCeil(scale * (1 + 1e-5));
    for (int j = 0; j < s.dim; ++j) {
      double want;
      if (it != hot.end()) {
        want = c[(it - hot.begin()) * s.dim + j];
      } else {
        want = ref::Dequantize(ref::QuantizeNearest(x[j], scale, zero, 0, 255), scale, zero);
      }
      ASSERT_NEAR(out[i * s.dim + j], want, 1e-7) << "key " << i << " elem " << j;
    }
    cached += it != hot.end();
  }
  EXPECT_GE(cached, 1);
}

TEST(QuantizationLookupTest, Post4BitsQuantizesTheTrainedRowsWithTheRangeSearch) {
  const FeatureSpace s = Space({40, 60}, 16);
  const uint64_t n = s.total();
  Built b = MakeLayer("post4bits", s);
  ASSERT_EQ(b.layer->compressor().Stages().size(), 2u);
  EXPECT_TRUE(b.layer->compressor().Stages()[1].post_training);
  Rng rng(13);
  std::vector<float> values = RandomValues(n * s.dim, 0.1, &rng);
  values[5] = 2.0f;  // an outlier in row 0
  ASSERT_TRUE(b.layer->store().WriteRows(0, 0, n, values.data()).ok());
  ASSERT_TRUE(b.layer->BeginStage(1).ok());
  const RowTableSpec spec = b.layer->store().StoredTables()[0];
  EXPECT_EQ(spec.dtype, DType::kU4);
  EXPECT_FALSE(spec.trainable);
  std::vector<uint32_t> keys = RandomKeys(s, 50, &rng);
  std::vector<float> out(keys.size() * s.dim);
  ECPS_EXPECT_OK(b.layer->Forward(keys, out.data(), false));
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint64_t g = GlobalId(s, i, keys[i]);
    const std::vector<float> x(values.begin() + g * s.dim, values.begin() + (g + 1) * s.dim);
    float lo, hi;
    ref::GreedyRangeSearch(x, 4, 200, 0.16, &lo, &hi);
    const double bias = ref::RoundToHalf(lo);
    const double scale = hi - static_cast<float>(bias) == 0
                             ? 1.0
                             : ref::RoundToHalf((hi - static_cast<float>(bias)) / 15.0f);
    for (int j = 0; j < s.dim; ++j) {
      const double want =
          ref::Dequantize(ref::QuantizeNearest(x[j], scale, bias, 0, 15), scale, bias);
      ASSERT_NEAR(out[i * s.dim + j], want, 1e-6) << "key " << i << " elem " << j;
    }
  }
  EXPECT_DOUBLE_EQ(Ratio(*b.layer, s), 12.0 / 64.0);
}

// ---------------------------------------------------------------- budgets

// INT8's automatic step follows the row learning rate: 2^-7 at 0.01 (and when
// the lr is unknown), 2^-9 at 0.001, two bits per decade, clamped; 16 bits
// keep 2^-15; an explicit scale wins.
TEST(QuantizationBudgetTest, Int8AutoStepFollowsTheLearningRate) {
  const FeatureSpace s = Space({1000, 500, 37}, 16);
  auto step = [&](const std::string& method, double lr, std::vector<std::string> sets = {}) {
    const CompressorInfo* info = FindCompressor(method);
    ParamSet params(&info->schema);
    EXPECT_TRUE(params.ApplyOverrides(sets).ok());
    auto c = info->create();
    CompressorContext ctx;
    ctx.space = s;
    ctx.budget = method == "int8" ? 0.25 : 0.5;
    ctx.sparse_lr = lr;
    EXPECT_TRUE(c->Init(ctx, params).ok());
    return static_cast<IntQuantEmbedding&>(*c).scale();
  };
  EXPECT_EQ(step("int8", 0.0), std::ldexp(1.0, -7));
  EXPECT_EQ(step("int8", 0.01), std::ldexp(1.0, -7));
  EXPECT_EQ(step("int8", 0.001), std::ldexp(1.0, -9));
  EXPECT_EQ(step("int8", 0.003), std::ldexp(1.0, -8));
  EXPECT_EQ(step("int8", 0.1), std::ldexp(1.0, -5));
  EXPECT_EQ(step("int8", 1e-6), std::ldexp(1.0, -12));
  EXPECT_EQ(step("int16", 0.001), std::ldexp(1.0, -15));
  EXPECT_EQ(step("int8", 0.001, {"scale=0.01"}), 0.01);
}

TEST(QuantizationBudgetTest, FixedRatiosPickTheVariantThatFits) {
  const FeatureSpace s = Space({1000, 500, 37}, 16);
  struct Case {
    std::string method;
    double budget, ratio;
  };
  const std::vector<Case> cases = {
      {"fp16", 1.0, 0.5},     {"fp16", 0.5, 0.5},         {"fp16", 0.1, 0.5},
      {"int16", 1.0, 0.5},    {"int16", 0.5, 0.5},        {"int16", 0.3, 0.25},
      {"int16", 0.1, 0.25},   {"int8", 1.0, 0.25},        {"int8", 0.25, 0.25},
      {"alpt", 1.0, 0.5625},  {"alpt", 0.5625, 0.5625},   {"alpt", 0.5, 0.3125},
      {"alpt", 0.01, 0.3125}, {"post4bits", 0.5, 0.1875}, {"post4bits", 0.01, 0.1875},
  };
  for (const Case& c : cases) {
    Built b = MakeLayer(c.method, s, {}, c.budget);
    EXPECT_DOUBLE_EQ(Ratio(*b.layer, s), c.ratio) << c.method << " @ " << c.budget;
  }
  // An explicit width is honoured (and its real ratio reported).
  EXPECT_DOUBLE_EQ(Ratio(*MakeLayer("int16", s, {"digit=16"}, 0.25).layer, s), 0.5);
  EXPECT_DOUBLE_EQ(Ratio(*MakeLayer("int8", s, {"use_qparam=true"}, 1.0).layer, s),
                   0.25 + 8.0 / 64);
}

TEST(QuantizationBudgetTest, MixedPrecSizesTheCacheFromTheBudget) {
  const FeatureSpace s = Space({3000, 2000, 37}, 16);
  const uint64_t n = s.total();
  std::vector<uint32_t> counts(n);
  for (uint64_t g = 0; g < n; ++g) counts[g] = static_cast<uint32_t>((g * 7919) % 1000);
  for (double budget : {0.35, 0.5, 0.9}) {
    Built b = MakeLayer("mixedprec", s, {}, budget, {}, counts);
    const double r = Ratio(*b.layer, s);
    EXPECT_LE(r, budget);
    EXPECT_GE(r, budget * 0.99) << budget;
    const auto& mp = static_cast<const MixedPrecEmbedding&>(b.layer->compressor());
    EXPECT_EQ(mp.cache_rows(), static_cast<uint64_t>((budget * 64.0 * n - 20.0 * n) / 68.0));
  }
  // Below the INT8 part no cache fits: the real ratio is reported.
  Built b = MakeLayer("mixedprec", s, {}, 0.1, {}, counts);
  EXPECT_DOUBLE_EQ(Ratio(*b.layer, s), 20.0 / 64.0);
  EXPECT_EQ(static_cast<const MixedPrecEmbedding&>(b.layer->compressor()).cache_rows(), 0u);
}

TEST(QuantizationBudgetTest, TrainingMemoryCountsFp32OptimizerState) {
  const FeatureSpace s = Space({1000, 24}, 16);
  const double full = 4.0 * s.total() * s.dim;
  auto training = [&](const std::string& m, double budget) {
    Built b = MakeLayer(m, s, {}, budget);
    return static_cast<double>(b.layer->Memory().training_bytes()) / full;
  };
  EXPECT_DOUBLE_EQ(training("int16", 0.5), 2.5);
  EXPECT_DOUBLE_EQ(training("int8", 0.25), 2.25);
  EXPECT_DOUBLE_EQ(training("fp16", 0.5), 2.5);
  EXPECT_DOUBLE_EQ(training("alpt", 1.0), 2.6875);  // 268.75%: + Δ and its Adam
  EXPECT_DOUBLE_EQ(training("alpt", 0.4), 2.4375);
  Built b = MakeLayer("alpt", s, {}, 0.4);
  EXPECT_EQ(b.layer->store().parameter_bytes(), b.layer->Memory().parameter_bytes);
}

// ---------------------------------------------------------------- save / load

void TrainSteps(EmbeddingLayer* l, const FeatureSpace& s, int steps, int64_t first_step,
                uint64_t seed) {
  Rng rng(seed);
  for (int t = 0; t < steps; ++t) {
    const std::vector<uint32_t> keys = RandomKeys(s, 16, &rng);
    std::vector<float> out(keys.size() * s.dim);
    ECPS_EXPECT_OK(l->Forward(keys, out.data(), true));
    std::vector<float> g = RandomValues(out.size(), 1.0, &rng);
    ECPS_EXPECT_OK(l->Backward(g.data(), first_step + t));
  }
}

std::vector<float> AllOutputs(EmbeddingLayer* l, const FeatureSpace& s) {
  std::vector<uint32_t> keys;
  for (int f = 0; f < s.num_fields(); ++f)
    for (uint32_t k = 0; k < s.cardinalities[f]; ++k) keys.push_back(k);
  // Pad to whole samples of num_fields keys, field by field.
  std::vector<uint32_t> batch;
  const size_t maxc = *std::max_element(s.cardinalities.begin(), s.cardinalities.end());
  for (size_t k = 0; k < maxc; ++k)
    for (int f = 0; f < s.num_fields(); ++f)
      batch.push_back(static_cast<uint32_t>(std::min<uint64_t>(k, s.cardinalities[f] - 1)));
  std::vector<float> out(batch.size() * s.dim);
  ECPS_EXPECT_OK(l->Forward(batch, out.data(), false));
  return out;
}

TEST(QuantizationSaveLoadTest, LoadedLayerContinuesBitIdentically) {
  const FeatureSpace s = Space({60, 9, 200}, 8);
  const uint64_t n = s.total();
  std::vector<uint32_t> counts(n);
  for (uint64_t g = 0; g < n; ++g) counts[g] = static_cast<uint32_t>(g % 13);
  SparseOptimizerConfig opt;
  opt.lr = 0.01f;
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"fp16", {}},
      {"int16", {}},
      {"int8", {"rounding=stochastic_element"}},
      {"int8", {"use_qparam=true"}},
      {"alpt", {"digit=8", "scale_lr=0.001"}},
      {"mixedprec", {}},
      {"post4bits", {}}};
  for (const auto& [method, sets] : cases) {
    SCOPED_TRACE(method);
    Built a = MakeLayer(method, s, sets, 0.5, opt, counts);
    TrainSteps(a.layer.get(), s, 20, 1, 1);
    if (method == "post4bits") {
      ASSERT_TRUE(a.layer->BeginStage(1).ok());
    }
    const std::string blob = a.layer->Save().value();
    TrainSteps(a.layer.get(), s, 20, 21, 2);

    Built b = MakeLayer(method, s, sets, 0.5, opt, counts, /*seed=*/7);
    const Status st = b.layer->Load(blob);
    ASSERT_TRUE(st.ok()) << st;
    EXPECT_EQ(b.layer->Save().value(), blob);
    TrainSteps(b.layer.get(), s, 20, 21, 2);
    EXPECT_EQ(AllOutputs(a.layer.get(), s), AllOutputs(b.layer.get(), s));
    EXPECT_EQ(a.layer->Save().value(), b.layer->Save().value());
  }
}

TEST(QuantizationSaveLoadTest, CorruptOrForeignBlobsAreRejected) {
  const FeatureSpace s = Space({30, 5}, 8);
  Built a = MakeLayer("int8", s);
  std::string blob = a.layer->store().Save().value();
  Built b = MakeLayer("int16", s);
  // Different tables: the layer refuses, the store checksum catches flips.
  EXPECT_FALSE(b.layer->Load(a.layer->Save().value()).ok());
  blob[blob.size() / 2] ^= 1;
  EXPECT_EQ(b.layer->store().Load(blob).code(), absl::StatusCode::kDataLoss);
}

// ---------------------------------------------------------------- gradients

// One Adam step from a value on the code grid moves every element by about
// lr against its gradient (|Adam's first step| = lr), through the decode.
TEST(QuantizationGradientTest, PushMovesStoredRowsAgainstTheGradient) {
  const FeatureSpace s = Space({20}, 8);
  SparseOptimizerConfig opt;
  opt.lr = 0.05f;
  for (const std::string m : {"fp16", "int16", "int8", "alpt", "mixedprec"}) {
    SCOPED_TRACE(m);
    Built b = MakeLayer(m, s, {"rounding=nearest"}, 1.0, opt);
    std::vector<uint32_t> keys = {3};
    std::vector<float> before(s.dim), after(s.dim);
    ECPS_EXPECT_OK(b.layer->Forward(keys, before.data(), true));
    std::vector<float> g(s.dim);
    for (int j = 0; j < s.dim; ++j) g[j] = (j % 2) ? 1.0f : -1.0f;
    ECPS_EXPECT_OK(b.layer->Backward(g.data(), 1));
    ECPS_EXPECT_OK(b.layer->Forward(keys, after.data(), false));
    for (int j = 0; j < s.dim; ++j) {
      const double moved = after[j] - before[j];
      EXPECT_NEAR(moved, -opt.lr * g[j], 0.004) << j;  // nearest: within half a step (<= 2^-8)
    }
  }
}

TEST(QuantizationGradientTest, AlptScaleGradientMatchesFiniteDifferences) {
  Rng rng(21);
  const row_codec::CodeRange r8 = row_codec::Range(DType::kI8);
  for (int trial = 0; trial < 50; ++trial) {
    const float scale = static_cast<float>(rng.Uniform(0.001, 0.02));
    std::vector<float> w = RandomValues(16, 1.0, &rng);  // some clip at +-128 steps
    std::vector<float> g = RandomValues(16, 1.0, &rng);
    const double lsq = row_codec::LsqScaleGrad(w.data(), g.data(), 16, scale, r8);
    EXPECT_NEAR(lsq, ref::LsqScaleGrad(w, g, scale, -128, 127), 1e-9 * (1 + std::fabs(lsq)));
    // LSQ = d/dΔ of L(Δ) = Σ g·clamp(r0 + v(Δ) - v(Δ0))·Δ, round() passed
    // straight through (r0 = round(v(Δ0)) held fixed).
    auto loss = [&](double d) {
      double l = 0;
      for (int j = 0; j < 16; ++j) {
        const double v0 = w[j] / static_cast<double>(scale), v = w[j] / d;
        double q = std::nearbyint(v0) + (v - v0);
        if (v0 <= -128) q = -128;
        if (v0 >= 127) q = 127;
        l += g[j] * q * d;
      }
      return l;
    };
    const double h = scale * 1e-6;
    const double fd = (loss(scale + h) - loss(scale - h)) / (2 * h);
    EXPECT_NEAR(lsq, fd, 1e-4 * (1 + std::fabs(fd)));
  }
}

TEST(QuantizationGradientTest, AlptDecodeIsLinearInTheStoredScale) {
  // e = q·Δ: with the codes fixed, de/dΔ = q (finite differences through
  // WriteRows' explicit scale and Gather).
  const FeatureSpace s = Space({4}, 8);
  Built b = MakeLayer("alpt", s, {"digit=8", "rounding=nearest"});
  const float d0 = 0.01f;
  std::vector<float> x(8);
  for (int j = 0; j < 8; ++j) x[j] = static_cast<float>((j * 13) % 50 - 25) * d0;
  auto gather = [&](float d) {
    const float sz[2] = {d, 0.0f};
    std::vector<float> v(8);
    EXPECT_TRUE(b.layer->store().WriteRows(0, 1, 1, x.data(), sz).ok());
    // Re-encoding x at Δ ± h keeps the same codes for small h.
    std::vector<float> scaled(8);
    for (int j = 0; j < 8; ++j) scaled[j] = x[j] / d0 * d;
    EXPECT_TRUE(b.layer->store().WriteRows(0, 1, 1, scaled.data(), sz).ok());
    EXPECT_TRUE(b.layer->store().ReadRows(0, 1, 1, v.data()).ok());
    return v;
  };
  const float h = 1e-6f;
  const std::vector<float> up = gather(d0 + h), down = gather(d0 - h);
  for (int j = 0; j < 8; ++j)
    EXPECT_NEAR((up[j] - down[j]) / (2 * h), std::nearbyint(x[j] / d0), 1e-2) << j;
}

TEST(QuantizationGradientTest, AlptPushUpdatesTheScaleAgainstItsLsqGradient) {
  const FeatureSpace s = Space({4}, 16);
  SparseOptimizerConfig opt;
  opt.lr = 0.001f;
  Built b = MakeLayer("alpt", s, {"digit=8", "init_scale=0.01", "scale_lr=0.001"}, 1.0, opt);
  Rng rng(4);
  std::vector<float> x = RandomValues(16, 0.5, &rng);
  ASSERT_TRUE(b.layer->store().WriteRows(0, 2, 1, x.data()).ok());
  std::vector<uint32_t> keys = {2};
  std::vector<float> e(16);
  ECPS_EXPECT_OK(b.layer->Forward(keys, e.data(), true));
  std::vector<float> g = RandomValues(16, 1.0, &rng);
  // The scale gradient the store will see (w' = one Adam step from e).
  std::vector<float> w(16);
  for (int j = 0; j < 16; ++j) w[j] = e[j] - opt.lr * (g[j] > 0 ? 1.0f : -1.0f);
  const double lsq = ref::LsqScaleGrad(w, g, 0.01, -128, 127);
  ECPS_EXPECT_OK(b.layer->Backward(g.data(), 1));
  // Adam's first step moves the scale by scale_lr against the sign of its
  // LSQ gradient; every decoded element is then a multiple of that scale.
  const double want = 0.01 - 0.001 * (lsq > 0 ? 1 : -1);
  const double other = 0.01 + 0.001 * (lsq > 0 ? 1 : -1);
  std::vector<float> v(16);
  ASSERT_TRUE(b.layer->store().ReadRows(0, 2, 1, v.data()).ok());
  int fits_want = 0, fits_other = 0;
  for (int j = 0; j < 16; ++j) {
    fits_want += std::fabs(v[j] / want - std::nearbyint(v[j] / want)) < 1e-3;
    fits_other += std::fabs(v[j] / other - std::nearbyint(v[j] / other)) < 1e-3;
  }
  EXPECT_EQ(fits_want, 16);
  EXPECT_LT(fits_other, 16);
}

// ---------------------------------------------------------------- rounding

// Mean of many stochastically rounded SGD updates equals the fp32 update.
double MeanRoundedUpdate(const RowTableSpec& spec, float start, float update, int trials,
                         double* quantum) {
  SparseOptimizerConfig opt;
  opt.kind = SparseOptimizerKind::kSgd;
  opt.lr = 1.0f;
  auto store = NewLocalRowStore(opt);
  EXPECT_TRUE(store->Reset({spec}, 1).ok());
  LookupPlan plan;
  plan.Reset(1, 1);
  plan.rows[0] = {0};
  FetchedRows g, v;
  g.values = {std::vector<float>(spec.width, -update)};
  std::vector<float> row(spec.width, start), got(spec.width);
  double sum = 0;
  for (int t = 0; t < trials; ++t) {
    EXPECT_TRUE(store->WriteRows(0, 0, 1, row.data()).ok());
    EXPECT_TRUE(store->ReadRows(0, 0, 1, got.data()).ok());
    EXPECT_EQ(got[0], start);  // the start is exactly representable
    ECPS_EXPECT_OK(store->Push(plan, g, t + 1));
    ECPS_EXPECT_OK(store->Gather(plan, &v));
    for (float x : v.values[0]) sum += x - start;
  }
  *quantum = spec.dtype == DType::kF16 ? ref::HalfCeil(start * 1.0000001) - start : spec.scale;
  return sum / (static_cast<double>(trials) * spec.width);
}

TEST(StochasticRoundingTest, UpdatesAreUnbiased) {
  RowTableSpec f16;
  f16.name = "E";
  f16.rows = 1;
  f16.width = 16;
  f16.dtype = DType::kF16;
  RowTableSpec i16 = f16, u8 = f16;
  i16.dtype = DType::kU16;
  i16.quant = QuantScheme::kGlobal;
  i16.scale = std::ldexp(1.0, -15);
  i16.zero = -1.0;
  u8.dtype = DType::kU8;
  u8.quant = QuantScheme::kGlobal;
  u8.scale = std::ldexp(1.0, -7);
  u8.zero = -1.0;
  struct Case {
    RowTableSpec spec;
    float start;
  };
  for (Rounding r : {Rounding::kStochasticPerElement, Rounding::kStochasticPerRow}) {
    for (Case c : {Case{f16, 0.25f}, Case{i16, 0.125f}, Case{u8, 0.25f}}) {
      c.spec.rounding = r;
      double quantum;
      // An update of 0.3 quanta: nearest rounding would drop it entirely.
      const double q0 = c.spec.dtype == DType::kF16 ? std::ldexp(1.0, -12) : c.spec.scale;
      const float update = static_cast<float>(0.3 * q0);
      const double mean = MeanRoundedUpdate(c.spec, c.start, update, 20000, &quantum);
      EXPECT_NEAR(quantum, q0, 1e-12);
      // Per element: 320k Bernoulli(0.3) draws; per row: 20k (correlated).
      EXPECT_NEAR(mean / update, 1.0, 0.03)
          << DTypeName(c.spec.dtype) << " rounding " << static_cast<int>(r);
      c.spec.rounding = Rounding::kNearest;
      EXPECT_EQ(MeanRoundedUpdate(c.spec, c.start, update, 10, &quantum), 0.0);
      c.spec.rounding = r;
    }
  }
}

// ---------------------------------------------------------------- post4bits

TEST(Post4BitsTest, RangeSearchMatchesTheReference) {
  Rng rng(31);
  for (int trial = 0; trial < 300; ++trial) {
    const int d = 1 + static_cast<int>(rng.Below(64));
    std::vector<float> x(d);
    for (float& v : x) v = static_cast<float>(rng.Normal() * 0.05);
    if (trial % 3 == 0) x[rng.Below(d)] *= 20;  // outliers
    float a0, a1, b0, b1;
    Post4BitsEmbedding::RangeSearch(x.data(), d, 200, 0.16, &a0, &a1);
    ref::GreedyRangeSearch(x, 4, 200, 0.16, &b0, &b1);
    ASSERT_EQ(a0, b0) << trial;
    ASSERT_EQ(a1, b1) << trial;
    EXPECT_EQ(Post4BitsEmbedding::RangeLoss(x.data(), d, a0, a1), ref::UniformLoss(x, 4, b0, b1));
  }
}

TEST(Post4BitsTest, RangeSearchBeatsMinMaxOnAnOutlierRow) {
  Rng rng(32);
  std::vector<float> x(16);
  for (float& v : x) v = static_cast<float>(rng.Normal() * 0.01);
  x[7] = 0.2f;
  float lo, hi;
  Post4BitsEmbedding::RangeSearch(x.data(), 16, 200, 0.16, &lo, &hi);
  const float mn = *std::min_element(x.begin(), x.end());
  const float mx = *std::max_element(x.begin(), x.end());
  EXPECT_LT(hi - lo, mx - mn);  // the range was cut
  EXPECT_GE(lo, mn);
  EXPECT_LE(hi, mx);
  const double searched = ref::UniformLoss(x, 4, lo, hi);
  const double minmax = ref::UniformLoss(x, 4, mn, mx);
  EXPECT_LT(searched, 0.97 * minmax);
}

// A write the codes cannot represent is reported (row_codec::EncodeStats):
// clipped values (INT16's automatic step 2^-15 covers only [-1, 1)) are
// counted, and NaN / Inf (which used to be cast to an integer code, undefined
// behaviour, reading back as -1 or 0) are counted and written as the code
// nearest to 0.
TEST(RowCodecTest, EncodeReportsClippedAndNonFiniteValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {0.5f, 1.5f, -2.0f, std::nanf(""), inf, -inf, 0.99f, -1.0f};
  // INT16 as registered: u16 codes, step 2^-15, zero = middle - 2^15 step = -1.
  const float s16 = std::ldexp(1.0f, -15);
  std::vector<uint8_t> row(row_codec::RowBytes(DType::kU16, 8));
  for (const float* u : {static_cast<const float*>(nullptr), x.data()}) {
    const std::vector<float> draws(8, 0.5f);
    const row_codec::EncodeStats st = row_codec::EncodeRow(
        DType::kU16, 8, x.data(), s16, -1.0f, u ? draws.data() : nullptr, 1, row.data());
    EXPECT_EQ(st.clipped, 2u);     // 1.5 and -2
    EXPECT_EQ(st.non_finite, 3u);  // NaN, +Inf, -Inf
    std::vector<float> out(8);
    row_codec::DecodeRow(DType::kU16, 8, row.data(), s16, -1.0f, out.data());
    EXPECT_EQ(out[3], 0.0f);
    EXPECT_EQ(out[4], 0.0f);
    EXPECT_EQ(out[5], 0.0f);
    EXPECT_EQ(out[1], 65535 * s16 - 1.0f);  // clipped to the top code
    EXPECT_EQ(out[2], -1.0f);               // and to the bottom one
  }
  // Every code dtype counts the same way; a non-finite scale (a per-row
  // min/max of a row holding Inf) makes every element non-finite.
  for (DType dt : {DType::kI8, DType::kU8, DType::kI16, DType::kU4}) {
    std::vector<uint8_t> r(row_codec::RowBytes(dt, 8));
    const row_codec::CodeRange cr = row_codec::Range(dt);
    const float scale = 2.0f / static_cast<float>(cr.qmax - cr.qmin);
    const float zero = -1.0f - cr.qmin * scale;  // codes cover [-1, 1]
    const row_codec::EncodeStats st =
        row_codec::EncodeRow(dt, 8, x.data(), scale, zero, nullptr, 0, r.data());
    EXPECT_EQ(st.clipped, 2u) << DTypeName(dt);
    EXPECT_EQ(st.non_finite, 3u) << DTypeName(dt);
    const row_codec::EncodeStats nan_scale =
        row_codec::EncodeRow(dt, 8, x.data(), std::nanf(""), 0.0f, nullptr, 0, r.data());
    EXPECT_EQ(nan_scale.non_finite, 8u) << DTypeName(dt);
  }
  // fp16: beyond +-65504 saturates (clipped), NaN stays NaN (non-finite).
  std::vector<uint8_t> h(row_codec::RowBytes(DType::kF16, 4));
  const std::vector<float> big = {1e6f, -1e6f, std::nanf(""), 3.0f};
  const row_codec::EncodeStats st =
      row_codec::EncodeRow(DType::kF16, 4, big.data(), 1.0f, 0.0f, nullptr, 0, h.data());
  EXPECT_EQ(st.clipped, 2u);
  EXPECT_EQ(st.non_finite, 1u);
  // fp32 stores everything and reports the non-finite.
  std::vector<uint8_t> f(row_codec::RowBytes(DType::kF32, 8));
  EXPECT_EQ(
      row_codec::EncodeRow(DType::kF32, 8, x.data(), 1.0f, 0.0f, nullptr, 0, f.data()).non_finite,
      3u);
}

// The per-table tally a store keeps: non-finite writes fail the write batch
// with the table named; clipping only warns (once), and never fails.
TEST(RowCodecTest, WriteStatsFailOnNonFiniteAndCountClipping) {
  RowTableSpec spec;
  spec.name = "E";
  spec.dtype = DType::kU16;
  spec.quant = QuantScheme::kGlobal;
  spec.scale = std::ldexp(1.0, -15);
  spec.zero = -1.0;
  row_codec::WriteStats stats;
  ECPS_EXPECT_OK(stats.Check(spec));
  stats.Add({/*clipped=*/3, /*non_finite=*/0});
  ECPS_EXPECT_OK(stats.Check(spec));  // warns, does not fail
  stats.Add({1, 0});
  ECPS_EXPECT_OK(stats.Check(spec));  // no second warning
  EXPECT_EQ(stats.clipped(), 4u);
  stats.Add({0, 2});
  const Status st = stats.Check(spec);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("table 'E'"), std::string::npos) << st;
  EXPECT_NE(st.message().find("2 non-finite"), std::string::npos) << st;
  ECPS_EXPECT_OK(stats.Check(spec));  // reported once; the next batch is judged alone
}

// ------------------------------------------------- the authors' constants --
// Where ecps claims CODE's (or FBGEMM's) values, docs/methods.md §2.16-§2.19:
// pinned so a change is deliberate. (ecps' automatic INT8/16 and ALPT steps
// are not CODE's 0.01, on purpose: quant_common.h, int_quant.cc.)
TEST(QuantizationConstantsTest, AuthorsValuesArePinned) {
  const FeatureSpace s = Space({100, 28}, 16);
  auto params = [](const std::string& method) { return ParamSet(&FindCompressor(method)->schema); };
  // INT16 (CODE `quantize`, digit 16): u16 codes, value = q s + min with
  // min = middle - 2^15 s, middle 0, one rounding draw per row (§4 item 6).
  {
    Built b = MakeLayer("int16", s, {}, 0.5);
    const RowTableSpec e = b.layer->compressor().Tables()[0];
    EXPECT_EQ(e.dtype, DType::kU16);
    EXPECT_EQ(e.quant, QuantScheme::kGlobal);
    EXPECT_EQ(e.rounding, Rounding::kStochasticPerRow);
    EXPECT_EQ(e.zero, 0.0 - std::ldexp(e.scale, 15));
    EXPECT_DOUBLE_EQ(Ratio(*b.layer, s), 0.5);
    EXPECT_EQ(params("int16").GetFloat("middle"), 0.0);
  }
  {
    Built b = MakeLayer("int8", s, {}, 0.25);
    EXPECT_EQ(b.layer->compressor().Tables()[0].dtype, DType::kU8);
    EXPECT_DOUBLE_EQ(Ratio(*b.layer, s), 0.25);
  }
  // ALPT (CODE `alpt`): signed codes, learned per-row fp32 scale with its own
  // Adam at scale_lr 2e-5, one draw per row; 56.25% / 31.25% at d = 16.
  EXPECT_EQ(params("alpt").GetFloat("scale_lr"), 2e-5);
  EXPECT_EQ(params("alpt").GetString("rounding"), "stochastic_row");
  for (auto [budget, dtype, ratio] :
       {std::tuple{1.0, DType::kI16, 0.5625}, std::tuple{0.4, DType::kI8, 0.3125}}) {
    Built b = MakeLayer("alpt", s, {}, budget);
    const RowTableSpec e = b.layer->compressor().Tables()[0];
    EXPECT_EQ(e.dtype, dtype);
    EXPECT_TRUE(e.learn_scale);
    EXPECT_EQ(e.scale_lr, 2e-5);
    EXPECT_DOUBLE_EQ(Ratio(*b.layer, s), ratio);
  }
  // Post4Bits (FBGEMM's param_search_greedy): n_bins 200, ratio 0.16; 4-bit
  // codes with fp16 scale and bias, 18.75% at d = 16.
  EXPECT_EQ(params("post4bits").GetInt("n_bins"), 200);
  EXPECT_EQ(params("post4bits").GetFloat("ratio"), 0.16);
  {
    Built b = MakeLayer("post4bits", s);
    EXPECT_DOUBLE_EQ(Ratio(*b.layer, s), 0.1875);
  }
  // FP16: 50%.
  {
    Built b = MakeLayer("fp16", s);
    EXPECT_DOUBLE_EQ(Ratio(*b.layer, s), 0.5);
  }
}

// ---------------------------------------------------------------- registry

TEST(QuantizationRegistryTest, EveryMethodIsRegisteredWithItsParameters) {
  const std::map<std::string, std::vector<std::string>> want = {
      {"fp16", {"rounding"}},
      {"int8", {"digit", "scale", "middle", "rounding", "use_qparam"}},
      {"int16", {"digit", "scale", "middle", "rounding", "use_qparam"}},
      {"alpt", {"digit", "init_scale", "scale_lr", "rounding"}},
      {"post4bits", {"n_bins", "ratio"}},
      {"mixedprec", {"cache_rows", "scale_dtype", "rounding"}}};
  for (const auto& [name, keys] : want) {
    const CompressorInfo* info = FindCompressor(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->family, "quantization");
    for (const std::string& k : keys) {
      const ParamSpec* p = info->schema.Find(k);
      ASSERT_NE(p, nullptr) << name << "." << k;
      EXPECT_FALSE(p->description.empty());
    }
    EXPECT_EQ(info->schema.specs().size(), keys.size()) << name;
    EXPECT_EQ(info->create()->Name(), name);
  }
}

TEST(QuantizationRegistryTest, BadParametersAreRejected) {
  const FeatureSpace s = Space({10}, 4);
  const CompressorInfo* info = FindCompressor("int8");
  ParamSet p(&info->schema);
  ASSERT_TRUE(p.Set("digit", "16").ok());
  auto m = info->create();
  CompressorContext ctx;
  ctx.space = s;
  const Status st = m->Init(ctx, p);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("digit"), std::string::npos) << st;
}

}  // namespace
}  // namespace ecps
