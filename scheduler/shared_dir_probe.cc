#include "scheduler/shared_dir_probe.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "absl/strings/str_format.h"
#include "common/file_util.h"

namespace ecps::scheduler {

std::string ProbePath(const std::string& dir, const std::string& role, int rank) {
  return (std::filesystem::path(dir) / absl::StrCat(".ecps-probe.", role, ".", rank)).string();
}

std::string NewRunNonce() {
  std::random_device rd;
  const uint64_t hi = rd(), lo = rd();
  return absl::StrFormat("%016x", (hi << 32) ^ lo);
}

Status WriteProbe(const std::string& path, const std::string& nonce) {
  RETURN_IF_ERROR(MakeDirs(std::filesystem::path(path).parent_path().string()));
  return AtomicWriteFile(path, nonce);
}

Status CheckProbe(const std::string& path, const std::string& nonce) {
  if (!FileExists(path)) return NotFound("no file '", path, "'");
  ASSIGN_OR_RETURN(std::string got, ReadFile(path));
  if (got != nonce)
    return FailedPrecondition("'", path, "' holds another run's nonce (", got.substr(0, 16),
                              ", expected ", nonce, ")");
  return OkStatus();
}

void RemoveProbe(const std::string& path, const std::string& nonce) {
  if (CheckProbe(path, nonce).ok()) std::remove(path.c_str());
}

std::string LocalHostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "?";
  return name;
}

}  // namespace ecps::scheduler
