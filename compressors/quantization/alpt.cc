#include "compressors/quantization/alpt.h"

namespace ecps {

using quant_internal::CheckSpace;
using quant_internal::InitBound;
using quant_internal::ParseRounding;
using quant_internal::Variant;

ParamSchema AlptEmbedding::Schema() {
  return ParamSchema()
      .Int("digit", 0, 0, 16, "bits per signed code: 16 or 8, or 0 = the widest that fits")
      .Float("init_scale", 0.0, 0.0, 1e6,
             "initial per-row scale Δ; 0 = auto: 2^-15 at 16 bits, 2^-9 at 8 bits "
             "(CODE's default is 0.01)")
      .Float("scale_lr", 2e-5, 0.0, 1.0, "learning rate of the scales' own Adam")
      .String("rounding", "stochastic_row",
              "write-back rounding: stochastic_row (CODE: one draw per row), "
              "stochastic_element (textbook) or nearest",
              quant_internal::RoundingChoices());
}

std::unique_ptr<Compressor> AlptEmbedding::Create() { return std::make_unique<AlptEmbedding>(); }

uint64_t AlptEmbedding::BytesFor(int digit) const {
  const uint64_t n = space_.total();
  return n * static_cast<uint64_t>(space_.dim) * digit / 8 + 4 * n;
}

Status AlptEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = InitBound(space_);
  init_scale_ = params.GetFloat("init_scale");
  scale_lr_ = params.GetFloat("scale_lr");
  rounding_ = ParseRounding(params.GetString("rounding"));
  const int digit = static_cast<int>(params.GetInt("digit"));
  if (digit != 0 && digit != 8 && digit != 16)
    return InvalidArgument(kName, ": parameter 'digit' must be 0, 8 or 16, got ", digit);
  if (digit != 0) {
    digit_ = digit;
  } else {
    const std::vector<Variant> variants = {{16, BytesFor(16)}, {8, BytesFor(8)}};
    digit_ = quant_internal::ChooseVariant(
                 variants, ctx.budget * static_cast<double>(quant_internal::FullBytes(space_)))
                 .digit;
  }
  if (init_scale_ == 0) init_scale_ = quant_internal::AutoScale(digit_);
  return OkStatus();
}

std::vector<RowTableSpec> AlptEmbedding::Tables() const {
  RowTableSpec e;
  e.name = "E";
  e.rows = space_.total();
  e.width = space_.dim;
  e.dtype = digit_ == 8 ? DType::kI8 : DType::kI16;
  e.quant = QuantScheme::kPerRow;
  e.scale_dtype = DType::kF32;
  e.learn_scale = true;
  e.scale = init_scale_;
  e.scale_lr = scale_lr_;
  e.rounding = rounding_;
  e.init_bound = init_bound_;
  return {e};
}

MemoryReport AlptEmbedding::Memory() const {
  MemoryReport r;
  r.inference_bytes = BytesFor(digit_);
  r.parameter_bytes = r.inference_bytes;
  return r;
}

std::string AlptEmbedding::SaveState() const {
  BlobWriter w = quant_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod<int32_t>(digit_);
  w.Pod(init_scale_);
  w.Pod(scale_lr_);
  w.Pod(rounding_);
  return w.Finish();
}

Status AlptEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(quant_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  int32_t digit = 0;
  double init_scale = 0, scale_lr = 0;
  Rounding rounding{};
  if (!r.Pod(&digit) || !r.Pod(&init_scale) || !r.Pod(&scale_lr) || !r.Pod(&rounding))
    return r.Truncated();
  RETURN_IF_ERROR(quant_internal::EndState(r));
  RETURN_IF_ERROR(quant_internal::CheckSame(kName, "digit", digit, static_cast<int32_t>(digit_)));
  RETURN_IF_ERROR(quant_internal::CheckSame(kName, "init_scale", init_scale, init_scale_));
  RETURN_IF_ERROR(quant_internal::CheckSame(kName, "scale_lr", scale_lr, scale_lr_));
  return quant_internal::CheckSame(kName, "the rounding", rounding, rounding_);
}

}  // namespace ecps
