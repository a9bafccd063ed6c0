// `ecps bench recommend`: picks, from measured results, the method that best
// fits an inference-memory budget and optional latency / training-time
// limits, and says why.
//
// Candidates are the selected runs (best lr, results.h) whose measured
// inference-memory ratio fits the budget (2% slack, as in the report), whose
// latency and training time fit the limits, and (when given) of the dataset,
// model and dim asked for. The winner has the best validation AUC (docs/methods.md
// §1.5: choices use validation, never test); ties go to the smaller memory.
// The explanation names the winner's numbers, the runner-up's gap, and every
// other method with the reason it lost or was excluded (memory, latency,
// time, failed, not available).
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace ecps::bench {

struct Constraints {
  double budget = 0.01;         // fraction of the full fp32 table
  double max_latency_ms = 0;    // 0 = no limit
  double max_train_time_s = 0;  // 0 = no limit
  std::string dataset, model;   // "" = any (one answer per dataset and model)
  int dim = 0;                  // 0 = any
};

struct Recommendation {
  bool found = false;   // some (dataset, model) has a method that fits
  std::string text;     // the explanation, for people
  nlohmann::json json;  // {constraints, picks: [{dataset, model, method, ...}], excluded}
};

Recommendation Recommend(const nlohmann::json& results, const Constraints& constraints);

// "90s", "5m", "2h", "300" (seconds) -> seconds; -1 when malformed.
double ParseDuration(const std::string& text);

}  // namespace ecps::bench
