// Quality and speed of a compressed matrix against its original
// (docs/methods.md §6, "Evaluation"; `ecps vectors eval`).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "vectors/codec.h"
#include "vectors/vector_io.h"

namespace ecps::vectors {

// The k nearest rows of `base` (squared L2) of every query: [queries.n x k]
// row ids, nearest first, ties by the smaller id. REQUIRES: the same dim,
// k <= base.n.
std::vector<uint32_t> ExactKnn(const VectorSet& base, const VectorSet& queries, int k);

// Every row of `codec`, decoded.
VectorSet DecodeAll(const VectorCodec& codec);

struct EvalOptions {
  int k = 10;
  // Decode latency: batches of `batch` random ids (drawn by `seed`),
  // `warmup` untimed, then the mean over `timed`.
  int batch = 1024;
  int warmup = 5;
  int timed = 95;
  uint64_t seed = 0;
};

struct EvalReport {
  double recall = 0;   // |kNN(decoded) ∩ kNN(original)| / k, averaged over the queries
  double mse = 0;      // Σ (x − x̂)² / (n·d)
  double rel_mse = 0;  // Σ (x − x̂)² / Σ x²
  double decode_us_per_batch = 0;
  double decode_ns_per_vector = 0;
  uint64_t memory_bytes = 0;
  double ratio = 0;  // memory_bytes / (4·n·d)
};

// REQUIRES: original and codec of the same shape, queries of its dim.
EvalReport Evaluate(const VectorSet& original, const VectorCodec& codec, const VectorSet& queries,
                    const EvalOptions& options);

}  // namespace ecps::vectors
