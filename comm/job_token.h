// The per-job token that authenticates every message of a job (issue 14
// item 6; docs/security.md). Every transport of a job's processes carries the
// same token (Transport::set_job_token): Send() stamps it on each header and
// Recv() rejects, before anyone sees it, a message whose token differs, so a
// local process that can reach a port but was not given the token cannot
// reset optimizer state, shut a server down or inject rows.
//
// Where a token comes from is the launcher's business (launch/): mpirun's
// rank 0 generates one and broadcasts it; processes started by hand with
// --role take ECPS_JOB_TOKEN or the file named by ECPS_JOB_TOKEN_FILE;
// in-process clusters generate their own.
//
// Thread-safety: free functions, any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace ecps::comm {

// The shortest token a launcher may hand out (a guessable one protects
// nothing).
inline constexpr size_t kMinJobTokenBytes = 16;
// The longest a header may carry.
inline constexpr size_t kMaxJobTokenBytes = 256;

// 32 hex characters (128 bits) from the operating system's random source.
std::string NewJobToken();

// Whether `a` equals `b`, in time that depends only on their lengths (a
// peer timing the rejections learns nothing about the token's bytes).
bool SameJobToken(std::string_view a, std::string_view b);

// Checks a token handed over by a launcher; `origin` names where it came
// from ("ECPS_JOB_TOKEN", "the file /x named by ECPS_JOB_TOKEN_FILE") in the
// error. Leading and trailing whitespace (a file's newline) is dropped.
// Errors: InvalidArgument for fewer than kMinJobTokenBytes or more than
// kMaxJobTokenBytes characters, or whitespace or control characters inside.
StatusOr<std::string> CheckJobToken(std::string_view token, std::string_view origin);

}  // namespace ecps::comm
