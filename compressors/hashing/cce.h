// CCE, Clustered Compositional Embeddings (docs/methods.md §2.3b; Tsang and
// Ahle, NeurIPS 2023, reference code github.com/thomasahle/cce). Per
// compressed field f the d-vector is cut into c = `chunks` columns of width
// w = d / c; column i of feature x is the sum of two rows,
//   e_i(x) = T0_f[i][h0(x, i)] + T1_f[i][h1_i(x)],
// from two tables of k_f rows per column. h1_i is a seeded universal hash;
// h0 is a stored code per (feature, column): a hash at the start, then, at
// every clustering, the k-means cluster of the feature's current column
// vector. A clustering (docs/methods.md §2.3b "Stages") reads both tables,
// runs k-means on a sample of the field's vectors of each column, assigns
// every feature to its nearest centroid (new h0), draws a new h1, and writes
// T0 = the centroids and T1 = the mean residual of each new h1 bucket. Fields
// where this costs more than the full table keep one (E_f, n_f x d).
//
// Store tables: T0 and T1 (sum_f c·k_f rows of width w: field f's column i
// is rows [t_f + i·k_f, t_f + (i + 1)·k_f)) and E (the full fields' rows).
// The codes are packed, ceil(log2 k_f) bits each (at least 1); before the
// first clustering they are a hash (h0_) and not materialised.
//
// Stages: "train", then `clusterings` stages "cluster_<j>", each starting
// with a clustering. BeginStage(j) reads the rows and computes the
// clustering; its codes and rows take effect at the AfterStep() of the
// stage's first training step, which every worker reaches after the
// trainer's stage-change barrier: in a cluster only worker 0's writes reach
// the servers, and writing in BeginStage could overwrite the rows before
// another worker has read them.
//
// Budget: k_f = `rows` if set, else the largest k shared by every compressed
// field that fits, then the slack goes to the largest fields first.
// Memory (bytes): 4·(rows of T0 + T1)·w + 4·d·(rows of E), plus per
// compressed field its packed codes (8 per 64-bit word), 16 per column (h1's
// constants) and 4 (k_f).
//
// Thread-safety: as Compressor.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compressors/compressor.h"
#include "compressors/hashing/hashing_util.h"

namespace ecps {

class CceEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "cce";
  static constexpr char kStateMagic[9] = "ECPSCCEM";
  // Declared parameters: chunks, rows, clusterings, stage_evals,
  // kmeans_iters, sample_factor.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // {T0, T1} w wide and {E} d wide, f32, U(-b, b); a table may have 0 rows.
  std::vector<RowTableSpec> Tables() const override;
  // per_key {c, c, 1}: (c T0 rows, c T1 rows, kNoRow) for a compressed
  // field, (kNoRow x c, kNoRow x c, E row) for a full one.
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  // out = T0 rows + T1 rows + E row (each key's c rows of width w are its d
  // floats; kNoRow rows are zeros).
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  std::vector<StageSpec> Stages() const override;
  void AttachRows(RowAccess* rows) override { rows_ = rows; }
  // Clustering for stage index >= 1 (pending until the next AfterStep).
  Status BeginStage(int index) override;
  // Applies a pending clustering: new codes and h1, T0 and T1 written.
  Status AfterStep(int64_t step) override;
  // With stage_evals > 0, true after that many evaluations of a stage that
  // a clustering follows.
  bool StageComplete() override;
  MemoryReport Memory() const override;
  // The per-field k_f and chunks (checked on load), the stage whose h1 is
  // in use, the evaluations of the stage so far and, after a clustering,
  // the codes (restored). A pending clustering is not saved.
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // --- inspection (tests, the reference oracle) ---
  int chunks() const { return chunks_; }
  // Rows per column of field f's tables; 0 means the field is kept full.
  uint64_t rows_per_column(int f) const { return k_[f]; }
  // First row of field f's block in T0 and T1 (compressed) or E (full).
  uint64_t table_offset(int f) const { return off_[f]; }
  // Bits per code of field f.
  int code_bits(int f) const { return bits_[f]; }
  // h0(x, i) of field f (field-local x).
  uint32_t code(int f, uint64_t x, int i) const;
  // h1_i of field f in the stage now in use.
  const hashing_internal::UniversalHash& second_hash(int f, int i) const {
    return h1_[static_cast<size_t>(f) * chunks_ + i];
  }
  // The stage whose codes and h1 are in use (a pending clustering not yet).
  int stage() const { return stage_; }
  bool clustering_pending() const { return pending_stage_ > 0; }

  // Bytes of a compressed field of n features with k rows per column and c
  // columns at dim d: 8·k·d + packed codes + 16·c + 4.
  static uint64_t CompressedBytes(uint64_t n, uint64_t k, int c, int d);
  // The default columns (chunks = 0) for dim d at `budget` (a fraction).
  static int AutoChunks(int dim, double budget);
  // Bits per code for k rows: max(1, ceil(log2 k)).
  static int CodeBits(uint64_t k);

 private:
  void Layout();
  void SetSecondHashes(int stage);
  static uint32_t GetCode(const std::vector<uint64_t>& words, uint64_t bit, int bits);
  static void SetCode(std::vector<uint64_t>* words, uint64_t bit, int bits, uint32_t v);

  FeatureSpace space_;
  uint64_t seed_ = 0;
  double init_bound_ = 0;
  int chunks_ = 4, width_ = 4;
  int clusterings_ = 3, stage_evals_ = 1, kmeans_iters_ = 100, sample_factor_ = 200;
  bool continue_data_ = true;       // schedule=continue: the stages share one pass
  std::vector<uint64_t> k_;         // per field; 0 = full
  std::vector<uint64_t> off_;       // per field: first row in T0/T1 or E
  std::vector<int> bits_;           // per field: bits per code
  std::vector<uint64_t> code_bit_;  // per field: first bit of its codes
  uint64_t t_rows_ = 0, e_rows_ = 0, code_words_ = 0;
  // Stage 0's h0: a hash per [field x chunk], drawn from the run seed.
  std::vector<hashing_internal::UniversalHash> h0_;
  // After a clustering, h0 packed: code_words_ words, field-major, entry
  // x·c + i within a field; empty before the first clustering.
  std::vector<uint64_t> codes_;
  std::vector<hashing_internal::UniversalHash> h1_;  // [field x chunk]
  int stage_ = 0;
  int evals_in_stage_ = 0;
  RowAccess* rows_ = nullptr;
  // A clustering computed by BeginStage, applied by the next AfterStep.
  int pending_stage_ = 0;
  std::vector<uint64_t> pending_codes_;
  std::vector<float> pending_t0_, pending_t1_;
};

}  // namespace ecps
