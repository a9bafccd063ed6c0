// Subcommands of the `ecps` CLI. Each takes the arguments after its name,
// prints its own --help, and returns the process exit code (docs/cli.md):
//   0 success, 1 runtime failure, 2 bad usage / invalid config or input.
#pragma once

#include <string>
#include <vector>

namespace ecps::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int RunTrain(const std::vector<std::string>& args);
int RunGenData(const std::vector<std::string>& args);
int RunPreprocess(const std::vector<std::string>& args);
int RunBench(const std::vector<std::string>& args);
int RunCheckpoint(const std::vector<std::string>& args);

}  // namespace ecps::tools
