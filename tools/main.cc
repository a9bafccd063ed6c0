// `ecps`: the operator CLI. Dispatches to one subcommand per verb; see
// docs/cli.md for every flag and the exit codes.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tools/commands.h"

namespace {

constexpr char kUsage[] =
    "ecps: parameter-server training of CTR models with compressed embedding tables\n"
    "\n"
    "usage: ecps <command> [options]     (ecps <command> --help for its options)\n"
    "\n"
    "commands:\n"
    "  train        train a model from a YAML config (DLRM/WDL/DCN x compression method)\n"
    "  gen-data     write deterministic synthetic Criteo/Avazu-format text\n"
    "  preprocess   turn raw Criteo/Avazu/libSVM text into the binary training cache\n"
    "  bench        sweep methods x budgets x models, report and recommend\n"
    "\n"
    "exit codes: 0 success, 1 runtime failure, 2 bad usage, config or input\n"
    "(a one-line reason is printed on stderr).\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? ecps::tools::kExitUsage : ecps::tools::kExitOk;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("ecps 0.1.0\n");
    return 0;
  }
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "train") return ecps::tools::RunTrain(args);
  if (cmd == "gen-data") return ecps::tools::RunGenData(args);
  if (cmd == "preprocess") return ecps::tools::RunPreprocess(args);
  if (cmd == "bench") return ecps::tools::RunBench(args);
  if (cmd == "checkpoint") return ecps::tools::RunCheckpoint(args);
  std::fprintf(stderr, "ecps: unknown command '%s' (try ecps --help)\n", cmd.c_str());
  return ecps::tools::kExitUsage;
}
