// Generated vector sets for `ecps vectors gen` (docs/methods.md §6,
// "Generated sets"): SIFT-like descriptors and low-rank-plus-noise
// embeddings with clustered structure, each with queries from the same
// distribution. Deterministic for a seed on every machine.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "vectors/vector_io.h"

namespace ecps::vectors {

struct GenerateOptions {
  // "sift": non-negative integer descriptors in 0..255 from a mixture of
  // `clusters` lognormal prototypes (lognormal per-bin noise, then SIFT's
  // normalise / clip at 0.2 / renormalise / x512 / truncate).
  // "lowrank": x = (c_k + s_k·(λ ⊙ g))·B + ε: a `rank`-dimensional latent
  // around one of `clusters` centres (decaying spectrum λ_t = exp(−2t/rank)),
  // a fixed Gaussian map B to `dim` dimensions, isotropic noise ε whose
  // expected norm is `noise` times the signal's.
  std::string kind = "lowrank";
  uint64_t n = 100000;
  int dim = 128;
  uint64_t queries = 1000;
  int clusters = 256;
  int rank = 64;
  double noise = 0.2;
  uint64_t seed = 0;
};

struct GeneratedSet {
  VectorSet base;
  VectorSet queries;
};

// InvalidArgument names the flag of a bad option (--kind, --n, --dim, ...).
StatusOr<GeneratedSet> Generate(const GenerateOptions& options);

}  // namespace ecps::vectors
