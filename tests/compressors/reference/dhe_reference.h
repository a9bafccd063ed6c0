// A deliberately naive reference of DHE's lookup (docs/methods.md §2.8), a test
// oracle (style.md rule 13; linked by tests only): the hashes with plain `%`
// on 64-bit integers, the encodings, and the per-field MLP in double with
// triple loops, BatchNorm by its textbook formula and Mish as
// y·tanh(log(1 + e^y)). It reads the method's chosen widths, hash constants
// and layouts through its accessors; the parameters and running statistics
// are given (as doubles, in DenseParams()/DenseBuffers() layout) so that a
// finite-difference test can perturb them.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "compressors/hashing/dhe.h"

namespace ecps::dhe_ref {

// h_i(x) = ((a_i·x + b_i) mod p_i) mod M for field f.
uint64_t Hash(const DheEmbedding& m, int f, int i, uint64_t x);

// The k encodings of field f's id x: 2h/(M-1) - 1, or Box-Muller normals.
std::vector<double> Encoding(const DheEmbedding& m, int f, uint64_t x);

// [keys.size() x d]: a full field's key copies its row of tables[0] (all rows
// of E); a DHE field's keys go through its MLP together, normalised by their
// batch statistics (training) or by `buffers` (evaluation). With training and
// `batch_stats` non-null, *batch_stats gets the batch mean and the unbiased
// variance of every BN layer in DenseBuffers() layout (what the running
// statistics move towards).
std::vector<double> Lookup(const DheEmbedding& m, const FeatureSpace& s,
                           const std::vector<std::vector<float>>& tables,
                           std::span<const double> params, std::span<const double> buffers,
                           std::span<const uint32_t> keys, bool training,
                           std::vector<double>* batch_stats = nullptr);

}  // namespace ecps::dhe_ref
