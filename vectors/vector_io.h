// Readers and writers of dense float32 vector sets for `ecps vectors`
// (docs/cli.md, docs/formats.md "Vector files"): NumPy .npy (float32, C
// order, 2-D), .fvecs (per vector an int32 dimension, then the floats) and
// tab-separated text (one vector per line, optionally followed by an integer
// object id: the sift5k layout).
//
// Every error is InvalidArgument or DataLoss and names the file (and the line
// or vector): a wrong dimension, a truncated file, a value that is not a
// finite number. A file is never half read: on error nothing is returned.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace ecps::vectors {

// n vectors of `dim` float32 values, row-major ([n x dim]).
struct VectorSet {
  uint64_t n = 0;
  int dim = 0;
  std::vector<float> values;
  const float* row(uint64_t i) const { return values.data() + i * static_cast<uint64_t>(dim); }
};

struct ReadOptions {
  // The dimension the file must have; 0 accepts any (the file's own, for
  // TSV the number of fields of its first line). With dim > 0 a TSV line of
  // dim + 1 fields whose last field is an integer is a vector and its id.
  int dim = 0;
};

// Reads `path` by its extension: .npy, .fvecs, or .tsv / .txt (text).
StatusOr<VectorSet> ReadVectors(const std::string& path, const ReadOptions& options = {});

// Writes `v` atomically as .npy (format 1.0, '<f4', C order) or .fvecs, by
// the extension of `path`.
Status WriteVectors(const std::string& path, const VectorSet& v);

}  // namespace ecps::vectors
