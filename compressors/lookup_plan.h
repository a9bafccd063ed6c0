// What a method's encoder hands the store, and what the store hands back:
// the lookup plan of a batch and its fetched rows (docs/architecture.md, "One
// training step").
#pragma once

#include <cstdint>
#include <vector>

namespace ecps {

// Sentinel row id meaning "contributes zeros" (e.g. AdaptEmb's out-of-range lookup).
inline constexpr uint64_t kNoRow = ~0ull;

// per_key[t] of a packed table: rows[t] is a free list of row ids (any length,
// typically each distinct row of the batch once) and the method's Decode knows
// from `aux_index` which keys use which entry. A table whose keys share rows
// (TT-Rec's cores: a core row of R²·D1 floats serves thousands of keys) is
// fetched and pushed once per distinct row instead of once per key; the
// method writes one gradient per entry (the sum over the keys using it, which
// is what the store's duplicate summing would have made of per-key slots).
inline constexpr int kPackedRows = -1;

// What Encode() produces for N keys: for each table t, `per_key[t]` row ids per
// key, key-major: rows[t][i * per_key[t] + j], or kPackedRows (above).
// Methods that need per-key side information for decoding (signs, field ids,
// coefficients, positions in a packed list) keep it in `aux` (floats) or
// `aux_index` (integers: groups, CSR offsets, codes).
//
// The store reads only `rows` (a flat list per table, never per_key or
// num_keys); every other field is private to the method. A plan is reused across batches: Reset()
// keeps the buffers' capacity so the steady state allocates nothing.
struct LookupPlan {
  int num_keys = 0;
  std::vector<int> per_key;                 // size = Tables().size()
  std::vector<std::vector<uint64_t>> rows;  // size = Tables().size()
  std::vector<float> aux;                   // method-defined
  std::vector<uint32_t> aux_index;          // method-defined
  // Set by the caller before Encode(); Reset() leaves them alone.
  bool training = false;    // training-mode decode (batch statistics, noise, STE)
  uint64_t noise_seed = 0;  // per-batch seed for training noise (Gumbel, column masks)
  // Activations Decode() keeps for DecodeBackward() of the same batch (DHE
  // MLP, BN statistics). Mutable because Decode() is const; a plan is used by
  // one thread at a time.
  mutable std::vector<float> saved;
  void Reset(int n, size_t num_tables) {
    num_keys = n;
    per_key.assign(num_tables, 0);
    rows.resize(num_tables);
    for (auto& r : rows) r.clear();
    aux.clear();
    aux_index.clear();
    saved.clear();
  }
};

// Rows fetched for a plan, dequantized to fp32: values[t] has
// rows[t].size() * width(t) floats, in plan order. kNoRow rows are zeros.
struct FetchedRows {
  std::vector<std::vector<float>> values;
};

}  // namespace ecps
