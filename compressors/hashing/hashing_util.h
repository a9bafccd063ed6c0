// Internal helpers shared by the hashing family (compressors/hashing/): space
// checks, the §1.3 init bound, budget arithmetic, seeded 64-bit universal
// hashing and a tiny versioned blob format for SaveState()/LoadState().
// Not part of the public API.
//
// Thread-safety: the free functions are pure; StateWriter/StateReader are
// single-threaded value types.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

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
};

// Draws a in [1, P), b in [0, P) from `rng_seed`'s stream number `index`.
UniversalHash DrawUniversalHash(uint64_t rng_seed, int index);

// Method state blobs: an 8-byte tag, a uint32 version, then POD fields and
// length-prefixed vectors. The embedding checkpoint around it carries the
// checksum, so this format only guards against mixing methods and versions.
class StateWriter {
 public:
  StateWriter(std::string_view tag, uint32_t version);
  template <typename T>
  void Pod(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  template <typename T>
  void Vec(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    Pod<uint64_t>(v.size());
    out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
  std::string Finish() { return std::move(out_); }

 private:
  std::string out_;
};

class StateReader {
 public:
  // Checks the tag and that the version is in [1, max_version].
  Status Open(std::string_view blob, std::string_view tag, uint32_t max_version);
  template <typename T>
  bool Pod(T* v) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (blob_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, blob_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  template <typename T>
  bool Vec(std::vector<T>* v) {
    uint64_t n = 0;
    if (!Pod(&n) || n > (blob_.size() - pos_) / sizeof(T)) return false;
    v->resize(n);
    std::memcpy(v->data(), blob_.data() + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
    return true;
  }
  bool AtEnd() const { return pos_ == blob_.size(); }
  // The blob's version (after a successful Open).
  uint32_t version() const { return version_; }
  // The error for a short or overlong blob.
  Status Corrupt() const;

 private:
  std::string_view blob_;
  std::string tag_;
  size_t pos_ = 0;
  uint32_t version_ = 0;
};

}  // namespace ecps::hashing_internal
