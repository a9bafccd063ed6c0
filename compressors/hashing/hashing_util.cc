#include "compressors/hashing/hashing_util.h"

#include <cmath>

#include "common/rng.h"

namespace ecps::hashing_internal {

Status CheckSpace(const char* name, const FeatureSpace& s) {
  RETURN_IF_ERROR(method_internal::CheckSpace(name, s));
  // Hashes take 32-bit ids so that (a·x + b) stays exact in 128 bits and the
  // maps can store ids as uint32.
  if (s.total() >= (1ull << 32) - 1)
    return InvalidArgument(name, ": ", s.total(), " features exceed the 2^32 - 1 id range");
  return OkStatus();
}

uint64_t BudgetBytes(const FeatureSpace& s, double budget) {
  // long double keeps 4·n·d·CR exact enough for n·d up to 2^40.
  return static_cast<uint64_t>(std::floor(static_cast<long double>(FullBytes(s)) * budget));
}

uint64_t MethodSeed(uint64_t seed, uint64_t tag) {
  uint64_t x = seed ^ (tag * 0x9E3779B97F4A7C15ull);
  return SplitMix64(x);
}

UniversalHash DrawUniversalHash(uint64_t rng_seed, int index) {
  Rng rng = Rng(rng_seed).Fork(static_cast<uint64_t>(index));
  UniversalHash h;
  h.a = 1 + rng.Below(kP61 - 1);
  h.b = rng.Below(kP61);
  return h;
}

}  // namespace ecps::hashing_internal
