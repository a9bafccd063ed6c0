// DoubleHash, frequency-based double hashing (methods.md §2.4; ORIG Zhang et
// al., RecSys'20; not in CODE). The top fraction p of each field's ids by
// train-split count (ctx.train_counts; ties to the smaller id, ids never seen
// are never frequent) own a row of the frequent table F (k x d, rows in
// global-id order). Every other id x (global id) sums two rows of one shared
// hash table H (m x d):
//   e = F[map(x)]                        x frequent
//   e = H[h1(x)] + H[h2(x)]              otherwise,
//   h_j(x) = ((a_j·x + b_j) mod (2^61 - 1)) mod m, a_j, b_j drawn from ctx.seed.
//
// The frequent-id map is an open-addressing table of 2k slots of
// (uint32 id + 1, uint32 F row) -- 16 bytes per frequent id instead of the
// n-int32 remap methods.md mentions, so budgets below 4/(4d) stay reachable.
// It is charged to inference memory.
//
// Budget: memory = 4·d·(k + m) + 8·slots + 32 (a1, b1, a2, b2). p defaults to
// min(0.1, CR/2) (AdaptEmb's rule, methods.md §2.4.6); if k rows and the map
// leave no room for m >= 1, p is lowered (bisection) until they do; then
// m = floor((budget - 4dk - map - 32) / 4d) fills the budget to within one
// row. Budgets below one H row plus the 32 bytes are unreachable (k = 0,
// m = 1, real ratio reported). Without train counts nothing is frequent.
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/compressor.h"
#include "compressors/hashing/hashing_util.h"

namespace ecps {

class DoubleHashEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "doublehash";
  // Declared parameters: frequent_fraction.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // {F: k x d, H: m x d}, f32, U(-b, b). F may have 0 rows.
  std::vector<RowTableSpec> Tables() const override;
  // per_key {1, 2}: (F row | kNoRow, {h1, h2} | {kNoRow, kNoRow}).
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  // inference = parameter (4d(k+m)) + auxiliary (map slots, hash constants).
  MemoryReport Memory() const override;
  // Saves k, m, the hash constants and the frequent-id map.
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // F row of global id `gid`, or kNoRow if it is not frequent.
  uint64_t FrequentRow(uint64_t gid) const;
  uint64_t frequent_rows() const { return k_; }
  // The fraction p actually used (after the budget lowered it, if it did).
  double frequent_fraction() const { return p_; }
  uint64_t hash_rows() const { return m_; }
  const hashing_internal::UniversalHash& hash(int j) const { return h_[j]; }

 private:
  FeatureSpace space_;
  double init_bound_ = 0;
  double p_ = 0;
  uint64_t k_ = 0, m_ = 1;
  hashing_internal::UniversalHash h_[2];
  // Open addressing, linear probing: slot_key_ = id + 1 (0 = empty).
  std::vector<uint32_t> slot_key_, slot_row_;
};

}  // namespace ecps
