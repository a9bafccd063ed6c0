// DPQ, differentiable product quantisation (docs/methods.md §2.11; CODE's
// `dpq`, vq mode). Stage "train" holds a query table E (n x d f32) and one
// codebook C ((P·K) x (d/P) f32, compressors/codebook/product_codes.h) on the
// store. A lookup splits E[x] into P parts and replaces each by its
// codeword of highest BatchNorm'd score -||q_p - C[p][j]||²; the output is
// the codewords, with the straight-through gradient to E[x] (out = q +
// sg(c - q)) and the regulariser w·mean((c - sg(q))²) over the batch's
// elements as the only gradient of C. Stage "switch" (post_training) computes
// every feature's codes from the trained E and C (BatchNorm by its running
// statistics, as an evaluation lookup does), writes them as the rows of a
// u8 table "codes" (n rows of ceil(P·log2 K / 8) bytes: on the servers in a
// cluster) and drops E; C is copied where it is. Inference = codes +
// codebook.
//
// Budget: K = num_choices (CODE: 32); P = num_parts, or (0) the most parts
// dividing d whose codes, codebook and BatchNorm statistics fit the budget
// (P = 1 if none fits: real ratio reported).
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

class DpqEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "dpq";
  static constexpr char kStateMagic[9] = "ECPSDPQ_";
  // Declared parameters: num_parts, num_choices, reg_weight, score_bn.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // Stage 0: E n×d f32, C (P·K)×(d/P) f32 (both U(±b), b of §1.3).
  // Stage 1: codes n×CodeBytes u8 (identity map, not trainable), C frozen.
  std::vector<RowTableSpec> Tables() const override;
  std::vector<StageSpec> Stages() const override;
  // per_key {1, kPackedRows}: the key's E (or codes) row, and every row of
  // C once per batch.
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  // Stage 0: E rows get grad_out (straight through); C rows the
  // regulariser's gradient, this worker's 1/W share of the global batch's
  // mean; a training batch moves the BatchNorm running statistics. Stage 1:
  // zeros (nothing is trainable).
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  // The BatchNorm running mean and variance of the P·K score columns
  // (score_bn), averaged over the workers by the trainer.
  std::span<float> DenseBuffers() override { return bn_; }
  void AttachRows(RowAccess* rows) override { rows_ = rows; }
  // The sums over the workers: training batches normalise the scores by the
  // global batch's statistics (all-reduced in Decode, as DHE's SyncBN).
  void AttachWorkers(WorkerSums* workers) override { workers_ = workers; }
  // Reports a failed all-reduce of the step's Decode.
  Status AfterStep(int64_t step) override;
  // BeginStage(1) reads C and E (in chunks) and computes the codes;
  // StageCopies(1) keeps C; InitStageRows(1) writes the codes.
  Status BeginStage(int index) override;
  std::vector<RowCopy> StageCopies(int index) const override;
  Status InitStageRows(int index) override;
  // inference = n·CodeBytes + 4·K·d (+ 8·P·K of BatchNorm statistics before
  // the switch, auxiliary); parameter = (4nd + 4Kd) + (n·CodeBytes + 4Kd).
  MemoryReport Memory() const override;
  // Space, P, K, score_bn (checked) and the stage (restored).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  const codebook::PqShape& shape() const { return shape_; }
  int bits() const { return bits_; }
  int code_bytes() const { return code_bytes_; }
  int stage() const { return stage_; }
  // The served bytes of P parts of K choices over n features at dim d.
  static uint64_t ServedBytes(uint64_t n, int dim, int parts, int choices);

 private:
  codebook::ScoreNorm Norm(bool training) const;
  // data <- its sum over the workers; a failure is kept for AfterStep().
  void SumOverWorkers(std::span<double> data) const;

  FeatureSpace space_;
  double init_bound_ = 0;
  codebook::PqShape shape_;
  int bits_ = 0, code_bytes_ = 0;
  double reg_weight_ = 1.0;
  bool score_bn_ = true;
  int stage_ = 0;
  // [running mean (P·K) | running variance (P·K)], or empty without score_bn.
  std::vector<float> bn_;
  RowAccess* rows_ = nullptr;
  WorkerSums* workers_ = nullptr;
  mutable Mutex sync_mu_;
  mutable Status sync_error_ ABSL_GUARDED_BY(sync_mu_);
  // Between BeginStage(1) and InitStageRows(1): every feature's packed codes.
  std::vector<uint8_t> pending_codes_;
};

}  // namespace ecps
