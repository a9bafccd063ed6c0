// Internal helpers shared by the quantization family (compressors/
// quantization/): space checks, the §1.3 init bound, the one-row-per-feature
// encoder, rounding names and the fixed-ratio variant choice. Not part of the
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

namespace ecps::quant_internal {

// Checks that `s` is usable by a one-global-table method called `name`.
Status CheckSpace(const char* name, const FeatureSpace& s);

// U(-b, b) with b = sqrt(1 / max_field_cardinality) (methods.md §1.3).
double InitBound(const FeatureSpace& s);

// Bytes of the uncompressed fp32 table, 4·n·d.
inline uint64_t FullBytes(const FeatureSpace& s) {
  return 4ull * s.total() * static_cast<uint64_t>(s.dim);
}

// Global row of each key (offset of its field + key), as `full` does:
// rows[i] = offsets[i % F] + keys[i].
void GlobalRows(const FeatureSpace& s, std::span<const uint32_t> keys, std::vector<uint64_t>* rows);

// The declared "rounding" parameter: stochastic_row (CODE, one draw per row,
// methods.md §4 item 6), stochastic_element (textbook) or nearest.
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

// Decode of a method whose single table holds the output rows: out = rows.
void CopyRows(const FetchedRows& rows, int table, size_t floats, float* out);

// Base of the methods that store one global table E with one row per feature
// (FP16, INT8/16, ALPT, Post4Bits): Encode = offset_f + key, Decode and
// DecodeBackward = copy. Subclasses set space_ in Init().
class OneTableMethod : public Compressor {
 public:
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;

 protected:
  FeatureSpace space_;
};

}  // namespace ecps::quant_internal
