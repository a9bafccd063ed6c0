#include "compressors/hashing/hash.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "compressors/hashing/hashing_util.h"

namespace ecps {

using hashing_internal::CheckSame;

ParamSchema HashEmbedding::Schema() {
  ParamSchema s;
  s.Bool("per_field", false,
         "one table per field with floor(n_f·CR) rows (CODE use_multi=1) instead of one global "
         "table of floor(n·CR) rows");
  return s;
}

std::unique_ptr<Compressor> HashEmbedding::Create() { return std::make_unique<HashEmbedding>(); }

Status HashEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(hashing_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = hashing_internal::InitBound(space_);
  const uint64_t row_bytes = 4ull * static_cast<uint64_t>(space_.dim);
  field_rows_.clear();
  field_off_.clear();
  if (!params.GetBool("per_field")) {
    m_ = std::clamp<uint64_t>(hashing_internal::BudgetBytes(space_, ctx.budget) / row_bytes, 1,
                              space_.total());
    return OkStatus();
  }
  // floor keeps the sum within the budget; the floor of 1 row per field may
  // exceed it at tiny budgets, and Memory() then reports the real ratio.
  for (uint64_t n : space_.cardinalities) {
    const double want = std::floor(static_cast<double>(n) * ctx.budget);
    field_rows_.push_back(std::clamp<uint64_t>(static_cast<uint64_t>(want), 1, n));
  }
  Layout();
  return OkStatus();
}

void HashEmbedding::Layout() {
  field_off_.assign(field_rows_.size(), 0);
  m_ = 0;
  for (size_t f = 0; f < field_rows_.size(); ++f) {
    field_off_[f] = m_;
    m_ += field_rows_[f];
  }
}

std::vector<RowTableSpec> HashEmbedding::Tables() const {
  RowTableSpec e;
  e.name = "E";
  e.rows = m_;
  e.width = space_.dim;
  e.init_bound = init_bound_;
  return {e};
}

void HashEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  if (field_rows_.empty()) {
    OneTableMethod::Encode(keys, plan);
    for (uint64_t& r : plan->rows[0]) r %= m_;
    return;
  }
  const int n = static_cast<int>(keys.size());
  const int nf = space_.num_fields();
  plan->Reset(n, 1);
  plan->per_key = {1};
  plan->rows[0].resize(n);
  uint64_t* rows = plan->rows[0].data();
  int field = 0;
  for (int i = 0; i < n; ++i) {
    ECPS_DCHECK(keys[i] < space_.cardinalities[field]);
    rows[i] = field_off_[field] + keys[i] % field_rows_[field];
    if (++field == nf) field = 0;
  }
}

MemoryReport HashEmbedding::Memory() const {
  MemoryReport r;
  r.inference_bytes = 4ull * m_ * static_cast<uint64_t>(space_.dim);
  r.parameter_bytes = r.inference_bytes;
  return r;
}

std::string HashEmbedding::SaveState() const {
  BlobWriter w = hashing_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod(m_);
  w.Vec(field_rows_);
  return w.Finish();
}

Status HashEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(hashing_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  uint64_t m = 0;
  std::vector<uint64_t> field_rows;
  if (!r.Pod(&m) || !r.Vec(&field_rows)) return r.Truncated();
  RETURN_IF_ERROR(hashing_internal::EndState(r));
  RETURN_IF_ERROR(CheckSame(kName, "per_field", !field_rows.empty(), !field_rows_.empty()));
  RETURN_IF_ERROR(CheckSame(kName, "the row count m", m, m_));
  return CheckSame(kName, "the per-field row counts", field_rows, field_rows_);
}

}  // namespace ecps
