#include "compressors/quantization/mixed_prec.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "common/check.h"
#include "compressors/quantization/quant_common.h"

namespace ecps {

ParamSchema MixedPrecEmbedding::Schema() {
  return ParamSchema()
      .Int("cache_rows", -1, -1, int64_t{1} << 40,
           "fp32 cache rows; -1 = as many as the budget allows")
      .String("scale_dtype", "f16", "storage of each INT8 row's (scale, min)", {"f16", "f32"})
      .String("rounding", "stochastic_row",
              "INT8 write-back rounding: stochastic_row (one draw per row, as INT8), "
              "stochastic_element or nearest",
              quant_internal::RoundingChoices());
}

std::unique_ptr<Compressor> MixedPrecEmbedding::Create() {
  return std::make_unique<MixedPrecEmbedding>();
}

Status MixedPrecEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(quant_internal::CheckSpace(kName, ctx.space));
  const uint64_t n = ctx.space.total();
  if (n > (uint64_t{1} << 32))
    return InvalidArgument(kName, ": ", n, " features do not fit the 32-bit cache index");
  space_ = ctx.space;
  init_bound_ = quant_internal::InitBound(space_);
  scale_dtype_ = params.GetString("scale_dtype") == "f32" ? DType::kF32 : DType::kF16;
  rounding_ = quant_internal::ParseRounding(params.GetString("rounding"));
  const uint64_t d = space_.dim;
  const uint64_t q_bytes = n * d + n * 2 * (DTypeBits(scale_dtype_) / 8);
  int64_t want = params.GetInt("cache_rows");
  uint64_t c = 0;
  if (want >= 0) {
    c = std::min<uint64_t>(static_cast<uint64_t>(want), n);
  } else {
    const double left =
        ctx.budget * static_cast<double>(quant_internal::FullBytes(space_)) - q_bytes;
    if (left > 0) c = std::min<uint64_t>(static_cast<uint64_t>(left / (4 * d + 4)), n);
  }
  cached_ids_.clear();
  if (c > 0 && !ctx.train_counts.empty()) {
    if (ctx.train_counts.size() != n)
      return InvalidArgument(kName, ": ", ctx.train_counts.size(), " train counts for ", n,
                             " features");
    std::vector<uint32_t> ids(n);
    std::iota(ids.begin(), ids.end(), 0u);
    const auto& cnt = ctx.train_counts;
    auto hotter = [&](uint32_t a, uint32_t b) {
      return cnt[a] != cnt[b] ? cnt[a] > cnt[b] : a < b;
    };
    std::partial_sort(ids.begin(), ids.begin() + c, ids.end(), hotter);
    cached_ids_.assign(ids.begin(), ids.begin() + c);
    std::sort(cached_ids_.begin(), cached_ids_.end());
  }
  return OkStatus();
}

std::vector<RowTableSpec> MixedPrecEmbedding::Tables() const {
  RowTableSpec q;
  q.name = "Q";
  q.rows = space_.total();
  q.width = space_.dim;
  q.dtype = DType::kU8;
  q.quant = QuantScheme::kPerRow;
  q.scale_dtype = scale_dtype_;
  q.rounding = rounding_;
  q.init_bound = init_bound_;
  RowTableSpec cache;
  cache.name = "cache";
  cache.rows = cached_ids_.size();
  cache.width = space_.dim;
  cache.init_bound = init_bound_;
  return {q, cache};
}

void MixedPrecEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  plan->Reset(n, 2);
  plan->per_key[0] = plan->per_key[1] = 1;
  std::vector<uint64_t>& q = plan->rows[0];
  std::vector<uint64_t>& c = plan->rows[1];
  quant_internal::GlobalRows(space_, keys, &q);
  c.assign(n, kNoRow);
  if (cached_ids_.empty()) return;
  const uint32_t* begin = cached_ids_.data();
  const uint32_t* end = begin + cached_ids_.size();
  for (int i = 0; i < n; ++i) {
    const uint32_t id = static_cast<uint32_t>(q[i]);
    const uint32_t* it = std::lower_bound(begin, end, id);
    if (it != end && *it == id) {
      c[i] = static_cast<uint64_t>(it - begin);
      q[i] = kNoRow;
    }
  }
}

void MixedPrecEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  // Exactly one of the two rows is real; the other was gathered as zeros.
  const std::vector<float>& q = rows.values[0];
  const std::vector<float>& c = rows.values[1];
  const size_t total = static_cast<size_t>(plan.num_keys) * space_.dim;
  ECPS_DCHECK(q.size() == total && c.size() == total);
  for (size_t i = 0; i < total; ++i) out[i] = q[i] + c[i];
}

void MixedPrecEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                        const float* grad_out, FetchedRows* row_grads) {
  const size_t total = static_cast<size_t>(plan.num_keys) * space_.dim;
  for (int t = 0; t < 2; ++t) {
    std::vector<float>& g = row_grads->values[t];
    g.resize(total);
    std::memcpy(g.data(), grad_out, total * sizeof(float));
  }
}

MemoryReport MixedPrecEmbedding::Memory() const {
  const uint64_t n = space_.total(), d = space_.dim, c = cached_ids_.size();
  MemoryReport r;
  // Rows of Q (codes + scale pair) and of the cache; the cache index (one
  // int32 id per cached row) is side state a lookup needs.
  r.parameter_bytes = n * d + n * 2 * (DTypeBits(scale_dtype_) / 8) + c * 4 * d;
  r.auxiliary_bytes = c * 4;
  r.inference_bytes = r.parameter_bytes + r.auxiliary_bytes;
  return r;
}

std::string MixedPrecEmbedding::SaveState() const {
  BlobWriter w = quant_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod(scale_dtype_);
  w.Pod(rounding_);
  w.Vec(cached_ids_);
  return w.Finish();
}

Status MixedPrecEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(quant_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  DType scale_dtype{};
  Rounding rounding{};
  std::vector<uint32_t> ids;
  if (!r.Pod(&scale_dtype) || !r.Pod(&rounding) || !r.Vec(&ids)) return r.Truncated();
  RETURN_IF_ERROR(quant_internal::EndState(r));
  RETURN_IF_ERROR(quant_internal::CheckSame(kName, "scale_dtype", scale_dtype, scale_dtype_));
  RETURN_IF_ERROR(quant_internal::CheckSame(kName, "the rounding", rounding, rounding_));
  return quant_internal::CheckSame(kName, "the cached ids", ids, cached_ids_);
}

}  // namespace ecps
