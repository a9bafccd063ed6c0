// A deliberately naive reference of SSEDS (docs/methods.md §2.21b), a test
// oracle (style.md rule 13; linked by tests only): the mask gradient of one
// batch by an explicit double loop, the budget rule by repeated selection of
// the best remaining column with the bytes recounted from scratch, and the
// retrain lookup in double. The method's layout is read through its
// accessors; rows and projections are given, so a finite-difference test can
// perturb them.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "compressors/dimension/sseds.h"

namespace ecps::sseds_ref {

// ∂L/∂m_{f,j} of L = Σ_i Σ_j g_{i,j}·(e_{i,j}·m_{f(i),j}) at m = 1, F × d
// field-major; e and g are [keys x d].
std::vector<double> MaskGradient(const FeatureSpace& s, std::span<const float> e,
                                 std::span<const float> g);

// The dimensions the budget rule keeps for `saliency` (F × d).
std::vector<int> Dims(const FeatureSpace& s, const std::vector<double>& saliency,
                      uint64_t budget_bytes);

// Inference bytes of dimensions `dims`: rows, projections of the fields
// below d, 4 bytes per field.
uint64_t Bytes(const FeatureSpace& s, const std::vector<int>& dims);

// The retrain lookup, [keys.size() x d].
std::vector<double> Lookup(const SsedsEmbedding& m, const FeatureSpace& s,
                           const std::vector<std::vector<double>>& tables,
                           std::span<const double> projections, std::span<const uint32_t> keys);

}  // namespace ecps::sseds_ref
