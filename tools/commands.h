// Subcommands of the `ecps` CLI. Each takes the arguments after its name,
// prints its own --help, and returns the process exit code (docs/cli.md):
//   0 success, 1 runtime failure, 2 bad usage / invalid config or input.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
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
int RunVectors(const std::vector<std::string>& args);
int RunPredict(const std::vector<std::string>& args);
int RunServe(const std::vector<std::string>& args);
int RunCompress(const std::vector<std::string>& args);
int RunStatus(const std::vector<std::string>& args);
int RunAllocation(const std::vector<std::string>& args);

// A verb of `ecps`: its name, its line in `ecps --help`, and its entry.
struct Verb {
  std::string_view name;
  std::string_view help;
  int (*run)(const std::vector<std::string>& args);
};

// Every verb, in the order `ecps --help` lists them: the one list that both
// main()'s dispatch and its --help read.
inline constexpr Verb kVerbs[] = {
    {"train", "train a model from a YAML config (DLRM/WDL/DCN x compression method)", &RunTrain},
    {"gen-data", "write deterministic synthetic Criteo, Avazu or libSVM/libFM/libFFM text",
     &RunGenData},
    {"preprocess", "turn raw Criteo/Avazu/libSVM text into the binary training cache",
     &RunPreprocess},
    {"bench", "sweep methods x budgets x models, report and recommend", &RunBench},
    {"checkpoint", "verify, inspect or export a checkpoint (checkpoint verify|inspect|export)",
     &RunCheckpoint},
    {"predict", "score a data cache with a trained model (AUC, log loss, throughput)", &RunPredict},
    {"compress",
     "compress a trained full model after training (int8/int16/fp16/post4bits/pq/dedup/prune)",
     &RunCompress},
    {"serve", "serve a trained model over HTTP (POST /v1/predict, /healthz, /metrics)", &RunServe},
    {"status", "what the job of an output directory is doing or did (stage, step, evaluation)",
     &RunStatus},
    {"vectors", "compress retrieval embeddings and evaluate them (docs/methods.md §6)",
     &RunVectors},
    {"allocation", "parameters a trained model keeps per feature against its train count",
     &RunAllocation},
};

// The verbs' names, computed at compile time, so code that does not link the
// entry functions (the CLI tests, which run the binary) can read the table.
consteval std::array<std::string_view, std::size(kVerbs)> VerbNames() {
  std::array<std::string_view, std::size(kVerbs)> names{};
  for (size_t i = 0; i < names.size(); ++i) names[i] = kVerbs[i].name;
  return names;
}

}  // namespace ecps::tools
