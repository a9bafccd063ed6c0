// DeepLight (docs/methods.md §2.23; CODE `deeplight`): magnitude pruning of
// one global table E (n x d f32) during training, then the pruned table in
// the sparse row layout of §1.8 (compressors/pruning/sparse_rows.h).
//
// Stages:
//   train   as `full`.
//   prune   continues with the rows' and the dense model's Adam state. At
//           stage step t (t = 1 at the stage's first step) with t mod
//           prune_every = 0 the target sparsity is s(t) = P·(1 − decay^(t /
//           decay_steps)) (P the budget's prune rate) and the global
//           magnitude threshold τ comes from the distributed search
//           (magnitude_threshold.h) until |pruned/nd − s| < min(1e-4,
//           1e-3·(1 − s)); the zeroing is applied in AfterStep(t + 1) by
//           reading the rows and writing them back (RowAccess::WriteRows),
//           so that no worker's counts of step t meet another worker's
//           writes (prune_every >= 2). persistent_mask (the default, the
//           fix of §4 item 12): a pruned element is stored as kPrunedValue
//           (2^100), which lookups read as 0 and whose gradient is 0, so it
//           never regrows; `false` is the authors' behaviour: pruned
//           elements are written as 0 and may regrow until the next prune.
//   sparse  post_training: BeginStage(2) finds the threshold that keeps at
//           most K elements (the budget's nonzeros; a run stopped before the
//           schedule reached P is pruned to P here), reads the rows and
//           builds the CSR/COO layout; InitStageRows(2) writes the values
//           and the column indices into their two tables.
//
// Budget: format by §1.8 (CSR when CR·d >= 3, else COO); K = the most
// nonzeros whose exact bytes -- nnz·(4 + 1) with u8 column indices (2 past
// d = 256) plus CSR's 4·(n + 1) row pointers or COO's 4·nnz rows -- fit
// floor(4nd·CR) (nonzeros=budget), or §1.8's density (r − 1)/(2d) or CR/3
// (nonzeros=paper, which counted 4-byte column indices). P = 1 − K/(nd).
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/internal/method_util.h"
#include "compressors/pruning/sparse_rows.h"

namespace ecps {

class DeepLightEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "deeplight";
  static constexpr char kStateMagic[9] = "ECPSDLIT";
  // Declared parameters: prune_every, decay, decay_steps, persistent_mask,
  // nonzeros.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // Stages 0, 1: E n x d f32. Stage 2: values nnz x 1 f32, columns nnz x 1
  // u8 (u16 past d = 256), both non-trainable.
  std::vector<RowTableSpec> Tables() const override;
  // {train, prune, sparse (post_training, freeze_dense)}.
  std::vector<StageSpec> Stages() const override;
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  void AttachRows(RowAccess* rows) override { rows_ = rows; }
  Status BeginStage(int index) override;
  Status InitStageRows(int index) override;
  Status AfterStep(int64_t step) override;
  // inference = the sparse layout's bytes (SparseBytes; the index is the
  // auxiliary part); parameter = 4nd + nnz·(4 + column bytes). Before the
  // sparse stage nnz is K (the plan).
  MemoryReport Memory() const override;
  // Parameters and derived sizes (checked), the stage, the prune schedule's
  // position (restored), and in the sparse stage the layout's index.
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  pruning::SparseFormat format() const { return format_; }
  uint64_t target_nonzeros() const { return target_nnz_; }
  // The budget's prune rate P.
  double prune_rate() const;
  // s(t) of the schedule at stage step t.
  double ScheduledSparsity(int64_t t) const;
  int stage() const { return stage_; }
  // The last threshold found (0 before any) and the elements it pruned.
  double last_threshold() const { return last_tau_; }
  double last_pruned() const { return last_pruned_; }
  int64_t prunes() const { return prunes_; }
  const pruning::SparseRows& sparse() const { return sparse_; }

 private:
  uint64_t Elements() const { return space_.total() * static_cast<uint64_t>(space_.dim); }
  // Zeroes (or marks) |w| < tau in E through ReadRows/WriteRows.
  Status Apply(double tau);

  FeatureSpace space_;
  double init_bound_ = 0;
  int64_t prune_every_ = 10;
  double decay_ = 0.99;
  double decay_steps_ = 100;
  bool persistent_ = true;
  bool paper_nonzeros_ = false;
  pruning::SparseFormat format_ = pruning::SparseFormat::kCsr;
  uint64_t target_nnz_ = 0;  // K
  int stage_ = 0;
  // The prune stage's schedule: optimizer step before its first step (-1:
  // not started), a threshold found at a prune step and applied at the next.
  int64_t prune_start_ = -1;
  bool pending_ = false;
  double pending_tau_ = 0;
  double last_tau_ = 0, last_pruned_ = 0;
  int64_t prunes_ = 0;
  pruning::SparseRows sparse_;
  RowAccess* rows_ = nullptr;
};

}  // namespace ecps
