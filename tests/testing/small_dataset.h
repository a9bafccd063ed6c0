// Test support: a small generated Criteo-format dataset, preprocessed into a
// cache in a fresh per-process temporary directory (ctest runs every test in
// its own process, in parallel), plus the config overrides of a small, fast
// DLRM on it. Used by every end-to-end trainer test.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "worker/data/dataset.h"

namespace ecps::testing {

class SmallDataset {
 public:
  // Generates `rows` rows (gen-data seed 7, `features` values) and
  // preprocesses them with an 80/10/10 ratio split. `name` prefixes the
  // directory. Aborts the test binary (ECPS_CHECK) if the pipeline fails: the
  // data tests own those failures.
  static std::unique_ptr<SmallDataset> Create(const std::string& name, uint64_t rows = 40000,
                                              uint64_t features = 20000);
  ~SmallDataset();  // removes the directory

  const std::string& dir() const { return dir_; }
  const std::string& cache() const { return cache_; }
  const Dataset* data() const { return data_.get(); }

  // `--set` overrides for a small DLRM (bottom 32-16, top 32-16, batch 64,
  // 1 thread, lr 0.003, no progress output) reading this cache and writing
  // to dir()/<out>.
  std::vector<std::string> FastConfig(const std::string& out) const;

 private:
  SmallDataset() = default;
  std::string dir_, cache_;
  std::unique_ptr<Dataset> data_;
};

}  // namespace ecps::testing
