// ROBE, random offset block embedding (docs/methods.md §2.9, CODE `robe`): one
// flat fp32 array M of L elements over the single global id space. With Z
// chunks per embedding (default 1), element i of feature x (global id), in
// chunk z = i div (d/Z) at position p = i mod (d/Z), is
//   idx_i = ((B_h·x + D_h + p + C_h·z) mod P) mod L
//   s_i   = 2·(((B_g·x + D_g + C_g·i) mod P) mod 2) - 1
//   e_i   = s_i · M[idx_i]
// with P = 2038074743 and (D_h, C_h, B_h, A_h, D_g, C_g, B_g, A_g, spare)
// drawn in [1, P) from ctx.seed (the A terms are the per-field slot terms,
// off in the single-table mode). All arithmetic is exact in uint64
// (B·x < 2^31·2^32). M is a store table of L rows of width 1, so the store's
// duplicate summing adds colliding elements' gradients and lazy Adam updates
// only touched elements (§2.9 step 3).
//
// Budget: memory = 4·L + 40 (ten int32 constants); L = floor((4·n·d·CR - 40)
// / 4) >= 1, so every budget is met to within one float.
//
// Thread-safety: as Compressor.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "compressors/compressor.h"

namespace ecps {

class RobeEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "robe";
  static constexpr char kStateMagic[9] = "ECPSROBE";
  static constexpr uint64_t kPrime = 2038074743ull;
  // Indices into constants().
  enum Constant { kDh = 0, kCh, kBh, kAh, kDg, kCg, kBg, kAg, kSpare, kNumConstants };
  // Declared parameters: chunks (Z).
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // {M: L x 1, f32, U(-b, b)}.
  std::vector<RowTableSpec> Tables() const override;
  // per_key = d element rows; the signs go to plan->aux ([N x d] of +-1).
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  MemoryReport Memory() const override;
  // L, Z and the constants; LoadState refuses a blob that differs from this
  // Init's.
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  uint64_t length() const { return length_; }
  int chunks() const { return chunks_; }
  const std::array<uint64_t, kNumConstants>& constants() const { return k_; }

 private:
  FeatureSpace space_;
  double init_bound_ = 0;
  uint64_t length_ = 1;
  int chunks_ = 1;
  std::array<uint64_t, kNumConstants> k_{};
};

}  // namespace ecps
