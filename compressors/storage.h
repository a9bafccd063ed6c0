// The storage vocabulary shared by methods, stores and the wire: element
// types, quantisation schemes, rounding, initialisers, the table spec, the
// memory report and the whole-table row access (docs/methods.md §1.3, §1.6).
// embedding/ and ps/ include this header (and lookup_plan.h), not the whole
// method interface.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace ecps {

// Storage element types. Values reach disk and wire: never renumber.
enum class DType : uint8_t {
  kF32 = 0,
  kF16 = 1,
  kI8 = 2,   // signed int8 codes
  kI16 = 3,  // signed int16 codes
  kU8 = 4,   // unsigned int8 codes
  kU16 = 5,  // unsigned int16 codes
  kI32 = 6,  // ids / maps / codes (not trainable)
  kU4 = 7,   // packed 4-bit codes, two per byte
};
size_t DTypeBits(DType t);
const char* DTypeName(DType t);

// How quantized codes map to values. Values reach disk: never renumber.
enum class QuantScheme : uint8_t {
  kNone = 0,    // fp32/fp16/int map: value = stored value
  kGlobal = 1,  // value = code * scale + zero (one scale/zero per table)
  kPerRow = 2,  // value = code * scale[row] + zero[row] (fp16 or fp32 pairs per row)
};

// Rounding used when a trained fp32 value is written back into a low-precision
// table (docs/methods.md §2.16, §2.17, §4 item 6).
enum class Rounding : uint8_t { kNearest = 0, kStochasticPerElement = 1, kStochasticPerRow = 2 };

// Initial distribution of a table's elements. Values reach disk: never renumber.
enum class RowInit : uint8_t {
  kUniform = 0,   // U(-init_bound, init_bound) (docs/methods.md §1.3); bound 0 gives zeros
  kConstant = 1,  // every element = init_value (MEmCom w = 1, b = 0; PEP g)
  // 2 is reserved: it was kNormalTails (N(0,1) keeping only |z| >= 2), which
  // nothing uses since TT-Rec writes its cores itself (Rng::NormalTail); a
  // stored 2 is refused (CheckRowInit, embedding/row_init.h).
};

// One stored table of rows: the unit a parameter server shards.
struct RowTableSpec {
  std::string name;  // "E", "Q", "R", "core0", "M" (ROBE), "remap", ...
  uint64_t rows = 0;
  int width = 0;  // elements per row
  DType dtype = DType::kF32;
  QuantScheme quant = QuantScheme::kNone;
  Rounding rounding = Rounding::kNearest;
  double scale = 1.0, zero = 0.0;  // for QuantScheme::kGlobal
  bool trainable = true;           // rows get sparse-optimizer state
  // Initial values: U(-init_bound, init_bound) (docs/methods.md §1.3); 0 disables.
  double init_bound = 0.0;
  RowInit init = RowInit::kUniform;
  double init_value = 0.0;  // kConstant: the value
  // QuantScheme::kPerRow only: storage type of each row's (scale, zero) pair
  // (kF32 or kF16). Without learn_scale the pair is recomputed from the row's
  // min/max on every optimizer write-back (MixedPrec, INT8 use_qparam), unless
  // set explicitly through RowAccess::WriteRows (Post4Bits' range search).
  DType scale_dtype = DType::kF32;
  // ALPT (§2.18): the per-row scale is learned (LSQ gradient, its own Adam with
  // lr scale_lr sharing the global step); zero is fixed at 0 and `scale` is the
  // initial value.
  bool learn_scale = false;
  double scale_lr = 0.0;

  bool operator==(const RowTableSpec&) const = default;
};

// ------------------------------------------------ whole-table work at the rows --
// Whole-table work a method describes and the holders of the rows execute
// (docs/architecture.md, "Whole-table work where the rows are"): the local
// store over its tables; in a cluster every server over its own virtual
// shards, the partial results summed by the client. Only the description and
// the results cross the network, never the rows. Every kind is a sum over
// rows, so it splits over any sharding: a kind that is not (a minimum, a
// median) is computed from sums (a histogram) instead.
//
// Blocks: row r of the table belongs to block r div block_rows at in-block
// row r mod block_rows; position p = (r mod block_rows) * width + c is element
// c of that row. A table of n rows has ceil(n / block_rows) blocks; the last
// one may be partial (its missing rows are padding and never counted).
enum class RowReductionKind : uint8_t {
  // Dedup's L2LSH projections (docs/methods.md §2.10): out[b * bands + j] =
  // sum over the elements of block b of a_j[p] * v, where a_j[p] =
  // RowReductionDirection(seed, j, p) ~ N(0, 1).
  kBlockProjections = 0,
  // out[b * bins + k] = the number of elements of block b in bin k of `bins`
  // equal bins over [lo, hi); values below lo count in bin 0, at or above hi
  // in bin bins - 1.
  kBlockHistogram = 1,
  // For each pair q of blocks (pairs[2q], pairs[2q + 1]) = (a, b):
  // out[q] = the number of positions p with |A[p] - B[p]| <= tol among the
  // in-block rows present in both blocks.
  kBlockPairAgreement = 2,
  // For each candidate threshold k: out[k] = the number of elements v of the
  // table with |v| < thresholds[k] (a distributed magnitude-threshold search
  // sends a batch of candidates per round trip: DeepLight, docs/methods.md
  // §2.23). block_rows is ignored (one block: the whole table).
  kThresholdCounts = 3,
  // PEP's prune rate (docs/methods.md §2.24) over a table of even width 2h
  // whose row is [w_0..w_h, u_0..u_h): out[0] = the number of c < h with
  // |w_c| < sigmoid(u_c + lo) (sigmoid in double; lo: the thresholds'
  // offset, PEP's threshold_init). block_rows is ignored.
  kSoftThresholdCounts = 4,
};
struct RowReduction {
  RowReductionKind kind = RowReductionKind::kBlockProjections;
  int table = 0;
  uint64_t block_rows = 1;
  int bands = 0;      // kBlockProjections
  uint64_t seed = 0;  // kBlockProjections
  int bins = 0;       // kBlockHistogram
  double lo = 0, hi = 0;
  double tol = 0;               // kBlockPairAgreement
  std::vector<uint64_t> pairs;  // kBlockPairAgreement: 2 block ids per pair
  // kThresholdCounts: the candidate thresholds (finite, >= 0; at most
  // kMaxThresholdCandidates).
  std::vector<double> thresholds;
};
inline constexpr size_t kMaxThresholdCandidates = 4096;
// Number of doubles a reduction yields over a table of `table_rows` rows.
uint64_t RowReductionSize(const RowReduction& op, uint64_t table_rows);
// a_j[p] of kBlockProjections: a standard normal drawn from (seed, j, p) by a
// counter-based generator, the same in every process.
float RowReductionDirection(uint64_t seed, int band, uint64_t position);

// Rows of a reshaped stage's tables that are copies of the previous stage's
// rows (Compressor::StageCopies): rows [dst_begin, dst_begin + count) of the
// new table dst_table get the values of rows [src_begin, src_begin + count)
// of the old table src_table (both tables of the same width; values as fp32,
// re-encoded in the new table's dtype; optimizer state starts fresh).
struct RowCopy {
  int src_table = 0;
  uint64_t src_begin = 0;
  int dst_table = 0;
  uint64_t dst_begin = 0;
  uint64_t count = 0;
  bool operator==(const RowCopy&) const = default;
};

// Row-level access to the tables as stored, for the rare whole-table work of
// stage changes and schedules (dedup, pruning thresholds, dimension transfer,
// post-training quantisation). The local store implements it directly; the
// parameter-server client implements it with chunked pulls/pushes. Not for the
// per-batch path (use LookupPlan + Gather/Push there).
class RowAccess {
 public:
  virtual ~RowAccess() = default;
  // The tables currently held, in order.
  virtual std::vector<RowTableSpec> StoredTables() const = 0;
  // out: [count x width] dequantized fp32 values of rows [begin, begin+count).
  virtual Status ReadRows(int table, uint64_t begin, uint64_t count, float* out) const = 0;
  // Writes [count x width] fp32 values, converted to the table's dtype with its
  // rounding. For QuantScheme::kPerRow tables `scale_zero` ([count x 2]) fixes
  // each row's (scale, zero); null derives them as for an optimizer write.
  // Optimizer state of the rows is left as is.
  virtual Status WriteRows(int table, uint64_t begin, uint64_t count, const float* values,
                           const float* scale_zero = nullptr) = 0;
  // Evaluates `op` where the rows are (above); out has
  // RowReductionSize(op, rows of op.table) doubles. Errors: OutOfRange for a
  // table or pair block that does not exist, InvalidArgument for a malformed
  // op (block_rows 0, bands/bins <= 0, lo >= hi, an odd pairs list, no or
  // negative or non-finite thresholds).
  // The default fails loudly: a RowAccess that cannot evaluate reductions
  // says so rather than reading the table to the caller.
  virtual StatusOr<std::vector<double>> ReduceRows(const RowReduction& op) const {
    return Unimplemented("this row access cannot evaluate whole-table reductions");
  }
};

// Exact memory accounting in bytes (docs/methods.md §1.6).
struct MemoryReport {
  uint64_t inference_bytes = 0;  // everything a lookup needs at inference
  uint64_t parameter_bytes = 0;  // trainable state as stored during training
  uint64_t optimizer_bytes = 0;  // optimizer state (filled in by the RowStore's optimizer)
  uint64_t auxiliary_bytes = 0;  // counters, masks, maps, architecture weights
  // The part of inference_bytes that is a feature->row map (AdaptEmb's
  // remap, the map of keys holding rows of their own): reported so that a
  // method can be compared also without it (the seed paper does not charge
  // AdaptEmb's remap).
  uint64_t mapping_bytes = 0;
  uint64_t training_bytes() const { return parameter_bytes + optimizer_bytes + auxiliary_bytes; }
};

}  // namespace ecps
