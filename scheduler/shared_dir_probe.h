// The startup check that output.dir is one directory for every process of a
// cluster run (docs/formats.md "Sharded checkpoint"): the servers write their
// shards, worker 0 the dense part and the scheduler the manifest into it, so
// a multi-host job whose hosts each see a local output.dir would otherwise
// fail only at the first checkpoint, or at resume.
//
// After registration every server and worker writes a probe file named by
// its role and rank into its output.dir, holding a nonce the scheduler handed
// out for this run; the scheduler releases the job only once it reads every
// probe, with that nonce, from its own output.dir (scheduler.h).
//
// Thread-safety: free functions over files.
#pragma once

#include <string>

#include "common/status.h"

namespace ecps::scheduler {

// <dir>/.ecps-probe.<role>.<rank>: one per process, so concurrent writers
// never share a file, and hidden, so checkpoint listings do not show it.
std::string ProbePath(const std::string& dir, const std::string& role, int rank);

// A fresh, random run nonce (16 hex digits). Random rather than derived from
// the job, so a probe left behind by an earlier run never passes the check.
std::string NewRunNonce();

// Creates `dir` if needed and writes `nonce` to the probe atomically (fsynced:
// on a network file system the scheduler reads it from another host).
Status WriteProbe(const std::string& path, const std::string& nonce);

// OK when the probe at `path` holds `nonce`; NotFound when there is no file;
// FailedPrecondition when it holds another run's nonce.
Status CheckProbe(const std::string& path, const std::string& nonce);

// Removes the probe at `path` if it holds `nonce`: another run's probe is left
// alone. Best effort (the scheduler and the node both clean up; either may be
// first).
void RemoveProbe(const std::string& path, const std::string& nonce);

// This machine's host name, for error messages ("?" if unknown).
std::string LocalHostName();

}  // namespace ecps::scheduler
