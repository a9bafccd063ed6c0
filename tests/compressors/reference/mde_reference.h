// A deliberately naive reference of MDE (docs/methods.md §2.20), a test
// oracle (style.md rule 13; linked by tests only): the power-law dimensions
// written out with an explicit half-to-even rounding and a loop of doublings,
// and the lookup in double, each key's row times its field's projection by
// a double loop. The method's table layout is read through its accessors;
// the rows (as stored, one vector per table) and the projections (doubles, in
// DenseParams() layout) are given, so a finite-difference test can perturb
// them.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "compressors/dimension/mde.h"

namespace ecps::mde_ref {

// d_f = 2^round(log2(max(1, round(d·(n_min/n_f)^alpha)))) (or without the
// power of two), capped at d; a field of no ids keeps d.
std::vector<int> Dims(const FeatureSpace& s, double alpha, bool round_dim);

// [keys.size() x d]: key i of field i % F is row table_offset(f) + key of
// table table(f); with dim(f) < d it is multiplied by P_f (dim(f) x d).
std::vector<double> Lookup(const MdeEmbedding& m, const FeatureSpace& s,
                           const std::vector<std::vector<double>>& tables,
                           std::span<const double> projections, std::span<const uint32_t> keys);

}  // namespace ecps::mde_ref
