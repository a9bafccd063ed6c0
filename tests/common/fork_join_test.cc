#include "common/fork_join.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include <vector>

namespace ecps {
namespace {

TEST(ForkJoinPoolTest, RunsEveryItemExactlyOnce) {
  for (int threads : {1, 2, 3}) {
    ForkJoinPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    // 70000: more items than one job holds (they run as consecutive jobs).
    for (size_t n : {0, 1, 2, 5, 64, 70000}) {
      std::vector<std::atomic<int>> hits(n);
      pool.Run(n, [&](size_t i) { hits[i].fetch_add(1); });
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
    }
  }
}

TEST(ForkJoinPoolTest, BackToBackJobsDoNotMix) {
  // Many short jobs in a row: stragglers of one job must never run items of
  // the next, and every job must see all of its items done on return.
  for (int spin : {0, 2000}) {
    ForkJoinPool pool(ForkJoinOptions{.threads = 2, .spin = spin});
    std::vector<int> out(8);
    for (int job = 0; job < 20000; ++job) {
      pool.Run(8, [&](int i) { out[i] = job * 8 + i; });
      for (int i = 0; i < 8; ++i) ASSERT_EQ(out[i], job * 8 + i) << "job " << job;
    }
  }
}

TEST(ForkJoinPoolTest, RunsEveryItemOnceFromConcurrentCallers) {
  ForkJoinPool pool(3);
  EXPECT_EQ(pool.threads(), 3);
  std::vector<std::thread> callers;
  std::atomic<int> bad{0};
  for (int c = 0; c < 3; ++c)
    callers.emplace_back([&] {
      for (int round = 0; round < 300; ++round) {
        const size_t n = static_cast<size_t>(round % 9);
        std::vector<std::atomic<int>> hits(n);
        pool.Run(n, [&](size_t i) { ++hits[i]; });
        for (auto& h : hits)
          if (h.load() != 1) ++bad;
      }
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(ForkJoinPoolTest, RunFromInsideAnItemRunsInline) {
  ForkJoinPool pool(3);
  std::vector<std::atomic<int>> hits(4 * 5);
  pool.Run(4, [&](size_t i) { pool.Run(5, [&](size_t j) { ++hits[i * 5 + j]; }); });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

// The per-thread setting (for the dense backend: OpenMP's nthreads ICV).
thread_local int t_setting = 7;
int ExchangeSetting(int v) {
  const int old = t_setting;
  t_setting = v;
  return old;
}

TEST(ForkJoinPoolTest, ItemsRunUnderTheSettingAndTheCallersIsRestored) {
  for (int threads : {1, 3}) {
    ForkJoinPool pool(ForkJoinOptions{
        .threads = threads, .exchange_setting = &ExchangeSetting, .item_setting = 1});
    for (size_t n : {1, 16}) {
      std::vector<int> seen(n, -1);
      pool.Run(n, [&](size_t i) { seen[i] = t_setting; });
      for (int v : seen) EXPECT_EQ(v, 1) << threads << " threads, n=" << n;
      EXPECT_EQ(t_setting, 7);
    }
  }
}

#if defined(__SSE__)
TEST(ForkJoinPoolTest, PoolThreadsUseTheCallersFloatingPointMode) {
  // The trainer enables flush-to-zero in its thread; items run on pool
  // threads must round denormals the same way, or results depend on the
  // thread.
  ForkJoinPool pool(2);
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
}  // namespace ecps
