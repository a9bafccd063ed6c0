// OptEmbed (docs/methods.md §2.22, CODE `optembed`), three stages on one
// global table:
//
// Stage 0, `supernet`: `E` n × d f32 (row = global id) and a threshold t_f
// per field (method state, init 0). A key x of field f with row v:
//   z = ||v||₁ − t_f,  m_row = step(z),  e = m_row·m_col ⊙ v,
// m_col keeping dims 0..k, k ~ U{0..d−1} drawn per key from the plan's
// noise_seed in training plans (all dims in evaluation). step's surrogate
// derivative s'(z) = 2 − 4|z| (|z| ≤ 0.4), 0.4 (0.4 < |z| ≤ 1), 0 beyond
// flows to t and, through the L1 norm, to the row. The loss adds
// α·Σ_f exp(−t_f); t steps by its own SGD (thresh_lr) in DecodeBackward on
// the global batch's gradient (summed over the workers, WorkerSums).
// Stage 1, `search` (evaluation_search): BeginStage(1) reads the table
// (RowAccess) and prunes the rows with ||v||₁ ≤ t_f; the trainer scores the
// candidates c ∈ {0..d−1}^F (keep dims 0..c_f of field f) that the
// evolutionary search proposes on validation: a population of mutation_num
// mutations and crossover_num crossovers of the best parents (keep_num
// kept), for search_epochs generations; the best scored candidate wins.
// Stage 2, `retrain` (reset_optimizer_state): the kept rows of field f at
// width c_f + 1 in `R<w>` (fields of one width share a table, in field
// order), copied from the search's rows (read when the search ends, while
// every worker is still in it; written in InitStageRows(2)); e = (row,
// zeros) padded to d.
//
// Memory: parameter = the supernet table 4nd + the retrain rows 4·Σ_f
// kept_f·(c_f + 1) (before the search, the forecast: every row and dim
// kept); auxiliary: the remap (4 B per feature, kNoRow for a pruned one),
// the widths and thresholds (4 B per field each); inference = the retrain
// rows + auxiliary. Not controllable by the budget: the real ratio is
// reported.
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

class OptEmbedEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "optembed";
  static constexpr char kStateMagic[9] = "ECPSOPTE";
  // Declared parameters: alpha, thresh_lr, keep_num, mutation_num,
  // crossover_num, m_prob, search_epochs.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  std::vector<RowTableSpec> Tables() const override;
  // {supernet, search (evaluation_search), retrain (reset_optimizer_state)}.
  std::vector<StageSpec> Stages() const override;
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  // Supernet: row gradients through the masks and the surrogate, and the
  // thresholds' SGD step (all-reduced). Search: zeros. Retrain: g's first
  // c_f + 1 values.
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  void AttachRows(RowAccess* rows) override { rows_ = rows; }
  void AttachWorkers(WorkerSums* workers) override { workers_ = workers; }
  Status AfterStep(int64_t step) override;
  Status BeginStage(int index) override;
  Status InitStageRows(int index) override;
  bool NextCandidate() override;
  void ReportScore(double score) override;
  MemoryReport Memory() const override;
  // The parameters (checked); the stage, thresholds, kept rows, the search's
  // best candidate (restored).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // ------------------------------------------------ for tests and oracles --
  int stage() const { return stage_; }
  const std::vector<double>& thresholds() const { return t_; }
  std::vector<double>& mutable_thresholds() { return t_; }
  // The retrain's kept dims minus one per field (before: the best so far,
  // d − 1 when nothing was scored).
  const std::vector<int>& best() const { return best_; }
  double best_score() const { return best_score_; }
  // Search and retrain: the row of a feature (kNoRow: pruned; search: its
  // global id when kept).
  uint64_t remap(uint64_t x) const { return remap_[x]; }
  uint64_t kept_rows() const;
  // The column mask's k for key i of a training plan with this noise seed.
  static int ColumnK(uint64_t noise_seed, int i, int d);
  // s'(z), the step's surrogate derivative.
  static double Surrogate(double z);
  // The current candidate of the search (the one being scored).
  const std::vector<int>& candidate() const { return current_; }

 private:
  void NextGeneration();
  // The retrain layout and the kept rows' prefixes (carried_), once.
  Status PrepareRetrain();

  FeatureSpace space_;
  double init_bound_ = 0;
  double alpha_ = 1e-5, thresh_lr_ = 1e-4, m_prob_ = 0.1;
  int keep_num_ = 0, mutation_num_ = 10, crossover_num_ = 10, search_epochs_ = 30;
  uint64_t seed_ = 0;
  int stage_ = 0;
  RowAccess* rows_ = nullptr;      // not owned
  WorkerSums* workers_ = nullptr;  // not owned
  Status collective_ = OkStatus();
  std::vector<double> t_;        // thresholds per field
  std::vector<uint64_t> remap_;  // search/retrain: row of each feature or kNoRow
  // The search.
  std::vector<std::vector<int>> population_;
  std::vector<double> scores_;
  size_t next_ = 0;
  int generation_ = 0;
  bool searched_ = false;
  std::vector<int> current_, best_;
  double best_score_ = -1e300;
  // Retrain.
  dimension_internal::FieldTables tables_;
  // The kept rows' prefixes, read when the search ends (or in BeginStage(2)),
  // written in InitStageRows(2).
  std::vector<float> carried_;
  bool prepared_ = false;
  Status prepare_status_ = OkStatus();
};

}  // namespace ecps
