// L2LSH (Datar et al., "Locality-sensitive hashing scheme based on p-stable
// distributions"), the one implementation of Dedup's block hashing
// (docs/methods.md §2.10) and of the retrieval codec `dedup`
// (docs/methods.md §6.8): band j projects a block's values v onto a
// direction a_j ~ N(0, 1) (one standard normal per position p of the block)
// and hashes h_j = ceil((a_j·v + b_j) / r), b_j ~ U[0, r); blocks that
// collide in enough bands are candidates for an exact comparison.
//
// The directions are counter-based (any process computes any a_j[p] alone),
// so the parameter servers' partial projections of their own rows
// (compressors/row_reduction.h) sum to what one process computes over the
// whole table.
//
// Thread-safety: the free functions are pure; an L2LshBuckets is not shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ecps::method_internal {

// a_j[p]: a standard normal drawn from (seed, band, position) by two
// SplitMix64 outputs and one Box-Muller draw.
float L2LshDirection(uint64_t seed, int band, uint64_t position);

// The directions of positions [0, positions), position-major:
// out[p * bands + j] = a_j[p].
std::vector<float> L2LshDirections(uint64_t seed, int bands, uint64_t positions);

// One row's part of the projections: acc[j] = sum over c < w of
// a[c * bands + j] * v[c] in float, in coordinate order (a: the directions
// of the row's first position). The caller adds acc to its double sums, so
// the projections are the same whatever holds which rows.
inline void L2LshRowProjections(const float* a, const float* v, uint64_t w, int bands, float* acc) {
  for (int k = 0; k < bands; ++k) acc[k] = 0.0f;
  for (uint64_t c = 0; c < w; ++c, a += bands)
    for (int k = 0; k < bands; ++k) acc[k] += a[k] * v[c];
}

// The offsets b_j ~ U[0, r), drawn in band order from Rng(seed).
std::vector<double> L2LshOffsets(uint64_t seed, int bands, double r);

// ceil((projection + offset) / r), clamped to int64's range (reached only
// by absurd values).
int64_t L2LshHash(double projection, double offset, double r);

// The hash buckets of the blocks inserted so far, one table per band.
class L2LshBuckets {
 public:
  explicit L2LshBuckets(int bands) : bands_(bands) {}
  // Files `item` under its `bands` hashes.
  void Insert(uint32_t item, const int64_t* hashes);
  // The inserted items that collide with `hashes` in at least `min_hits`
  // bands, by descending collisions, then ascending item (the likeliest
  // duplicates first, and the tie-break of equal similarities).
  void Candidates(const int64_t* hashes, uint32_t min_hits, std::vector<uint32_t>* out);

 private:
  struct Key {
    int32_t band = 0;
    int64_t value = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  int bands_;
  std::unordered_map<Key, std::vector<uint32_t>, KeyHash> buckets_;
  // Scratch of Candidates: collisions per item (zero between calls).
  std::vector<uint32_t> hits_, touched_;
  std::vector<std::pair<uint32_t, uint32_t>> ranked_;  // (collisions, item)
};

}  // namespace ecps::method_internal
