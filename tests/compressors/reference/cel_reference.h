// The naive CEL mapping (docs/methods.md §2.15, compressors/dynamic/cel.h),
// written from the rules alone over global ids: per feature and per cluster
// row a struct in a map instead of state rows, every partition's keys found
// by a scan of the global ids, the members of a cluster by a scan of the
// features. The oracle of tests/compressors/dynamic/cel_test.cc: driven with
// the same pushes (each key once, with its summed gradient, in first
// occurrence order) and the rows as they were before each push, its state
// must equal the store's state rows bit for bit.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "compressors/key_mapping.h"

namespace ecps::reference {

class CelReference {
 public:
  // `spec`: the method's KeyMappings()[0]; `rows`: E's rows; `keys`: n.
  CelReference(const KeyMappingSpec& spec, uint64_t rows, uint64_t keys);

  struct Key {
    int64_t row = -1;  // global cluster row; -1: the field's root
    float count = 0, last = 0, proj = 0, gain = 0;
    int64_t alt = -1;  // global row of the other cluster of its last split
  };
  struct Row {
    float inter = 0, pushes = 0;
    bool used = false, done = false;
    std::vector<float> mean, dir;
  };

  // One push: `keys` distinct global ids with `counts` occurrences and
  // summed gradients `grads` (keys.size() x d), `e` the data table (m x d)
  // before the push.
  void Push(const std::vector<uint64_t>& keys, const std::vector<uint32_t>& counts,
            const std::vector<float>& grads, const std::vector<float>& e, int64_t step);
  void EndStep(int64_t step);

  // The global cluster row of global key k.
  uint64_t RowOf(uint64_t k) const;
  const Key& key(uint64_t k) const;
  const Row& row(uint64_t r) const { return rows_.at(r); }
  uint64_t splits() const { return splits_; }
  uint64_t moves() const { return moves_; }

 private:
  uint64_t Root(uint64_t k) const;
  uint64_t Local(uint64_t global_row) const { return global_row / parts_; }
  bool Used(uint64_t r) const;

  KeyMappingSpec spec_;
  uint64_t parts_, m_, n_;
  int d_;
  double b_, every_, half_life_;
  std::vector<uint64_t> offsets_;  // the fields' first keys
  std::map<uint64_t, Key> keys_;
  std::vector<Row> rows_;
  uint64_t splits_ = 0, moves_ = 0;
};

}  // namespace ecps::reference
