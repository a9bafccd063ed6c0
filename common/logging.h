// Logging goes through spdlog. Every module logs with these macros so the CLI
// can set one level (`--log-level`) and tests can silence output.
#pragma once

#include <spdlog/spdlog.h>

#define ECPS_LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define ECPS_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define ECPS_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define ECPS_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)

namespace ecps {
namespace logging_internal {
// spdlog builds its logger registry on first use, in a function-local static:
// safe from any thread, but its fast path is an acquire load inside the
// (uninstrumented) libspdlog, so ThreadSanitizer reports two threads' first
// log lines as a race. Every translation unit that can log builds it here,
// during static initialisation, before any thread exists.
inline const bool kRegistryReady = (::spdlog::default_logger_raw() != nullptr);
}  // namespace logging_internal

// Sets the global level from "debug", "info", "warn", "error" or "off";
// returns false for an unknown name. Logs go to stderr.
bool SetLogLevel(const std::string& level);
}  // namespace ecps
