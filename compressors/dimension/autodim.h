// AutoDim (docs/methods.md §2.21, CODE `autodim`): a search stage picks each
// field's dimension among the candidates D = {2, 4, ..., d} (powers of two
// from 2 below d, then d), and a retrain stage trains the fields at the
// chosen dimensions.
//
// Stage 0, `search`: one global table per candidate c, `E<c>` n × c f32
// U(±b) (row = global id). A key x of field f gives, per candidate,
//   h_c = E_c[x]·W_c[f] + b_c[f]  (W_c[f]: c × d, b_c[f]: d),
// normalised by a BatchNorm over the d channels without affine parameters
// (the batch's keys of every field; running statistics for evaluation), and
//   e = Σ_c w_{f,c}·BN_c(h_c),  w_f = softmax((log_softmax(α_f) + G)/τ),
// G fresh Gumbel(0, 1) noise per (field, candidate) from the plan's
// noise_seed in training plans (none in evaluation), τ = max(0.01, 1 − κ·t)
// with t the training steps taken in the search (κ = tau_decay).
// Stage 1, `retrain` (reset_optimizer_state): dim_f = the candidate of
// largest α_f (the first among equals); the fields of one dimension w share
// the table `R<w>` (the fields' n_f rows × w f32, each field starting at a
// row congruent to its global ids modulo shard_align, 64 by default: fewer
// than shard_align unused rows per field), whose rows are copies of E_w's
// rows of those fields (StageCopies: with cluster.virtual_shards dividing
// shard_align each server copies its own rows), and
//   e = R_f[x]·W_f + b_f  (Linear(dim_f → d) with bias, no BatchNorm),
// with W_f, b_f = W_{dim_f}[f], b_{dim_f}[f] of the search (reset_retrain =
// false) or freshly initialised.
//
// The architecture weights α: the trainer has no architecture step on
// validation batches (StageSpec has no arch_on_validation), so α is a dense
// parameter trained on the training batches with the decoder (one-level
// DARTS; docs/methods.md §2.21, Departures).
//
// Dense state (compressor.h). DenseParams(), search: for c in D: W_c
// [F × c × d], b_c [F × d]; then α [F × |D|]. Retrain: per field W_f
// [dim_f × d], b_f [d]. DenseBuffers(), search: per c the running mean [d]
// and variance [d] (momentum 0.1, unbiased batch variance, eps 1e-5);
// retrain: none. Each worker normalises by its own share's statistics (no
// SyncBN); the trainer averages the running statistics over the workers.
//
// Memory: parameter = the tables of both stages as stored, 4·n·Σ_c c + the
// retrain tables' rows (alignment gaps included) × width × 4 (before the
// search ends dim_f is the current α's argmax, a forecast);
// auxiliary: search: the dense parameters and buffers (4 B each); retrain:
// the projections 4·Σ_f (dim_f + 1)·d and the dimensions (4 B per field);
// inference: the retrain tables + the retrain auxiliary. Not controllable by
// the budget: the real ratio is reported.
//
// Thread-safety: as Compressor (Decode writes only plan.saved).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compressors/dimension/field_tables.h"
#include "compressors/internal/method_util.h"

namespace ecps {

class AutoDimEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "autodim";
  static constexpr char kStateMagic[9] = "ECPSADIM";
  static constexpr float kBnEps = 1e-5f;
  static constexpr float kBnMomentum = 0.1f;
  static constexpr double kMinTau = 0.01;
  // Declared parameters: tau_decay, reset_retrain, shard_align, init.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  std::vector<RowTableSpec> Tables() const override;
  // {search, retrain (reset_optimizer_state)}.
  std::vector<StageSpec> Stages() const override;
  // Search: per_key 1 in every E<c> (the global id). Retrain: per_key 1 in
  // every R<w>: the field's row in its table, kNoRow in the others.
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  // Row gradients, DenseGrads() (W, b, α in the search); a training plan of
  // the search then moves the running statistics.
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  std::span<float> DenseParams() override { return params_; }
  std::span<float> DenseGrads() override { return grads_; }
  std::span<float> DenseBuffers() override { return buffers_; }
  // Counts the search's training steps (τ).
  Status AfterStep(int64_t step) override;
  // BeginStage(1): the dimensions from α, the retrain decoder from the
  // search's W and b.
  Status BeginStage(int index) override;
  std::vector<RowCopy> StageCopies(int index) const override;
  MemoryReport Memory() const override;
  // The parameters (checked), the stage, the search's step count and the
  // chosen dimensions (restored).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // ------------------------------------------------ for tests and oracles --
  int stage() const { return stage_; }
  const std::vector<int>& candidates() const { return cands_; }
  // Retrain: the chosen dimension of field f (search: the current argmax).
  std::vector<int> ChosenDims() const;
  const std::vector<int>& dims() const { return dims_; }
  double tau() const;
  int64_t search_steps() const { return steps_; }
  uint64_t shard_align() const { return align_; }
  // Search layout: offsets of W_c, b_c (candidate k) and α in DenseParams().
  size_t w_offset(int k) const { return w_off_[k]; }
  size_t b_offset(int k) const { return b_off_[k]; }
  size_t alpha_offset() const { return alpha_off_; }
  // Retrain layout: offset of W_f (then b_f) and field f's table and row.
  size_t field_offset(int f) const { return field_off_[f]; }
  int table(int f) const { return retrain_.table[f]; }
  uint64_t table_offset(int f) const { return retrain_.row_off[f]; }
  // The Gumbel noise of a training plan (F × |D|, field-major).
  std::vector<float> Gumbel(uint64_t noise_seed) const;
  // The retrain tables for dimensions `dims`: distinct widths (ascending),
  // each field's table and first row, each table's rows (with the alignment
  // gaps).
  using RetrainTables = dimension_internal::FieldTables;
  static RetrainTables PlanRetrain(const FeatureSpace& s, const std::vector<int>& dims,
                                   uint64_t align);

 private:
  void SearchLayout();
  void RetrainLayout();
  // The mixture weights w (F × |D|) for noise G (null: none).
  void Weights(const float* g, std::vector<float>* w) const;
  void DecodeSearch(const LookupPlan& plan, const FetchedRows& rows, float* out) const;
  void BackwardSearch(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads);
  void InitRetrainParams(const std::vector<float>& search);

  FeatureSpace space_;
  double init_bound_ = 0;
  double tau_decay_ = 3.2e-6;
  bool reset_retrain_ = false;
  bool tiny_init_ = false;
  uint64_t align_ = 64;
  uint64_t seed_ = 0;
  int stage_ = 0;
  int64_t steps_ = 0;
  std::vector<int> cands_;
  // Search layout.
  std::vector<size_t> w_off_, b_off_;
  size_t alpha_off_ = 0;
  // Retrain layout.
  std::vector<int> dims_;
  dimension_internal::FieldTables retrain_;
  std::vector<size_t> field_off_;
  std::vector<float> params_, grads_, buffers_;
};

}  // namespace ecps
