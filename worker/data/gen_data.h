// `ecps gen-data`: deterministic synthetic CTR data in the real text formats.
//
// Per-field cardinalities are the real Criteo (or Avazu) ones scaled so that
// their sum is `features` (docs/methods.md §1.1); values are drawn Zipf-like (the
// top 10% of a field's values hold > 90% of its occurrences); labels come from
// a hidden model over categorical values and dense columns (planted signal),
// so AUC is well above 0.5 and compression visibly costs quality.
// The same options give a byte-identical file.
//
// Details: value ranks follow a bounded power law, density ~ x^-alpha on
// [1, N+1) with alpha = 1.5 by default (so the top 10% of a field with >= 1000
// values hold > 90% of its occurrences); a lower alpha fattens the tail, so
// more distinct values occur (at 2M rows, alpha 1.1 with features 10M gives
// 0.73 distinct values per row, Criteo's 33.8M / 45.8M = 0.74; docs/cli.md);
// the hidden logistic model is bias + per-value weights (whose scale grows
// with rank up to the top-10% boundary, so every decade of frequency carries
// about the same share of the signal) + a term per dense column on its latent
// log value + 4-d dot products for a few field pairs; the bias is calibrated
// to Criteo's CTR of 0.256. Ranks are printed through a keyed 32-bit
// bijection, so ids reveal nothing of the frequency rank.
//
// Drift (`drift` > 0, docs/cli.md "ecps gen-data"): the rows are cut into
// cohorts of drift% of the rows each; in cohort c a drawn rank r of a field
// with N >= kGenDriftMinValues values prints as value (r - c*S) mod N, with
// S = ceil(N / 10) (the top-10% hot set). So every cohort's hot values were
// the previous cohort's coldest tail (fresh, almost never seen), the previous
// hot values cool to ranks S..2S, then 2S..3S, ..., and the rotation comes
// round after 10 cohorts. Only the printed values move: the draws, so the
// labels, the dense columns and the label model over ranks, are the
// undrifted stream's line for line (same CTR, same oracle AUC). Within a
// cohort a value's weight is fixed (learnable); a value that cools takes its
// new rank's weight. Cohort 0 is the undrifted stream byte for byte. Small
// fields and Avazu's hour never drift.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace ecps {

struct GenDataOptions {
  std::string format = "criteo";  // criteo | avazu | libsvm | libfm | libffm
  uint64_t rows = 100000;
  uint64_t features = 100000;  // target total distinct values over all fields
  uint64_t seed = 1;
  double missing_rate = 0.02;  // fraction of empty categorical / integer cells
  // Tail exponent of the value-rank density ~ x^-alpha, in (1, 10]. Lower =
  // more distinct values. 1.5 keeps the original formula bit for bit.
  double alpha = 1.5;
  // Percent of the rows per popularity cohort, in [0, 100]; 0 = no drift
  // (the header comment). 10 = a new hot cohort every tenth of the file.
  double drift = 0;
  bool gzip = false;  // write .gz
  // libsvm/libfm/libffm only (the header comment): Criteo's integer columns as
  // valued features; labels -1/+1 instead of 0/1.
  bool values = false;
  bool signed_labels = false;
  bool crlf = false;  // end lines with "\r\n" (any format)
  // Worker threads (0 = the CPUs this process may use). The output does not depend on
  // it: rows are drawn in fixed chunks of kGenChunkRows, each with its own
  // Rng stream derived from (seed, chunk index).
  int threads = 0;
};

inline constexpr uint64_t kGenChunkRows = 1 << 16;

struct GenDataReport {
  uint64_t rows = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  double positive_rate = 0;
  double oracle_auc = 0;                // AUC of the hidden model itself (the ceiling)
  uint64_t drift_period_rows = 0;       // rows per cohort (0: no drift)
  std::vector<uint64_t> cardinalities;  // per categorical field (value ranks drawn from)
  // Distinct non-missing values that actually occur, over all fields. Smaller
  // than the sum of cardinalities when rows are few relative to `features`:
  // the power-law tail is only partly sampled (preprocess sees this number,
  // plus one missing token per field that has empty cells).
  uint64_t observed_features = 0;
  double rows_per_s() const { return seconds > 0 ? rows / seconds : 0; }
};

// Per-field cardinalities for `format` scaled to about `features` in total:
// fields with at most 1000 real values keep their size, larger ones share a
// common scale factor (at least 1000 values each); for totals too small for
// that, every field is scaled (at least 2 values). Avazu's `hour` field is the
// time axis and always has 240 values (10 days x 24 hours). libsvm, libfm and
// libffm have Criteo's 26 fields.
// InvalidArgument for an unknown format or features < 2 * fields.
StatusOr<std::vector<uint64_t>> GenCardinalities(const std::string& format, uint64_t features);

inline constexpr double kGenDefaultAlpha = 1.5;
// Fields with fewer values never drift.
inline constexpr uint64_t kGenDriftMinValues = 1000;

// Rows per drift cohort: round(rows * drift / 100), at least 1; 0 when drift
// is 0.
uint64_t GenDriftPeriodRows(const GenDataOptions& options);

// File stem of generated data (`ecps train` names its text and cache after
// it): format, rows, features and seed, e.g. "gen-criteo-r2000000-f750000-s1",
// plus "-a<alpha>" when alpha is not 1.5, as the shortest decimal that reads
// back to the same double (so distinct alphas never share a name), e.g.
// "gen-criteo-r2000000-f30000000-s1-a1.1", then "-d<drift>" when drift is not
// 0 (the same shortest decimal), then "-values", "-pm1" and "-crlf" for those
// options. missing_rate is not encoded (train always uses the default).
std::string GenDataStem(const GenDataOptions& options);

// Writes the file atomically. Errors name the path.
StatusOr<GenDataReport> GenerateData(const GenDataOptions& options, const std::string& out_path);

}  // namespace ecps
