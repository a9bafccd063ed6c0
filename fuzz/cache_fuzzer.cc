// The data-cache reader (worker/data/dataset.h Dataset::Open, what
// `data.source: cache` and every preprocessed run read), read-only: the input
// is written to a file and opened, once with the rows' checksum verified and
// once without (so that mutated rows reach the range checks behind it); an
// opened cache's first and last rows of every split are gathered.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "worker/data/dataset.h"

namespace {

void Read(const std::string& path, bool verify) {
  auto ds = ecps::Dataset::Open(path, verify);
  if (!ds.ok()) return;
  for (ecps::Split split : {ecps::Split::kTrain, ecps::Split::kValidation, ecps::Split::kTest}) {
    const uint64_t n = (*ds)->NumRows(split);
    if (n == 0) continue;
    const uint64_t rows[2] = {0, n - 1};
    ecps::Batch batch;
    (*ds)->Gather(split, rows, &batch);
  }
  (void)(*ds)->train_counts();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path =
      "/tmp/ecps_cache_fuzzer." + std::to_string(::getpid()) + ".ecache";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  if (size > 0) std::fwrite(data, 1, size, f);
  std::fclose(f);
  Read(path, true);
  Read(path, false);
  std::remove(path.c_str());
  return 0;
}
