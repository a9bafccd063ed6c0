// Deliberately naive reference lookups of the hashing family, used as test
// oracles (style.md rule 13; linked by tests only). Each recomputes a
// method's row indices from its chosen parameters with plain loops and the
// literal formulas of docs/methods.md (bit strings, `%` on 128-bit integers,
// std::map), then builds the output from whole-table contents.
//
// `tables[t]` holds all rows of the method's table t (rows x width, as
// RowAccess::ReadRows returns them); `keys` are field-local and sample-major
// (field = i % F). The result is [keys.size() x d].
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "compressors/hashing/binarycode.h"
#include "compressors/hashing/compoemb.h"
#include "compressors/hashing/doublehash.h"
#include "compressors/hashing/hash.h"
#include "compressors/hashing/memcom.h"
#include "compressors/hashing/robe.h"

namespace ecps::hashing_ref {

using TableValues = std::vector<std::vector<float>>;

std::vector<float> HashLookup(const HashEmbedding& m, const FeatureSpace& s,
                              const TableValues& tables, std::span<const uint32_t> keys);
std::vector<float> CompoEmbLookup(const CompoEmbedding& m, const FeatureSpace& s,
                                  const TableValues& tables, std::span<const uint32_t> keys);
// The frequent set is rebuilt from `counts` with the method's effective
// fraction p (top floor(p·n_f) seen ids per field, ties to the smaller id);
// per field, a rare id of field f hashes its local id with field f's pair
// into field f's rows of H (the fields before f own the rows before).
std::vector<float> DoubleHashLookup(const DoubleHashEmbedding& m, const FeatureSpace& s,
                                    std::span<const uint32_t> counts, const TableValues& tables,
                                    std::span<const uint32_t> keys);
std::vector<float> MemComLookup(const MemComEmbedding& m, const FeatureSpace& s,
                                const TableValues& tables, std::span<const uint32_t> keys);
std::vector<float> BinaryCodeLookup(const BinaryCodeEmbedding& m, const FeatureSpace& s,
                                    const TableValues& tables, std::span<const uint32_t> keys);
std::vector<float> RobeLookup(const RobeEmbedding& m, const FeatureSpace& s,
                              const TableValues& tables, std::span<const uint32_t> keys);

}  // namespace ecps::hashing_ref
