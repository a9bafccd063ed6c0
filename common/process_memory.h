// This process's resident memory as the kernel counts it (/proc/self/status):
// what the results report next to the accounted training memory, and what
// tests bound (peak RSS of a checkpoint write, of a training run), and the
// memory it may use at most.
//
// Thread-safety: any thread.
#pragma once

#include <cstdint>

namespace ecps {

// VmHWM: the peak resident set since the process started (or since the last
// ResetPeakRss()), in bytes; 0 where /proc is unavailable.
uint64_t PeakRssBytes();
// VmRSS: the resident set now, in bytes; 0 where /proc is unavailable.
uint64_t CurrentRssBytes();
// Restarts the peak at the current resident set (writes 5 to
// /proc/self/clear_refs, Linux >= 4.0). False when the kernel refuses it:
// the peak then stays the process's lifetime peak.
bool ResetPeakRss();

// The memory this process could ever have resident: the host's physical
// memory (sysconf), or less where a cgroup limits it (cgroup v2 memory.max,
// v1 memory.limit_in_bytes). What a parameter server bounds the tables it is
// sent by when no smaller limit is configured (ps/server.h). 0 where unknown.
uint64_t AvailableMemoryBytes();

}  // namespace ecps
