#include "worker/model/task_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include <vector>

namespace ecps::model {
namespace {

TEST(TaskPoolTest, RunsEveryItemExactlyOnce) {
  for (int threads : {1, 2, 3}) {
    TaskPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    for (int n : {0, 1, 2, 5, 64}) {
      std::vector<std::atomic<int>> hits(n);
      pool.Run(n, [&](int i) { hits[i].fetch_add(1); });
      for (int i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
    }
  }
}

TEST(TaskPoolTest, BackToBackJobsDoNotMix) {
  // Many short jobs in a row: stragglers of one job must never run items of
  // the next, and every job must see all of its items done on return.
  TaskPool pool(2);
  std::vector<int> out(8);
  for (int job = 0; job < 20000; ++job) {
    pool.Run(8, [&](int i) { out[i] = job * 8 + i; });
    for (int i = 0; i < 8; ++i) ASSERT_EQ(out[i], job * 8 + i) << "job " << job;
  }
}

#if defined(__SSE__)
TEST(TaskPoolTest, WorkersUseTheCallersFloatingPointMode) {
  // The trainer enables flush-to-zero in its thread; items run on workers
  // must round denormals the same way, or results depend on the thread.
  TaskPool pool(2);
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(saved | 0x8040);  // FTZ | DAZ
  std::vector<unsigned> seen(16);
  for (int rep = 0; rep < 50; ++rep) {
    pool.Run(16, [&](int i) { seen[i] = _mm_getcsr() & 0x8040; });
    for (unsigned v : seen) ASSERT_EQ(v, 0x8040u);
  }
  _mm_setcsr(saved);
  pool.Run(16, [&](int i) { seen[i] = _mm_getcsr() & 0x8040; });
  for (unsigned v : seen) EXPECT_EQ(v, saved & 0x8040);
}
#endif

}  // namespace
}  // namespace ecps::model
