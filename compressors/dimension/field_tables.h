// The per-field width layout shared by the dimension-search methods
// (docs/methods.md §2.20, §2.21, §2.21b): field f stores its rows at its own
// width d_f, the fields of one width share one store table (ascending
// widths), stacked in field order, so nothing is padded to d at rest.
// MDE's tables, AutoDim's retrain tables and SSEDS's retrain tables are this
// layout; MDE and SSEDS also share the projected lookup (ProjectedFields).
//
// Thread-safety: the free functions are pure; ProjectedFields is immutable
// after Reset() and its const members may be called concurrently.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/rng.h"
#include "compressors/compressor.h"

namespace ecps::dimension_internal {

// The tables of per-field dimensions `dims`: the distinct widths
// (ascending, one table each), each field's table and first row, and each
// table's rows. A field starts at the first free row congruent to its
// global ids modulo `align` (AutoDim's shard_align, so that stage copies
// stay on their servers; fewer than `align` unused rows per field); align 1
// stacks the fields without gaps.
struct FieldTables {
  std::vector<int> widths, table;
  std::vector<uint64_t> row_off, rows;
};
FieldTables PlanFieldTables(const FeatureSpace& s, const std::vector<int>& dims, uint64_t align);

// The layout's RowTableSpecs: "<prefix><w>", f32 U(±init_bound).
std::vector<RowTableSpec> FieldTableSpecs(const FieldTables& t, const std::string& prefix,
                                          double init_bound);

// per_key 1 in every table: key i's row in its field's table, kNoRow in the
// others.
void EncodeFieldTables(const FieldTables& t, int num_fields, std::span<const uint32_t> keys,
                       LookupPlan* plan);

// Fills count weights: Xavier-normal with std sqrt(2 / (fan_in + fan_out))
// (Box-Muller pairs), or U(±bound) when `tiny` (CODE's embedding init).
void FillInit(Rng* rng, bool tiny, double bound, int fan_in, int fan_out, float* w, size_t count);

// The projected lookup: a field with d_f < d outputs e = row·P_f (P_f d_f × d,
// row-major, no bias), a field with d_f = d its row. The projections live in
// the method's DenseParams() (the P_f of the fields with d_f < d, in field
// order); this class holds only the layout.
class ProjectedFields {
 public:
  // REQUIRES: dims[f] in [1, s.dim].
  void Reset(const FeatureSpace& s, std::vector<int> dims);
  const std::vector<int>& dims() const { return dims_; }
  const FieldTables& tables() const { return tables_; }
  size_t projection_floats() const { return proj_floats_; }
  // Offset of P_f in the projections; only for fields with dims()[f] < d.
  size_t projection_offset(int f) const { return proj_off_[f]; }
  // P_f of every projected field, from Rng(seed ^ (tag + f)) per field.
  void InitProjections(uint64_t seed, uint64_t tag, bool tiny, double bound, float* p) const;
  // Bytes of the stored rows, 4·Σ n_f·d_f.
  uint64_t TableBytes() const;
  // Inference bytes of dimensions `dims`: the rows, the projections and one
  // 4-byte dimension per field.
  static uint64_t InferenceBytes(const FeatureSpace& s, const std::vector<int>& dims);

  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, const float* proj, float* out) const;
  // Row gradients P_f·g (zeros in the kNoRow slots) and proj_grads =
  // Σ over the batch's keys of field f of rowᵀ·g (overwritten).
  void Backward(const LookupPlan& plan, const FetchedRows& rows, const float* proj,
                const float* grad_out, FetchedRows* row_grads, float* proj_grads) const;

 private:
  int num_fields_ = 0, dim_ = 0;
  std::vector<int> dims_;
  FieldTables tables_;
  std::vector<size_t> proj_off_;
  size_t proj_floats_ = 0;
};

}  // namespace ecps::dimension_internal
