// Deliberately naive reference of TT-Rec (docs/methods.md §2.7; style.md
// rule 13; linked by tests only): the row and column factorisations by
// linear scans of the literal formulas, the rank by trying every R from the
// top, and the lookup as the triple sum over the two ranks in double
// precision, from whole-table contents.
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "compressors/hashing/tt_rec.h"

namespace ecps::tt_rec_ref {

// All rows of each table (rows x width), in double so that a finite-difference
// probe can perturb one element exactly.
using TableValues = std::vector<std::vector<double>>;

// (N0, N1, N2) = (N_c, N_b, N_a): N_a the smallest a with a^3 >= n, N_b the
// smallest b with b^2 >= n / N_a, N_c the smallest c with c·N_a·N_b >= n.
std::array<uint64_t, 3> RowShape(uint64_t n);
// CODE's rule for a power of two d >= 8: [2, 2, 2], then double the entries
// round-robin starting from the last.
std::array<int, 3> PowerOfTwoColumnShape(int d);
// Inference bytes at rank R with the method's accounting: 4 per core float
// of each field whose cores are smaller than n_f·d (and n_f > threshold),
// 4·n_f·d for the others, 12 per compressed field, 16 shared.
uint64_t InferenceBytes(const FeatureSpace& s, const std::array<int, 3>& cols, uint64_t rank,
                        uint64_t threshold);
// The largest R in [1, 1000] whose bytes fit floor(4·n·d·CR), tried from
// 1000 down (1 if none fits).
uint64_t Rank(const FeatureSpace& s, const std::array<int, 3>& cols, double budget,
              uint64_t threshold);

// The embeddings of `keys` (field-local, sample-major), [keys.size() x d]:
// e[(a·D1 + b)·D2 + c] = sum over r, q of G0[i0][a·R + r] ·
// G1[i1][r·D1·R + b·R + q] · G2[i2][q·D2 + c], with the method's R, column
// shape and compressed fields, the offsets recomputed by walking the fields.
// `abs_sum` (optional) gets the same sums over the absolute values of the
// products (the scale of the float rounding error).
std::vector<double> Lookup(const TtRecEmbedding& m, const FeatureSpace& s,
                           const TableValues& tables, std::span<const uint32_t> keys,
                           std::vector<double>* abs_sum = nullptr);

}  // namespace ecps::tt_rec_ref
