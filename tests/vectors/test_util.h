// Fixtures of the vectors tests: a per-test temporary directory and small
// random matrices.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/rng.h"
#include "vectors/vector_io.h"

namespace ecps::vectors::testing {

// A fresh directory under the system's temp dir, removed with the object.
class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(std::filesystem::temp_directory_path() / (name + "." + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// n x d values N(0, 1) times a per-row scale in [0.5, 3) (rows of varied norm).
inline VectorSet RandomVectors(uint64_t n, int d, uint64_t seed) {
  VectorSet v;
  v.n = n;
  v.dim = d;
  v.values.resize(n * d);
  Rng rng(seed);
  for (uint64_t i = 0; i < n; ++i) {
    const double s = rng.Uniform(0.5, 3.0);
    for (int j = 0; j < d; ++j) v.values[i * d + j] = static_cast<float>(s * rng.Normal());
  }
  return v;
}

}  // namespace ecps::vectors::testing
