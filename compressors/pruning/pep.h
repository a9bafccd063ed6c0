// PEP, Plug-in Embedding Pruning (docs/methods.md §2.24; CODE `pep`): learned
// per-element thresholds, lottery-ticket retraining under the learned mask,
// then the sparse row layout of §1.8.
//
// Stores one table `EG` n x 2d f32: row x is [E[x] | u[x]], the weights and
// their thresholds side by side (one row per key fetched once; the sparse
// optimizer is per element, so this is Adam on E and on g), with
// g = threshold_init + u: the table's one initialiser U(±b) serves both
// halves, so g starts within ±b of threshold_init, and nothing has to be
// written (or read) before the first step.
//
// Stages:
//   search   ê = sign(E)·ReLU(|E| − σ(g)), σ in double; g trained by the same
//            Adam. After every evaluation StageComplete() measures the prune
//            rate frac(|E| < σ(g)) where the rows are (ReduceRows,
//            kSoftThresholdCounts) and ends the stage once it reaches the
//            budget's P.
//   retrain  (reinit_rows, reset_optimizer_state): BeginStage(1) takes the mask
//            |E| > σ(g) from the search's best checkpoint (capped at the K
//            largest |E| of it when it keeps more than the budget allows),
//            then the store rewinds every row to its initial values (the
//            lottery ticket); ê = mask ? E : 0, g frozen (zero gradient).
//   sparse   (post_training): the masked E in the CSR/COO layout.
//
// Budget: format and K as DeepLight (deeplight.h), P = 1 − K/(nd).
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/internal/method_util.h"
#include "compressors/pruning/sparse_rows.h"

namespace ecps {

class PepEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "pep";
  static constexpr char kStateMagic[9] = "ECPSPEPT";
  // Declared parameters: threshold_init, nonzeros.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // Stages 0, 1: EG n x 2d f32. Stage 2: values, columns (sparse_rows.h).
  std::vector<RowTableSpec> Tables() const override;
  // {search, retrain (reinit_rows, reset_optimizer_state), sparse
  // (post_training, freeze_dense)}.
  std::vector<StageSpec> Stages() const override;
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  void AttachRows(RowAccess* rows) override { rows_ = rows; }
  Status BeginStage(int index) override;
  // InitStageRows(2) writes the sparse tables.
  Status InitStageRows(int index) override;
  // Search stage: the prune rate measured at the rows reaches P.
  bool StageComplete() override;
  // inference = the sparse layout (SparseBytes; the index auxiliary);
  // parameter = 8nd + nnz·(4 + column bytes); during the retrain the mask's
  // ⌈nd/8⌉ B are auxiliary too (training memory; not in inference). Before
  // the sparse stage nnz is K (the plan).
  MemoryReport Memory() const override;
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  pruning::SparseFormat format() const { return format_; }
  uint64_t target_nonzeros() const { return target_nnz_; }
  double prune_rate() const;
  int stage() const { return stage_; }
  // The last prune rate StageComplete() measured (-1: none).
  double last_prune_rate() const { return last_prune_rate_; }
  // Retrain: whether element c of row r is kept.
  bool Kept(uint64_t row, int c) const;
  uint64_t kept() const { return kept_; }
  const pruning::SparseRows& sparse() const { return sparse_; }

  // ê and its gradients for one element (w, g) in the search stage.
  static float SoftThreshold(float w, float g);
  static void SoftThresholdGrad(float w, float g, float dout, float* dw, float* dg);

 private:
  uint64_t Elements() const { return space_.total() * static_cast<uint64_t>(space_.dim); }
  // g of a stored u.
  float G(float u) const { return static_cast<float>(static_cast<double>(u) + threshold_init_); }
  Status TakeMask();

  FeatureSpace space_;
  double init_bound_ = 0;
  double threshold_init_ = -15;
  bool paper_nonzeros_ = false;
  pruning::SparseFormat format_ = pruning::SparseFormat::kCsr;
  uint64_t target_nnz_ = 0;
  int stage_ = 0;
  double last_prune_rate_ = -1;
  std::vector<uint64_t> mask_;  // retrain: n·d bits, element r·d + c
  uint64_t kept_ = 0;
  pruning::SparseRows sparse_;
  RowAccess* rows_ = nullptr;
};

}  // namespace ecps
