// The identity of a data cache: what it was built from. A cache is reused only
// when the identity it stores (schema section, docs/formats.md) equals the one
// computed for the run now; anything else is a stale or foreign cache.
//
// The identity covers
//   - every input file, in order and with its role (input / train /
//     validation / test): absolute path, size, modification time (ns) and an
//     XXH3-64 of its first and last MiB (the whole file when smaller), so a
//     file rewritten in place with the same size is still a different input;
//   - the format and every preprocessing option that changes the output
//     (split kind and ratios, min_count, vocabulary, feature values of the
//     formats that have them, max_rows, last_day_rows);
//   - kCacheIdentityVersion, bumped whenever preprocessing changes its output
//     for the same inputs and options.
// Options that cannot change a successful output (on_malformed, report_first)
// are left out.
//
// For checkpoints and resume checks: Dataset::schema().identity is the text
// stored in an open cache (empty for caches without one, e.g. test fixtures),
// and CacheIdentityDigest() of that text is a 64-bit fingerprint of the data
// a run trained on. The text is a sequence of "key=value\n" lines, stable
// across builds with the same kCacheIdentityVersion.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/data/preprocess.h"

namespace ecps {

inline constexpr int kCacheIdentityVersion = 1;

// Bytes hashed at each end of an input file.
inline constexpr uint64_t kIdentityHashBytes = 1 << 20;

struct InputFileIdentity {
  std::string role;  // "input", "train", "validation" or "test"
  std::string path;  // absolute, lexically normalised
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t head_tail_hash = 0;  // XXH3-64 of the first and last kIdentityHashBytes
};

struct CacheIdentity {
  std::vector<InputFileIdentity> inputs;
  // Canonical option values, e.g. {"format", "criteo"}, in a fixed order.
  std::vector<std::pair<std::string, std::string>> options;

  // The canonical text stored in the cache.
  std::string ToText() const;
};

// Stats and hashes every input of `options` (NotFound naming a missing file).
StatusOr<CacheIdentity> ComputeCacheIdentity(const PreprocessOptions& options);

// Fingerprint of an identity text (XXH3-64); 0 for an empty text.
uint64_t CacheIdentityDigest(const std::string& identity_text);

// What differs between two identity texts, for messages: e.g.
// "data.format: criteo -> avazu; input[1]: (none) -> /d/b.txt". Empty if equal.
// At most `max_items` differences are listed ("... and N more").
std::string DescribeIdentityChange(const std::string& old_text, const std::string& new_text,
                                   int max_items = 6);

}  // namespace ecps
