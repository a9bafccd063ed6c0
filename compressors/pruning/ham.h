// HAM, Hard Auxiliary Mask pruning (docs/methods.md §2.24b; ORIG Xiao et
// al., "Field-wise Embedding Size Search via Structural Hard Auxiliary Mask
// Pruning for Click-Through Rate Prediction", 2022): a table pre-trained with
// a soft-orthogonal regulariser, then element masks searched through a
// straight-through estimator, trained alternately with the weights, then a
// retrain of the kept elements and the sparse row layout of §1.8.
//
// Stores two tables from the start, `E` n x d f32 (the weights) and `A`
// n x d f32 (the auxiliary mask parameters, one per element), both row =
// global id; A is fetched only in the search.
//
// Stages:
//   pretrain  as `full`, plus the soft-orthogonal regulariser
//             ortho_weight·Σ_f ||Ĝ_f − I||²_F on every training batch, Ĝ_f
//             the Gram matrix of field f's table estimated from the batch's
//             lookups of f: (n_f / c_f)·Σ e eᵀ over its c_f keys of the
//             global batch (the workers' sums added up, WorkerSums).
//   search    (reset_optimizer_state) BeginStage(1) writes A = |E| and takes
//             τ = the magnitude threshold keeping at most K elements of E.
//             Forward: the hard mask, ê = E ⊙ [|A| >= τ]. Odd stage steps
//             train the weights (E's gradient masked, plus the regulariser;
//             A's gradient 0), even ones the masks (A's gradient by the
//             straight-through estimator sign(a)·∂L/∂m = sign(a)·g·e; E's 0).
//             Every mask_every stage steps τ is searched again over |A|
//             where the rows are (magnitude_threshold.h), averaged over the
//             workers in the next step's DecodeBackward and used from the
//             step after it (so a mask keeps about K: A moved since).
//   retrain   (reset_optimizer_state) BeginStage(2) takes the mask |A| >= τ
//             of the search's best checkpoint (τ found again there, at most
//             K kept) as n·d bits; E is trained under it (A not fetched).
//   sparse    (post_training, freeze_dense) the masked E as CSR/COO.
//
// Budget: format and K as DeepLight (deeplight.h).
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/internal/method_util.h"
#include "compressors/pruning/sparse_rows.h"

namespace ecps {

class HamEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "ham";
  static constexpr char kStateMagic[9] = "ECPSHAMP";
  // Declared parameters: ortho_weight, mask_every, nonzeros.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // Stages 0-2: E, A n x d f32. Stage 3: values, columns (sparse_rows.h).
  std::vector<RowTableSpec> Tables() const override;
  // {pretrain, search (reset_optimizer_state), retrain
  // (reset_optimizer_state), sparse (post_training, freeze_dense)}.
  std::vector<StageSpec> Stages() const override;
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  void AttachRows(RowAccess* rows) override { rows_ = rows; }
  void AttachWorkers(WorkerSums* workers) override { workers_ = workers; }
  Status BeginStage(int index) override;
  // InitStageRows(3) writes the sparse tables.
  Status InitStageRows(int index) override;
  // Search: the mask threshold's schedule (and a failed worker sum).
  Status AfterStep(int64_t step) override;
  // inference = the sparse layout (SparseBytes; the index auxiliary);
  // parameter = 8nd (E and A) + nnz·(4 + column bytes); in the retrain the
  // mask's ⌈nd/8⌉ B are auxiliary too. Before the sparse stage nnz is K.
  MemoryReport Memory() const override;
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  pruning::SparseFormat format() const { return format_; }
  uint64_t target_nonzeros() const { return target_nnz_; }
  int stage() const { return stage_; }
  // The search's mask threshold on |A| in use.
  double threshold() const { return tau_; }
  // Search: whether the next training step trains the masks (else the weights).
  bool MaskPhase() const { return stage_ == 1 && search_steps_ % 2 == 1; }
  int64_t search_steps() const { return search_steps_; }
  // Retrain: whether element c of row r is kept.
  bool Kept(uint64_t row, int c) const;
  uint64_t kept() const { return kept_; }
  const pruning::SparseRows& sparse() const { return sparse_; }

  // The regulariser of a batch: rows [n x d] are the stored E rows of the
  // plan's keys (key i of field i % F), `weight` ortho_weight. In double.
  static double OrthoPenalty(const FeatureSpace& s, const float* rows, int n, double weight);
  // Adds scale·∂OrthoPenalty/∂rows to grad [n x d].
  static void AddOrthoGradient(const FeatureSpace& s, const float* rows, int n, double weight,
                               double scale, float* grad);

 private:
  uint64_t Elements() const { return space_.total() * static_cast<uint64_t>(space_.dim); }
  // Adds the regulariser's gradient of the global batch (the workers' Gram
  // sums added up) for this worker's keys.
  Status AddBatchOrthoGradient(const float* rows, int n, float* grad);
  Status TakeMask();
  Status BuildSparse();

  FeatureSpace space_;
  double init_bound_ = 0;
  double ortho_weight_ = 1e-4;
  int64_t mask_every_ = 10;
  bool paper_nonzeros_ = false;
  pruning::SparseFormat format_ = pruning::SparseFormat::kCsr;
  uint64_t target_nnz_ = 0;  // K
  int stage_ = 0;
  // Search: the threshold in use, one found and not yet in use (its
  // worker average formed in DecodeBackward), the stage steps taken.
  double tau_ = 0;
  int pending_ = 0;  // 0 none, 1 found (to average), 2 averaged (to apply)
  double pending_tau_ = 0;
  int64_t search_steps_ = 0;
  Status sum_status_;           // a failed worker sum, reported by AfterStep
  std::vector<uint64_t> mask_;  // retrain: n·d bits, element r·d + c
  uint64_t kept_ = 0;
  pruning::SparseRows sparse_;
  RowAccess* rows_ = nullptr;
  WorkerSums* workers_ = nullptr;
};

}  // namespace ecps
