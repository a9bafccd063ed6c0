#include "compressors/hashing/memcom.h"

#include <algorithm>

#include "common/check.h"
#include "compressors/hashing/hashing_util.h"

namespace ecps {

using hashing_internal::CheckSame;

ParamSchema MemComEmbedding::Schema() {
  ParamSchema s;
  s.Bool("bias", true,
         "also learn a per-feature scalar bias b (e = E[x mod m]·w_x + b_x); false keeps w only");
  return s;
}

std::unique_ptr<Compressor> MemComEmbedding::Create() {
  return std::make_unique<MemComEmbedding>();
}

Status MemComEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(hashing_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = hashing_internal::InitBound(space_);
  bias_ = params.GetBool("bias");
  const uint64_t n = space_.total();
  const uint64_t scalar_bytes = 4ull * (bias_ ? 2 : 1) * n;
  const uint64_t row_bytes = 4ull * static_cast<uint64_t>(space_.dim);
  const uint64_t budget = hashing_internal::BudgetBytes(space_, ctx.budget);
  m_ = budget > scalar_bytes ? std::clamp<uint64_t>((budget - scalar_bytes) / row_bytes, 1, n) : 1;
  return OkStatus();
}

std::vector<RowTableSpec> MemComEmbedding::Tables() const {
  std::vector<RowTableSpec> t(bias_ ? 3 : 2);
  t[0].name = "E";
  t[0].rows = m_;
  t[0].width = space_.dim;
  t[0].init_bound = init_bound_;
  t[1].name = "w";
  t[1].rows = space_.total();
  t[1].width = 1;
  t[1].init = RowInit::kConstant;
  t[1].init_value = 1.0;
  if (bias_) {
    t[2].name = "b";
    t[2].rows = space_.total();
    t[2].width = 1;
    t[2].init = RowInit::kConstant;
    t[2].init_value = 0.0;
  }
  return t;
}

void MemComEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  const int nf = space_.num_fields();
  const size_t nt = bias_ ? 3 : 2;
  plan->Reset(n, nt);
  for (size_t t = 0; t < nt; ++t) {
    plan->per_key[t] = 1;
    plan->rows[t].resize(n);
  }
  uint64_t* e = plan->rows[0].data();
  uint64_t* w = plan->rows[1].data();
  int field = 0;
  for (int i = 0; i < n; ++i) {
    ECPS_DCHECK(keys[i] < space_.cardinalities[field]);
    const uint64_t gid = space_.offsets[field] + keys[i];
    e[i] = gid % m_;
    w[i] = gid;
    if (++field == nf) field = 0;
  }
  if (bias_) plan->rows[2] = plan->rows[1];
}

void MemComEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  const int d = space_.dim;
  const float* e = rows.values[0].data();
  const float* w = rows.values[1].data();
  const float* b = bias_ ? rows.values[2].data() : nullptr;
  for (int i = 0; i < plan.num_keys; ++i, e += d, out += d) {
    const float bi = b ? b[i] : 0.0f;
    for (int j = 0; j < d; ++j) out[j] = e[j] * w[i] + bi;
  }
}

void MemComEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                     const float* grad_out, FetchedRows* row_grads) {
  const int d = space_.dim;
  const float* e = rows.values[0].data();
  const float* w = rows.values[1].data();
  float* ge = row_grads->values[0].data();
  float* gw = row_grads->values[1].data();
  float* gb = bias_ ? row_grads->values[2].data() : nullptr;
  for (int i = 0; i < plan.num_keys; ++i, e += d, ge += d, grad_out += d) {
    float dw = 0, db = 0;
    for (int j = 0; j < d; ++j) {
      ge[j] = grad_out[j] * w[i];
      dw += grad_out[j] * e[j];
      db += grad_out[j];
    }
    gw[i] = dw;
    if (gb) gb[i] = db;
  }
}

MemoryReport MemComEmbedding::Memory() const {
  MemoryReport r;
  r.parameter_bytes =
      4ull * (m_ * static_cast<uint64_t>(space_.dim) + (bias_ ? 2 : 1) * space_.total());
  r.inference_bytes = r.parameter_bytes;
  return r;
}

std::string MemComEmbedding::SaveState() const {
  BlobWriter w = hashing_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod<uint8_t>(bias_ ? 1 : 0);
  w.Pod(m_);
  return w.Finish();
}

Status MemComEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(hashing_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  uint8_t bias = 0;
  uint64_t m = 0;
  if (!r.Pod(&bias) || !r.Pod(&m)) return r.Truncated();
  RETURN_IF_ERROR(hashing_internal::EndState(r));
  RETURN_IF_ERROR(CheckSame(kName, "bias", bias, static_cast<uint8_t>(bias_ ? 1 : 0)));
  return CheckSame(kName, "the hashed rows m", m, m_);
}

}  // namespace ecps
