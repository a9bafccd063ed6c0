// Test support: a FeatureSpace from per-field cardinalities, with offsets
// the cumulative sums (as Dataset schemas give them).
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "common/rng.h"
#include "compressors/compressor.h"

namespace ecps::testing {

inline FeatureSpace Space(std::vector<uint64_t> cards, int dim) {
  FeatureSpace s;
  s.cardinalities = std::move(cards);
  uint64_t off = 0;
  for (uint64_t c : s.cardinalities) {
    s.offsets.push_back(off);
    off += c;
  }
  s.dim = dim;
  return s;
}

// A batch of `batch` samples' keys (sample-major) with many repeats: half from
// each field's first 5 ids, half uniform over the field.
inline std::vector<uint32_t> Keys(const FeatureSpace& s, int batch, Rng* rng) {
  std::vector<uint32_t> k;
  for (int i = 0; i < batch; ++i)
    for (int f = 0; f < s.num_fields(); ++f) {
      const uint64_t n = s.cardinalities[f];
      k.push_back(static_cast<uint32_t>(rng->Below(2) ? rng->Below(std::min<uint64_t>(n, 5))
                                                      : rng->Below(n)));
    }
  return k;
}

// n standard-normal draws.
inline std::vector<float> Normal(size_t n, Rng* rng) {
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng->Normal());
  return v;
}

}  // namespace ecps::testing
