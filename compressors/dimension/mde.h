// MDE, Mixed Dimension Embedding (docs/methods.md §2.20, CODE `md`), per
// field. Field f stores its rows at its own width d_f: the fields of one
// width w share the store table `E<w>` (Σ_{d_f = w} n_f rows × w, f32
// U(±b), b = sqrt(1/max n_f)), stacked in field order, so nothing is padded
// to d at rest, in training or at inference. A field with d_f < d projects
// its row to d with its own P_f (d_f × d, no bias): e = E_f[x]·P_f; a field
// with d_f = d outputs its row.
//
// Dimensions (CODE's power law, popularity proxied by 1/n_f):
//   d_f = 2^round(log2(max(1, round(λ·n_f^−α)))),  λ = d·n_min^α,
// with banker's rounding (CODE uses numpy's), capped at d (so n_min's field
// gets d); round_dim=false drops the power of two. α is solved for the
// budget: the smallest α on the bisection grid of [0, 1] (eps 1e-3) whose
// inference bytes fit floor(4·n·d·CR); solver=fill (the default) then spends
// the slack, the largest fields first, by raising a field to its next
// dimension while the total still fits. If α = 1 does not fit, α = 1 and the
// real ratio is reported.
//
// Dense state (compressor.h): the projections are DenseParams(), P_f of the
// fields with d_f < d in field order, each d_f × d row-major, trained by the
// trainer's dense optimizer, all-reduced over the workers and checkpointed
// (MDNS). Init: Xavier-normal (init=xavier) or CODE's U(±b) (init=tiny).
//
// Memory: parameter = the tables, 4·Σ n_f·d_f; auxiliary = the projections,
// 4·Σ_{d_f<d} d_f·d, plus the per-field dimension (4 B per field);
// inference = parameter + auxiliary.
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

class MdeEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "mde";
  static constexpr char kStateMagic[9] = "ECPSMDE1";
  // The bisection's tolerance on α (CODE's).
  static constexpr double kAlphaEps = 1e-3;
  // Declared parameters: alpha, round_dim, solver, init.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // One table per distinct width, ascending: "E<w>" (Σ_{d_f=w} n_f) × w f32.
  std::vector<RowTableSpec> Tables() const override;
  // per_key 1 in every table: the key's row in its field's width table,
  // kNoRow in the others.
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  // e = row·P_f (d_f < d) or the row.
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  // Row gradient P_f·g (the row's d_f entries; zeros in the kNoRow slots);
  // DenseGrads() = Σ over the batch's keys of field f of rowᵀ·g.
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  std::span<float> DenseParams() override { return params_; }
  std::span<float> DenseGrads() override { return grads_; }
  MemoryReport Memory() const override;
  // The parameters, α and the per-field dimensions; LoadState refuses a blob
  // of another Init. The projections are the trainer's (MDNS).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // ------------------------------------------------ for tests and oracles --
  int dim(int f) const { return dims_[f]; }
  const std::vector<int>& dims() const { return dims_; }
  double alpha() const { return alpha_; }
  // Table of field f and the row its rows start at.
  int table(int f) const { return layout_.tables().table[f]; }
  uint64_t table_offset(int f) const { return layout_.tables().row_off[f]; }
  // Offset of P_f in DenseParams(); only for fields with dim(f) < d.
  size_t projection_offset(int f) const { return layout_.projection_offset(f); }
  // The power-law dimensions of `s` at α (docs/methods.md §2.20).
  static std::vector<int> PowerLawDims(const FeatureSpace& s, double alpha, bool round_dim);
  // Inference bytes of dimensions `dims` (tables, projections, per-field dims).
  static uint64_t InferenceBytes(const FeatureSpace& s, const std::vector<int>& dims) {
    return dimension_internal::ProjectedFields::InferenceBytes(s, dims);
  }

 private:
  FeatureSpace space_;
  double init_bound_ = 0;
  bool round_dim_ = true;
  bool tiny_init_ = false;
  std::string solver_ = "fill";
  double alpha_ = 0;
  std::vector<int> dims_;
  // The tables (one per distinct dimension) and the projected lookup.
  dimension_internal::ProjectedFields layout_;
  std::vector<float> params_, grads_;
};

}  // namespace ecps
