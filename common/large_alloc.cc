#include "common/large_alloc.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>

namespace ecps {
namespace {

constexpr size_t kLineBytes = 64;
constexpr size_t kPageBytes = 4096;

size_t RoundUp(size_t x, size_t to) { return (x + to - 1) / to * to; }

// The length mapped for an array of `bytes` (>= kMapBytes): whole huge pages
// when rounding up costs at most 1/8 more, so the array's tail is huge-page
// backed too; otherwise whole 4 KiB pages (the last partial huge page of the
// array stays in small pages). A pure function of `bytes`: FreeLarge unmaps
// the same length.
size_t MappedLength(size_t bytes) {
  const size_t huge = RoundUp(bytes, kHugePageBytes);
  return huge - bytes <= bytes / 8 ? huge : RoundUp(bytes, kPageBytes);
}

}  // namespace

void* AllocateLarge(size_t bytes) {
  if (bytes < kMapBytes) {
    void* p = std::aligned_alloc(kLineBytes, RoundUp(bytes == 0 ? 1 : bytes, kLineBytes));
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  // Over-map by one huge page, then unmap the unaligned head and the tail, so
  // that the block starts on a 2 MiB boundary and huge pages can back it.
  const size_t length = MappedLength(bytes);
  const size_t mapped = length + kHugePageBytes;
  void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = RoundUp(begin, kHugePageBytes);
  if (aligned > begin) munmap(raw, aligned - begin);
  const uintptr_t end = begin + mapped;
  if (end > aligned + length)
    munmap(reinterpret_cast<void*>(aligned + length), end - aligned - length);
  void* p = reinterpret_cast<void*>(aligned);
  // Advice only: refused (THP compiled out) the block still works with 4 KiB pages.
  madvise(p, length, MADV_HUGEPAGE);
  return p;
}

void FreeLarge(void* p, size_t bytes) noexcept {
  if (p == nullptr) return;
  if (bytes < kMapBytes) {
    std::free(p);
    return;
  }
  munmap(p, MappedLength(bytes));
}

}  // namespace ecps
