// A batch's row ids -> dense first-occurrence indices, for stores and
// clients that sum or send each distinct row once (LocalRowStore::Push,
// ps::Client's pull/push layout). Not thread-safe; one per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace ecps {

// Maps a batch's row ids to dense first-occurrence indices. Open addressing
// over 4-byte slots that hold an index into the batch's distinct keys: the
// table for a batch of n rows is 8n bytes (the keys another 8 bytes per
// distinct row, written in order), so it stays in the first cache levels.
// Begin() clears the part of the table the batch uses, which also brings it
// into the cache before the random probes. Indices follow first occurrence
// in plan order, so summation and update order never depend on hashing.
class RowDeduper {
 public:
  // REQUIRES: at most max_keys Insert() calls until the next Begin().
  void Begin(size_t max_keys) {
    size_t cap = 16;
    while (cap < 2 * max_keys) cap <<= 1;
    if (cap > slots_.size()) slots_.resize(cap);
    if (max_keys > keys_.size()) keys_.resize(max_keys);
    std::memset(slots_.data(), 0xFF, cap * sizeof(uint32_t));
    mask_ = cap - 1;
    shift_ = 64 - __builtin_ctzll(cap);
    count_ = 0;
  }
  // Starts loading the row's first slot (for callers that know the next rows).
  void Prefetch(uint64_t row) const { __builtin_prefetch(&slots_[Hash(row)]); }
  // Returns the row's index; *inserted tells whether it is new in this batch.
  uint32_t Insert(uint64_t row, bool* inserted) {
    size_t h = Hash(row);
    for (;;) {
      const uint32_t index = slots_[h];
      if (index == kEmpty) {
        slots_[h] = count_;
        keys_[count_] = row;
        *inserted = true;
        return count_++;
      }
      if (keys_[index] == row) {
        *inserted = false;
        return index;
      }
      h = (h + 1) & mask_;
    }
  }

 private:
  static constexpr uint32_t kEmpty = ~0u;
  size_t Hash(uint64_t row) const {
    return static_cast<size_t>((row * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  std::vector<uint32_t> slots_;  // index into keys_, or kEmpty
  std::vector<uint64_t> keys_;   // distinct rows of the batch, first-occurrence order
  size_t mask_ = 0;
  int shift_ = 60;
  uint32_t count_ = 0;
};

}  // namespace ecps
