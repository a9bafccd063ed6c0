// DoubleHash, frequency-based double hashing (docs/methods.md §2.4; ORIG
// Zhang et al., RecSys'20; not in CODE). The top fraction p of each field's
// ids by train-split count (ctx.train_counts; ties to the smaller id, ids
// never seen are never frequent) own a row of the frequent table F (k x d,
// rows in global-id order). Every other id x sums two rows of a hash table:
//   e = F[map(x)]                        x frequent
//   e = H_f[h1(x)] + H_f[h2(x)]          otherwise,
//   h_j(x) = ((a_j·x + b_j) mod (2^61 - 1)) mod m_f.
// per_field=true (§2.4 and ORIG): field f has its own hash table
// H_f of m_f rows and its own pair (h1, h2) drawn from ctx.seed, applied to
// the field-local id x; all H_f are stacked in one store table H at per-field
// offsets (as the F_f are in F). per_field=false (the default: 0.033 AUC
// better at 10% on generated data, docs/results.md): one global H of m rows
// and one pair of hashes of the global id shared by every field.
//
// The frequent-id map is an open-addressing table of 2k slots of
// (uint32 id + 1, uint32 F row) -- 16 bytes per frequent id instead of the
// n-int32 remap docs/methods.md mentions, so budgets below 4/(4d) stay
// reachable. It is charged to inference memory.
//
// Budget: memory = 4·d·(k + Σ m_f) + 16·k + 40 per hash pair (a1, b1, a2,
// b2 and its table's size m_f). p defaults to min(0.1, CR/2) (AdaptEmb's
// rule, §2.4.6); if the F rows, the map and one H row per field that needs
// one leave no room, p is lowered (bisection) until they fit. The rows left,
// R = floor((budget - fixed) / 4d), go to the hash tables:
//   global     m = R;
//   per field  §2.4's m_f = n_f·CR - k_f, i.e. field f gets the share
//              n_f / n of the budget minus its F rows and map, clamped to
//              [1, n_f - k_f] (0 when every id of the field is frequent);
//              rows over R are taken back from the largest fields, rows left
//              (clamped small fields) go to the largest fields.
// Either way the budget is met to within about one row per field. Budgets
// below one H row per field plus the constants are unreachable (k = 0,
// m_f = 1, real ratio reported). Without train counts nothing is frequent.
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
  static constexpr char kStateMagic[9] = "ECPSDBLH";
  // Declared parameters: frequent_fraction, per_field.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // {F: k x d, H: sum_f m_f x d}, f32, U(-b, b). F may have 0 rows.
  std::vector<RowTableSpec> Tables() const override;
  // per_key {1, 2}: (F row | kNoRow, {h1, h2} | {kNoRow, kNoRow}).
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  // inference = parameter (4d(k + H rows)) + auxiliary (map slots, hash
  // constants and sizes).
  MemoryReport Memory() const override;
  // Saves k, the hash tables' sizes, the hash constants and the frequent-id
  // map; LoadState refuses a blob that differs from this Init's.
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // F row of global id `gid`, or kNoRow if it is not frequent.
  uint64_t FrequentRow(uint64_t gid) const;
  uint64_t frequent_rows() const { return k_; }
  // The fraction p actually used (after the budget lowered it, if it did).
  double frequent_fraction() const { return p_; }
  bool per_field() const { return per_field_; }
  // Rows of H (all fields).
  uint64_t hash_rows() const { return h_rows_; }
  // Hash pairs: one per field with per_field, else one. Pair g hashes into
  // rows [hash_offset(g), hash_offset(g) + hash_size(g)) of H.
  int hash_groups() const { return static_cast<int>(size_.size()); }
  uint64_t hash_size(int g) const { return size_[g]; }
  uint64_t hash_offset(int g) const { return offset_[g]; }
  const hashing_internal::UniversalHash& hash(int g, int j) const { return h_[2 * g + j]; }

 private:
  FeatureSpace space_;
  double init_bound_ = 0;
  bool per_field_ = false;
  double p_ = 0;
  uint64_t k_ = 0, h_rows_ = 1;
  std::vector<hashing_internal::UniversalHash> h_;  // 2 per group
  std::vector<uint64_t> size_, offset_;             // per group
  // Open addressing, linear probing: slot_key_ = id + 1 (0 = empty).
  std::vector<uint32_t> slot_key_, slot_row_;
};

}  // namespace ecps
