// MEmCom (docs/methods.md §2.5; ORIG Pansare et al., MLSys'22; not in CODE): one
// hashed table E (m x d) over the global id space plus a per-feature scalar
// multiplier w (init 1) and, with bias=true (the PAPER's O(md + n)), a
// per-feature scalar bias b (init 0):
//   e = E[x mod m] · w[x] + b[x]          (x = global id)
// w and b are n x 1 store tables, trained by the store's sparse optimizer.
//
// Budget: m = floor((4·n·d·CR - 4·s·n) / 4d), s = 1 + bias, clamped to
// [1, n]; memory = 4·(m·d + s·n) bytes. CR below about s/d (12.5% for d = 16
// with bias) is unreachable: m = 1 and the real ratio is reported.
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/compressor.h"

namespace ecps {

class MemComEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "memcom";
  static constexpr char kStateMagic[9] = "ECPSMMCM";
  // Declared parameters: bias.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // {E: m x d U(-b, b), w: n x 1 const 1, [b: n x 1 const 0]}, f32.
  std::vector<RowTableSpec> Tables() const override;
  // per_key 1 in each table: (x mod m, x[, x]).
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  // dE = g·w, dw = <g, E row>, db = sum(g).
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  MemoryReport Memory() const override;
  // bias and m; LoadState refuses a blob that differs from this Init's.
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  uint64_t hash_rows() const { return m_; }
  bool bias() const { return bias_; }

 private:
  FeatureSpace space_;
  double init_bound_ = 0;
  bool bias_ = true;
  uint64_t m_ = 1;
};

}  // namespace ecps
