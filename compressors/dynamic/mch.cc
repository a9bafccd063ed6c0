#include "compressors/dynamic/mch.h"

namespace ecps {

ParamSchema MchEmbedding::Schema() {
  ParamSchema s;
  s.Float("fallback", 0.05, 1e-6, 1.0,
          "share of each partition's rows kept as hashed fallback rows for the features not "
          "admitted yet");
  s.Float("admit_count", 2, 1e-6, 1e12,
          "decayed occurrences a feature needs before it is admitted to a slot of its own");
  s.Float("half_life", 0, 0, 1e15, "half-life of the occurrence counts in steps (0: no decay)");
  s.String("evict", "lfu",
           "when the table is full: the least frequently used owner gives its slot to a hotter "
           "feature (lfu), or owners not seen for `ttl` steps are evicted (ttl)",
           {"lfu", "ttl"});
  s.Float("ttl", 10000, 1, 1e15, "steps without an occurrence after which evict=ttl frees a slot");
  s.Int("interval", 1, 1, 1000000, "steps between admission rounds");
  return s;
}

std::unique_ptr<Compressor> MchEmbedding::Create() { return std::make_unique<MchEmbedding>(); }

Status MchEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  dynamic_internal::SlotParams p;
  p.shared_fraction = params.GetFloat("fallback");
  p.admit = params.GetFloat("admit_count");
  p.half_life = params.GetFloat("half_life");
  p.ttl = params.GetString("evict") == "ttl";
  p.ttl_steps = params.GetFloat("ttl");
  p.interval = static_cast<double>(params.GetInt("interval"));
  p.fold = 0;
  return InitSlots(kName, ctx, p, "mch");
}

}  // namespace ecps
