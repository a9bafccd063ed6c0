// A preprocessed dataset: the memory-mapped binary cache written by
// `ecps preprocess` (format in docs/formats.md). Rows are addressed by
// (split, index); the trainer decides the order (shuffle, resume position).
//
// Thread-safety: all methods are const and safe to call concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/data/batch.h"

namespace ecps {

class Dataset {
 public:
  virtual ~Dataset() = default;

  // Opens a cache written by Preprocess(); verifies magic, version and checksums,
  // and that every id is below its field's cardinality and every feature
  // value finite (checked even when the checksums match: a crafted cache).
  // Errors name the file and what is wrong with it (and the row and field).
  static StatusOr<std::unique_ptr<Dataset>> Open(const std::string& cache_path);
  // As above; verify_row_checksum = false skips hashing the rows section (a
  // fast open of a very large cache whose header, schema, sizes and counts are
  // still verified). Truncation is always detected.
  static StatusOr<std::unique_ptr<Dataset>> Open(const std::string& cache_path,
                                                 bool verify_row_checksum);

  virtual const DatasetSchema& schema() const = 0;
  virtual uint64_t NumRows(Split split) const = 0;

  // Copies rows `rows[i]` (indices within `split`) into `out` (resized to rows.size()).
  // REQUIRES: every rows[i] < NumRows(split) (checked; a violation aborts).
  virtual void Gather(Split split, std::span<const uint64_t> rows, Batch* out) const = 0;

  // Occurrence count of each feature over the *train* split, indexed by global
  // id (schema().offsets[f] + local id). Frequency-aware methods need these.
  virtual std::span<const uint32_t> train_counts() const = 0;
};

}  // namespace ecps
