// `ecps gen-data`: deterministic synthetic CTR data in the real text formats.
//
// Per-field cardinalities are the real Criteo (or Avazu) ones scaled so that
// their sum is `features` (methods.md §1.1); values are drawn Zipf-like (the
// top 10% of a field's values hold > 90% of its occurrences); labels come from
// a hidden model over categorical values and dense columns (planted signal),
// so AUC is well above 0.5 and compression visibly costs quality.
// The same options give a byte-identical file.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace ecps {

struct GenDataOptions {
  std::string format = "criteo";  // criteo | avazu
  uint64_t rows = 100000;
  uint64_t features = 100000;     // target total distinct values over all fields
  uint64_t seed = 1;
  double missing_rate = 0.02;     // fraction of empty categorical / integer cells
  bool gzip = false;              // write .gz
};

struct GenDataReport {
  uint64_t rows = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  double positive_rate = 0;
  double oracle_auc = 0;          // AUC of the hidden model itself (the ceiling)
};

// Writes the file atomically. Errors name the path.
StatusOr<GenDataReport> GenerateData(const GenDataOptions& options, const std::string& out_path);

}  // namespace ecps
