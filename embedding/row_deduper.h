// A batch's row ids -> dense first-occurrence indices, for stores and
// clients that sum or send each distinct row once (LocalRowStore::Push,
// ps::Client's pull/push layout). Not thread-safe; one per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ecps {

// Maps a batch's row ids to dense first-occurrence indices. Open addressing
// with generation stamps: starting a new batch is O(1) and, once grown, the
// table never allocates again. Indices follow first occurrence in plan
// order, so summation and update order never depend on hashing.
class RowDeduper {
 public:
  void Begin(size_t max_keys) {
    size_t cap = 16;
    while (cap < 2 * max_keys) cap <<= 1;
    if (cap > slots_.size()) {
      slots_.assign(cap, Slot{});
      generation_ = 0;
      shift_ = 64 - __builtin_ctzll(cap);
    }
    mask_ = slots_.size() - 1;
    if (++generation_ == 0) {  // stamps wrapped: forget them all once
      for (Slot& s : slots_) s.stamp = 0;
      generation_ = 1;
    }
    count_ = 0;
  }
  // Starts loading the row's first slot (the table is probed at random: a
  // caller that knows the next rows keeps a few misses in flight).
  void Prefetch(uint64_t row) const { __builtin_prefetch(&slots_[Hash(row)]); }
  // Returns the row's index; *inserted tells whether it is new in this batch.
  uint32_t Insert(uint64_t row, bool* inserted) {
    size_t h = Hash(row);
    for (;;) {
      Slot& s = slots_[h];
      if (s.stamp != generation_) {
        s.stamp = generation_;
        s.key = row;
        s.index = count_;
        *inserted = true;
        return count_++;
      }
      if (s.key == row) {
        *inserted = false;
        return s.index;
      }
      h = (h + 1) & mask_;
    }
  }

 private:
  size_t Hash(uint64_t row) const {
    return static_cast<size_t>((row * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  struct Slot {
    uint64_t key = 0;
    uint32_t index = 0;
    uint32_t stamp = 0;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int shift_ = 60;
  uint32_t generation_ = 0;
  uint32_t count_ = 0;
};

}  // namespace ecps
