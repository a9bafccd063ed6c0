#include "common/large_alloc.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace ecps {
namespace {

uintptr_t Addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

TEST(LargeAllocTest, SmallArraysAreCacheLineAligned) {
  for (size_t n : {1, 3, 16, 1000, 100000}) {
    LargeVector<float> v(n, 1.5f);
    EXPECT_EQ(Addr(v.data()) % 64, 0u) << n;
    EXPECT_EQ(v[n - 1], 1.5f);
  }
  LargeVector<uint8_t> empty;
  empty.reserve(0);
  EXPECT_TRUE(empty.empty());
}

TEST(LargeAllocTest, ArraysOfAMegabyteOrMoreStartOnAHugePage) {
  // The default DLRM's dense parameters: 1.9 MB, mapped as one whole huge page.
  LargeVector<float> dense(475985, 0.5f);
  EXPECT_EQ(Addr(dense.data()) % kHugePageBytes, 0u);
  EXPECT_EQ(dense.back(), 0.5f);
  LargeVector<uint8_t> just_below(kMapBytes - 1);
  EXPECT_EQ(Addr(just_below.data()) % 64, 0u);
  LargeVector<uint8_t> at(kMapBytes);
  EXPECT_EQ(Addr(at.data()) % kHugePageBytes, 0u);
}

TEST(LargeAllocTest, BigArraysStartOnAHugePageAndKeepTheirContents) {
  const size_t n = 3 * kHugePageBytes / sizeof(float) + 7;  // not a whole number of pages
  LargeVector<float> v(n);
  EXPECT_EQ(Addr(v.data()) % kHugePageBytes, 0u);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i % 1000);
  v.resize(2 * n);  // moves to a new block; the old one is unmapped
  EXPECT_EQ(Addr(v.data()) % kHugePageBytes, 0u);
  for (size_t i = 0; i < n; i += 4099) ASSERT_EQ(v[i], static_cast<float>(i % 1000)) << i;
  EXPECT_EQ(v[2 * n - 1], 0.0f);
  // The block is advised for huge pages: the mapping says so where the
  // kernel reports it (VmFlags "hg"; absent without /proc, e.g. in some sandboxes).
  std::ifstream smaps("/proc/self/smaps");
  if (!smaps) GTEST_SKIP() << "no /proc/self/smaps";
  std::string line;
  bool in_block = false, advised = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-' && line.find(':') > line.find(' ')) {
      in_block = lo <= Addr(v.data()) && Addr(v.data()) < hi;
      continue;
    }
    if (in_block && line.rfind("VmFlags:", 0) == 0) advised = line.find(" hg") != std::string::npos;
  }
  EXPECT_TRUE(advised) << "MADV_HUGEPAGE not recorded for the block";
}

}  // namespace
}  // namespace ecps
