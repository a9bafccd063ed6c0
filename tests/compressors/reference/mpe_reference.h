// A deliberately naive reference of MPE (docs/methods.md §2.21c), a test
// oracle (style.md rule 13; linked by tests only): the search's mixture in
// double with its own fake quantisation (fp16 rounding from the binary
// exponent, min/max codes), and the retrain's row of a feature by counting
// the features before it. The method's groups are read through its
// accessors; rows and α are given, so a finite-difference test can perturb
// them.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "compressors/dimension/mpe.h"

namespace ecps::mpe_ref {

// The row v at class k (0, 4, 8, 16, 32 bits).
std::vector<double> Quant(int k, std::span<const float> v);

// The search lookup [keys x d] for α (G x 5, as DenseParams()) and τ; rows
// is the search table E (n x d) as floats.
std::vector<double> SearchLookup(const MpeEmbedding& m, const FeatureSpace& s,
                                 const std::vector<float>& rows, std::span<const double> alpha,
                                 double tau, std::span<const uint32_t> keys);

// The retrain's class and row of global id x for `classes` per group.
int Class(const MpeEmbedding& m, const std::vector<int>& classes, uint64_t x);
uint64_t Row(const MpeEmbedding& m, const std::vector<int>& classes, uint64_t x);

}  // namespace ecps::mpe_ref
