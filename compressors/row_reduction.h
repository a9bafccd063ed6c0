// The one implementation of the whole-table reductions of storage.h
// (RowReduction): every holder of rows -- the local store over its tables, a
// parameter server over each of its virtual shards -- runs this code over
// the rows it holds, and the partial results are summed (docs/architecture.md,
// "Whole-table work where the rows are").
//
// Thread-safety: RowReductionContext is immutable after construction and may
// be shared by threads; AccumulateRowReduction writes only `out`.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "common/status.h"
#include "compressors/storage.h"

namespace ecps {

// The rows one holder keeps of a table of `table_rows` rows: its local row i
// (0 <= i < count) is the table's row first + i * stride.
struct HeldRows {
  uint64_t table_rows = 0;
  int width = 0;
  uint64_t first = 0, stride = 1, count = 0;
  // Reads held rows [begin, begin + n) as fp32 [n x width].
  std::function<Status(uint64_t begin, uint64_t n, float* out)> read;
};

// InvalidArgument for a malformed op, OutOfRange for a pair block past the
// table; names the field at fault. Also InvalidArgument for an op whose
// result would exceed 2^27 values or whose projection directions would
// exceed 2^28 floats (block_rows x bands, times the width when the context
// is built): a holder allocates both before it reads a row, and a request
// from the network must not make it allocate gigabytes.
Status ValidateRowReduction(const RowReduction& op, uint64_t table_rows);

// What a reduction needs besides the rows, computed once per op (the
// projection directions: block_rows * width * bands floats, position-major;
// left empty past the limit above, which AccumulateRowReduction refuses).
class RowReductionContext {
 public:
  RowReductionContext(const RowReduction& op, int width);
  const RowReduction& op() const { return op_; }
  // a_j[p] for p < block_rows * width: directions()[p * bands + j].
  const std::vector<float>& directions() const { return directions_; }

 private:
  RowReduction op_;
  std::vector<float> directions_;
};

// Adds the held rows' part of the reduction to out (RowReductionSize(op,
// held.table_rows) doubles, zeroed by the caller). kBlockPairAgreement needs
// both blocks' rows of an in-block row in the same holder: the whole table,
// or stride dividing block_rows; otherwise FailedPrecondition.
Status AccumulateRowReduction(const RowReductionContext& ctx, const HeldRows& held, double* out);

// The whole reduction over a RowAccess's table read through ReadRows (a
// store that holds every row).
StatusOr<std::vector<double>> ReduceAllRows(const RowReduction& op, const RowAccess& rows);

}  // namespace ecps
