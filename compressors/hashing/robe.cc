#include "compressors/hashing/robe.h"

#include <algorithm>

#include "common/check.h"
#include "common/rng.h"
#include "compressors/hashing/hashing_util.h"

namespace ecps {

using hashing_internal::CheckSame;

namespace {
// Ten int32 constants: P and the nine drawn values (docs/methods.md §2.9 step 1).
constexpr uint64_t kConstantBytes = 10 * sizeof(int32_t);
}  // namespace

ParamSchema RobeEmbedding::Schema() {
  ParamSchema s;
  s.Int("chunks", 1, 1, 1024,
        "Z: the embedding is cut into Z chunks of d/Z elements, each at its own hashed offset "
        "(d must be divisible by Z)");
  return s;
}

std::unique_ptr<Compressor> RobeEmbedding::Create() { return std::make_unique<RobeEmbedding>(); }

Status RobeEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(hashing_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = hashing_internal::InitBound(space_);
  chunks_ = static_cast<int>(params.GetInt("chunks"));
  if (space_.dim % chunks_ != 0)
    return InvalidArgument(kName, ": chunks = ", chunks_, " does not divide the dim ", space_.dim);
  const uint64_t budget = hashing_internal::BudgetBytes(space_, ctx.budget);
  length_ = budget > kConstantBytes + 4 ? (budget - kConstantBytes) / 4 : 1;
  Rng rng(hashing_internal::MethodSeed(ctx.seed, 0x0B0BE));
  for (uint64_t& k : k_) k = 1 + rng.Below(kPrime - 1);
  return OkStatus();
}

std::vector<RowTableSpec> RobeEmbedding::Tables() const {
  RowTableSpec m;
  m.name = "M";
  m.rows = length_;
  m.width = 1;
  m.init_bound = init_bound_;
  return {m};
}

void RobeEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  const int nf = space_.num_fields();
  const int d = space_.dim;
  const int w = d / chunks_;
  plan->Reset(n, 1);
  plan->per_key[0] = d;
  plan->rows[0].resize(static_cast<size_t>(n) * d);
  plan->aux.resize(static_cast<size_t>(n) * d);
  uint64_t* idx = plan->rows[0].data();
  float* sign = plan->aux.data();
  const uint64_t len = length_;
  int field = 0;
  for (int i = 0; i < n; ++i, idx += d, sign += d) {
    ECPS_DCHECK(keys[i] < space_.cardinalities[field]);
    const uint64_t x = space_.offsets[field] + keys[i];
    // Within a chunk the hashed position only grows by one per element, so
    // (v mod P) mod L is stepped instead of recomputed, except when v wraps
    // at P.
    for (int z = 0; z < chunks_; ++z) {
      uint64_t v = (k_[kBh] * x + k_[kDh] + k_[kCh] * static_cast<uint64_t>(z)) % kPrime;
      uint64_t r = v % len;
      for (int p = 0; p < w; ++p) {
        if (p > 0) {
          if (++v == kPrime) {
            v = 0;
            r = 0;
          } else if (++r == len) {
            r = 0;
          }
        }
        idx[z * w + p] = r;
      }
    }
    uint64_t g = (k_[kBg] * x + k_[kDg]) % kPrime;
    for (int e = 0; e < d; ++e) {
      sign[e] = (g & 1) ? 1.0f : -1.0f;
      g += k_[kCg];
      if (g >= kPrime) g -= kPrime;
    }
    if (++field == nf) field = 0;
  }
}

void RobeEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  const float* v = rows.values[0].data();
  const float* s = plan.aux.data();
  const size_t total = static_cast<size_t>(plan.num_keys) * space_.dim;
  for (size_t i = 0; i < total; ++i) out[i] = s[i] * v[i];
}

void RobeEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                   const float* grad_out, FetchedRows* row_grads) {
  const float* s = plan.aux.data();
  float* g = row_grads->values[0].data();
  const size_t total = static_cast<size_t>(plan.num_keys) * space_.dim;
  for (size_t i = 0; i < total; ++i) g[i] = s[i] * grad_out[i];
}

MemoryReport RobeEmbedding::Memory() const {
  MemoryReport r;
  r.parameter_bytes = 4ull * length_;
  r.auxiliary_bytes = kConstantBytes;
  r.inference_bytes = r.parameter_bytes + r.auxiliary_bytes;
  return r;
}

std::string RobeEmbedding::SaveState() const {
  BlobWriter w = hashing_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod(length_);
  w.Pod<int32_t>(chunks_);
  w.Pod(k_);
  return w.Finish();
}

Status RobeEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(hashing_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  uint64_t length = 0;
  int32_t chunks = 0;
  std::array<uint64_t, kNumConstants> k{};
  if (!r.Pod(&length) || !r.Pod(&chunks) || !r.Pod(&k)) return r.Truncated();
  RETURN_IF_ERROR(hashing_internal::EndState(r));
  RETURN_IF_ERROR(CheckSame(kName, "the array length L", length, length_));
  RETURN_IF_ERROR(CheckSame(kName, "chunks", chunks, static_cast<int32_t>(chunks_)));
  return CheckSame(kName, "the hash constants", k, k_);
}

}  // namespace ecps
