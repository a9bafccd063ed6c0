// Internal helpers shared by the hashing family (compressors/hashing/): space
// checks, the §1.3 init bound, budget arithmetic and seeded 64-bit universal
// hashing; state blobs use the shared framing of
// compressors/internal/method_util.h. Not part of the public API.
//
// Thread-safety: the free functions are pure.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "compressors/compressor.h"
#include "compressors/internal/method_util.h"

namespace ecps::hashing_internal {

// The shared checks (compressors/internal/method_util.h), plus every global
// id below 2^32 (ids are hashed as 32-bit values into 64-bit arithmetic).
Status CheckSpace(const char* name, const FeatureSpace& s);

using method_internal::FullBytes;
using method_internal::InitBound;

// The inference-memory budget in bytes, floor(4·n·d·CR).
uint64_t BudgetBytes(const FeatureSpace& s, double budget);

// A 64-bit seed for the method tagged `tag`, derived from the run seed only.
uint64_t MethodSeed(uint64_t seed, uint64_t tag);

// The Mersenne prime 2^61 - 1 used by the (a·x + b) mod P hash families.
inline constexpr uint64_t kP61 = (1ull << 61) - 1;

// (a·x + b) mod (2^61 - 1) in exact 128-bit arithmetic.
// REQUIRES: a, b < 2^61, x < 2^32.
inline uint64_t ModP61(uint64_t a, uint64_t b, uint64_t x) {
  const unsigned __int128 v = static_cast<unsigned __int128>(a) * x + b;
  uint64_t r = static_cast<uint64_t>(v & kP61) + static_cast<uint64_t>(v >> 61);
  r = (r & kP61) + (r >> 61);
  return r >= kP61 ? r - kP61 : r;
}

// One hash function h(x) = ((a·x + b) mod P) mod m of a universal family.
struct UniversalHash {
  uint64_t a = 1, b = 0;
  uint64_t operator()(uint64_t x, uint64_t m) const { return ModP61(a, b, x) % m; }
  bool operator==(const UniversalHash&) const = default;
};

// Draws a in [1, P), b in [0, P) from `rng_seed`'s stream number `index`.
UniversalHash DrawUniversalHash(uint64_t rng_seed, int index);

// Method state blobs (compressors/internal/method_util.h, common/blob.h).
using method_internal::CheckSame;
using method_internal::EndState;
using method_internal::OpenState;
using method_internal::StateWriter;

}  // namespace ecps::hashing_internal
