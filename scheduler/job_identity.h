// What every process of a job must agree on (issue 14 item 4): its effective
// configuration and the build it runs. Each server and worker sends its
// identity with its registration; once all registered, the scheduler
// compares each with its own and refuses the job, before any training,
// naming every process that differs and the first key it differs in (a
// worker started with another optimizer.lr silently changed the result).
//
// Thread-safety: values; free functions.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace ecps::scheduler {

struct JobIdentity {
  // The build's commit ("" when unknown: not compared).
  std::string build;
  // Dotted key -> effective value, without the process-local keys.
  std::map<std::string, std::string> config;

  bool empty() const { return build.empty() && config.empty(); }
  // XXH3 of the canonical key=value lines and the build: equal identities
  // have equal fingerprints (logged with each registration).
  uint64_t Fingerprint() const;
  nlohmann::json ToJson() const;
  // Errors: InvalidArgument naming what is malformed.
  static StatusOr<JobIdentity> FromJson(const nlohmann::json& j);
};

// Keys that may differ between the processes of one job and are left out of
// the identity: output.* (each process names output.dir as it sees it; the
// shared-directory check proves it is one directory; progress and logging
// are per process), cluster.host (the address each process binds) and
// cluster.register_timeout_ms (how long this process waits for the scheduler:
// it changes nothing once the job runs).
bool ProcessLocalKey(const std::string& key);

// "" when `node` agrees with `reference` (the scheduler's); otherwise the
// first difference, e.g. "optimizer.lr is 0.01 there, 0.003 at the scheduler
// (2 keys differ)" or "build abc123 there, def456 at the scheduler".
std::string FirstDifference(const JobIdentity& reference, const JobIdentity& node);

}  // namespace ecps::scheduler
