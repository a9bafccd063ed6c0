// AutoSrh (docs/methods.md §2.25; CODE `autosrh`): a sparsity searched per
// frequency group, then global magnitude pruning of one table E (n x d f32)
// into the sparse row layout of §1.8 (compressors/pruning/sparse_rows.h).
//
// Frequency groups: the ids sorted by train count (ascending, ties by id),
// cut into G = `groups` groups of about (remaining)/(groups left) ids each,
// a tie block never split (a tie block larger than a group is a group by
// itself), the leftovers to the last group; group 0 is the rarest. The group
// of every feature (1 B) is derived by Init from the train counts.
//
// α: a G x d scaling (method state, init 1, clipped to [0, 1]).
//
// Stages:
//   train    as `full`.
//   search   (reset_optimizer_state, freeze_dense): e = E[x] ⊙ α[group(x)];
//            E by the sparse Adam; α by its own step in DecodeBackward of
//            training plans, on the global batch's gradient (summed over the
//            workers, WorkerSums): g = ∂BCE/∂α + alpha_l1·sign(α), per group
//            g /= mean_c |g| + 1e-8, α -= alpha_lr·g, clipped to [0, 1].
//   order=paper (default; the paper's "filtered ... then re-trained"):
//     retrain (reset_optimizer_state): BeginStage(2) reads E, forms
//             W = E ⊙ α[group], keeps the at most K largest nonzero |W|
//             (the budget's side of the threshold search of §2.23) in the
//             CSR/COO layout, whose values are trainable: the retrain trains
//             the kept values (and the dense model); its best checkpoint is
//             the final model.
//   order=authors (CODE):
//     retrain (reset_optimizer_state): e = E ⊙ α[group], α frozen.
//     sparse  (post_training, freeze_dense): W pruned as above, stored as
//             CSR/COO without a fine-tune.
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

class AutoSrhEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "autosrh";
  static constexpr char kStateMagic[9] = "ECPSASRH";
  // Declared parameters: groups, alpha_l1, alpha_lr, order, nonzeros.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // Before the prune: E n x d f32. After it: values nnz x 1 f32 (trainable
  // in the paper order's retrain), columns nnz x 1 u8 (u16 past d = 256).
  std::vector<RowTableSpec> Tables() const override;
  // paper: {train, search (reset_optimizer_state, freeze_dense), retrain
  // (reset_optimizer_state)}; authors: {train, search, retrain
  // (reset_optimizer_state), sparse (post_training, freeze_dense)}.
  std::vector<StageSpec> Stages() const override;
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  // Rows: g ⊙ α[group] (g before the search); the sparse layout: the value
  // of each kept element gets its output's gradient. Search: α's step.
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  void AttachRows(RowAccess* rows) override { rows_ = rows; }
  void AttachWorkers(WorkerSums* workers) override { workers_ = workers; }
  // Reports a failed α all-reduce of the step.
  Status AfterStep(int64_t step) override;
  Status BeginStage(int index) override;
  // After the prune: writes the sparse tables.
  Status InitStageRows(int index) override;
  // inference = the sparse layout (SparseBytes; the index auxiliary);
  // parameter = 4nd + nnz·(4 + column bytes); before the prune the group of
  // every feature (1 B) and α (4Gd B) are auxiliary too (training memory,
  // not in inference) and nnz is K (the plan).
  MemoryReport Memory() const override;
  // The parameters, budget and groups (checked); the stage, α and after the
  // prune the layout's index (restored).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // ------------------------------------------------ for tests and oracles --
  pruning::SparseFormat format() const { return format_; }
  uint64_t target_nonzeros() const { return target_nnz_; }
  double prune_rate() const;
  int stage() const { return stage_; }
  bool authors_order() const { return authors_order_; }
  // The stage whose BeginStage prunes: 2 (paper) or 3 (authors).
  int prune_stage() const { return authors_order_ ? 3 : 2; }
  bool pruned() const { return stage_ >= prune_stage(); }
  int num_groups() const { return static_cast<int>(group_sizes_.size()); }
  int group(uint64_t global_id) const { return group_[global_id]; }
  const std::vector<uint64_t>& group_sizes() const { return group_sizes_; }
  // G x d, group-major.
  const std::vector<float>& alpha() const { return alpha_; }
  std::vector<float>& mutable_alpha() { return alpha_; }
  // The threshold of the prune (0 before it).
  double threshold() const { return tau_; }
  const pruning::SparseRows& sparse() const { return sparse_; }

  // The group of every id (counts by global id; empty: all 0) for `groups`
  // groups, by the rule above.
  static std::vector<uint8_t> FrequencyGroups(std::span<const uint32_t> counts, uint64_t n,
                                              int groups);
  // ∂(Σ out ⊙ grad_out)/∂α of a dense plan (search and authors' retrain
  // lookups), G x d, in double.
  std::vector<double> AlphaGradient(const LookupPlan& plan, const FetchedRows& rows,
                                    const float* grad_out) const;

 private:
  uint64_t Elements() const { return space_.total() * static_cast<uint64_t>(space_.dim); }
  // Whether the lookup scales E by α (search, and the authors' retrain).
  bool Scaled() const { return stage_ == 1 || (stage_ == 2 && authors_order_); }
  // W = E ⊙ α[group] pruned to at most K, into sparse_.
  Status Prune();

  FeatureSpace space_;
  double init_bound_ = 0;
  double alpha_l1_ = 1e-5;
  double alpha_lr_ = 1e-3;
  bool authors_order_ = false;
  bool paper_nonzeros_ = false;
  pruning::SparseFormat format_ = pruning::SparseFormat::kCsr;
  uint64_t target_nnz_ = 0;
  std::vector<uint8_t> group_;  // per global id
  std::vector<uint64_t> group_sizes_;
  uint64_t group_hash_ = 0;
  double budget_ = 1;
  int stage_ = 0;
  std::vector<float> alpha_;
  double tau_ = 0;
  pruning::SparseRows sparse_;
  Status collective_;  // a failed α all-reduce, reported by AfterStep
  RowAccess* rows_ = nullptr;
  WorkerSums* workers_ = nullptr;
};

}  // namespace ecps
