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

#include "common/blob.h"
#include "common/rng.h"
#include "common/status.h"
#include "compressors/key_mapping.h"
#include "compressors/lookup_plan.h"
#include "compressors/row_reduction.h"
#include "compressors/storage.h"
#include "embedding/sparse_optimizer.h"

namespace ecps {

// A RowStore is also the RowAccess a method gets at stage changes and in
// AfterStep() (compressors/compressor.h); the defaults below make that access
// optional for a store that has not implemented it yet.
class RowStore : public RowAccess {
 public:
  ~RowStore() override = default;

  // (Re)creates the tables and initialises their rows from `seed`
  // (U(-init_bound, init_bound) per element, docs/methods.md §1.3).
  virtual Status Reset(const std::vector<RowTableSpec>& tables, uint64_t seed) = 0;

  // Reset() with the given initial values (values[t]: rows x width fp32 of
  // table t) instead of the specs' initialisers. A coded table rounds them
  // with the rounding stream seeded from `seed`, exactly as Reset() rounds
  // its own draws (a parameter-server shard starts from the rows of the
  // single-process store). The default is Reset() + WriteRows(), which also
  // rounds the initialiser's draws.
  virtual Status ResetWithValues(const std::vector<RowTableSpec>& tables, uint64_t seed,
                                 const std::vector<std::vector<float>>& values) {
    RETURN_IF_ERROR(Reset(tables, seed));
    for (size_t t = 0; t < tables.size() && t < values.size(); ++t)
      RETURN_IF_ERROR(WriteRows(static_cast<int>(t), 0, tables[t].rows, values[t].data()));
    return OkStatus();
  }

  // Reset() for a stage whose new tables copy rows of the current ones
  // (Compressor::StageCopies, storage.h RowCopy): each copy's rows get the
  // current values (as fp32, re-encoded in the new table's dtype; fresh
  // optimizer state), every other row its spec's initial value from `seed`.
  // The copies are checked first (tables, widths, ranges); on an error the
  // store is unchanged. The default reads the copied rows into this process,
  // resets and writes them back; ps::Client has each server copy its own
  // rows instead.
  virtual Status Reshape(const std::vector<RowTableSpec>& tables, uint64_t seed,
                         std::span<const RowCopy> copies);

  // values->values[t] = dequantized rows plan.rows[t] (kNoRow -> zeros).
  // Errors: a remote store's network or server failure (Unavailable,
  // DeadlineExceeded, the server's error), OutOfRange for a row past its table.
  virtual Status Gather(const LookupPlan& plan, FetchedRows* values) const = 0;
  // A hint: the next training Gather() will probably be of `plan`'s rows
  // (the next batch's, known while the current one is computed). A store
  // whose reads are remote starts fetching them (ps::Client); a later
  // Gather() of other rows still returns those rows. The default ignores it.
  virtual void Prefetch(const LookupPlan& plan) const {}

  // Applies one sparse-optimizer step with the gradients of plan's rows.
  // `step` is the 1-based global step shared with the dense optimizer.
  // Errors as Gather(); a remote store may report a failed push on the next
  // call instead (ps::Client under BSP does not wait for acknowledgements).
  virtual Status Push(const LookupPlan& plan, const FetchedRows& grads, int64_t step) = 0;

  // Gradients of rows of one table as a parameter-server shard receives
  // them: rows[i] (ids local to this store) has the gradient
  // grads[i * width, (i + 1) * width). The memory is the caller's.
  struct GradRun {
    int table = 0;
    std::span<const uint64_t> rows;
    const float* grads = nullptr;
    // Keyed tables only (SetKeyMappings): rows are keys, each occurring
    // counts[i] times in the worker's batch (the key's training frequency).
    std::span<const uint32_t> counts = {};
  };

  // Push() of one share of a batch, as a parameter-server shard receives it,
  // straight from the request's gradients: a table's runs, in the order
  // given, are its plan.rows (no kNoRow), so duplicates sum and rows update
  // in that order. `lookups[t]` is the number of references the whole batch
  // made to table t (plan.rows[t].size() of the full plan, kNoRow included),
  // which a learned-scale table (ALPT) uses as its N in g = 1/sqrt(N d qmax).
  // `distinct`: the caller knows no row occurs twice in a table (one
  // worker's deduplicated push), so the store may apply each gradient where
  // it lies instead of summing duplicates into scratch first; a row that does
  // occur twice is then updated twice. REQUIRES: lookups.size() is the number
  // of tables. The default builds a plan and calls Push(), ignoring `lookups`.
  virtual Status PushShare(std::span<const GradRun> runs, int64_t step,
                           std::span<const uint64_t> lookups, bool distinct) {
    LookupPlan plan;
    plan.rows.resize(lookups.size());
    FetchedRows grads;
    grads.values.resize(lookups.size());
    const std::vector<RowTableSpec> specs = StoredTables();
    for (const GradRun& r : runs) {
      const size_t w = specs.at(r.table).width;
      plan.rows[r.table].insert(plan.rows[r.table].end(), r.rows.begin(), r.rows.end());
      grads.values[r.table].insert(grads.values[r.table].end(), r.grads,
                                   r.grads + r.rows.size() * w);
    }
    return Push(plan, grads, step);
  }

  // The stored form of rows `rows` of a coded table (dtype != kF32), for
  // senders that ship codes rather than fp32 (parameter-server pulls):
  // codes[i * RowBytes(dtype, width) ...] = row rows[i] in the layout of
  // embedding/row_codec.h and, for QuantScheme::kPerRow tables,
  // scale_zero[2i], scale_zero[2i + 1] = its (scale, zero) as stored (values
  // of scale_dtype; zero is 0 with learn_scale). DecodeRow() of those codes
  // with that pair (the spec's global pair for kGlobal; none for kF16) gives
  // bit for bit what Gather() returns. scale_zero may be null for tables
  // without per-row pairs. Errors: OutOfRange (table, row), InvalidArgument
  // (an fp32 table).
  virtual Status ReadCodes(int table, std::span<const uint64_t> rows, uint8_t* codes,
                           float* scale_zero) const {
    return Unimplemented("this RowStore has no access to stored codes");
  }

  // Keyed tables (compressors/key_mapping.h): once set, a plan addresses
  // each mapping's data table by key (rows[data_table] are keys, kNoRow
  // allowed), and the store resolves every key through the mapping's kind on
  // every Gather, Push and PushShare; Push counts the keys' occurrences and
  // then advances the mappings (AdvanceKeyMappings). RowAccess and
  // ReadRowsAt stay by row. A Reset, Reshape or Load drops the mappings: the
  // embedding layer sets them again from the method. `partition` >= 0: this
  // store holds only that partition of every table, with partition-local
  // ids (a parameter server's virtual shard); -1: every row, global ids.
  // Errors: InvalidArgument for specs that do not fit the tables;
  // Unimplemented for a store without keyed tables.
  virtual Status SetKeyMappings(const std::vector<KeyMappingSpec>& specs, int partition = -1) {
    if (specs.empty()) return OkStatus();
    return Unimplemented("this RowStore has no keyed tables");
  }
  // The mappings' end-of-step work (promotions, admissions, evictions) after
  // every push of optimizer step `step`. Push() calls it itself; a
  // parameter-server shard calls it once every worker's push of the step is
  // applied. A no-op without mappings.
  virtual Status AdvanceKeyMappings(int64_t step) { return OkStatus(); }
  // ReadRowsAt() of keyed table `table` by key: out = the rows its keys
  // resolve to (a parameter server's pull; keys are this store's ids).
  virtual Status ReadKeysAt(int table, std::span<const uint64_t> keys, float* out) const {
    return Unimplemented("this RowStore has no keyed tables");
  }
  // The keyed tables' frequency statistics at `step` (compressors/
  // key_mapping.h KeyStats: per mapping, in total and per field, the keys
  // seen, those holding a row of their own, a log2 histogram of the decayed
  // counts and the `top` hottest keys); empty without mappings. A parameter
  // server client gathers them from the servers, which hold the counters.
  virtual StatusOr<NamedKeyStats> KeyStatistics(int64_t step, int top) const {
    return NamedKeyStats{};
  }
  // KeyStatistics() as the results' JSON object ("{}" without mappings).
  StatusOr<std::string> KeyStatsJson(int64_t step, int top) const {
    ASSIGN_OR_RETURN(NamedKeyStats stats, KeyStatistics(step, top));
    return ecps::KeyStatsJson(stats);
  }

  // Drops the optimizer state (a stage that starts with fresh Adam state).
  virtual Status ResetOptimizerState() = 0;

  // Bytes held for parameters and optimizer state.
  virtual uint64_t parameter_bytes() const = 0;
  virtual uint64_t optimizer_bytes() const = 0;

  // Full state (specs, rows, optimizer state, rounding RNG) as one blob, for
  // checkpoints. A capability: a store whose rows live elsewhere (ps::Client:
  // the servers write their shards themselves) has none, and returns
  // Unimplemented naming the way it is checkpointed instead.
  // Load() accepts only blobs of the same optimizer kind; the hyper-parameters
  // (lr, betas) stay the ones the store was created with.
  virtual StatusOr<std::string> Save() const = 0;
  virtual Status Load(const std::string& blob) = 0;
  // The same blob streamed, for a table larger than a buffer should be: the
  // local store writes its arrays to `sink` and reads them from `src` (exactly
  // one blob) in pieces, into its present tables where they have the saved
  // specs (a reload of the same model allocates nothing). LoadFrom acts on
  // bytes before the blob's checksum (at its end) is read: `src` must verify
  // as it reads (a checkpoint section) or the caller verify it first; after
  // a failed LoadFrom the store holds no tables. The defaults go through
  // Save()/Load().
  virtual Status SaveTo(ByteSink* sink) const {
    ASSIGN_OR_RETURN(std::string blob, Save());
    return sink->Write(blob.data(), blob.size());
  }
  virtual Status LoadFrom(ByteSource* src) {
    std::string blob(src->remaining(), '\0');
    RETURN_IF_ERROR(src->Read(blob.data(), blob.size()));
    return Load(blob);
  }

  // RowAccess (compressors/compressor.h).
  std::vector<RowTableSpec> StoredTables() const override { return {}; }
  Status ReadRows(int table, uint64_t begin, uint64_t count, float* out) const override {
    return Unimplemented("this RowStore has no row access");
  }
  Status WriteRows(int table, uint64_t begin, uint64_t count, const float* values,
                   const float* scale_zero = nullptr) override {
    return Unimplemented("this RowStore has no row access");
  }
  // Every row is here: the reduction reads them through ReadRows
  // (compressors/row_reduction.h). ps::Client overrides it to run at the servers.
  StatusOr<std::vector<double>> ReduceRows(const RowReduction& op) const override {
    return ReduceAllRows(op, *this);
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

// Checks copies from tables `from` into tables `to` (RowStore::Reshape):
// tables exist, widths agree, ranges in bounds. Errors name the copy.
Status ValidateRowCopies(const std::vector<RowTableSpec>& from, const std::vector<RowTableSpec>& to,
                         std::span<const RowCopy> copies);

// What one row of table `spec` costs a store, in bytes. Every store reports
// its memory through these, so a table is charged the same whether it lives
// in this process or on the parameter servers.
//   Parameters: the row in its dtype (row_codec::RowBytes) plus, for a
//   kPerRow table, its scale and (unless learned: ALPT's zero is fixed at 0)
//   its zero in scale_dtype (2 bytes each for kF16, 4 for kF32).
uint64_t StoredRowBytes(const RowTableSpec& spec);
//   Optimizer state (fp32), trainable tables only: StateFloatsPerRow(kind)
//   floats, plus Adam's (m, v) of a learned scale.
uint64_t OptimizerRowBytes(const RowTableSpec& spec, SparseOptimizerKind kind);

// The checks every store makes of a table it is given (Reset, Reshape, Load):
// width > 0, a RowInit it draws (CheckRowInit), a dtype and quantisation it
// supports, scales and learned-scale settings that make sense, at most 2^40
// elements. Errors name the table (index and name). A parameter server runs
// them on the specs a message brings before drawing or allocating anything
// for them (ps/server.cc).
Status CheckRowTableSpec(const RowTableSpec& spec, int index);

// The in-process store used by the single-process trainer and by each
// parameter-server shard for the rows it owns.
std::unique_ptr<RowStore> NewLocalRowStore(const SparseOptimizerConfig& opt);

// What a RowStore::Save() blob holds, read from `src` (one blob) without
// keeping its rows: the tables' specs and their optimizer bytes, after the
// same checks LoadFrom makes (kind, specs, sizes, checksum). For `ecps
// checkpoint verify` of a table larger than memory should hold.
struct RowStoreContents {
  std::vector<RowTableSpec> tables;
  uint64_t optimizer_bytes = 0;
};
StatusOr<RowStoreContents> DescribeRowStore(ByteSource* src, SparseOptimizerKind kind);

}  // namespace ecps
