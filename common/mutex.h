// A mutex, its scoped lock and a condition variable that clang's
// -Wthread-safety analysis understands (Abseil's annotation macros,
// absl/base/thread_annotations.h): members declared ABSL_GUARDED_BY(mu_)
// are then checked at compile time to be touched only with mu_ held
// (scripts/tsan.sh builds with clang and -Werror=thread-safety).
//
// Why not absl::Mutex: libstdc++'s std::mutex carries no capability
// annotations, and absl::Mutex, which does, is locked in the prebuilt
// libabsl_synchronization, which is not built with ThreadSanitizer: TSan would
// see none of its happens-before edges and report every guarded member as a
// race. These wrappers are std::mutex and std::condition_variable underneath
// (pthread calls TSan intercepts), inline, and cost nothing over them.
//
// The names follow absl::Mutex's, so that switching later is a rename:
//   ecps::Mutex mu_;  int n_ ABSL_GUARDED_BY(mu_);
//   { MutexLock l(&mu_); ++n_; }
//   MutexLock l(&mu_); while (!ready_) cv_.Wait(&mu_);
// Wait with an explicit loop, not a predicate lambda: the analysis checks a
// lambda's body as a function of its own, which does not hold the lock.
//
// SharedMutex is the reader/writer lock (std::shared_mutex underneath; absl
// has no separate type: absl::Mutex is one): members ABSL_GUARDED_BY(it) are
// read with it held shared or exclusive and written only with it exclusive.
//   ecps::SharedMutex mu_;  int n_ ABSL_GUARDED_BY(mu_);
//   { ReaderMutexLock l(&mu_); use(n_); }
//   { WriterMutexLock l(&mu_); ++n_; }
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#include "absl/base/thread_annotations.h"

namespace ecps {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for its scope. Unlock()/Lock() release it for a stretch inside
// the scope (the destructor unlocks only if held).
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() {
    if (held_) mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() ABSL_UNLOCK_FUNCTION() {
    mu_->Unlock();
    held_ = false;
  }
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    mu_->Lock();
    held_ = true;
  }

 private:
  Mutex* const mu_;
  bool held_ = true;
};

// A reader/writer lock: any number of readers, or one writer.
class ABSL_LOCKABLE SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  // Exclusive (Lock and WriterLock are the same, as in absl::Mutex).
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  void WriterLock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void WriterUnlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  // Shared.
  void ReaderLock() ABSL_SHARED_LOCK_FUNCTION() { mu_.lock_shared(); }
  void ReaderUnlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds `mu` shared for its scope.
class ABSL_SCOPED_LOCKABLE ReaderMutexLock {
 public:
  explicit ReaderMutexLock(SharedMutex* mu) ABSL_SHARED_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->ReaderLock();
  }
  ~ReaderMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->ReaderUnlock(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// Holds `mu` exclusive for its scope.
class ABSL_SCOPED_LOCKABLE WriterMutexLock {
 public:
  explicit WriterMutexLock(SharedMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->WriterLock();
  }
  ~WriterMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->WriterUnlock(); }
  WriterMutexLock(const WriterMutexLock&) = delete;
  WriterMutexLock& operator=(const WriterMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

class CondVar {
 public:
  using Clock = std::chrono::steady_clock;

  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Atomically releases *mu and waits for a Signal (or a spurious wake-up),
  // then re-acquires *mu.
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    cv_.wait(l);
    l.release();
  }
  // As Wait(), giving up at `deadline`. Returns true if the deadline passed
  // (absl::CondVar::WaitWithDeadline's convention).
  bool WaitUntil(Mutex* mu, Clock::time_point deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    const bool timed_out = cv_.wait_until(l, deadline) == std::cv_status::timeout;
    l.release();
    return timed_out;
  }

  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace ecps
