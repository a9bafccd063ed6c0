#include "common/mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace ecps {
namespace {

TEST(SharedMutexTest, ReadersShareTheLock) {
  SharedMutex mu;
  ReaderMutexLock held(&mu);
  // Another reader gets in while this one holds it (a writer's lock would
  // block here forever).
  std::atomic<bool> in{false};
  std::thread reader([&] {
    ReaderMutexLock l(&mu);
    in = true;
  });
  reader.join();
  EXPECT_TRUE(in.load());
}

TEST(SharedMutexTest, WriterExcludesReaders) {
  SharedMutex mu;
  std::atomic<bool> in{false};
  std::thread reader;
  {
    WriterMutexLock held(&mu);
    reader = std::thread([&] {
      ReaderMutexLock l(&mu);
      in = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(in.load());
  }
  reader.join();
  EXPECT_TRUE(in.load());
}

struct Counter {
  SharedMutex mu;
  int n ABSL_GUARDED_BY(mu) = 0;
};

TEST(SharedMutexTest, WritersAreExclusive) {
  Counter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&c] {
      for (int i = 0; i < 10000; ++i) {
        if (i % 2 == 0) {
          WriterMutexLock l(&c.mu);
          ++c.n;
        } else {
          c.mu.Lock();
          ++c.n;
          c.mu.Unlock();
        }
        ReaderMutexLock l(&c.mu);
        EXPECT_GT(c.n, 0);
      }
    });
  for (auto& t : threads) t.join();
  c.mu.ReaderLock();
  EXPECT_EQ(c.n, 40000);
  c.mu.ReaderUnlock();
}

struct Flag {
  Mutex mu;
  CondVar cv;
  bool ready ABSL_GUARDED_BY(mu) = false;
};

TEST(MutexTest, CondVarWakesTheWaiter) {
  Flag f;
  std::thread setter([&f] {
    MutexLock l(&f.mu);
    f.ready = true;
    f.cv.Signal();
  });
  {
    MutexLock l(&f.mu);
    while (!f.ready) f.cv.Wait(&f.mu);
    EXPECT_TRUE(f.ready);
  }
  setter.join();
}

}  // namespace
}  // namespace ecps
