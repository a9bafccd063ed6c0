#include "compressors/pruning/ham.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "common/logging.h"
#include "compressors/hashing/hashing_util.h"
#include "compressors/pruning/magnitude_threshold.h"

namespace ecps {
namespace {

using method_internal::CheckSame;

constexpr uint64_t kChunkRows = 4096;
constexpr int kE = 0, kA = 1;

// Per field the sum Σ e eᵀ over the batch's keys of the field (d x d,
// row-major, in double) and their count: summed over the workers, they give
// the global batch's Gram estimate (a worker's half batch alone gives
// another, and the regulariser is not linear in it).
struct FieldGrams {
  std::vector<double> sums;    // F·d·d
  std::vector<double> counts;  // F
};

FieldGrams RawGrams(const FeatureSpace& s, const float* rows, int n) {
  const int nf = s.num_fields();
  const size_t d = static_cast<size_t>(s.dim);
  FieldGrams fg;
  fg.sums.assign(static_cast<size_t>(nf) * d * d, 0.0);
  fg.counts.assign(nf, 0.0);
  for (int i = 0; i < n; ++i) {
    fg.counts[i % nf] += 1;
    double* g = fg.sums.data() + static_cast<size_t>(i % nf) * d * d;
    const float* e = rows + static_cast<size_t>(i) * d;
    for (size_t a = 0; a < d; ++a) {
      const double ea = e[a];
      for (size_t b = 0; b < d; ++b) g[a * d + b] += ea * static_cast<double>(e[b]);
    }
  }
  return fg;
}

// Ĝ_f − I of field f, in place of its sums; false for a field without keys.
bool GramMinusIdentity(const FeatureSpace& s, FieldGrams* fg, int f, double* scale) {
  if (fg->counts[f] <= 0) return false;
  const size_t d = static_cast<size_t>(s.dim);
  *scale = static_cast<double>(s.cardinalities[f]) / fg->counts[f];
  double* g = fg->sums.data() + static_cast<size_t>(f) * d * d;
  for (size_t a = 0; a < d; ++a)
    for (size_t b = 0; b < d; ++b) g[a * d + b] = *scale * g[a * d + b] - (a == b ? 1 : 0);
  return true;
}

// grad += scale·4w·(n_f/c_f)·(Ĝ_f − I)·e_i for every key i (Ĝ symmetric).
void AddOrthoGradientFrom(const FeatureSpace& s, FieldGrams fg, const float* rows, int n,
                          double weight, double scale, float* grad) {
  const int nf = s.num_fields();
  const size_t d = static_cast<size_t>(s.dim);
  std::vector<double> field_scale(nf, 0.0);
  std::vector<uint8_t> has(nf, 0);
  for (int f = 0; f < nf; ++f) has[f] = GramMinusIdentity(s, &fg, f, &field_scale[f]);
  for (int i = 0; i < n; ++i) {
    const int f = i % nf;
    if (!has[f]) continue;
    const double* g = fg.sums.data() + static_cast<size_t>(f) * d * d;
    const double c = 4 * weight * field_scale[f] * scale;
    const float* e = rows + static_cast<size_t>(i) * d;
    float* o = grad + static_cast<size_t>(i) * d;
    for (size_t a = 0; a < d; ++a) {
      double sum = 0;
      for (size_t b = 0; b < d; ++b) sum += g[a * d + b] * static_cast<double>(e[b]);
      o[a] = static_cast<float>(static_cast<double>(o[a]) + c * sum);
    }
  }
}

}  // namespace

ParamSchema HamEmbedding::Schema() {
  ParamSchema s;
  s.Float("ortho_weight", 1e-4, 0.0, 1e6,
          "weight of the soft-orthogonal regulariser sum_f ||G_f - I||^2 on the weights in the "
          "pretrain and the search's weight steps (G_f: field f's Gram matrix estimated from "
          "the batch); 0: none");
  s.Int("mask_every", 10, 2, int64_t{1} << 30,
        "search the mask threshold (the K largest |a|) again every this many search steps; it "
        "is used from two steps later (averaged over the workers in between)");
  s.String("nonzeros", "budget",
           "budget: the most nonzeros whose exact bytes fit the budget; paper: methods.md §1.8's "
           "density (r - 1)/(2d) or CR/3 (4-byte column indices)",
           {"budget", "paper"});
  return s;
}

std::unique_ptr<Compressor> HamEmbedding::Create() { return std::make_unique<HamEmbedding>(); }

Status HamEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(method_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = method_internal::InitBound(space_);
  ortho_weight_ = params.GetFloat("ortho_weight");
  mask_every_ = params.GetInt("mask_every");
  paper_nonzeros_ = params.GetString("nonzeros") == "paper";
  format_ = pruning::FormatForBudget(ctx.budget, space_.dim);
  ASSIGN_OR_RETURN(
      target_nnz_,
      pruning::TargetNonzeros(kName, format_, space_.total(), space_.dim, ctx.budget,
                              hashing_internal::BudgetBytes(space_, ctx.budget), paper_nonzeros_));
  stage_ = 0;
  tau_ = pending_tau_ = 0;
  pending_ = 0;
  search_steps_ = 0;
  sum_status_ = OkStatus();
  mask_.clear();
  kept_ = 0;
  sparse_ = pruning::SparseRows();
  return OkStatus();
}

std::vector<RowTableSpec> HamEmbedding::Tables() const {
  if (stage_ == 3)
    return {pruning::ValuesTable(sparse_.nnz()), pruning::ColumnsTable(sparse_.nnz(), space_.dim)};
  RowTableSpec e;
  e.name = "E";
  e.rows = space_.total();
  e.width = space_.dim;
  e.init_bound = init_bound_;
  RowTableSpec a = e;
  a.name = "A";  // overwritten with |E| when the search begins
  return {e, a};
}

std::vector<StageSpec> HamEmbedding::Stages() const {
  StageSpec search{"search"};
  search.reset_optimizer_state = true;
  StageSpec retrain{"retrain"};
  retrain.reset_optimizer_state = true;
  StageSpec sparse{"sparse"};
  sparse.post_training = true;
  sparse.freeze_dense = true;
  return {StageSpec{"pretrain"}, search, retrain, sparse};
}

double HamEmbedding::OrthoPenalty(const FeatureSpace& s, const float* rows, int n, double weight) {
  FieldGrams fg = RawGrams(s, rows, n);
  const size_t dd = static_cast<size_t>(s.dim) * s.dim;
  double r = 0, scale = 0;
  for (int f = 0; f < s.num_fields(); ++f)
    if (GramMinusIdentity(s, &fg, f, &scale))
      for (size_t j = 0; j < dd; ++j) r += fg.sums[f * dd + j] * fg.sums[f * dd + j];
  return weight * r;
}

void HamEmbedding::AddOrthoGradient(const FeatureSpace& s, const float* rows, int n, double weight,
                                    double scale, float* grad) {
  AddOrthoGradientFrom(s, RawGrams(s, rows, n), rows, n, weight, scale, grad);
}

Status HamEmbedding::AddBatchOrthoGradient(const float* rows, int n, float* grad) {
  FieldGrams fg = RawGrams(space_, rows, n);
  if (workers_ != nullptr && workers_->size() > 1) {
    // The global batch's sums: every worker's gradient is then the single
    // process's for its keys.
    std::vector<double> buf(fg.sums);
    buf.insert(buf.end(), fg.counts.begin(), fg.counts.end());
    RETURN_IF_ERROR(workers_->AllreduceSum(std::span<double>(buf)));
    std::copy(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(fg.sums.size()),
              fg.sums.begin());
    std::copy(buf.begin() + static_cast<std::ptrdiff_t>(fg.sums.size()), buf.end(),
              fg.counts.begin());
  }
  AddOrthoGradientFrom(space_, std::move(fg), rows, n, ortho_weight_, 1.0, grad);
  return OkStatus();
}

bool HamEmbedding::Kept(uint64_t row, int c) const {
  const uint64_t i = row * static_cast<uint64_t>(space_.dim) + static_cast<uint64_t>(c);
  return (mask_[i >> 6] >> (i & 63)) & 1;
}

void HamEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  if (stage_ == 3) {
    plan->Reset(n, 2);
    std::vector<uint64_t> rows;
    method_internal::GlobalRows(space_, keys, &rows);
    sparse_.Encode(rows, 0, 1, plan);
    return;
  }
  // A is fetched in the search only (per_key 0 elsewhere).
  plan->Reset(n, 2);
  plan->per_key[kE] = 1;
  method_internal::GlobalRows(space_, keys, &plan->rows[kE]);
  if (stage_ == 1) {
    plan->per_key[kA] = 1;
    plan->rows[kA] = plan->rows[kE];
  }
}

void HamEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  if (stage_ == 3) return sparse_.Decode(plan, rows, 0, 1, out);
  const size_t d = static_cast<size_t>(space_.dim);
  const size_t count = static_cast<size_t>(plan.num_keys) * d;
  const float* e = rows.values[kE].data();
  if (stage_ == 0) {
    std::copy(e, e + count, out);
  } else if (stage_ == 1) {
    const float* a = rows.values[kA].data();
    for (size_t i = 0; i < count; ++i)
      out[i] = std::fabs(static_cast<double>(a[i])) >= tau_ ? e[i] : 0.0f;
  } else {
    for (int i = 0; i < plan.num_keys; ++i)
      for (size_t c = 0; c < d; ++c)
        out[i * d + c] = Kept(plan.rows[kE][i], static_cast<int>(c)) ? e[i * d + c] : 0.0f;
  }
}

void HamEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                  const float* grad_out, FetchedRows* row_grads) {
  if (stage_ == 3) return sparse_.DecodeBackward(plan, rows, grad_out, 0, 1, row_grads);
  const size_t d = static_cast<size_t>(space_.dim);
  const int n = plan.num_keys;
  const size_t count = static_cast<size_t>(n) * d;
  const float* e = rows.values[kE].data();
  float* ge = row_grads->values[kE].data();
  if (stage_ == 0) {
    std::copy(grad_out, grad_out + count, ge);
    if (ortho_weight_ > 0) {
      Status st = AddBatchOrthoGradient(e, n, ge);
      if (!st.ok() && sum_status_.ok()) sum_status_ = st;
    }
    return;
  }
  if (stage_ == 2) {
    for (int i = 0; i < n; ++i)
      for (size_t c = 0; c < d; ++c)
        ge[i * d + c] = Kept(plan.rows[kE][i], static_cast<int>(c)) ? grad_out[i * d + c] : 0.0f;
    return;
  }
  // The search. A threshold found in the last AfterStep: every replica takes
  // the workers' mean (their counts may have met different rows).
  if (pending_ == 1) {
    double t[1] = {pending_tau_};
    if (workers_ != nullptr && workers_->size() > 1) {
      Status st = workers_->AllreduceSum(std::span<double>(t, 1));
      if (!st.ok() && sum_status_.ok()) sum_status_ = st;
      t[0] /= workers_->size();
    }
    pending_tau_ = t[0];
    pending_ = 2;
  }
  const float* a = rows.values[kA].data();
  float* ga = row_grads->values[kA].data();
  if (MaskPhase()) {
    // Straight-through: the hard mask m = [|a| >= τ] passes ∂L/∂m = g·e to
    // |a| unchanged, and d|a|/da = sign(a) (a = 0 counts as positive).
    for (size_t i = 0; i < count; ++i) {
      ge[i] = 0.0f;
      ga[i] = static_cast<float>(std::copysign(1.0, static_cast<double>(a[i])) *
                                 static_cast<double>(grad_out[i]) * static_cast<double>(e[i]));
    }
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    ge[i] = std::fabs(static_cast<double>(a[i])) >= tau_ ? grad_out[i] : 0.0f;
    ga[i] = 0.0f;
  }
  if (ortho_weight_ > 0) {
    Status st = AddBatchOrthoGradient(e, n, ge);
    if (!st.ok() && sum_status_.ok()) sum_status_ = st;
  }
}

Status HamEmbedding::AfterStep(int64_t step) {
  if (!sum_status_.ok()) {
    Status st = sum_status_;
    sum_status_ = OkStatus();
    return Annotate(st, "ham: a sum over the workers");
  }
  if (stage_ != 1) return OkStatus();
  if (rows_ == nullptr) return FailedPrecondition("ham: no row access attached");
  ++search_steps_;
  if (pending_ == 2) {
    tau_ = pending_tau_;
    pending_ = 0;
  }
  if (search_steps_ % mask_every_ != 0) return OkStatus();
  const double total = static_cast<double>(Elements());
  ASSIGN_OR_RETURN(pruning::ThresholdResult r,
                   pruning::MagnitudeThreshold(*rows_, kA, total - static_cast<double>(target_nnz_),
                                               std::max(1.0, 1e-4 * total), /*at_least=*/true));
  pending_tau_ = r.tau;
  pending_ = 1;
  return OkStatus();
}

Status HamEmbedding::TakeMask() {
  const uint64_t n = space_.total();
  const size_t d = static_cast<size_t>(space_.dim);
  const uint64_t total = Elements();
  ASSIGN_OR_RETURN(pruning::ThresholdResult r,
                   pruning::MagnitudeThreshold(*rows_, kA, static_cast<double>(total - target_nnz_),
                                               std::max(1.0, 1e-4 * static_cast<double>(total)),
                                               /*at_least=*/true));
  mask_.assign((total + 63) / 64, 0);
  kept_ = 0;
  std::vector<float> buf;
  for (uint64_t begin = 0; begin < n; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, n - begin);
    buf.resize(count * d);
    RETURN_IF_ERROR(rows_->ReadRows(kA, begin, count, buf.data()));
    for (uint64_t j = 0; j < count * d; ++j)
      if (std::fabs(static_cast<double>(buf[j])) >= r.tau) {
        const uint64_t i = begin * d + j;
        mask_[i >> 6] |= uint64_t{1} << (i & 63);
        ++kept_;
      }
  }
  if (kept_ > target_nnz_)
    return FailedPrecondition("ham: the mask keeps ", kept_, " elements at threshold ", r.tau,
                              ", more than the budget's ", target_nnz_);
  ECPS_LOG_INFO("ham: the mask keeps {} of {} elements ({} for the budget), threshold {:.6g}",
                kept_, total, target_nnz_, r.tau);
  return OkStatus();
}

Status HamEmbedding::BuildSparse() {
  const uint64_t n = space_.total();
  const int d = space_.dim;
  sparse_.Start(format_, n, d);
  std::vector<float> buf;
  std::vector<uint8_t> keep(d);
  for (uint64_t begin = 0; begin < n; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, n - begin);
    buf.resize(count * d);
    RETURN_IF_ERROR(rows_->ReadRows(kE, begin, count, buf.data()));
    for (uint64_t i = 0; i < count; ++i) {
      for (int c = 0; c < d; ++c) keep[c] = Kept(begin + i, c);
      sparse_.AppendRow(buf.data() + i * d, keep.data());
    }
  }
  return sparse_.Finish();
}

Status HamEmbedding::BeginStage(int index) {
  if (index < 1 || index > 3) return InvalidArgument("ham has stages 0 to 3, not ", index);
  if (rows_ == nullptr) return FailedPrecondition("ham: no row access attached");
  if (index != stage_ + 1)
    return FailedPrecondition("ham: stage ", index, " cannot follow stage ", stage_);
  const uint64_t n = space_.total();
  const size_t d = static_cast<size_t>(space_.dim);
  if (index == 1) {
    // The masks start as magnitude pruning of the pre-trained table: a = |e|,
    // and τ keeps the K largest (the same threshold over E as over |A|).
    const double total = static_cast<double>(Elements());
    ASSIGN_OR_RETURN(
        pruning::ThresholdResult r,
        pruning::MagnitudeThreshold(*rows_, kE, total - static_cast<double>(target_nnz_),
                                    std::max(1.0, 1e-4 * total), /*at_least=*/true));
    std::vector<float> buf;
    for (uint64_t begin = 0; begin < n; begin += kChunkRows) {
      const uint64_t count = std::min(kChunkRows, n - begin);
      buf.resize(count * d);
      RETURN_IF_ERROR(rows_->ReadRows(kE, begin, count, buf.data()));
      for (float& x : buf) x = std::fabs(x);
      RETURN_IF_ERROR(rows_->WriteRows(kA, begin, count, buf.data()));
    }
    stage_ = 1;
    tau_ = r.tau;
    pending_ = 0;
    pending_tau_ = 0;
    search_steps_ = 0;
    return OkStatus();
  }
  if (index == 2) {
    RETURN_IF_ERROR(TakeMask());
    stage_ = 2;
    return OkStatus();
  }
  RETURN_IF_ERROR(BuildSparse());
  stage_ = 3;
  std::vector<uint64_t>().swap(mask_);
  ECPS_LOG_INFO("ham: {} of {} elements in the {} layout; inference ratio {:.6f}", sparse_.nnz(),
                Elements(), pruning::SparseFormatName(format_),
                static_cast<double>(Memory().inference_bytes) /
                    static_cast<double>(method_internal::FullBytes(space_)));
  return OkStatus();
}

Status HamEmbedding::InitStageRows(int index) {
  if (rows_ == nullptr || index != 3) return OkStatus();
  const uint64_t nnz = sparse_.nnz();
  if (sparse_.values().size() != nnz)
    return FailedPrecondition("ham: InitStageRows without BeginStage");
  constexpr uint64_t kChunk = uint64_t{1} << 20;
  for (uint64_t begin = 0; begin < nnz; begin += kChunk) {
    const uint64_t count = std::min(kChunk, nnz - begin);
    RETURN_IF_ERROR(rows_->WriteRows(0, begin, count, sparse_.values().data() + begin));
    RETURN_IF_ERROR(rows_->WriteRows(1, begin, count, sparse_.columns().data() + begin));
  }
  sparse_.ReleaseValues();
  return OkStatus();
}

MemoryReport HamEmbedding::Memory() const {
  const uint64_t n = space_.total();
  const uint64_t nnz = stage_ == 3 ? sparse_.nnz() : target_nnz_;
  const uint64_t tables = nnz * (4 + pruning::ColumnBytes(space_.dim));
  const uint64_t index = pruning::IndexBytes(format_, n, nnz);
  MemoryReport m;
  m.auxiliary_bytes = index + (stage_ == 2 ? (Elements() + 7) / 8 : 0);
  m.inference_bytes = tables + index;
  m.parameter_bytes = 2 * method_internal::FullBytes(space_) + tables;
  return m;
}

std::string HamEmbedding::SaveState() const {
  BlobWriter w = method_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod(ortho_weight_);
  w.Pod(mask_every_);
  w.Pod<uint8_t>(paper_nonzeros_);
  w.Pod(static_cast<uint8_t>(format_));
  w.Pod(target_nnz_);
  w.Pod<int32_t>(stage_);
  w.Pod(tau_);
  w.Pod<int32_t>(pending_);
  w.Pod(pending_tau_);
  w.Pod(search_steps_);
  if (stage_ == 2) w.Vec(mask_);
  if (stage_ == 3) sparse_.Save(&w);
  return w.Finish();
}

Status HamEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(method_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  double ortho = 0, tau = 0, pending_tau = 0;
  int64_t mask_every = 0, search_steps = 0;
  uint8_t paper = 0, format = 0;
  uint64_t target = 0;
  int32_t stage = 0, pending = 0;
  if (!r.Pod(&ortho) || !r.Pod(&mask_every) || !r.Pod(&paper) || !r.Pod(&format) ||
      !r.Pod(&target) || !r.Pod(&stage) || !r.Pod(&tau) || !r.Pod(&pending) ||
      !r.Pod(&pending_tau) || !r.Pod(&search_steps))
    return r.Truncated();
  RETURN_IF_ERROR(CheckSame(kName, "ortho_weight", ortho, ortho_weight_));
  RETURN_IF_ERROR(CheckSame(kName, "mask_every", mask_every, mask_every_));
  RETURN_IF_ERROR(CheckSame(kName, "nonzeros", paper != 0, paper_nonzeros_));
  RETURN_IF_ERROR(
      CheckSame(kName, "the sparse format", static_cast<int>(format), static_cast<int>(format_)));
  RETURN_IF_ERROR(CheckSame(kName, "the budget's nonzeros", target, target_nnz_));
  if (stage < 0 || stage > 3) return DataLoss(kName, " state: stage ", stage, " is not 0 to 3");
  if (pending < 0 || pending > 2 || search_steps < 0 || !(tau >= 0) || !std::isfinite(tau) ||
      !std::isfinite(pending_tau))
    return DataLoss(kName, " state: a search position (pending ", pending, ", step ", search_steps,
                    ", threshold ", tau, ") that no search reaches");
  std::vector<uint64_t> mask;
  uint64_t kept = 0;
  pruning::SparseRows sparse;
  if (stage == 2) {
    ASSIGN_OR_RETURN(kept, pruning::LoadElementMask(&r, kName, Elements(), target_nnz_, &mask));
  }
  if (stage == 3) {
    RETURN_IF_ERROR(pruning::LoadBudgetedSparse(&r, kName, space_.total(), space_.dim, format_,
                                                target_nnz_, &sparse));
  }
  RETURN_IF_ERROR(method_internal::EndState(r));
  stage_ = stage;
  tau_ = tau;
  pending_ = pending;
  pending_tau_ = pending_tau;
  search_steps_ = search_steps;
  sum_status_ = OkStatus();
  mask_ = std::move(mask);
  kept_ = kept;
  sparse_ = std::move(sparse);
  return OkStatus();
}

}  // namespace ecps
