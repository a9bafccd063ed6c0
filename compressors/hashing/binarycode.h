// BinaryCode / binary hashing (methods.md §2.6; ORIG Yan et al., CIKM'21; not
// in CODE). A field-local id x of a compressed field f is written in
// L_f = ceil(log2 n_f) bits and cut into t_f = ceil(L_f / c_f) blocks of
// c_f bits:
//   succession: block j = bits [j·c, (j+1)·c)            (CompoEmb with base 2^c)
//   skip:       block j = bits j, j+t, j+2t, ...          (default)
// Block j's value v_j selects row j·2^c + v_j of the field's T_f
// (t_f·2^c_f rows, blocks in disjoint ranges, so the row tuple is unique per
// id), and e = sum_j T_f[row_j] (or the mean with pooling=mean). A field is
// kept full (n_f rows, one block) when no c gives fewer rows. All T_f are
// stacked in one store table T.
//
// Budget (discrete, §2.6.6): each field first takes its largest option with
// t·2^c <= n_f·CR rows (the least compression within its share), or its
// smallest option if none fits; if the total is then over the global budget
// the largest fields drop to their smallest options until it fits; the slack
// left is spent largest field first, each taking its largest option that
// fits. Memory = 4·d·rows + 4 bytes per compressed field (its c). Budgets
// below every field's smallest option (2·L_f rows at c = 1) are unreachable;
// the real ratio is reported.
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/compressor.h"

namespace ecps {

class BinaryCodeEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "binarycode";
  // Declared parameters: split (skip|succession), pooling (sum|mean).
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // {T: sum_f rows_f x d, f32, U(-b, b)}.
  std::vector<RowTableSpec> Tables() const override;
  // per_key = max_f t_f; a key of a field with fewer blocks pads with kNoRow.
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  MemoryReport Memory() const override;
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // Bits per block of field f; 0 = kept full.
  int code_bits(int f) const { return bits_[f]; }
  // Blocks of field f (1 when full) and its first row in T.
  int blocks(int f) const { return blocks_[f]; }
  uint64_t base(int f) const { return base_[f]; }
  int address_bits(int f) const { return address_bits_[f]; }
  bool skip() const { return skip_; }
  bool mean() const { return mean_; }

 private:
  // Rebuilds blocks_, base_, rows_ and max_blocks_ from bits_.
  void Layout();

  FeatureSpace space_;
  double init_bound_ = 0;
  bool skip_ = true, mean_ = false;
  std::vector<int> bits_, blocks_, address_bits_;
  std::vector<uint64_t> base_;
  uint64_t rows_ = 0;
  int max_blocks_ = 1;
};

}  // namespace ecps
