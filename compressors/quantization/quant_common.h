// Internal helpers shared by the quantization family (compressors/
// quantization/): rounding names, the fixed-ratio variant choice and the
// automatic scale (the family-independent helpers are re-exported from
// compressors/internal/method_util.h). Not part of the
// public API.
//
// Thread-safety: the free functions are pure.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/params.h"
#include "common/status.h"
#include "compressors/compressor.h"
#include "compressors/internal/method_util.h"

namespace ecps::quant_internal {

// Shared with every family (compressors/internal/method_util.h).
using method_internal::CheckSpace;
using method_internal::CopyRows;
using method_internal::FullBytes;
using method_internal::GlobalRows;
using method_internal::InitBound;
using method_internal::OneTableMethod;
// Method state blobs (compressors/internal/method_util.h, common/blob.h).
using method_internal::CheckSame;
using method_internal::EndState;
using method_internal::OpenState;
using method_internal::StateWriter;

// The declared "rounding" parameter: stochastic_row (CODE, one draw per row,
// docs/methods.md §4 item 6), stochastic_element (textbook) or nearest.
inline const std::vector<std::string>& RoundingChoices() {
  static const std::vector<std::string> kChoices = {"stochastic_row", "stochastic_element",
                                                    "nearest"};
  return kChoices;
}
Rounding ParseRounding(const std::string& name);

// One fixed-ratio variant of a quantised method (a bit width).
struct Variant {
  int digit = 0;       // bits per element
  uint64_t bytes = 0;  // its exact inference bytes
};
// The budget solver of the fixed-ratio methods: the widest variant whose
// bytes fit `budget_bytes`, else the smallest one (compressed as far as
// possible; the caller reports its real ratio). REQUIRES: non-empty, sorted
// by decreasing bytes.
const Variant& ChooseVariant(const std::vector<Variant>& variants, double budget_bytes);

// The default global / initial scale of b-bit codes (INT8/16's `scale`,
// ALPT's `init_scale` when 0): 2^-15 at 16 bits, so codes span [-1, 1) with a
// step far below Adam's lr; 2^-9 at 8 bits, spanning [-0.25, 0.25) with steps
// of 0.002. CODE's 0.01 rounds nearly every step of the 3e-4 init and of
// lr = 1e-3 updates away at either width; these values gave the best AUC of
// {0.01, 2^-(b-1), 2^-9} on generated Criteo data (docs/architecture.md).
double AutoScale(int digit);

}  // namespace ecps::quant_internal
