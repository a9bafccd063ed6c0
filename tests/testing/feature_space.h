// Test support: a FeatureSpace from per-field cardinalities, with offsets
// the cumulative sums (as Dataset schemas give them).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

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

}  // namespace ecps::testing
