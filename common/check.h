// Invariant checks (style.md rule 7). ECPS_CHECK is always on and aborts with
// file, line and the failed expression; ECPS_DCHECK is compiled out in release
// builds and is meant for hot loops. Never use these for bad *input*: input
// errors are returned as Status with a message naming the file/line/field.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

namespace ecps::internal {

[[noreturn]] inline void CheckFailed(const char* file, int line, const char* expr,
                                     const std::string& msg) {
  std::fprintf(stderr, "ecps: CHECK failed at %s:%d: %s %s\n", file, line, expr, msg.c_str());
  std::fflush(stderr);
  std::abort();
}

// Collects an optional streamed message: ECPS_CHECK(x) << "context " << v;
class CheckMessage {
 public:
  CheckMessage(const char* file, int line, const char* expr)
      : file_(file), line_(line), expr_(expr) {}
  [[noreturn]] ~CheckMessage() { CheckFailed(file_, line_, expr_, stream_.str()); }
  template <typename T>
  CheckMessage& operator<<(const T& v) {
    stream_ << v;
    return *this;
  }

 private:
  const char* file_;
  int line_;
  const char* expr_;
  std::ostringstream stream_;
};

}  // namespace ecps::internal

#define ECPS_CHECK(cond)               \
  if (__builtin_expect(!!(cond), 1)) { \
  } else                               \
    ::ecps::internal::CheckMessage(__FILE__, __LINE__, #cond)

#define ECPS_CHECK_EQ(a, b) ECPS_CHECK((a) == (b)) << #a "=" << (a) << " " #b "=" << (b) << " "
#define ECPS_CHECK_LT(a, b) ECPS_CHECK((a) < (b)) << #a "=" << (a) << " " #b "=" << (b) << " "
#define ECPS_CHECK_LE(a, b) ECPS_CHECK((a) <= (b)) << #a "=" << (a) << " " #b "=" << (b) << " "
#define ECPS_CHECK_GE(a, b) ECPS_CHECK((a) >= (b)) << #a "=" << (a) << " " #b "=" << (b) << " "
#define ECPS_CHECK_GT(a, b) ECPS_CHECK((a) > (b)) << #a "=" << (a) << " " #b "=" << (b) << " "
#define ECPS_CHECK_OK(expr)                                               \
  do {                                                                    \
    auto ecps_check_status_ = (expr);                                     \
    ECPS_CHECK(ecps_check_status_.ok()) << ecps_check_status_.ToString(); \
  } while (0)

#ifdef NDEBUG
#define ECPS_DCHECK(cond) \
  while (false) ECPS_CHECK(cond)
#else
#define ECPS_DCHECK(cond) ECPS_CHECK(cond)
#endif
