#include "compressors/quantization/post4bits.h"

#include <algorithm>
#include <cmath>

namespace ecps {
namespace {

// fp16 round trip (nearest even) through GCC's _Float16; the embedding range
// is far inside fp16's, but clamp anyway so nothing becomes infinite.
float ToHalf(float x) {
  x = std::clamp(x, -65504.0f, 65504.0f);
  return static_cast<float>(static_cast<_Float16>(x));
}

constexpr int kLevels = (1 << Post4BitsEmbedding::kBits) - 1;  // 15
constexpr uint64_t kChunkRows = 4096;

}  // namespace

ParamSchema Post4BitsEmbedding::Schema() {
  return ParamSchema()
      .Int("n_bins", 200, 2, 100000, "range-search step = (max - min) / n_bins")
      .Float("ratio", 0.16, 0.0, 1.0,
             "the search stops once the range shrank to (1 - ratio) of the row's min..max");
}

std::unique_ptr<Compressor> Post4BitsEmbedding::Create() {
  return std::make_unique<Post4BitsEmbedding>();
}

Status Post4BitsEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(quant_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = quant_internal::InitBound(space_);
  n_bins_ = static_cast<int>(params.GetInt("n_bins"));
  ratio_ = params.GetFloat("ratio");
  stage_ = 0;
  return OkStatus();
}

std::vector<RowTableSpec> Post4BitsEmbedding::Tables() const {
  RowTableSpec e;
  e.name = "E";
  e.rows = space_.total();
  e.width = space_.dim;
  e.init_bound = init_bound_;
  if (stage_ >= 1) {
    e.dtype = DType::kU4;
    e.quant = QuantScheme::kPerRow;
    e.scale_dtype = DType::kF16;
    e.rounding = Rounding::kNearest;
    e.trainable = false;
  }
  return {e};
}

std::vector<StageSpec> Post4BitsEmbedding::Stages() const {
  StageSpec quantize{"quantize"};
  quantize.post_training = true;
  quantize.freeze_dense = true;
  return {StageSpec{"train"}, quantize};
}

void Post4BitsEmbedding::RangeParams(float xmin, float xmax, float* scale, float* bias) {
  *bias = ToHalf(xmin);
  const float range = xmax - *bias;
  *scale = range == 0.0f ? 1.0f : ToHalf(range / static_cast<float>(kLevels));
}

double Post4BitsEmbedding::RangeLoss(const float* x, int d, float xmin, float xmax) {
  float scale, bias;
  RangeParams(xmin, xmax, &scale, &bias);
  double sum = 0;
  for (int j = 0; j < d; ++j) {
    const float q =
        std::clamp(std::nearbyint((x[j] - bias) / scale), 0.0f, static_cast<float>(kLevels));
    const double e = static_cast<double>(x[j]) - (q * scale + bias);
    sum += e * e;
  }
  return std::sqrt(sum);
}

void Post4BitsEmbedding::RangeSearch(const float* x, int d, int n_bins, double ratio, float* xmin,
                                     float* xmax) {
  const auto [lo_it, hi_it] = std::minmax_element(x, x + d);
  const float lo = *lo_it, hi = *hi_it;
  const float step = (hi - lo) / static_cast<float>(n_bins);
  const float thr = static_cast<float>(n_bins) * (1.0f - static_cast<float>(ratio)) * step;
  float cur_min = lo, cur_max = hi;
  double cur_loss = RangeLoss(x, d, lo, hi);
  bool found = false;
  float best_min = lo, best_max = hi;
  double best_loss = 0;
  while (cur_min + thr < cur_max) {
    const double loss_left = RangeLoss(x, d, cur_min + step, cur_max);
    const double loss_right = RangeLoss(x, d, cur_min, cur_max - step);
    // A range better than both of its moves is a local optimum; the first of
    // equally good optima wins (strict <), as in FBGEMM.
    if (cur_loss < loss_left && cur_loss < loss_right && (!found || cur_loss < best_loss)) {
      found = true;
      best_min = cur_min;
      best_max = cur_max;
      best_loss = cur_loss;
    }
    if (loss_left < loss_right) {
      cur_min += step;
      cur_loss = loss_left;
    } else {
      cur_max -= step;
      cur_loss = loss_right;
    }
  }
  *xmin = best_min;
  *xmax = best_max;
}

Status Post4BitsEmbedding::BeginStage(int index) {
  if (index != 1) return InvalidArgument("post4bits has stages 0 and 1, not ", index);
  if (rows_ == nullptr) return FailedPrecondition("post4bits: no row access attached");
  const uint64_t n = space_.total();
  const int d = space_.dim;
  pending_values_.resize(n * d);
  pending_params_.resize(2 * n);
  for (uint64_t begin = 0; begin < n; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, n - begin);
    RETURN_IF_ERROR(rows_->ReadRows(0, begin, count, pending_values_.data() + begin * d));
  }
  for (uint64_t r = 0; r < n; ++r) {
    float lo, hi;
    RangeSearch(pending_values_.data() + r * d, d, n_bins_, ratio_, &lo, &hi);
    RangeParams(lo, hi, &pending_params_[2 * r], &pending_params_[2 * r + 1]);
  }
  stage_ = 1;
  return OkStatus();
}

Status Post4BitsEmbedding::InitStageRows(int index) {
  if (index != 1 || rows_ == nullptr) return OkStatus();
  const uint64_t n = space_.total();
  const int d = space_.dim;
  if (pending_values_.size() != n * d)
    return FailedPrecondition("post4bits: InitStageRows without BeginStage");
  for (uint64_t begin = 0; begin < n; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, n - begin);
    RETURN_IF_ERROR(rows_->WriteRows(0, begin, count, pending_values_.data() + begin * d,
                                     pending_params_.data() + 2 * begin));
  }
  std::vector<float>().swap(pending_values_);
  std::vector<float>().swap(pending_params_);
  return OkStatus();
}

MemoryReport Post4BitsEmbedding::Memory() const {
  const uint64_t n = space_.total();
  const uint64_t row_bytes = (static_cast<uint64_t>(space_.dim) * kBits + 7) / 8;
  MemoryReport r;
  r.inference_bytes = n * (row_bytes + 4);
  r.parameter_bytes = 4ull * n * space_.dim + r.inference_bytes;
  return r;
}

std::string Post4BitsEmbedding::SaveState() const {
  BlobWriter w = quant_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod<int32_t>(n_bins_);
  w.Pod(ratio_);
  w.Pod<int32_t>(stage_);
  return w.Finish();
}

Status Post4BitsEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(quant_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  int32_t n_bins = 0, stage = 0;
  double ratio = 0;
  if (!r.Pod(&n_bins) || !r.Pod(&ratio) || !r.Pod(&stage)) return r.Truncated();
  RETURN_IF_ERROR(quant_internal::EndState(r));
  if (stage < 0 || stage > 1) return DataLoss(kName, " state: stage ", stage, " is not 0 or 1");
  RETURN_IF_ERROR(
      quant_internal::CheckSame(kName, "n_bins", n_bins, static_cast<int32_t>(n_bins_)));
  RETURN_IF_ERROR(quant_internal::CheckSame(kName, "ratio", ratio, ratio_));
  stage_ = stage;
  return OkStatus();
}

}  // namespace ecps
