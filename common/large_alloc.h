// Memory for big arrays that are accessed at random or streamed every step
// (embedding rows and their optimizer state; the dense model's parameters,
// gradients and optimizer state).
//
// A lookup touches one row per key, scattered over tables of many MB. With
// 4 KiB pages nearly every such access also misses the TLB (a few thousand
// entries cover ~8 MiB), and with glibc's mmap'd chunks starting 16 bytes past
// a page a 64-byte row (16 fp32) straddles two cache lines. A dense optimizer
// streams ~2 MB arrays every step, and the hardware prefetchers stop at every
// 4 KiB page boundary. LargeAllocator aligns every array to 64 bytes and maps
// arrays of kMapBytes or more on 2 MiB boundaries with madvise(MADV_HUGEPAGE),
// so transparent huge pages back them where the kernel allows it (the common
// "madvise" THP setting; a no-op where THP is off).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace ecps {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;
// Arrays from this size on are mapped (smaller ones: aligned_alloc). The
// mapping is rounded up to whole huge pages where that adds at most 1/8.
inline constexpr size_t kMapBytes = kHugePageBytes / 2;

// 64-byte aligned; never null (throws std::bad_alloc). `bytes` must be given
// again to FreeLarge: it decides how the block was obtained.
void* AllocateLarge(size_t bytes);
void FreeLarge(void* p, size_t bytes) noexcept;

template <class T>
struct LargeAllocator {
  using value_type = T;
  LargeAllocator() = default;
  template <class U>
  LargeAllocator(const LargeAllocator<U>&) noexcept {}
  T* allocate(size_t n) {
    if (n > static_cast<size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(AllocateLarge(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { FreeLarge(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const LargeAllocator<U>&) const noexcept {
    return true;
  }
};

template <class T>
using LargeVector = std::vector<T, LargeAllocator<T>>;

}  // namespace ecps
