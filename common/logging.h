// Logging goes through spdlog. Every module logs with these macros so the CLI
// can set one level (`--log-level`) and tests can silence output.
#pragma once

#include <spdlog/spdlog.h>

#define ECPS_LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define ECPS_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define ECPS_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define ECPS_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)

namespace ecps {
// Sets the global level from "debug", "info", "warn", "error" or "off";
// returns false for an unknown name. Logs go to stderr.
bool SetLogLevel(const std::string& level);
}  // namespace ecps
