#include "common/process_memory.h"

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

}  // namespace

uint64_t PeakRssBytes() { return StatusKiB("VmHWM:"); }
uint64_t CurrentRssBytes() { return StatusKiB("VmRSS:"); }

bool ResetPeakRss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (f == nullptr) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

}  // namespace ecps
