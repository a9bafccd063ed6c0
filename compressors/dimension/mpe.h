// MPE, Mixed-Precision Embeddings (docs/methods.md §2.21c; Li et al. 2024,
// "Mixed-Precision Embeddings for Large-Scale Recommendation Models"): a
// precision per frequency group, chosen from a learned distribution over the
// candidate precisions within the budget, then retraining at the chosen
// precisions.
//
// Groups: the features (global ids) ranked by train count, most frequent
// first (ties: lower id), cut into G = `groups` groups of ⌊n/G⌋ or ⌈n/G⌉
// features.
// Candidates, k = 0..4: 0 bits (no row: the feature's embedding is zero),
// 4 bits (u4 codes + fp16 scale and min per row), 8 bits (u8 codes + fp16
// pair), 16 bits (fp16), 32 bits (fp32).
//
// Stage 0, `search`: the full table `E` n × d f32 (row = global id) and the
// architecture weights α [G × 5] (DenseParams(), trained by the trainer's
// dense optimizer, all-reduced and checkpointed). A key of group g outputs
//   e = Σ_k w_{g,k}·Q_k(row),  w_g = softmax(α_g / τ),
// Q_k the fake quantisation of the row at candidate k (per-row min/max
// codes rounded to nearest, fp16 rounded to nearest, Q_0 = 0), with the
// straight-through estimator for the rows: ∂e/∂row = 1 − w_{g,0}. The
// penalty γ·Σ_g (n_g/n)·Σ_k w_{g,k}·bytes_k / 4d (the expected ratio) adds
// its gradient to α's.
// Stage 1, `retrain` (reset_optimizer_state): the classes per group from
// SolveClasses() at log w, and four tables `Q4` (u4), `Q8` (u8), `H16`
// (f16), `E32` (f32), each holding the rows of its class's features in
// global-id order, from fresh seeded rows, trained with stochastic rounding
// (per row for the codes, per element for fp16). A lookup finds the row as
// the feature's rank among its class: a 4-bit class code per feature and,
// per 128 ids, the count of each class's features before them (4 × u32).
//
// Memory: parameter = the search table 4nd + the retrain tables (before the
// retrain, the forecast at the current α); auxiliary: search, α (4 B per
// weight) and the group of every feature (1 B); retrain, the codes and the
// rank directory (MapBytes); inference = the retrain tables + MapBytes.
//
// Thread-safety: as Compressor.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compressors/internal/method_util.h"

namespace ecps {

class MpeEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "mpe";
  static constexpr char kStateMagic[9] = "ECPSMPE1";
  static constexpr int kClasses = 5;
  static constexpr int kBits[kClasses] = {0, 4, 8, 16, 32};
  // Ids per entry of the rank directory.
  static constexpr uint64_t kBlock = 128;
  // Declared parameters: groups, gamma, tau.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  std::vector<RowTableSpec> Tables() const override;
  // {search, retrain (reset_optimizer_state)}.
  std::vector<StageSpec> Stages() const override;
  // Search: per_key 1 in E (the global id). Retrain: per_key 1 in each of
  // the four tables, the row in its class's table, kNoRow elsewhere (all
  // four for a 0-bit feature).
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  // Search: rows (1 − w_{g,0})·g, DenseGrads() = α's gradient (+ the
  // penalty's, divided by the workers: the trainer sums DenseGrads over
  // them). Retrain: g to the fetched row.
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  std::span<float> DenseParams() override { return params_; }
  std::span<float> DenseGrads() override { return grads_; }
  void AttachWorkers(WorkerSums* workers) override { workers_ = workers; }
  // BeginStage(1): the classes from α and the budget, the class map.
  Status BeginStage(int index) override;
  MemoryReport Memory() const override;
  // The parameters, budget and group assignment (checked), the stage and
  // the classes per group (restored).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // ------------------------------------------------ for tests and oracles --
  int stage() const { return stage_; }
  int num_groups() const { return static_cast<int>(group_sizes_.size()); }
  int group(uint64_t global_id) const { return group_[global_id]; }
  const std::vector<uint64_t>& group_sizes() const { return group_sizes_; }
  // Retrain: the class of each group (search: the forecast at the current α).
  std::vector<int> ChosenClasses() const;
  // The class of a feature and its row in its class's table (retrain).
  int feature_class(uint64_t global_id) const;
  uint64_t feature_row(uint64_t global_id) const;
  // w = softmax(α/τ), G × 5.
  std::vector<double> Weights() const;
  uint64_t row_budget() const { return row_budget_; }
  // Bytes of one stored row of class k at width d (0 for class 0).
  static uint64_t RowBytes(int k, int d);
  // Bytes of the class codes and the rank directory for n features.
  static uint64_t MapBytes(uint64_t n);
  // The budget solver: per group the class maximising log w − λ·bytes, λ the
  // smallest (bisection) whose rows fit `row_budget`; then the slack raises
  // groups, the best gain in log w per byte first (ties: the more frequent
  // group, the lower class), while it fits.
  static std::vector<int> SolveClasses(const std::vector<uint64_t>& group_sizes, int d,
                                       const std::vector<double>& log_w, uint64_t row_budget);
  // The search's fake quantisation of one row at class k.
  static void FakeQuant(int k, const float* v, int d, float* out);

 private:
  void BuildMap();

  FeatureSpace space_;
  double init_bound_ = 0;
  double gamma_ = 0, tau_ = 1;
  uint64_t row_budget_ = 0;
  int stage_ = 0;
  WorkerSums* workers_ = nullptr;  // not owned
  std::vector<uint8_t> group_;     // per global id
  std::vector<uint64_t> group_sizes_;
  uint64_t group_hash_ = 0;
  std::vector<int> classes_;          // retrain: per group
  std::vector<uint8_t> codes_;        // retrain: 4-bit class per feature, packed
  std::vector<uint32_t> dir_;         // retrain: per block, the rows of classes 1..4 before it
  std::vector<uint64_t> class_rows_;  // retrain: rows of classes 1..4
  std::vector<float> params_, grads_;
};

}  // namespace ecps
