// Error vocabulary for every module boundary (style.md rule 7).
//
// Recoverable errors (bad input, files, configs, network) travel as
// absl::Status / absl::StatusOr<T>. Invariants use ECPS_CHECK (check.h).
// Exceptions from third-party libraries (yaml-cpp, cereal, Boost) are caught
// where they are called and turned into a Status; none crosses a module edge.
#pragma once

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace ecps {

using Status = absl::Status;
template <typename T>
using StatusOr = absl::StatusOr<T>;

inline Status OkStatus() { return absl::OkStatus(); }

template <typename... Args>
Status InvalidArgument(const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat(args...));
}
template <typename... Args>
Status NotFound(const Args&... args) {
  return absl::NotFoundError(absl::StrCat(args...));
}
template <typename... Args>
Status DataLoss(const Args&... args) {
  return absl::DataLossError(absl::StrCat(args...));
}
template <typename... Args>
Status IoError(const Args&... args) {
  return absl::UnavailableError(absl::StrCat(args...));
}
template <typename... Args>
Status FailedPrecondition(const Args&... args) {
  return absl::FailedPreconditionError(absl::StrCat(args...));
}
template <typename... Args>
Status Unimplemented(const Args&... args) {
  return absl::UnimplementedError(absl::StrCat(args...));
}
template <typename... Args>
Status OutOfRange(const Args&... args) {
  return absl::OutOfRangeError(absl::StrCat(args...));
}

// Prefixes `context` to the message of a non-OK status, keeping its code.
inline Status Annotate(const Status& s, const std::string& context) {
  if (s.ok()) return s;
  return Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

}  // namespace ecps

#define ECPS_STATUS_CONCAT_INNER(a, b) a##b
#define ECPS_STATUS_CONCAT(a, b) ECPS_STATUS_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define RETURN_IF_ERROR(expr)                    \
  do {                                           \
    ::ecps::Status ecps_status_ = (expr);        \
    if (!ecps_status_.ok()) return ecps_status_; \
  } while (0)

// ASSIGN_OR_RETURN(auto x, Foo()): declares x from a StatusOr or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ECPS_ASSIGN_OR_RETURN_IMPL(ECPS_STATUS_CONCAT(ecps_statusor_, __LINE__), lhs, expr)
#define ECPS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
