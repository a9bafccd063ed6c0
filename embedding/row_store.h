// Where compressed-embedding rows live, and where the sparse optimizer runs.
//
// A RowStore holds the row tables a Compressor declares (Tables()) together
// with each row's optimizer state. The local implementation (LocalRowStore)
// keeps everything in this process; the parameter-server client (ps/, issue 3)
// implements the same interface by slicing requests over shards, so the
// embedding layer and every method work unchanged in both settings.
//
// Gather() dequantizes to fp32; Push() sums duplicate rows' gradients, applies
// the optimizer in fp32 and writes back in the table's storage type (with the
// table's rounding: stochastic rounding for fp16/int8/int16).
//
// Thread-safety: LocalRowStore allows concurrent Gather() calls; Push(),
// Reset() and Load() need exclusive access.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/rng.h"
#include "common/status.h"
#include "compressors/compressor.h"
#include "embedding/sparse_optimizer.h"

namespace ecps {

// A RowStore is also the RowAccess a method gets at stage changes and in
// AfterStep() (compressors/compressor.h); the defaults below make that access
// optional for a store that has not implemented it yet.
class RowStore : public RowAccess {
 public:
  ~RowStore() override = default;

  // (Re)creates the tables and initialises their rows from `seed`
  // (U(-init_bound, init_bound) per element, methods.md §1.3).
  virtual Status Reset(const std::vector<RowTableSpec>& tables, uint64_t seed) = 0;

  // values->values[t] = dequantized rows plan.rows[t] (kNoRow -> zeros).
  virtual void Gather(const LookupPlan& plan, FetchedRows* values) const = 0;

  // Applies one sparse-optimizer step with the gradients of plan's rows.
  // `step` is the 1-based global step shared with the dense optimizer.
  virtual void Push(const LookupPlan& plan, const FetchedRows& grads, int64_t step) = 0;

  // Drops the optimizer state (a stage that starts with fresh Adam state).
  virtual void ResetOptimizerState() = 0;

  // Bytes held for parameters and optimizer state.
  virtual uint64_t parameter_bytes() const = 0;
  virtual uint64_t optimizer_bytes() const = 0;

  // Full state (specs, rows, optimizer state, rounding RNG) for checkpoints.
  // Load() accepts only blobs of the same optimizer kind; the hyper-parameters
  // (lr, betas) stay the ones the store was created with.
  virtual std::string Save() const = 0;
  virtual Status Load(const std::string& blob) = 0;

  // RowAccess (compressors/compressor.h).
  std::vector<RowTableSpec> StoredTables() const override { return {}; }
  Status ReadRows(int table, uint64_t begin, uint64_t count, float* out) const override {
    return Unimplemented("this RowStore has no row access");
  }
  Status WriteRows(int table, uint64_t begin, uint64_t count, const float* values,
                   const float* scale_zero = nullptr) override {
    return Unimplemented("this RowStore has no row access");
  }
  // out: [rows.size() x width] dequantized values of the listed rows, in list
  // order (each checked). One call for a batch of scattered rows (a pull
  // served by a parameter-server shard), so a store can prefetch ahead
  // instead of paying a call and a cache miss per row.
  virtual Status ReadRowsAt(int table, std::span<const uint64_t> rows, float* out) const {
    const std::vector<RowTableSpec> specs = StoredTables();
    if (table < 0 || static_cast<size_t>(table) >= specs.size())
      return OutOfRange("table ", table, " not in [0, ", specs.size(), ")");
    const size_t w = specs[table].width;
    for (size_t i = 0; i < rows.size(); ++i)
      RETURN_IF_ERROR(ReadRows(table, rows[i], 1, out + i * w));
    return OkStatus();
  }
};

// The in-process store used by the single-process trainer and by each
// parameter-server shard for the rows it owns.
std::unique_ptr<RowStore> NewLocalRowStore(const SparseOptimizerConfig& opt);

}  // namespace ecps
