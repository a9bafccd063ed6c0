// Naive references of HAM (docs/methods.md §2.24b): the search's hard-masked
// lookup and the soft-orthogonal regulariser of a batch, both written
// straight from the definitions (one element at a time, in double).
#pragma once

#include <cstdint>
#include <vector>

#include "compressors/compressor.h"

namespace ecps::reference {

// e ⊙ [|a| >= tau], element by element (e and a of the same shape).
std::vector<float> HardMasked(const std::vector<float>& e, const std::vector<float>& a, double tau);

// weight·Σ_f ||(n_f / c_f)·Σ_{keys i of f} e_i e_iᵀ − I||²_F over the rows of
// a batch's keys (rows [n x d], key i of field i % F, c_f its keys of f;
// fields without keys add nothing).
double SoftOrthogonality(const FeatureSpace& s, const std::vector<float>& rows, double weight);

}  // namespace ecps::reference
