// ALPT (docs/methods.md §2.18, CODE `alpt`): one global table E of n x d *signed*
// int8/int16 codes with a learned per-row fp32 scale Δ (zero point 0), so
// e = q[x] · Δ[x]. The store (RowTableSpec::learn_scale) keeps Δ with its own
// Adam (lr scale_lr, the global step's bias corrections) and, per pushed row:
//   1. Adam on the decoded fp32 row gives w' (not yet written);
//   2. LSQ step on Δ: grad = g · Σ_j grad_j · ∂ŵ_j/∂Δ with v = w'/Δ,
//      ∂ŵ/∂Δ = round(v) - v inside the code range, qmin / qmax outside,
//      g = 1/sqrt(N · d · (2^(b-1) - 1)), N = the batch's lookups;
//   3. q = clamp(floor(w'/Δ_new + u), -2^(b-1), 2^(b-1) - 1), one draw u per
//      row (CODE) unless `rounding` says otherwise.
// Approximation (docs/architecture.md): CODE gets ∂L/∂ŵ from a second
// forward/backward of the same batch on ŵ; here the row's gradient of this
// step (at the dequantised rows) stands in for it, which needs no second pass.
//
// Budget solver: fixed ratios n·d·b/8 + 4n, i.e. 56.25% (16 bits) and 31.25%
// (8 bits) at d = 16. digit = 0 takes the widest that fits, else 8 bits with
// the real ratio reported.
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/quantization/quant_common.h"

namespace ecps {

class AlptEmbedding final : public quant_internal::OneTableMethod {
 public:
  static constexpr char kName[] = "alpt";
  static constexpr char kStateMagic[9] = "ECPSALPT";
  // Declared parameters: digit, init_scale, scale_lr, rounding.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  std::vector<RowTableSpec> Tables() const override;
  // inference = parameter = n·d·b/8 + 4n; the store adds 8nd (Adam of E) +
  // 8n (Adam of Δ) as optimizer bytes.
  MemoryReport Memory() const override;
  // The feature space, digit, init_scale, scale_lr and rounding; LoadState
  // refuses a blob that differs (the learned scales are rows of the store).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  int digit() const { return digit_; }

 private:
  uint64_t BytesFor(int digit) const;

  int digit_ = 16;
  double init_scale_ = 0, scale_lr_ = 2e-5, init_bound_ = 0;
  Rounding rounding_ = Rounding::kStochasticPerRow;
};

}  // namespace ecps
