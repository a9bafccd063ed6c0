#include "compressors/dynamic/adaptemb.h"

#include <algorithm>

namespace ecps {

ParamSchema AdaptEmbedding::Schema() {
  ParamSchema s;
  s.Float("top_percent", 0, 0, 1,
          "share of the features that may hold exclusive rows at a time (0: min(0.1, CR/2))");
  s.Float("promote_count", 5, 1e-6, 1e12,
          "decayed occurrences that promote a feature to an exclusive row");
  s.Float("half_life", 0, 0, 1e15, "half-life of the occurrence counts in steps (0: no decay)");
  s.Float("fold", 0.5, 0, 1,
          "weight of a demoted feature's row when it is folded back into its shared row");
  s.Int("interval", 1, 1, 1000000, "steps between promotion rounds");
  return s;
}

std::unique_ptr<Compressor> AdaptEmbedding::Create() { return std::make_unique<AdaptEmbedding>(); }

Status AdaptEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  double top = params.GetFloat("top_percent");
  if (top == 0) top = std::min(0.1, ctx.budget / 2);
  if (!(top < ctx.budget))
    return InvalidArgument("adaptemb: top_percent (", top, ") must be below the budget (",
                           ctx.budget, "): the exclusive rows are part of the budget's rows");
  dynamic_internal::SlotParams p;
  // The exclusive rows are top_percent of the features, i.e. top/CR of the
  // budget's rows; the rest are shared.
  p.shared_fraction = std::clamp(1.0 - top / ctx.budget, 1e-6, 1.0);
  p.admit = params.GetFloat("promote_count");
  p.half_life = params.GetFloat("half_life");
  p.interval = static_cast<double>(params.GetInt("interval"));
  p.fold = params.GetFloat("fold");
  return InitSlots(kName, ctx, p, "adaptemb");
}

}  // namespace ecps
