#include "compressors/full.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "common/rng.h"

namespace ecps {

ParamSchema FullEmbedding::Schema() {
  ParamSchema s;
  s.String(
      "init", "global",
      "row initialisation: 'global' U(+-sqrt(1/max n_f)) for every row (docs/methods.md 1.3) or "
      "'per_field' U(+-sqrt(1/n_f)) per field (the DLRM reference code's)",
      {"global", "per_field"});
  return s;
}

std::unique_ptr<Compressor> FullEmbedding::Create() { return std::make_unique<FullEmbedding>(); }

Status FullEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(method_internal::CheckSpace(kName, ctx.space));
  const FeatureSpace& s = ctx.space;
  space_ = s;
  init_bound_ = method_internal::InitBound(s);
  per_field_init_ = params.GetString("init") == "per_field";
  seed_ = ctx.seed;
  return OkStatus();
}

Status FullEmbedding::InitStageRows(int index) {
  if (index != 0 || !per_field_init_) return OkStatus();
  if (rows_ == nullptr) return FailedPrecondition("full: init=per_field needs row access");
  // Field by field in chunks, from a stream of its own so the values do not
  // depend on the store's seeding.
  Rng rng(seed_ ^ 0x46554C4C49ull);  // "FULLI"
  const uint64_t chunk_rows = 1 << 14;
  std::vector<float> buf;
  for (int f = 0; f < space_.num_fields(); ++f) {
    const uint64_t n = space_.cardinalities[f];
    if (n == 0) continue;
    const float b = static_cast<float>(std::sqrt(1.0 / static_cast<double>(n)));
    for (uint64_t begin = 0; begin < n; begin += chunk_rows) {
      const uint64_t count = std::min(chunk_rows, n - begin);
      buf.resize(count * space_.dim);
      for (float& v : buf) v = b * (2.0f * rng.UniformFloat() - 1.0f);
      RETURN_IF_ERROR(rows_->WriteRows(0, space_.offsets[f] + begin, count, buf.data()));
    }
  }
  return OkStatus();
}

std::vector<RowTableSpec> FullEmbedding::Tables() const {
  RowTableSpec e;
  e.name = "E";
  e.rows = space_.total();
  e.width = space_.dim;
  e.init_bound = init_bound_;
  return {e};
}

std::string FullEmbedding::SaveState() const {
  BlobWriter w = method_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod<uint8_t>(per_field_init_ ? 1 : 0);
  return w.Finish();
}

Status FullEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(method_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  uint8_t per_field = 0;
  if (!r.Pod(&per_field)) return r.Truncated();
  RETURN_IF_ERROR(method_internal::EndState(r));
  return method_internal::CheckSame(kName, "init (1 = per_field)", per_field,
                                    static_cast<uint8_t>(per_field_init_ ? 1 : 0));
}

MemoryReport FullEmbedding::Memory() const {
  MemoryReport r;
  r.inference_bytes = method_internal::FullBytes(space_);
  r.parameter_bytes = r.inference_bytes;
  return r;
}

}  // namespace ecps
