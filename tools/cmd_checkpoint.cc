// `ecps checkpoint verify` (docs/cli.md). Parsing and printing only; the
// checks are in tools/checkpoint_verify.cc.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "tools/checkpoint_verify.h"
#include "tools/commands.h"

namespace ecps::tools {
namespace {

constexpr char kUsage[] =
    "usage: ecps checkpoint verify [--json] <checkpoint>\n"
    "\n"
    "Checks that a checkpoint is intact and summarises it. <checkpoint> is a cluster's\n"
    "manifest (<output.dir>/last.ckpt or best.ckpt of a --simulate, mpirun or by-hand run)\n"
    "or a single-process checkpoint file. Every part the manifest names must exist with\n"
    "its recorded size and checksum, and its rows must decode.\n"
    "\n"
    "options:\n"
    "  --json      print the summary as one JSON object (also when it is damaged)\n"
    "  -h, --help  print this help\n"
    "\n"
    "exit codes: 0 intact, 1 damaged (each missing, truncated or corrupt file is named on\n"
    "stderr), 2 bad usage, or <checkpoint> missing or not a checkpoint.\n";

int Verify(const std::vector<std::string>& args) {
  bool json = false;
  std::string path;
  for (const std::string& a : args) {
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (a == "--json") {
      json = true;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "ecps checkpoint verify: unknown option '" << a << "' (see --help)\n";
      return kExitUsage;
    } else if (path.empty()) {
      path = a;
    } else {
      std::cerr << "ecps checkpoint verify: one checkpoint at a time (got '" << path << "' and '"
                << a << "')\n";
      return kExitUsage;
    }
  }
  if (path.empty()) {
    std::cerr << "ecps checkpoint verify: which checkpoint? (see --help)\n";
    return kExitUsage;
  }
  StatusOr<CheckpointSummary> s = VerifyCheckpoint(path);
  if (!s.ok()) {
    std::cerr << "ecps: " << s.status().message() << "\n";
    const auto code = s.status().code();
    return code == absl::StatusCode::kNotFound || code == absl::StatusCode::kInvalidArgument
               ? kExitUsage
               : kExitFailure;
  }
  std::cout << (json ? SummaryJson(*s) + "\n" : SummaryText(*s));
  for (const std::string& p : s->problems) std::cerr << "ecps: " << p << "\n";
  return s->problems.empty() ? kExitOk : kExitFailure;
}

}  // namespace

int RunCheckpoint(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "verify") return Verify(std::vector<std::string>(args.begin() + 1, args.end()));
  std::cerr << "ecps checkpoint: unknown subcommand '" << args[0] << "' (try: verify)\n";
  return kExitUsage;
}

}  // namespace ecps::tools
