// `ecps preprocess`: one streaming pass over raw text (Criteo TSV, Avazu CSV,
// libSVM/libFM; .gz transparently) that builds per-field vocabularies,
// transforms numeric x to log(x+1) for x > 0 else 0, counts feature
// frequencies, assigns train/validation/test splits and writes the versioned
// binary cache that Dataset::Open() memory-maps (docs/formats.md).
// Inputs may be larger than memory: rows stream to disk; only vocabularies
// are held in memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace ecps {

enum class MalformedPolicy : uint8_t { kSkip = 0, kFail = 1 };

struct PreprocessOptions {
  std::vector<std::string> inputs;  // files, read in order as one stream
  // split = "files": the rows of each list, in order, make that split (inputs
  // must then be empty). Rows are written train, validation, test.
  std::vector<std::string> train_inputs, val_inputs, test_inputs;
  std::string format = "criteo";  // criteo | avazu | libsvm | libfm | libffm
  std::string output;             // cache file path
  uint64_t min_count = 0;         // values seen < min_count times map to the field's OOV id;
                                  // 0 keeps everything (the paper's setting)
  // The vocabulary is the train split's: values not seen in train map to
  // their field's OOV id (0), as a deployed model meets them; false gives
  // every value of every split its own id (data.vocabulary=all).
  bool vocabulary_from_train = true;
  // libSVM/libFM/libFFM feature values: true (data.feature_values=weight)
  // stores values other than 1 in the cache, where they scale the field's
  // embedding vector (DatasetSchema::has_values); false (ignore) reads every
  // value as 1. Other formats have no values.
  bool weight_values = true;
  // Split: "days" (Criteo: 7 equal days by row order, days 1-6 train, day 7 split
  // in half: first half test, second half validation; Avazu: the last
  // `last_day_rows` rows play day 7; other formats have no days and are
  // refused), "ratio" (last test_ratio of rows is test, the val_ratio before
  // it is validation, the rest is train; counts round to the nearest row) or
  // "files" (train_inputs, val_inputs, test_inputs).
  std::string split = "days";
  double val_ratio = 0.05;
  double test_ratio = 0.1;
  MalformedPolicy on_malformed = MalformedPolicy::kSkip;
  int report_first = 5;   // malformed lines reported in full per kind
  uint64_t max_rows = 0;  // 0 = all
  // Avazu "days" split: rows of the last day. 0 = the rows after the last
  // change of day (first 6 characters of `hour`, YYMMDD) in the input.
  uint64_t last_day_rows = 0;
  // Criteo "days" on data laid out as 7 days by construction (ecps gen-data):
  // no warning that the row count is not the Kaggle file's.
  bool days_by_construction = false;
};

// Rows of the Criteo Kaggle training file, the 7-day layout "days" assumes.
inline constexpr uint64_t kCriteoKaggleRows = 45840617;

// Malformed lines by kind. Every line is either converted or counted here.
struct MalformedCounts {
  uint64_t wrong_column_count = 0;
  uint64_t bad_label = 0;
  uint64_t bad_integer = 0;
  uint64_t bad_hex = 0;
  uint64_t bad_libsvm_token = 0;
  uint64_t total() const {
    return wrong_column_count + bad_label + bad_integer + bad_hex + bad_libsvm_token;
  }
};

struct PreprocessReport {
  uint64_t lines = 0;
  uint64_t rows_written = 0;
  uint64_t train_rows = 0, val_rows = 0, test_rows = 0;
  uint64_t features = 0;  // total vocabulary size over all fields
  uint64_t input_bytes = 0;
  double seconds = 0;
  MalformedCounts malformed;
  std::vector<std::string> examples;    // "file:line: reason" for the first few per kind
  std::vector<uint64_t> cardinalities;  // per field, as in the cache schema
  uint64_t oov_values = 0;              // distinct values mapped to OOV ids (min_count > 0)
  bool has_values = false;              // the cache carries feature values (DatasetSchema)
  // Things the caller should print: an empty validation or test split, a
  // Criteo days split of a row count that is not the 7-day file's.
  std::vector<std::string> warnings;
  double mb_per_s() const { return seconds > 0 ? input_bytes / 1e6 / seconds : 0; }
};

// Notes on the contract:
// - min_count counts occurrences in the train rows (vocabulary_from_train),
//   else over all converted rows, like the paper's "2-core" variants.
// - "days" needs days: criteo (7-day layout) or avazu (hour column, at
//   least two days unless last_day_rows is given); an empty train split is
//   InvalidArgument naming the split.
// - The cache stores the identity of what it was built from
//   (worker/data/cache_identity.h), computed before the first line is read.
// - input_bytes counts decompressed text.
// - The output is written atomically; a temporary "<output>.rows.tmp.<pid>"
//   holds the provisional rows in between and is removed in every case.
// With kFail the first malformed line returns InvalidArgument naming file and
// line; with kSkip it is counted, reported and skipped.
StatusOr<PreprocessReport> Preprocess(const PreprocessOptions& options);

}  // namespace ecps
