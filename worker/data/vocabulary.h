// Per-field vocabulary built in one streaming pass: maps each value key (see
// row_parser.h) and the "missing" token to a provisional id in first-seen
// order and counts occurrences. Finalize() then assigns the final, order-
// independent ids: the missing token first, then keys in ascending order (for
// Criteo this is the paper's sorted-unique encoding); with min_count > 0, id 0
// is reserved for the field's OOV bucket and values seen fewer than min_count
// times (the missing token included) map to it. Given the train split's
// occurrences, the vocabulary is the train split's: id 0 is the OOV bucket,
// and values not seen in train (or fewer than min_count times there) map to it.
//
// Memory: about 22 bytes per distinct value. Thread-safety: none (one owner).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace ecps {

class FieldVocabulary {
 public:
  // Largest number of distinct values per field (ids are uint32).
  static constexpr uint64_t kMaxValues = 0xFFFFFFF0ull;

  // Counts one occurrence of `key`; returns its provisional id. After
  // kMaxValues distinct values, overflowed() turns true and 0 is returned.
  uint32_t Add(uint64_t key) {
    auto [it, inserted] = ids_.try_emplace(key, static_cast<uint32_t>(counts_.size()));
    if (inserted) {
      if (counts_.size() >= kMaxValues) {
        overflowed_ = true;
        ids_.erase(it);
        return 0;
      }
      counts_.push_back(0);
    }
    Bump(it->second, 1);
    return it->second;
  }
  // Counts `n` occurrences of the missing token; returns its provisional id.
  uint32_t AddMissing(uint64_t n = 1) {
    if (missing_id_ < 0) {
      missing_id_ = static_cast<int64_t>(counts_.size());
      counts_.push_back(0);
    }
    Bump(static_cast<uint32_t>(missing_id_), n);
    return static_cast<uint32_t>(missing_id_);
  }

  // Distinct values seen (missing token included).
  uint64_t size() const { return counts_.size(); }
  bool overflowed() const { return overflowed_; }
  // Provisional id of the missing token, or -1 if it was never seen.
  int64_t missing_id() const { return missing_id_; }
  // Occurrences (saturating at 2^32-1) by provisional id.
  const std::vector<uint32_t>& counts() const { return counts_; }

  struct Mapping {
    std::vector<uint32_t> final_id;  // by provisional id
    uint64_t cardinality = 0;        // final ids are in [0, cardinality)
    uint64_t num_oov_values = 0;     // distinct values mapped to the OOV id
    bool oov_bucket = false;         // id 0 is the OOV bucket
    // The keys that own an id, ascending: they got the consecutive ids
    // cardinality - keys.size() ... cardinality - 1 (served vocabularies,
    // vocabulary_table.h, store them so).
    std::vector<uint64_t> keys;
  };
  // train_counts: occurrences in the train split by provisional id (size()
  // entries), or null to count every row.
  Mapping Finalize(uint64_t min_count, const std::vector<uint32_t>* train_counts = nullptr) const;

 private:
  void Bump(uint32_t id, uint64_t n) {
    uint64_t c = counts_[id] + n;
    counts_[id] = c > 0xFFFFFFFFull ? 0xFFFFFFFFu : static_cast<uint32_t>(c);
  }
  absl::flat_hash_map<uint64_t, uint32_t> ids_;
  std::vector<uint32_t> counts_;
  int64_t missing_id_ = -1;
  bool overflowed_ = false;
};

}  // namespace ecps
