// Hash (docs/methods.md §2.2, CODE `hash`): one table E of m = floor(n·CR) rows
// over the single global id space; a feature x of field f uses row
// (offset_f + x) mod m.
// per_field=true is CODE's use_multi=1 mode of the same method: field f gets
// its own m_f = max(1, floor(n_f·CR)) rows and x uses row off_f + x mod m_f.
// Every field is then compressed by the same ratio, as CompoEmb and the other
// per-field methods do, instead of the global table's ratio over all ids
// (where a small field's values mostly share rows with the rare values of the
// big fields). It exists to tell the two effects apart (docs/results.md).
//
// Budget: closed form. docs/methods.md writes m = ceil(n·CR); floor is used so that
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
  static constexpr char kStateMagic[9] = "ECPSHASH";
  // Declared parameters: per_field (the budget alone sizes the table).
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // {E: m x d, f32, U(-b, b)}.
  std::vector<RowTableSpec> Tables() const override;
  // Encode: (offset_f + key) mod m, or off_f + key mod m_f per field.
  // Decode/DecodeBackward: copies (OneTableMethod).
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  // inference = parameter = 4·m·d bytes (the modulus is the table size).
  MemoryReport Memory() const override;
  // Saves m and the per-field sizes; LoadState refuses a blob whose sizes
  // differ from this Init's (compressors/internal/method_util.h).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // Rows of E (the sum of the per-field m_f in per-field mode).
  uint64_t rows() const { return m_; }
  // Per-field row counts m_f; empty for the global table.
  const std::vector<uint64_t>& field_rows() const { return field_rows_; }

 private:
  // Per-field offsets and m_ from field_rows_.
  void Layout();

  double init_bound_ = 0;
  uint64_t m_ = 1;
  std::vector<uint64_t> field_rows_, field_off_;  // per-field mode only
};

}  // namespace ecps
