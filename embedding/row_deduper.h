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
// table for a batch of n rows is 8 to 16 bytes per row (the keys, written in
// order, 8 bytes per distinct row), so it stays in the first cache levels.
// Begin() clears the part of the table the batch uses, which also brings it
// into the cache before the random probes. Indices follow first occurrence
// in plan order, so summation and update order never depend on hashing.
class RowDeduper {
 public:
  // REQUIRES: at most max_keys Insert() calls until the next Begin().
  void Begin(size_t max_keys) {
    size_t cap = 16;
    while (cap < 4 * max_keys) cap <<= 1;
    if (cap > slots_.size()) slots_.resize(cap);
    if (cap > keys_.size()) keys_.resize(cap);  // as many keys as slots
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

  // Insert() of rows[0..n) in order, with the table's state held in
  // registers: index[i] = the row's index, or kSkip where rows[i] == skip
  // (not inserted); on_new(i) is called for each row seen first at i.
  static constexpr uint32_t kSkip = ~0u;
  template <typename OnNew>
  void InsertAll(const uint64_t* rows, size_t n, uint64_t skip, uint32_t* index, OnNew on_new) {
    uint32_t* const slots = slots_.data();
    uint64_t* const keys = keys_.data();
    const size_t mask = mask_;
    const int shift = shift_;
    uint32_t count = count_;
    constexpr size_t kAhead = 8;
    for (size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) __builtin_prefetch(&slots[(rows[i + kAhead] * kMul) >> shift]);
      const uint64_t row = rows[i];
      if (row == skip) {
        index[i] = kSkip;
        continue;
      }
      size_t h = (row * kMul) >> shift;
      for (;;) {
        const uint32_t u = slots[h];
        if (u == kEmpty) {
          slots[h] = count;
          keys[count] = row;
          index[i] = count++;
          on_new(i);
          break;
        }
        if (keys[u] == row) {
          index[i] = u;
          break;
        }
        h = (h + 1) & mask;
      }
    }
    count_ = count;
  }

 private:
  static constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  static constexpr uint32_t kEmpty = ~0u;
  size_t Hash(uint64_t row) const { return static_cast<size_t>((row * kMul) >> shift_); }
  std::vector<uint32_t> slots_;  // index into keys_, or kEmpty
  std::vector<uint64_t> keys_;   // distinct rows of the batch, first-occurrence order
  size_t mask_ = 0;
  int shift_ = 60;
  uint32_t count_ = 0;
};

}  // namespace ecps
