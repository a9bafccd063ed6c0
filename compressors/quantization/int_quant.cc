#include "compressors/quantization/int_quant.h"

#include <algorithm>
#include <cmath>

namespace ecps {

using quant_internal::CheckSpace;
using quant_internal::InitBound;
using quant_internal::ParseRounding;
using quant_internal::Variant;

namespace {

const std::vector<std::string>& RoundingChoicesWithAuto() {
  static const std::vector<std::string> kChoices = [] {
    std::vector<std::string> c = {"auto"};
    for (const std::string& r : quant_internal::RoundingChoices()) c.push_back(r);
    return c;
  }();
  return kChoices;
}

// The automatic 8-bit setting: range first, then low rounding noise. With
// lr 0.01 on the 2M-row generated set (docs/results.md, "INT8"), one epoch,
// test AUC against full 0.7799: the earlier 2^-9 step with one draw per row
// clipped weights at +-0.25 (0.7636), 2^-8 per row still lost (0.7745), and
// 2^-7 (range +-1, as at 16 bits) with one draw per element matched full
// (0.7801). On 100k rows at lr 0.001 the new setting costs 0.0022 (0.7353
// vs full 0.7375; 2^-9 per row gave 0.7381): a small loss against clipping
// that grows with data and learning rate. Per-element draws keep each
// element unbiased with independent noise, which a coarse step needs.
constexpr int kAutoScaleExponent8 = -7;

// The step also has to suit the learning rate: at lr 0.001 Adam moves an
// element by ~0.001 per step, an eighth of 2^-7, and most updates then live in
// the rounding noise. Same set at lr 0.001 (full 0.7881): 2^-7 0.7843, 2^-8
// 0.7858, 2^-9 0.7869. So the automatic exponent is -7 at lr 0.01 and -9 at
// lr 0.001, two bits per decade of lr (the weights' range shrinks with the
// lr too), clamped to [-12, -5]; -7 when the lr is unknown.
int AutoScaleExponent8(double lr) {
  if (!(lr > 0)) return kAutoScaleExponent8;
  const double e = kAutoScaleExponent8 + 2.0 * std::log10(lr / 0.01);
  return std::clamp(static_cast<int>(std::lround(e)), -12, -5);
}

}  // namespace

ParamSchema IntQuantEmbedding::Schema(int max_digit) {
  return ParamSchema()
      .Int("digit", 0, 0, 16,
           max_digit == 8 ? "bits per code: 8, or 0 = 8"
                          : "bits per code: 16 or 8, or 0 = the widest that fits the budget")
      .Float("scale", 0.0, 0.0, 1e6,
             "global quantisation step s; 0 = auto: 2^-15 at 16 bits; at 8 bits 2^-7 at row lr "
             "0.01 (codes cover [-1, 1)), 2^-9 at lr 0.001, two bits per decade of lr, "
             "clamped to [2^-12, 2^-5]; CODE's default is 0.01")
      .Float("middle", 0.0, -1e6, 1e6, "centre of the code range (0: symmetric)")
      .String("rounding", "auto",
              "write-back rounding: stochastic_row (CODE: one draw per row), "
              "stochastic_element (textbook), nearest, or auto = stochastic_row at 16 bits "
              "and stochastic_element at 8 bits",
              RoundingChoicesWithAuto())
      .Bool("use_qparam", false, "per-row fp32 (scale, min) from the row's min/max (+8 B/row)");
}

std::unique_ptr<Compressor> IntQuantEmbedding::CreateInt8() {
  return std::make_unique<IntQuantEmbedding>(8);
}
std::unique_ptr<Compressor> IntQuantEmbedding::CreateInt16() {
  return std::make_unique<IntQuantEmbedding>(16);
}

uint64_t IntQuantEmbedding::BytesFor(int digit) const {
  const uint64_t n = space_.total();
  uint64_t b = n * static_cast<uint64_t>(space_.dim) * digit / 8;
  if (use_qparam_) b += 8 * n;
  return b;
}

Status IntQuantEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(CheckSpace(Name().c_str(), ctx.space));
  space_ = ctx.space;
  init_bound_ = InitBound(space_);
  use_qparam_ = params.GetBool("use_qparam");
  middle_ = params.GetFloat("middle");
  const int digit = static_cast<int>(params.GetInt("digit"));
  if (digit != 0 && digit != 8 && digit != 16)
    return InvalidArgument(Name(), ": parameter 'digit' must be 0, 8 or 16, got ", digit);
  if (digit > max_digit_)
    return InvalidArgument(Name(), ": parameter 'digit' is ", digit, ", at most ", max_digit_,
                           " for this method (use int16)");
  if (digit != 0) {
    digit_ = digit;
  } else {
    std::vector<Variant> variants;
    for (int b : {16, 8})
      if (b <= max_digit_) variants.push_back({b, BytesFor(b)});
    digit_ = quant_internal::ChooseVariant(
                 variants, ctx.budget * static_cast<double>(quant_internal::FullBytes(space_)))
                 .digit;
  }
  scale_ = params.GetFloat("scale");
  if (scale_ == 0)
    scale_ = digit_ >= 16 ? quant_internal::AutoScale(digit_)
                          : std::ldexp(1.0, AutoScaleExponent8(ctx.sparse_lr));
  const std::string rounding = params.GetString("rounding");
  if (rounding == "auto") {
    rounding_ = digit_ >= 16 ? Rounding::kStochasticPerRow : Rounding::kStochasticPerElement;
  } else {
    rounding_ = ParseRounding(rounding);
  }
  return OkStatus();
}

std::vector<RowTableSpec> IntQuantEmbedding::Tables() const {
  RowTableSpec e;
  e.name = "E";
  e.rows = space_.total();
  e.width = space_.dim;
  e.dtype = digit_ == 8 ? DType::kU8 : DType::kU16;
  e.rounding = rounding_;
  e.init_bound = init_bound_;
  if (use_qparam_) {
    e.quant = QuantScheme::kPerRow;
    e.scale_dtype = DType::kF32;
  } else {
    e.quant = QuantScheme::kGlobal;
    e.scale = scale_;
    e.zero = middle_ - std::ldexp(scale_, digit_ - 1);
  }
  return {e};
}

MemoryReport IntQuantEmbedding::Memory() const {
  MemoryReport r;
  r.inference_bytes = BytesFor(digit_);
  r.parameter_bytes = r.inference_bytes;
  return r;
}

std::string IntQuantEmbedding::SaveState() const {
  BlobWriter w =
      quant_internal::StateWriter(max_digit_ == 8 ? kInt8StateMagic : kInt16StateMagic, 1, space_);
  w.Pod<int32_t>(digit_);
  w.Pod(scale_);
  w.Pod(middle_);
  w.Pod(rounding_);
  w.Pod<uint8_t>(use_qparam_ ? 1 : 0);
  return w.Finish();
}

Status IntQuantEmbedding::LoadState(const std::string& blob) {
  const std::string name = Name();
  BlobReader r;
  RETURN_IF_ERROR(quant_internal::OpenState(
      blob, max_digit_ == 8 ? kInt8StateMagic : kInt16StateMagic, 1, name, space_, &r));
  int32_t digit = 0;
  double scale = 0, middle = 0;
  Rounding rounding{};
  uint8_t qparam = 0;
  if (!r.Pod(&digit) || !r.Pod(&scale) || !r.Pod(&middle) || !r.Pod(&rounding) || !r.Pod(&qparam))
    return r.Truncated();
  RETURN_IF_ERROR(quant_internal::EndState(r));
  RETURN_IF_ERROR(quant_internal::CheckSame(name, "digit", digit, static_cast<int32_t>(digit_)));
  RETURN_IF_ERROR(quant_internal::CheckSame(name, "the scale", scale, scale_));
  RETURN_IF_ERROR(quant_internal::CheckSame(name, "middle", middle, middle_));
  RETURN_IF_ERROR(quant_internal::CheckSame(name, "the rounding", rounding, rounding_));
  return quant_internal::CheckSame(name, "use_qparam", qparam,
                                   static_cast<uint8_t>(use_qparam_ ? 1 : 0));
}

}  // namespace ecps
