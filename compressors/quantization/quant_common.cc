#include "compressors/quantization/quant_common.h"

#include <cmath>
#include <cstring>

#include "common/check.h"

namespace ecps::quant_internal {

Rounding ParseRounding(const std::string& name) {
  if (name == "stochastic_element") return Rounding::kStochasticPerElement;
  if (name == "nearest") return Rounding::kNearest;
  return Rounding::kStochasticPerRow;
}

const Variant& ChooseVariant(const std::vector<Variant>& variants, double budget_bytes) {
  ECPS_CHECK(!variants.empty());
  for (const Variant& v : variants)
    if (static_cast<double>(v.bytes) <= budget_bytes) return v;
  return variants.back();
}

double AutoScale(int digit) { return std::ldexp(1.0, digit >= 16 ? -15 : -9); }

}  // namespace ecps::quant_internal
