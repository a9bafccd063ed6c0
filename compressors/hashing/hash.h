// Hash (methods.md §2.2, CODE `hash`): one table E of m = floor(n·CR) rows
// over the single global id space; a feature x of field f uses row
// (offset_f + x) mod m.
//
// Budget: closed form. methods.md writes m = ceil(n·CR); floor is used so that
// inference memory never exceeds the budget (it is within one row, hence
// within 1% whenever n·CR >= 100). m >= 1: budgets below one row are
// unreachable and the real ratio (one row) is reported.
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/compressor.h"
#include "compressors/internal/method_util.h"

namespace ecps {

class HashEmbedding final : public method_internal::OneTableMethod {
 public:
  static constexpr char kName[] = "hash";
  // Declared parameters: none (the budget alone sizes the table).
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // {E: m x d, f32, U(-b, b)}.
  std::vector<RowTableSpec> Tables() const override;
  // Encode: (offset_f + key) mod m. Decode/DecodeBackward: copies (OneTableMethod).
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  // inference = parameter = 4·m·d bytes (the modulus is the table size).
  MemoryReport Memory() const override;
  // Saves m; LoadState restores it (Tables() then follow the checkpoint).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  uint64_t rows() const { return m_; }

 private:
  double init_bound_ = 0;
  uint64_t m_ = 1;
};

}  // namespace ecps
