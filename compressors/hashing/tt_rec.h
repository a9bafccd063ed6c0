// TT-Rec, tensor-train embedding (docs/methods.md §2.7, CODE `tt`), per field.
// A compressed field f of n_f rows is a 3-core tensor train: rows
// n_f <= N0·N1·N2 with (N0, N1, N2) = (N_c, N_b, N_a), N_a = ceil(n^(1/3)),
// N_b = ceil(sqrt(n / N_a)), N_c = ceil(n / (N_a·N_b)); columns
// d = D0·D1·D2 ([2, 2, 4] for d = 16); ranks [1, R, R, 1] with one R shared by
// every field. Feature x (little-endian digits i0 = x mod N0,
// i1 = (x div N0) mod N1, i2 = x div (N0·N1)) gives
//   e = flatten( (G0[i0] (D0 x R) · G1[i1] (R x D1·R)) as (D0·D1 x R) · G2[i2] (R x D2) ).
// The cores are rows of three store tables (core0 width D0·R, core1 R·D1·R,
// core2 R·D2) stacked at per-field offsets, so they shard over parameter
// servers like any table; a field whose cores would not be smaller than its
// full table (n_f·d floats) or with n_f <= threshold keeps a row per value in
// the table E.
//
// Decode and DecodeBackward contract the cores with cblas_sgemm over groups
// of keys sharing a core row (one GEMM per G1 row with the keys' G0 rows
// stacked, one per G2 row with their intermediates stacked), keeping the
// intermediates in plan.saved, single-threaded (ScopedBlasThreads(1),
// common/blas_threads.h). The core tables are packed plans (kPackedRows,
// compressors/lookup_plan.h): each distinct core row of a batch is fetched
// once and gets one gradient, the sum over the keys using it.
//
// Budget (docs/methods.md §2.7): the largest integer R in [1, 1000] whose
// memory fits floor(4·n·d·CR) (Criteo: R = 376 / 157 / 46 / 13 at 50 / 10 / 1 /
// 0.1%); below R = 1 the real ratio is reported. Memory (bytes): 4 per stored
// float of the four tables + 16 (R and D0..D2) + 12 per compressed field
// (its N0, N1, N2).
//
// Init: every core element of field f is z·σ_f, σ_f = (N0·N1·N2 / 3)^(-1/6),
// z ~ N(0, 1) keeping only |z| >= 2 (CODE's quirk, init=tails, drawn by
// Rng::NormalTail) or |z| < 2
// (init=truncated); written by InitStageRows(0) field by field from a stream
// of the run seed. E is U(-b, b) (§1.3).
//
// Thread-safety: as Compressor (Decode/DecodeBackward use only the plan's
// buffers).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compressors/compressor.h"

namespace ecps {

class TtRecEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "tt_rec";
  static constexpr char kStateMagic[9] = "ECPSTTRC";
  static constexpr int kMaxRank = 1000;  // CODE's search interval [0, 1000]
  // Declared parameters: rank, init (tails|truncated), threshold.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  // The row factorisation (N0, N1, N2) of a field of n rows (§2.7 step 1),
  // in exact integer arithmetic. N0·N1·N2 >= n.
  static std::array<uint64_t, 3> RowShape(uint64_t n);
  // The column factorisation (D0, D1, D2) of d: start from [1, 1, 1] and
  // multiply d's prime factors, largest first, into the smallest entry (the
  // last of equal ones). For a power of two d >= 8 that is CODE's rule
  // (start [2, 2, 2], double round-robin from the last): [2, 2, 4] at d = 16.
  static std::array<int, 3> ColumnShape(int d);
  // Floats of a field's three cores at rank R: (N0·D0 + N1·D1·R + N2·D2)·R.
  static uint64_t CoreFloats(const std::array<uint64_t, 3>& rows, const std::array<int, 3>& cols,
                             uint64_t rank);

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // {core0, core1, core2, E}, f32; a table may have 0 rows. The cores are
  // constant 0 in the spec and written by InitStageRows(0).
  std::vector<RowTableSpec> Tables() const override;
  // per_key {kPackedRows x 3, 1} (0 for a table without rows): rows[c] the
  // distinct G_c rows of the batch's compressed keys, ascending; rows[3] a
  // key's E row (kNoRow for a compressed field's key). aux_index holds the
  // GEMM groups (the compressed keys ordered by G1 row, then by G2 row, each
  // key's position in the first order) and each key's entry in rows[0..2].
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  void AttachRows(RowAccess* rows) override { rows_ = rows; }
  Status InitStageRows(int index) override;
  MemoryReport Memory() const override;
  // Saves R, the column shape, the init and the per-field row shapes (0 0 0
  // for a full field); LoadState refuses a blob of another Init.
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  uint64_t rank() const { return rank_; }
  const std::array<int, 3>& column_shape() const { return cols_; }
  bool compressed(int f) const { return compressed_[f] != 0; }
  // The init scale σ_f of a compressed field.
  double sigma(int f) const;
  // Row offsets of field f in core0/1/2 (compressed) or E (full).
  uint64_t core_offset(int f, int core) const { return core_off_[core][f]; }
  uint64_t full_offset(int f) const { return e_off_[f]; }
  bool tails_init() const { return tails_; }

 private:
  void Layout();

  FeatureSpace space_;
  double init_bound_ = 0;
  bool tails_ = true;
  uint64_t seed_ = 0;
  uint64_t rank_ = 1;
  std::array<int, 3> cols_{1, 1, 1};
  std::vector<uint8_t> compressed_;                // per field
  std::vector<std::array<uint64_t, 3>> shape_;     // per field (N0, N1, N2)
  std::array<std::vector<uint64_t>, 3> core_off_;  // per core, per field
  std::vector<uint64_t> e_off_;
  std::array<uint64_t, 3> core_rows_{0, 0, 0};
  uint64_t e_rows_ = 0;
  RowAccess* rows_ = nullptr;
};

}  // namespace ecps
