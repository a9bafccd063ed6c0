// UsableCpus() counts the CPUs of the affinity mask (taskset, a cpuset), which
// std::thread::hardware_concurrency() does not.
#include "common/cpu.h"

#include <gtest/gtest.h>
#include <sched.h>

namespace ecps {
namespace {

TEST(CpuTest, UsableCpusFollowsTheAffinityMask) {
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
  EXPECT_EQ(UsableCpus(), CPU_COUNT(&saved));
  // Pinned to one CPU (the first allowed), as under `taskset -c N`.
  int first = 0;
  while (!CPU_ISSET(first, &saved)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  EXPECT_EQ(UsableCpus(), 1);
  ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
  EXPECT_EQ(UsableCpus(), CPU_COUNT(&saved));
}

}  // namespace
}  // namespace ecps
