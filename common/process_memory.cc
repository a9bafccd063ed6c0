#include "common/process_memory.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace ecps {
namespace {

// The value of `key` ("VmHWM:") in /proc/self/status, in bytes (kB there).
uint64_t StatusKiB(const char* key) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t kib = 0;
  const size_t n = std::strlen(key);
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::strncmp(line, key, n) == 0) {
      unsigned long long v = 0;
      if (std::sscanf(line + n, "%llu", &v) == 1) kib = v;
      break;
    }
  }
  std::fclose(f);
  return kib * 1024;
}

// The number in the first line of `path` (a cgroup limit); 0 if the file is
// missing or holds no number ("max": unlimited).
uint64_t FileNumber(const char* path) {
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return 0;
  unsigned long long v = 0;
  if (std::fscanf(f, "%llu", &v) != 1) v = 0;
  std::fclose(f);
  return v;
}

}  // namespace

uint64_t AvailableMemoryBytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  uint64_t bytes = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * page : 0;
  // A container's limit is what the kernel enforces (the OOM killer), not
  // the host's memory. cgroup v1 reports "unlimited" as a huge number, which
  // the min leaves out.
  for (const char* limit :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    const uint64_t l = FileNumber(limit);
    if (l > 0) bytes = bytes > 0 ? std::min(bytes, l) : l;
  }
  return bytes;
}

uint64_t PeakRssBytes() { return StatusKiB("VmHWM:"); }
uint64_t CurrentRssBytes() { return StatusKiB("VmRSS:"); }

bool ResetPeakRss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (f == nullptr) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

}  // namespace ecps
