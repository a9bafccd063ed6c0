#include "compressors/internal/l2lsh.h"

#include <algorithm>
#include <climits>
#include <cmath>

#include "common/rng.h"

namespace ecps::method_internal {

float L2LshDirection(uint64_t seed, int band, uint64_t position) {
  // Counter-based: two SplitMix64 outputs of (seed, band, position) feed one
  // Box-Muller draw, so any process computes any a_j[p] alone.
  uint64_t x = seed ^ (static_cast<uint64_t>(band) * 0xD1B54A32D192ED03ull) ^
               (position * 0x9E3779B97F4A7C15ull);
  const uint64_t r1 = SplitMix64(x), r2 = SplitMix64(x);
  double u1 = static_cast<double>(r1 >> 11) * 0x1.0p-53;
  const double u2 = static_cast<double>(r2 >> 11) * 0x1.0p-53;
  if (u1 < 1e-300) u1 = 1e-300;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

std::vector<float> L2LshDirections(uint64_t seed, int bands, uint64_t positions) {
  std::vector<float> a(positions * static_cast<uint64_t>(bands));
  for (uint64_t p = 0; p < positions; ++p)
    for (int j = 0; j < bands; ++j) a[p * bands + j] = L2LshDirection(seed, j, p);
  return a;
}

std::vector<double> L2LshOffsets(uint64_t seed, int bands, double r) {
  std::vector<double> offsets(bands);
  Rng rng(seed);
  for (double& b : offsets) b = rng.Uniform(0.0, r);
  return offsets;
}

int64_t L2LshHash(double projection, double offset, double r) {
  const double v = std::ceil((projection + offset) / r);
  // Out of int64's range only for absurd values; clamp rather than overflow.
  if (!(v > -9.0e18)) return INT64_MIN;
  if (!(v < 9.0e18)) return INT64_MAX;
  return static_cast<int64_t>(v);
}

size_t L2LshBuckets::KeyHash::operator()(const Key& k) const {
  uint64_t x = static_cast<uint64_t>(k.value) ^ (static_cast<uint64_t>(k.band) << 48);
  return static_cast<size_t>(SplitMix64(x));
}

void L2LshBuckets::Insert(uint32_t item, const int64_t* hashes) {
  if (item >= hits_.size()) hits_.resize(static_cast<size_t>(item) + 1, 0);
  for (int j = 0; j < bands_; ++j) buckets_[Key{j, hashes[j]}].push_back(item);
}

void L2LshBuckets::Candidates(const int64_t* hashes, uint32_t min_hits,
                              std::vector<uint32_t>* out) {
  touched_.clear();
  for (int j = 0; j < bands_; ++j) {
    auto it = buckets_.find(Key{j, hashes[j]});
    if (it == buckets_.end()) continue;
    for (uint32_t c : it->second)
      if (hits_[c]++ == 0) touched_.push_back(c);
  }
  ranked_.clear();
  for (uint32_t c : touched_) {
    if (hits_[c] >= min_hits) ranked_.push_back({hits_[c], c});
    hits_[c] = 0;
  }
  std::sort(ranked_.begin(), ranked_.end(), [](const auto& x, const auto& y) {
    return x.first != y.first ? x.first > y.first : x.second < y.second;
  });
  out->clear();
  for (const auto& [h, c] : ranked_) out->push_back(c);
}

}  // namespace ecps::method_internal
