// SSEDS, Single-Shot Embedding Dimension Search (docs/methods.md §2.21b;
// Qu et al., SIGIR 2022), three stages:
//
// Stage 0, `pretrain`: the full table `E` n × d f32 U(±b) (row = global id),
// trained as `full`.
// Stage 1, `search` (freeze_dense, reset_optimizer_state): the model is held
// (the rows get zero gradients, which fresh optimizer state turns into zero
// updates; the dense networks are frozen) while the saliency of every
// (field, dimension) column is accumulated on the worker from the training
// batches: with a mask m_{f,j} = 1 on column j of field f's embedding,
//   s_{f,j} = Σ over the stage's batches of |∂L/∂m_{f,j}|,
//   ∂L/∂m_{f,j} = Σ over the batch's keys of field f of g_{i,j}·e_{i,j},
// the gradient of the global batch's loss (each worker's share summed over
// the workers, WorkerSums). The stage ends at its first evaluation
// (StageComplete), or its first `saliency_batches` batches count.
// Stage 2, `retrain` (reset_optimizer_state): d_f = the number of field f's
// columns kept (SelectDims: every field its most salient column, then the
// columns by saliency while the inference bytes fit the budget) and the
// model retrains from fresh rows in MDE's layout (ProjectedFields): the
// fields of one width w share `E<w>`, a field with d_f < d projects its row
// by P_f (d_f × d, DenseParams(), trained by the trainer's dense optimizer).
//
// Memory: parameter = the full table, 4nd, + the retrain tables 4·Σ n_f·d_f
// (before the retrain, the forecast of SelectDims at the current saliency);
// auxiliary: stages 0-1, the saliency (8 B per column); retrain, the
// projections 4·Σ_{d_f<d} d_f·d and the dimensions (4 B per field);
// inference = the retrain tables, projections and dimensions.
//
// Thread-safety: as Compressor.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compressors/dimension/field_tables.h"
#include "compressors/internal/method_util.h"

namespace ecps {

class SsedsEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "sseds";
  static constexpr char kStateMagic[9] = "ECPSSEDS";
  // Declared parameters: saliency_batches, init.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // Stages 0-1: {E n × d}; retrain: "E<w>" per distinct dimension.
  std::vector<RowTableSpec> Tables() const override;
  // {pretrain, search (freeze_dense, reset_optimizer_state), retrain
  // (reset_optimizer_state)}.
  std::vector<StageSpec> Stages() const override;
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  // Pretrain: the row gradient is g. Search: zero row gradients, and a
  // training plan adds |∂L/∂m| to the saliency (all-reduced first). Retrain:
  // through the projections.
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  std::span<float> DenseParams() override { return params_; }
  std::span<float> DenseGrads() override { return grads_; }
  void AttachWorkers(WorkerSums* workers) override { workers_ = workers; }
  // Reports a failed saliency all-reduce of the step.
  Status AfterStep(int64_t step) override;
  // BeginStage(1): the search; BeginStage(2): the dimensions from the
  // saliency and the retrain tables and projections.
  Status BeginStage(int index) override;
  // The search ends at its first evaluation.
  bool StageComplete() override { return stage_ == 1; }
  MemoryReport Memory() const override;
  // The parameters and budget (checked), the stage, the saliency and its
  // batch count (restored), the retrain dimensions (checked against the
  // saliency's).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // ------------------------------------------------ for tests and oracles --
  int stage() const { return stage_; }
  // Σ |∂L/∂m| per column, field-major (F × d).
  const std::vector<double>& saliency() const { return saliency_; }
  int64_t saliency_steps() const { return steps_; }
  // Retrain: the chosen dimensions (before: the forecast at the current
  // saliency).
  std::vector<int> ChosenDims() const;
  const dimension_internal::ProjectedFields& layout() const { return layout_; }
  uint64_t budget_bytes() const { return budget_bytes_; }
  // The budget rule (docs/methods.md §2.21b): every field keeps its most
  // salient column; then the other columns, by saliency (ties: the higher
  // in-field rank, then the lower field), each add one dimension to their
  // field when the inference bytes (ProjectedFields::InferenceBytes) still
  // fit `budget_bytes`.
  static std::vector<int> SelectDims(const FeatureSpace& s, const std::vector<double>& saliency,
                                     uint64_t budget_bytes);

 private:
  FeatureSpace space_;
  double init_bound_ = 0;
  bool tiny_init_ = false;
  int64_t saliency_batches_ = 0;
  uint64_t budget_bytes_ = 0;
  uint64_t seed_ = 0;
  int stage_ = 0;
  int64_t steps_ = 0;
  std::vector<double> saliency_;
  Status collective_ = OkStatus();  // a failed all-reduce, reported by AfterStep
  WorkerSums* workers_ = nullptr;   // not owned
  std::vector<int> dims_;           // retrain
  dimension_internal::ProjectedFields layout_;
  std::vector<float> params_, grads_;
};

}  // namespace ecps
