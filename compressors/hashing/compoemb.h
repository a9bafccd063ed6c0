// CompoEmb, quotient-remainder compositional embedding (docs/methods.md §2.3, CODE
// `compo`), one table pair per field. A compressed field f with collision c_f
// stores Q_f (ceil(n_f/c_f) x d) and R_f (c_f x d); feature x gives
//   e = Q_f[x div c_f] (*) R_f[x mod c_f],   (*) = element-wise mul (default) or sum.
// A field is kept full (E_f, n_f x d) when n_f <= threshold, n_f <= c or
// n_f <= ceil(n_f/c) + c. All Q_f, R_f and E_f are stacked into three store
// tables Q, R, E at per-field row offsets.
//
// Budget (docs/methods.md §2.3.5), parameter `solver`:
//   shared   one collision c shared by all fields: the smallest integer c in
//            [1, floor(sqrt(n))] whose memory fits the budget. If none fits,
//            the c with the least memory is used and the real ratio is
//            reported (Criteo 0.1%, §4.5). Memory stays <= budget, so a
//            shared integer c lands far below many budgets (Criteo: c = 3 /
//            11 / 101 at 50 / 10 / 1%, i.e. 33% at 50%).
//   authors  CODE's solver, exactly: bisect a *real* c in [1, sqrt(n)] with
//            eps 0.5 on memory(x) = sum_f min(n_f, ceil(n_f/x) + ceil(x))
//            rows against n·CR, then c = ceil(lower end). The lower end is
//            over budget by definition, so c may be too: Criteo c = 2 / 10 /
//            101 at 50 / 10 / 1% (50.0002% / 10.0008% / 0.996% of the rows,
//            plus our 4 B per compressed field). Where CODE's assertion
//            fails: nothing fits (0.1%: the least-memory shared c, real ratio
//            reported) or everything fits (budget ~1: c = 1, all full).
//   fill     (the default; not in CODE) shared first, then per field: if no
//            shared c fits, the largest fields first take their own
//            least-memory c_f (~sqrt(n_f)); then any slack is spent largest
//            field first, each field taking the smallest own c_f (or its
//            full table) that still fits. This lands within ~1% of the
//            budget wherever per-field QR can reach it (Criteo 0.1%
//            included).
// Memory (bytes): 4·d·(rows of Q + R + E) + 4 per compressed field (its c_f).
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/compressor.h"

namespace ecps {

class CompoEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "compoemb";
  static constexpr char kStateMagic[9] = "ECPSCOMP";
  // Declared parameters: aggregator (mul|sum), threshold, solver
  // (fill|shared|authors).
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // {Q, R, E}, all d wide, f32, U(-b, b); a table may have 0 rows.
  std::vector<RowTableSpec> Tables() const override;
  // per_key {1, 1, 1}: (Q row, R row, kNoRow) for a compressed field,
  // (kNoRow, kNoRow, E row) for a full one.
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  MemoryReport Memory() const override;
  // Saves the per-field collisions and the aggregator; LoadState refuses a
  // blob whose collisions differ from this Init's.
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // The collision of field f; 0 means the field is kept full.
  uint64_t collision(int f) const { return collision_[f]; }
  bool multiply() const { return multiply_; }

  // Rows (Q + R + E) of a field of cardinality n with collision c (0: full).
  static uint64_t FieldRows(uint64_t n, uint64_t c);
  // The shared c of CODE's solver (solver=authors) for field cardinalities
  // `cards`; 0 when no c in [1, sqrt(n)] reaches the budget.
  static uint64_t AuthorsCollision(const std::vector<uint64_t>& cards, uint64_t threshold,
                                   double budget);

 private:
  // Rebuilds the per-field offsets from collision_.
  void Layout();

  FeatureSpace space_;
  double init_bound_ = 0;
  bool multiply_ = true;
  std::vector<uint64_t> collision_;  // per field; 0 = full
  std::vector<uint64_t> q_off_, r_off_, e_off_;
  uint64_t q_rows_ = 0, r_rows_ = 0, e_rows_ = 0;
};

}  // namespace ecps
