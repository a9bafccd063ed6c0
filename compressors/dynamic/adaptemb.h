// AdaptEmb (docs/methods.md §2.14, DeepRec's adaptive embedding).
//
// `mode=dynamic` (the default): every feature starts on a shared hashed row of
// E; once its decayed count reaches `promote_count` it is promoted to an
// exclusive row initialised from its shared row; when the exclusive rows are
// all taken, the coldest owner is demoted (its row folded back into its
// shared row with weight `fold`) if a hotter feature is waiting. About
// `top_percent` of the features can hold exclusive rows at a time (default
// min(0.1, CR/2): the requirement top_percent < CR). The mapping and the
// counters live where the rows are (keyed_slots.h), so inference memory
// (rows + the map of the promoted features) never exceeds the budget.
//
// `mode=static` (CODE `adapt`): the split is computed from the train split's
// counts before training, per field: the top_percent most frequent ids
// (ties included unless `exact_split`) own rows of `F`, the others share the
// rows of `R` by their rank among the rare ids (remap −1, −2, … mod r_f); the
// remap (n int32) is the method's own state, on every worker, and charged to
// inference (mapping_bytes), which CODE's Table 5 does not
// (`charge_remap=false` sizes the rows as CODE: ceil(n_f·CR)).
#pragma once

#include <memory>
#include <vector>

#include "compressors/dynamic/keyed_slots.h"

namespace ecps {

class AdaptEmbedding final : public dynamic_internal::KeyedSlotMethod {
 public:
  static constexpr char kName[] = "adaptemb";
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();
  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;

  std::vector<RowTableSpec> Tables() const override;
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  std::vector<KeyMappingSpec> KeyMappings() const override;
  MemoryReport Memory() const override;
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  bool is_static() const { return static_; }
  // Static mode: the rows of F and R.
  uint64_t frequent_rows() const { return f_rows_; }
  uint64_t rare_rows() const { return r_rows_; }

 private:
  Status InitStatic(const CompressorContext& ctx, const ParamSet& params);

  bool static_ = false;
  // Static mode: per global id, its F row (>= 0) or -(rank among its field's
  // rare ids) - 1; per field the F and R offsets and r_f.
  std::vector<int32_t> remap_;
  std::vector<uint64_t> f_off_, r_off_, r_f_;
  uint64_t f_rows_ = 0, r_rows_ = 0;
};

}  // namespace ecps
