// MGQE, multi-granular quantised embeddings (docs/methods.md §2.12; CODE's
// `mgqe`, per field): DPQ (§2.11) with one codebook per compressed field and
// frequency-tiered choices. The top `top_percent` of a field's ids by train
// count are "high" and choose among all K_h = high_choices codewords of a
// part, the others among the first K_l = low_choices; their codes take
// ceil(log2 K) bits per part. A field is compressed only where that costs
// less than its fp32 rows; the others keep them.
//
// Stores (compressors/codebook/product_codes.h for the codebook layout):
//   train:  E n×d f32 (the kept fields' rows first, then the compressed
//           fields', each in id order), C (Σ_compressed P·K_h)×(d/P) f32;
//   switch: F (kept rows)×d f32 (a copy of E's first rows), codes_high
//           (Σ high ids)×CodeBytes(P, b_h) u8, codes_low (Σ low ids)×
//           CodeBytes(P, b_l) u8 (identity maps), C; nothing trainable.
// A high id's codes row is its rank among its field's high ids, a low id's
// its rank among the low ones (id - the high ids below it), from the sorted
// high ids of each field (4 B each, auxiliary: the only map).
//
// Budget: P = num_parts, or (0) the most parts dividing d whose bytes (every
// field at the cheaper of its codes and its fp32 rows, the high-id lists,
// before the switch the BatchNorm statistics) fit; P = 1 if none: real ratio.
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "compressors/codebook/product_codes.h"
#include "compressors/compressor.h"

namespace ecps {

class MgqeEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "mgqe";
  static constexpr char kStateMagic[9] = "ECPSMGQE";
  // Declared parameters: num_parts, high_choices, low_choices, top_percent,
  // reg_weight, score_bn.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // Stage 0: {E, C}; stage 1: {F, codes_high, codes_low, C} (above).
  std::vector<RowTableSpec> Tables() const override;
  std::vector<StageSpec> Stages() const override;
  // Stage 0: per_key {1, kPackedRows} (the E row; every C row once).
  // Stage 1: per_key {1, 1, 1, kPackedRows}: the F, codes_high or codes_low
  // row of the key (kNoRow in the other two), every C row once. aux_index:
  // each key's tier (0 kept, 1 high, 2 low).
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  // Stage 0: E rows get grad_out (straight through for compressed fields);
  // C the regulariser's gradient, per compressed field w·mean((c - sg(q))²)
  // over its keys' elements (this worker's 1/W share); a training batch moves
  // the field's BatchNorm running statistics. Stage 1: zeros.
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  // Per compressed field [running mean (P·K_h) | running variance (P·K_h)].
  std::span<float> DenseBuffers() override { return bn_; }
  void AttachRows(RowAccess* rows) override { rows_ = rows; }
  // Training batches normalise each field's scores by the global batch's
  // statistics (one all-reduce per step in Decode).
  void AttachWorkers(WorkerSums* workers) override { workers_ = workers; }
  // Reports a failed all-reduce of the step's Decode.
  Status AfterStep(int64_t step) override;
  // BeginStage(1) reads C and every compressed field's E rows (in chunks) and
  // codes them by the running statistics; StageCopies(1) keeps the kept
  // fields' rows and C; InitStageRows(1) writes the codes.
  Status BeginStage(int index) override;
  std::vector<RowCopy> StageCopies(int index) const override;
  Status InitStageRows(int index) override;
  // inference = F + codes + C + the high-id lists (+ the BatchNorm
  // statistics before the switch), the last two auxiliary; parameter = both
  // stages' tables.
  MemoryReport Memory() const override;
  // Space, P, K_h, K_l, score_bn, compressed fields and high ids (checked),
  // and the stage (restored).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  const codebook::PqShape& shape() const { return shape_; }
  int stage() const { return stage_; }
  bool compressed(int field) const { return compressed_[field] != 0; }
  // Field f's high ids (field-local, ascending).
  const std::vector<uint32_t>& high_ids(int field) const { return high_[field]; }
  int high_bytes() const { return high_bytes_; }
  int low_bytes() const { return low_bytes_; }
  // Bytes of one field of n_f ids, n_high of them high, if compressed with P
  // parts (codes, codebook, high-id list, and with `bn` the statistics).
  static uint64_t FieldBytes(uint64_t n_f, uint64_t n_high, int dim, int parts, int high_choices,
                             int low_choices, bool bn);

 private:
  // Tier of field-local id x of field f (0 kept, 1 high, 2 low) and its row
  // in its table (E / F row for kept; the rank in codes_high or codes_low).
  int Tier(int f, uint32_t x, uint64_t* rank) const;
  codebook::ScoreNorm Norm(bool training) const;
  // data <- its sum over the workers; a failure is kept for AfterStep().
  void SumOverWorkers(std::span<double> data) const;
  size_t BnOffset(int f) const { return 2ull * block_[f] * shape_.rows(); }

  FeatureSpace space_;
  double init_bound_ = 0;
  codebook::PqShape shape_;  // choices = K_h
  int low_choices_ = 0;
  int high_bits_ = 0, low_bits_ = 0, high_bytes_ = 0, low_bytes_ = 0;
  double reg_weight_ = 1.0;
  bool score_bn_ = true;
  int stage_ = 0;
  std::vector<uint8_t> compressed_;          // per field
  std::vector<std::vector<uint32_t>> high_;  // per field, ascending (empty if kept)
  std::vector<int> block_;                   // per field: its codebook block (-1 if kept)
  int blocks_ = 0;
  std::vector<uint64_t> e_off_;               // per field: its first row of E (and F)
  std::vector<uint64_t> high_off_, low_off_;  // per field: first codes_high/low row
  uint64_t kept_rows_ = 0, high_rows_ = 0, low_rows_ = 0;
  std::vector<float> bn_;
  RowAccess* rows_ = nullptr;
  WorkerSums* workers_ = nullptr;
  mutable Mutex sync_mu_;
  mutable Status sync_error_ ABSL_GUARDED_BY(sync_mu_);
  // Between BeginStage(1) and InitStageRows(1): the packed codes.
  std::vector<uint8_t> pending_high_, pending_low_;
};

}  // namespace ecps
