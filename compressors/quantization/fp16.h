// FP16 (docs/methods.md §2.16): one global table E of n x d IEEE half values,
// initialised U(-b, b) (§1.3) and rounded once to fp16. The store runs the
// fp32 optimizer (Adam m, v in fp32) on the decoded rows and writes them back
// with stochastic rounding, one draw per element by default (nearest rounding
// would lose every update smaller than half an fp16 step).
//
// Budget: a fixed 50% (2nd bytes). A budget below 50% cannot be met; the
// table is built anyway and Memory() reports the real ratio.
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/quantization/quant_common.h"

namespace ecps {

class Fp16Embedding final : public quant_internal::OneTableMethod {
 public:
  static constexpr char kName[] = "fp16";
  static constexpr char kStateMagic[9] = "ECPSFP16";
  // Declared parameters: rounding.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  std::vector<RowTableSpec> Tables() const override;
  // inference = parameter = 2nd bytes.
  MemoryReport Memory() const override;
  // The feature space and the rounding; LoadState refuses a blob of another
  // method or another Init.
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

 private:
  double init_bound_ = 0;
  Rounding rounding_ = Rounding::kStochasticPerElement;
};

}  // namespace ecps
