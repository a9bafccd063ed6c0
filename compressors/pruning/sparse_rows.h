// Sparse row storage of the pruning methods (docs/methods.md §1.8): a table
// of n rows of width d whose kept elements are stored as
//   CSR  per nonzero a value and a column index, per row a row pointer;
//   COO  per nonzero its row, its column index and its value;
// chosen by the budget: CSR when r = CR·d >= 3 four-byte words per row, else
// COO (the row pointers alone would take a word per row).
//
// Where the parts live: the values (nnz x 1 f32) and the column indices
// (nnz x 1 u8, or u16 past d = 256) are two non-trainable tables on the store
// (local, or sharded over the servers by nonzero); the index that finds a
// row's nonzeros -- CSR's n + 1 row pointers, COO's sorted row of every
// nonzero, both uint32 -- is encoder state in the method (Encode needs it on
// the worker), charged as auxiliary bytes.
//
// A lookup of a key reads exactly its stored nonzeros: Encode puts the
// nonzero ids of every key, key after key, into both tables' free lists
// (kPackedRows, compressors/lookup_plan.h) with (start, count) per key in
// aux_index; Decode zeroes each key's d-vector and scatters its (column,
// value) pairs into it (no table-sized zero fill); DecodeBackward hands each
// value its output's gradient (the column indices get zeros).
//
// Thread-safety: const methods may be called concurrently; the builder
// (Start/AppendRow/Finish) and Load are not.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/blob.h"
#include "common/status.h"
#include "compressors/lookup_plan.h"
#include "compressors/storage.h"

namespace ecps::pruning {

// Values reach checkpoints: never renumber.
enum class SparseFormat : uint8_t { kCsr = 0, kCoo = 1 };
const char* SparseFormatName(SparseFormat f);

// §1.8's rule: CSR when budget·dim >= 3, else COO.
SparseFormat FormatForBudget(double budget, int dim);
// The column index type: u8 up to d = 256, u16 up to 65,536.
DType ColumnType(int dim);
uint64_t ColumnBytes(int dim);
// Bytes of the index (CSR: 4·(rows + 1); COO: 4·nnz).
uint64_t IndexBytes(SparseFormat f, uint64_t rows, uint64_t nnz);
// Everything a lookup needs: nnz·(4 + ColumnBytes(dim)) + IndexBytes.
uint64_t SparseBytes(SparseFormat f, uint64_t rows, int dim, uint64_t nnz);
// The most nonzeros whose SparseBytes fit `budget_bytes`, at most rows·dim
// (0 when not even the index fits).
uint64_t NonzerosForBudget(SparseFormat f, uint64_t rows, int dim, uint64_t budget_bytes);
// The nonzeros a pruning method keeps in format `f` for rows x dim at
// `budget` (budget_bytes = floor(4·rows·dim·budget)): NonzerosForBudget, or
// with `paper` CODE's densities, (r − 1)/2d for CSR and CR/3 for COO (r =
// CR·d). InvalidArgument naming `method` when the count or the rows pass the
// uint32 sparse index.
StatusOr<uint64_t> TargetNonzeros(const char* method, SparseFormat f, uint64_t rows, int dim,
                                  double budget, uint64_t budget_bytes, bool paper);

// The table specs of the values and the column indices (both non-trainable).
RowTableSpec ValuesTable(uint64_t nnz);
RowTableSpec ColumnsTable(uint64_t nnz, int dim);

class SparseRows {
 public:
  // Index entries are uint32: more nonzeros are refused by Finish().
  static constexpr uint64_t kMaxNonzeros = UINT32_MAX;

  // Builder: Start, AppendRow once per row in row order, Finish. The kept
  // values and their columns are collected in values()/columns() (what the
  // caller writes into the two tables), released by ReleaseValues().
  void Start(SparseFormat f, uint64_t rows, int dim);
  // Keeps row[c] for every c with keep[c] != 0 (keep null: every nonzero).
  void AppendRow(const float* row, const uint8_t* keep = nullptr);
  // FailedPrecondition unless every row was appended; InvalidArgument past
  // kMaxNonzeros.
  Status Finish();

  SparseFormat format() const { return format_; }
  uint64_t rows() const { return rows_; }
  int dim() const { return dim_; }
  uint64_t nnz() const { return nnz_; }
  uint64_t index_bytes() const { return IndexBytes(format_, rows_, nnz_); }
  // The nonzeros of `row`: ids [*begin, *begin + *count) of both tables.
  // REQUIRES: row < rows().
  void Range(uint64_t row, uint64_t* begin, uint64_t* count) const;

  const std::vector<float>& values() const { return values_; }
  // Column indices as fp32 (the store converts them to the column table's
  // dtype on WriteRows).
  const std::vector<float>& columns() const { return columns_; }
  void ReleaseValues();

  // The lookup of `rows_of_keys` (one row id per key) into a plan whose
  // tables `values_table` and `columns_table` are the two sparse tables:
  // both packed, the same nonzero ids; aux_index = (start, count) per key.
  void Encode(std::span<const uint64_t> rows_of_keys, int values_table, int columns_table,
              LookupPlan* plan) const;
  // out: [num_keys x dim].
  void Decode(const LookupPlan& plan, const FetchedRows& fetched, int values_table,
              int columns_table, float* out) const;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& fetched, const float* grad_out,
                      int values_table, int columns_table, FetchedRows* row_grads) const;

  // The index (format, sizes, row pointers or rows), for method state.
  void Save(BlobWriter* w) const;
  // DataLoss naming `method` for an index that is not a valid one of
  // `rows` x `dim` (row pointers not ascending or not ending at nnz, COO
  // rows unsorted or out of range).
  Status Load(BlobReader* r, const char* method, uint64_t rows, int dim);

 private:
  SparseFormat format_ = SparseFormat::kCsr;
  uint64_t rows_ = 0;
  int dim_ = 0;
  uint64_t nnz_ = 0;
  uint64_t appended_ = 0;
  std::vector<uint32_t> row_ptr_;   // CSR: rows + 1
  std::vector<uint32_t> coo_rows_;  // COO: nnz, ascending
  std::vector<float> values_, columns_;
};

// The method-state parts of a budgeted prune, read back with their checks
// (pep and ham store both alike). An element mask as BlobWriter::Vec wrote
// it: `elements` bits, none past the table, at most `budget` set; returns
// the bits set. A sparse layout: SparseRows::Load, then the budget's format
// and at most `budget` nonzeros. DataLoss naming `method` otherwise.
StatusOr<uint64_t> LoadElementMask(BlobReader* r, const char* method, uint64_t elements,
                                   uint64_t budget, std::vector<uint64_t>* mask);
Status LoadBudgetedSparse(BlobReader* r, const char* method, uint64_t rows, int dim,
                          SparseFormat format, uint64_t budget, SparseRows* out);

}  // namespace ecps::pruning
