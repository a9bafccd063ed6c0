#include "compressors/dynamic/adaptemb.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/blob.h"

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
  s.String("mode", "dynamic",
           "dynamic: promotions by running counts, the mapping held with the rows; static: "
           "CODE's split from the train split's counts before training",
           {"dynamic", "static"});
  s.Bool("exact_split", false,
         "static: exactly top_percent of each field's ids are frequent (ties at the threshold "
         "broken by id) instead of every id at the threshold count");
  s.Bool("charge_remap", true,
         "static: size the rows so that rows + the remap (4 B per feature) fit the budget; "
         "false: CODE's ceil(n_f*CR) rows per field, the remap on top");
  return s;
}

std::unique_ptr<Compressor> AdaptEmbedding::Create() { return std::make_unique<AdaptEmbedding>(); }

Status AdaptEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  static_ = params.GetString("mode") == "static";
  if (static_) return InitStatic(ctx, params);
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

Status AdaptEmbedding::InitStatic(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(method_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  name_ = kName;
  init_bound_ = method_internal::InitBound(space_);
  const uint64_t n = space_.total();
  if (ctx.train_counts.size() != n)
    return InvalidArgument(kName, ": mode=static needs the train split's counts (", n,
                           " features, got ", ctx.train_counts.size(), ")");
  const bool charge = params.GetBool("charge_remap");
  // The share of each field's ids that its rows may be: the budget, less the
  // remap's 4 B per id where it is charged (1/d of the full table).
  const double rows_share = charge ? ctx.budget - 1.0 / space_.dim : ctx.budget;
  double top = params.GetFloat("top_percent");
  if (top == 0) {
    top = std::min(0.1, std::max(rows_share, 0.0) / 2);
  } else if (!(top < rows_share)) {
    return InvalidArgument("adaptemb: top_percent (", top, ") must be below the rows' share of ",
                           "the budget (", rows_share,
                           charge ? ": the budget less the remap's 1/d" : "", ")");
  }
  const bool exact = params.GetBool("exact_split");
  remap_.assign(n, 0);
  f_off_.clear();
  r_off_.clear();
  r_f_.clear();
  f_rows_ = r_rows_ = 0;
  for (int f = 0; f < space_.num_fields(); ++f) {
    const uint64_t nf = space_.cardinalities[f], off = space_.offsets[f];
    const std::span<const uint32_t> c = ctx.train_counts.subspan(off, nf);
    // The top `want` ids by count; ties at the threshold count are all in
    // unless exact_split (CODE's bisection on the threshold keeps ties).
    const uint64_t want = std::min<uint64_t>(nf, static_cast<uint64_t>(std::floor(top * nf)));
    std::vector<uint32_t> order(nf);
    for (uint64_t i = 0; i < nf; ++i) order[i] = static_cast<uint32_t>(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return c[a] > c[b]; });
    std::vector<bool> frequent(nf, false);
    if (want > 0) {
      const uint32_t t = std::max<uint32_t>(1, c[order[want - 1]]);
      for (uint64_t i = 0; i < nf; ++i)
        frequent[order[i]] = exact ? (i < want && c[order[i]] >= t) : c[order[i]] >= t;
    }
    uint64_t k = 0, rare = 0;
    for (uint64_t x = 0; x < nf; ++x) {
      if (frequent[x]) {
        remap_[off + x] = static_cast<int32_t>(k++);
      } else {
        remap_[off + x] = -static_cast<int32_t>(++rare);
      }
    }
    const uint64_t rows = static_cast<uint64_t>(
        charge ? std::floor(std::max(rows_share, 0.0) * static_cast<double>(nf))
               : std::ceil(ctx.budget * static_cast<double>(nf)));
    const uint64_t r = rare == 0 ? 0 : std::max<uint64_t>(1, rows > k ? rows - k : 0);
    r_f_.push_back(r);
    f_rows_ += k;
  }
  // A field's rare ids need at least one row: where that puts the total over
  // the budget, the largest fields give rows back (never below one).
  if (charge) {
    const uint64_t budget =
        static_cast<uint64_t>(static_cast<double>(method_internal::FullBytes(space_)) * ctx.budget);
    const uint64_t row_bytes = 4 * static_cast<uint64_t>(space_.dim);
    const uint64_t fixed = 4 * n + row_bytes * f_rows_;
    const uint64_t allowed = budget > fixed ? (budget - fixed) / row_bytes : 0;
    uint64_t total = 0;
    for (uint64_t r : r_f_) total += r;
    std::vector<size_t> order(r_f_.size());
    for (size_t f = 0; f < order.size(); ++f) order[f] = f;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return r_f_[a] > r_f_[b]; });
    for (size_t f : order) {
      if (total <= allowed) break;
      const uint64_t take = std::min(total - allowed, r_f_[f] > 0 ? r_f_[f] - 1 : 0);
      r_f_[f] -= take;
      total -= take;
    }
  }
  uint64_t f_next = 0;
  for (int f = 0; f < space_.num_fields(); ++f) {
    f_off_.push_back(f_next);
    r_off_.push_back(r_rows_);
    r_rows_ += r_f_[f];
    uint64_t k = 0;
    for (uint64_t x = 0; x < space_.cardinalities[f]; ++x) k += remap_[space_.offsets[f] + x] >= 0;
    f_next += k;
  }
  return OkStatus();
}

std::vector<RowTableSpec> AdaptEmbedding::Tables() const {
  if (!static_) return KeyedSlotMethod::Tables();
  RowTableSpec f;
  f.name = "F";
  f.rows = f_rows_;
  f.width = space_.dim;
  f.init_bound = init_bound_;
  RowTableSpec r = f;
  r.name = "R";
  r.rows = r_rows_;
  return {f, r};
}

void AdaptEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  if (!static_) return KeyedSlotMethod::Encode(keys, plan);
  const int n = static_cast<int>(keys.size());
  const int nf = space_.num_fields();
  plan->Reset(n, 2);
  plan->per_key = {1, 1};
  plan->rows[0].resize(n);
  plan->rows[1].resize(n);
  int field = 0;
  for (int i = 0; i < n; ++i) {
    const int32_t m = remap_[space_.offsets[field] + keys[i]];
    if (m >= 0) {
      plan->rows[0][i] = f_off_[field] + static_cast<uint64_t>(m);
      plan->rows[1][i] = kNoRow;
    } else {
      plan->rows[0][i] = kNoRow;
      plan->rows[1][i] = r_off_[field] + static_cast<uint64_t>(-m - 1) % r_f_[field];
    }
    if (++field == nf) field = 0;
  }
}

void AdaptEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  if (!static_) return KeyedSlotMethod::Decode(plan, rows, out);
  // One of the two rows is kNoRow (zeros): the sum is the other.
  const size_t m = static_cast<size_t>(plan.num_keys) * space_.dim;
  const float* a = rows.values[0].data();
  const float* b = rows.values[1].data();
  for (size_t i = 0; i < m; ++i) out[i] = a[i] + b[i];
}

void AdaptEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                    const float* grad_out, FetchedRows* row_grads) {
  if (!static_) return KeyedSlotMethod::DecodeBackward(plan, rows, grad_out, row_grads);
  const size_t m = static_cast<size_t>(plan.num_keys) * space_.dim;
  for (int t = 0; t < 2; ++t) {
    row_grads->values[t].resize(m);
    std::memcpy(row_grads->values[t].data(), grad_out, m * sizeof(float));
  }
}

std::vector<KeyMappingSpec> AdaptEmbedding::KeyMappings() const {
  if (static_) return {};
  return KeyedSlotMethod::KeyMappings();
}

MemoryReport AdaptEmbedding::Memory() const {
  if (!static_) return KeyedSlotMethod::Memory();
  MemoryReport r;
  r.parameter_bytes = 4 * (f_rows_ + r_rows_) * static_cast<uint64_t>(space_.dim);
  // The remap: one int32 per feature, on every worker (CODE's Table 5 does
  // not charge it).
  r.mapping_bytes = 4 * space_.total();
  r.auxiliary_bytes = r.mapping_bytes;
  r.inference_bytes = r.parameter_bytes + r.mapping_bytes;
  return r;
}

namespace {
constexpr char kStaticMagic[9] = "ECPSADPS";
}  // namespace

std::string AdaptEmbedding::SaveState() const {
  if (!static_) return KeyedSlotMethod::SaveState();
  BlobWriter w = method_internal::StateWriter(kStaticMagic, 1, space_);
  w.Vec(remap_);
  w.Vec(r_f_);
  return w.Finish();
}

Status AdaptEmbedding::LoadState(const std::string& blob) {
  if (!static_) return KeyedSlotMethod::LoadState(blob);
  BlobReader r;
  RETURN_IF_ERROR(method_internal::OpenState(blob, kStaticMagic, 1, kName, space_, &r));
  std::vector<int32_t> remap;
  std::vector<uint64_t> r_f;
  if (!r.Vec(&remap) || !r.Vec(&r_f)) return r.Truncated();
  RETURN_IF_ERROR(method_internal::EndState(r));
  RETURN_IF_ERROR(method_internal::CheckSame(kName, "the frequency split (remap)", remap, remap_));
  return method_internal::CheckSame(kName, "the rare rows per field", r_f, r_f_);
}

}  // namespace ecps
