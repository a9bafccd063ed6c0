// MixedPrec (docs/methods.md §2.19b, ORIG Yang et al. 2020): the whole table in
// row-wise INT8 plus a small fp32 cache of the most frequent rows.
//   Q      n x d u8 codes, per-row (scale, min) in fp16 (or fp32) recomputed
//          from the row's min/max on every write, stochastic rounding;
//   cache  C x d f32, trained with ordinary lazy Adam.
// Cache admission is static: the C ids with the highest train-split counts
// (ties: lower id), chosen at Init (the survey allows train counts instead
// of an LFU window). A cached id reads and trains only its cache row; its Q
// row is never touched. The cache index is the sorted list of cached global
// ids (4 bytes each, i32 as CODE counts maps); a key's cache row is its
// position in that list.
//
// Budget solver: C = floor((4nd·CR - Qbytes) / (4d + 4)), clamped to [0, n],
// with Qbytes = n·d + n·2·sizeof(scale). Below Qbytes (31.25% at d = 16 with
// fp16 scales) no cache fits and the real ratio is reported. Without train
// counts C = 0.
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/compressor.h"

namespace ecps {

class MixedPrecEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "mixedprec";
  static constexpr char kStateMagic[9] = "ECPSMIXP";
  // Declared parameters: cache_rows, scale_dtype, rounding.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // {Q, cache}; the cache table may have 0 rows.
  std::vector<RowTableSpec> Tables() const override;
  // per_key {1, 1}: (Q row, kNoRow) or (kNoRow, cache row).
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  // parameter = n·d + n·2·sizeof(scale) + C·4d (the rows of Q and the
  // cache), auxiliary = 4C (the cache index), inference = their sum.
  MemoryReport Memory() const override;
  // The feature space, scale dtype, rounding and cached ids; LoadState
  // refuses a blob that differs from this Init's.
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  uint64_t cache_rows() const { return cached_ids_.size(); }

 private:
  FeatureSpace space_;
  double init_bound_ = 0;
  DType scale_dtype_ = DType::kF16;
  Rounding rounding_ = Rounding::kStochasticPerRow;
  std::vector<uint32_t> cached_ids_;  // sorted global ids
};

}  // namespace ecps
