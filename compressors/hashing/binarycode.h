// BinaryCode / binary hashing (docs/methods.md §2.6; ORIG Yan et al., CIKM'21; not
// in CODE). A field-local id x of a compressed field f is written in
// L_f = ceil(log2 n_f) bits and cut into t_f blocks:
//   skip:       block j = bits j, j+t, j+2t, ...          (default)
//   succession: block j = bits [j·c, (j+1)·c), c = ceil(L/t) (CompoEmb with base 2^c)
// Block j has b_j bits and its value v_j selects row off_j + v_j of the
// field's T_f, where block j owns the rows after those of blocks < j, one per
// value of its bits that some id < n_f has: 2^{b_j}, or fewer for the block
// holding bit L-1 when n_f is not a power of two (disjoint ranges, so the row
// tuple is unique per id), and
// e = sum_j T_f[row_j] (or the mean with pooling=mean). A field is kept full
// (n_f rows, one block) when no t gives fewer rows. All T_f are stacked in
// one store table T.
//
// Why reachable rows per block and not docs/methods.md's t·2^c: with t = ceil(L/c)
// blocks the bits rarely divide evenly (skip: L = 17, c = 14 gives t = 2
// blocks of 9 and 8 bits), so a t·2^c table holds rows no id can reach
// (32,768 rows of which 768 are used). Those rows were charged to the budget
// and learned nothing (BinaryCode was 0.03 AUC below full at 50%, having
// actually used ~2% of the table). Allocating exactly the reachable rows
// makes the options per field "t blocks, their reachable rows".
//
// Budget (discrete, §2.6.6): each field first takes its largest option with
// at most n_f·CR rows (the least compression within its share), or its
// smallest option if none fits; if the total is then over the global budget
// the largest fields drop to their smallest options until it fits; the slack
// left is spent largest field first, each taking its largest option that
// fits (a full table included). Memory = 4·d·rows + 4 bytes per compressed
// field (its t). Budgets below every field's smallest option (2·L_f rows at
// t = L_f) are unreachable; the real ratio is reported.
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
  static constexpr char kStateMagic[9] = "ECPSBINC";
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
  // split, pooling and the blocks per field; LoadState refuses a blob that
  // differs from this Init's.
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // Bits of field f's widest block, ceil(L_f / t_f); 0 = kept full.
  int code_bits(int f) const { return full(f) ? 0 : block_bits_[f][0]; }
  bool full(int f) const { return split_[f] == 0; }
  // Blocks of field f (1 when full) and its first row in T.
  int blocks(int f) const { return blocks_[f]; }
  uint64_t base(int f) const { return base_[f]; }
  // Rows of T_f (n_f when full).
  uint64_t field_rows(int f) const { return field_rows_[f]; }
  int address_bits(int f) const { return address_bits_[f]; }
  bool skip() const { return skip_; }
  bool mean() const { return mean_; }

 private:
  // Rebuilds blocks_, block_bits_, block_off_, base_, rows_ and max_blocks_
  // from split_.
  void Layout();

  FeatureSpace space_;
  double init_bound_ = 0;
  bool skip_ = true, mean_ = false;
  std::vector<int> split_;  // per field: t_f blocks, 0 = kept full (the saved state)
  std::vector<int> blocks_, address_bits_;
  std::vector<std::vector<int>> block_bits_;      // per field, per block: b_j
  std::vector<std::vector<uint64_t>> block_off_;  // per field, per block: first row in T_f
  std::vector<uint64_t> base_, field_rows_;
  uint64_t rows_ = 0;
  int max_blocks_ = 1;
};

}  // namespace ecps
