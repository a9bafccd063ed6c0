// INT8 / INT16 (docs/methods.md §2.17, CODE `quantize`), registered as `int8` and
// `int16`: one global table E of n x d unsigned codes q with a global scale s
// and zero point `middle`; value = q * s + min, min = middle - 2^(b-1) s, so
// the representable range is [middle - 2^(b-1) s, middle + (2^(b-1) - 1) s].
// The fp32 init U(-b0, b0) is quantised once with stochastic rounding; the
// store runs fp32 Adam on the decoded rows and writes back
// q = clamp(floor((w - min) / s + u), 0, 2^b - 1) with one draw u per row
// (CODE, §4 item 6) unless `rounding` says otherwise.
//
// use_qparam (CODE's unused option): per-row (scale, min) in fp32 from the
// row's min/max instead of the global pair (+8 bytes per row).
//
// Budget solver: the ratios are fixed, b/32 (+ 8/(4d) with use_qparam). With
// digit = 0 the widest width that fits the budget is taken (`int16`: 16, else
// 8; `int8`: 8); if none fits, 8 bits and the real ratio is reported.
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/quantization/quant_common.h"

namespace ecps {

class IntQuantEmbedding final : public quant_internal::OneTableMethod {
 public:
  static constexpr char kInt8Name[] = "int8";
  static constexpr char kInt16Name[] = "int16";
  static constexpr char kInt8StateMagic[9] = "ECPSINT8";
  static constexpr char kInt16StateMagic[9] = "ECPSIN16";
  // Declared parameters: digit, scale, middle, rounding, use_qparam.
  // `max_digit` is the name's width: its default and the widest auto choice.
  static ParamSchema Schema(int max_digit);
  static std::unique_ptr<Compressor> CreateInt8();
  static std::unique_ptr<Compressor> CreateInt16();

  explicit IntQuantEmbedding(int max_digit) : max_digit_(max_digit) {}
  std::string Name() const override { return max_digit_ == 8 ? kInt8Name : kInt16Name; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  std::vector<RowTableSpec> Tables() const override;
  // inference = parameter = n·d·b/8 (+ 8n with use_qparam). The global
  // (scale, middle) are hyper-parameters of the table spec, not charged (as
  // docs/methods.md §2.17: exactly 50% / 25%).
  MemoryReport Memory() const override;
  // The feature space, digit, scale, middle, rounding and use_qparam (each
  // name its own magic); LoadState refuses a blob that differs.
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  int digit() const { return digit_; }
  double scale() const { return scale_; }

 private:
  uint64_t BytesFor(int digit) const;

  int max_digit_;
  int digit_ = 16;
  double scale_ = 0, middle_ = 0, init_bound_ = 0;
  bool use_qparam_ = false;
  Rounding rounding_ = Rounding::kStochasticPerRow;
};

}  // namespace ecps
