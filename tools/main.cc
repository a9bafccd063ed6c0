// `ecps`: the operator CLI. Dispatches to one subcommand per verb (the table
// kVerbs in tools/commands.h, which --help lists too); see docs/cli.md for
// every flag and the exit codes.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tools/commands.h"

namespace {

void PrintUsage(std::FILE* f) {
  std::fputs(
      "ecps: parameter-server training of CTR models with compressed embedding tables\n"
      "\n"
      "usage: ecps <command> [options]     (ecps <command> --help for its options)\n"
      "\n"
      "commands:\n",
      f);
  for (const ecps::tools::Verb& v : ecps::tools::kVerbs)
    std::fprintf(f, "  %-12.*s %.*s\n", static_cast<int>(v.name.size()), v.name.data(),
                 static_cast<int>(v.help.size()), v.help.data());
  std::fputs(
      "\n"
      "exit codes: 0 success, 1 runtime failure, 2 bad usage, config or input\n"
      "(a one-line reason is printed on stderr).\n",
      f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? ecps::tools::kExitUsage : ecps::tools::kExitOk;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("ecps 0.1.0\n");
    return 0;
  }
  const std::string cmd = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const ecps::tools::Verb& v : ecps::tools::kVerbs)
    if (cmd == v.name) return v.run(args);
  std::fprintf(stderr, "ecps: unknown command '%s' (try ecps --help)\n", cmd.c_str());
  return ecps::tools::kExitUsage;
}
