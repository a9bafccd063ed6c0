// AdaptEmb (docs/methods.md §2.14, DeepRec's adaptive embedding), `mode=
// dynamic` (the default): every feature starts on a shared hashed row of E;
// once its decayed count reaches `promote_count` it is promoted to an
// exclusive row initialised from its shared row; when the exclusive rows are
// all taken, the coldest owner is demoted (its row folded back into its
// shared row with weight `fold`) if a hotter feature is waiting. About
// `top_percent` of the features can hold exclusive rows at a time (default
// min(0.1, CR/2): the requirement top_percent < CR). The mapping and the
// counters live where the rows are (keyed_slots.h), so inference memory
// (rows + the map of the promoted features) never exceeds the budget.
#pragma once

#include <memory>

#include "compressors/dynamic/keyed_slots.h"

namespace ecps {

class AdaptEmbedding final : public dynamic_internal::KeyedSlotMethod {
 public:
  static constexpr char kName[] = "adaptemb";
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();
  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
};

}  // namespace ecps
