#include "compressors/pruning/deeplight.h"

#include <algorithm>
#include <cmath>

#include "common/logging.h"
#include "compressors/hashing/hashing_util.h"
#include "compressors/pruning/magnitude_threshold.h"

namespace ecps {
namespace {

using method_internal::CheckSame;
using pruning::SparseFormat;

constexpr uint64_t kChunkRows = 4096;

}  // namespace

ParamSchema DeepLightEmbedding::Schema() {
  ParamSchema s;
  s.Int("prune_every", 10, 2, int64_t{1} << 30,
        "prune every this many steps of the prune stage (the threshold found at step t is "
        "applied after step t + 1)");
  s.Float("decay", 0.99, 0.0, 1.0, "sparsity schedule s(t) = P·(1 - decay^(t / decay_steps))");
  s.Float("decay_steps", 100, 1e-9, 1e12, "see decay");
  s.Bool("persistent_mask", true,
         "pruned weights stay pruned (stored as a sentinel read as 0, no gradient); false: the "
         "authors' behaviour, pruned weights are zeroed and may regrow until the next prune");
  s.String("nonzeros", "budget",
           "budget: the most nonzeros whose exact bytes fit the budget; paper: methods.md §1.8's "
           "density (r - 1)/(2d) or CR/3 (4-byte column indices)",
           {"budget", "paper"});
  return s;
}

std::unique_ptr<Compressor> DeepLightEmbedding::Create() {
  return std::make_unique<DeepLightEmbedding>();
}

Status DeepLightEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(method_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = method_internal::InitBound(space_);
  prune_every_ = params.GetInt("prune_every");
  decay_ = params.GetFloat("decay");
  decay_steps_ = params.GetFloat("decay_steps");
  persistent_ = params.GetBool("persistent_mask");
  paper_nonzeros_ = params.GetString("nonzeros") == "paper";
  const uint64_t n = space_.total();
  const int d = space_.dim;
  format_ = pruning::FormatForBudget(ctx.budget, d);
  ASSIGN_OR_RETURN(
      target_nnz_,
      pruning::TargetNonzeros(kName, format_, n, d, ctx.budget,
                              hashing_internal::BudgetBytes(space_, ctx.budget), paper_nonzeros_));
  stage_ = 0;
  prune_start_ = -1;
  pending_ = false;
  pending_tau_ = last_tau_ = last_pruned_ = 0;
  prunes_ = 0;
  sparse_ = pruning::SparseRows();
  return OkStatus();
}

double DeepLightEmbedding::prune_rate() const {
  return 1.0 - static_cast<double>(target_nnz_) / static_cast<double>(Elements());
}

double DeepLightEmbedding::ScheduledSparsity(int64_t t) const {
  return prune_rate() * (1.0 - std::pow(decay_, static_cast<double>(t) / decay_steps_));
}

std::vector<RowTableSpec> DeepLightEmbedding::Tables() const {
  if (stage_ == 2)
    return {pruning::ValuesTable(sparse_.nnz()), pruning::ColumnsTable(sparse_.nnz(), space_.dim)};
  RowTableSpec e;
  e.name = "E";
  e.rows = space_.total();
  e.width = space_.dim;
  e.init_bound = init_bound_;
  return {e};
}

std::vector<StageSpec> DeepLightEmbedding::Stages() const {
  StageSpec sparse{"sparse"};
  sparse.post_training = true;
  sparse.freeze_dense = true;
  return {StageSpec{"train"}, StageSpec{"prune"}, sparse};
}

void DeepLightEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  if (stage_ < 2) {
    plan->Reset(n, 1);
    plan->per_key[0] = 1;
    method_internal::GlobalRows(space_, keys, &plan->rows[0]);
    return;
  }
  plan->Reset(n, 2);
  std::vector<uint64_t> rows;
  method_internal::GlobalRows(space_, keys, &rows);
  sparse_.Encode(rows, 0, 1, plan);
}

void DeepLightEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  if (stage_ == 2) return sparse_.Decode(plan, rows, 0, 1, out);
  const std::vector<float>& v = rows.values[0];
  const size_t count = static_cast<size_t>(plan.num_keys) * space_.dim;
  // A persistent mask's pruned elements read as 0.
  for (size_t i = 0; i < count; ++i) out[i] = pruning::IsPruned(v[i]) ? 0.0f : v[i];
}

void DeepLightEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                        const float* grad_out, FetchedRows* row_grads) {
  if (stage_ == 2) return sparse_.DecodeBackward(plan, rows, grad_out, 0, 1, row_grads);
  const std::vector<float>& v = rows.values[0];
  std::vector<float>& g = row_grads->values[0];
  for (size_t i = 0; i < g.size(); ++i) g[i] = pruning::IsPruned(v[i]) ? 0.0f : grad_out[i];
}

Status DeepLightEmbedding::Apply(double tau) {
  const uint64_t n = space_.total();
  const size_t d = static_cast<size_t>(space_.dim);
  const float pruned_value = persistent_ ? pruning::kPrunedValue : 0.0f;
  std::vector<float> buf;
  double pruned = 0;
  for (uint64_t begin = 0; begin < n; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, n - begin);
    buf.resize(count * d);
    RETURN_IF_ERROR(rows_->ReadRows(0, begin, count, buf.data()));
    bool changed = false;
    for (float& x : buf) {
      if (pruning::IsPruned(x)) {
        ++pruned;
      } else if (std::fabs(static_cast<double>(x)) < tau) {
        ++pruned;
        if (x != pruned_value) {
          x = pruned_value;
          changed = true;
        }
      }
    }
    // The first chunk is always written: every worker then makes writes in
    // this step (the trainer barriers the workers after it), whatever its
    // reads saw of the primary's writes.
    if (changed || begin == 0) RETURN_IF_ERROR(rows_->WriteRows(0, begin, count, buf.data()));
  }
  last_pruned_ = pruned;
  return OkStatus();
}

Status DeepLightEmbedding::AfterStep(int64_t step) {
  if (stage_ != 1) return OkStatus();
  if (rows_ == nullptr) return FailedPrecondition("deeplight: no row access attached");
  if (prune_start_ < 0) prune_start_ = step - 1;
  const int64_t t = step - prune_start_;
  if (pending_) {
    RETURN_IF_ERROR(Apply(pending_tau_));
    pending_ = false;
  }
  if (t % prune_every_ != 0) return OkStatus();
  const double total = static_cast<double>(Elements());
  const double s = ScheduledSparsity(t);
  const double tol = total * std::min(1e-4, 1e-3 * (1 - s));
  ASSIGN_OR_RETURN(pruning::ThresholdResult r,
                   pruning::MagnitudeThreshold(*rows_, 0, s * total, tol, /*at_least=*/false));
  pending_ = true;
  pending_tau_ = last_tau_ = r.tau;
  ++prunes_;
  return OkStatus();
}

Status DeepLightEmbedding::BeginStage(int index) {
  if (index < 1 || index > 2) return InvalidArgument("deeplight has stages 0 to 2, not ", index);
  if (index == 1) {
    stage_ = 1;
    prune_start_ = -1;
    pending_ = false;
    return OkStatus();
  }
  if (stage_ == 2) return FailedPrecondition("deeplight: the table is sparse already");
  if (rows_ == nullptr) return FailedPrecondition("deeplight: no row access attached");
  const uint64_t n = space_.total();
  const int d = space_.dim;
  const double total = static_cast<double>(Elements());
  // At most K kept: the budget holds whatever the schedule reached.
  const double target = total - static_cast<double>(target_nnz_);
  ASSIGN_OR_RETURN(pruning::ThresholdResult r,
                   pruning::MagnitudeThreshold(*rows_, 0, target, std::max(1.0, 1e-4 * total),
                                               /*at_least=*/true));
  sparse_.Start(format_, n, d);
  std::vector<float> buf;
  std::vector<uint8_t> keep(d);
  for (uint64_t begin = 0; begin < n; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, n - begin);
    buf.resize(count * d);
    RETURN_IF_ERROR(rows_->ReadRows(0, begin, count, buf.data()));
    for (uint64_t i = 0; i < count; ++i) {
      const float* row = buf.data() + i * d;
      for (int c = 0; c < d; ++c)
        keep[c] = !pruning::IsPruned(row[c]) && std::fabs(static_cast<double>(row[c])) >= r.tau;
      sparse_.AppendRow(row, keep.data());
    }
  }
  RETURN_IF_ERROR(sparse_.Finish());
  if (sparse_.nnz() > target_nnz_)
    return FailedPrecondition("deeplight: ", sparse_.nnz(), " nonzeros kept at threshold ", r.tau,
                              ", more than the budget's ", target_nnz_);
  last_tau_ = r.tau;
  last_pruned_ = total - static_cast<double>(sparse_.nnz());
  stage_ = 2;
  ECPS_LOG_INFO(
      "deeplight: {} of {} elements kept ({} for the budget), threshold {:.6g} found in {} "
      "requests, {} layout; inference ratio {:.6f}",
      sparse_.nnz(), Elements(), target_nnz_, r.tau, r.rounds, pruning::SparseFormatName(format_),
      static_cast<double>(Memory().inference_bytes) /
          static_cast<double>(method_internal::FullBytes(space_)));
  return OkStatus();
}

Status DeepLightEmbedding::InitStageRows(int index) {
  if (index != 2 || rows_ == nullptr) return OkStatus();
  const uint64_t nnz = sparse_.nnz();
  if (sparse_.values().size() != nnz)
    return FailedPrecondition("deeplight: InitStageRows without BeginStage");
  constexpr uint64_t kChunk = uint64_t{1} << 20;
  for (uint64_t begin = 0; begin < nnz; begin += kChunk) {
    const uint64_t count = std::min(kChunk, nnz - begin);
    RETURN_IF_ERROR(rows_->WriteRows(0, begin, count, sparse_.values().data() + begin));
    RETURN_IF_ERROR(rows_->WriteRows(1, begin, count, sparse_.columns().data() + begin));
  }
  sparse_.ReleaseValues();
  return OkStatus();
}

MemoryReport DeepLightEmbedding::Memory() const {
  const uint64_t n = space_.total();
  const uint64_t nnz = stage_ == 2 ? sparse_.nnz() : target_nnz_;
  const uint64_t tables = nnz * (4 + pruning::ColumnBytes(space_.dim));
  MemoryReport m;
  m.auxiliary_bytes = pruning::IndexBytes(format_, n, nnz);
  m.inference_bytes = tables + m.auxiliary_bytes;
  m.parameter_bytes = method_internal::FullBytes(space_) + tables;
  return m;
}

std::string DeepLightEmbedding::SaveState() const {
  BlobWriter w = method_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod(prune_every_);
  w.Pod(decay_);
  w.Pod(decay_steps_);
  w.Pod<uint8_t>(persistent_);
  w.Pod<uint8_t>(paper_nonzeros_);
  w.Pod(static_cast<uint8_t>(format_));
  w.Pod(target_nnz_);
  w.Pod<int32_t>(stage_);
  w.Pod(prune_start_);
  w.Pod<uint8_t>(pending_);
  w.Pod(pending_tau_);
  w.Pod(last_tau_);
  w.Pod(last_pruned_);
  w.Pod(prunes_);
  if (stage_ == 2) sparse_.Save(&w);
  return w.Finish();
}

Status DeepLightEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(method_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  int64_t prune_every = 0, prune_start = 0, prunes = 0;
  double decay = 0, decay_steps = 0, pending_tau = 0, last_tau = 0, last_pruned = 0;
  uint8_t persistent = 0, paper = 0, format = 0, pending = 0;
  uint64_t target = 0;
  int32_t stage = 0;
  if (!r.Pod(&prune_every) || !r.Pod(&decay) || !r.Pod(&decay_steps) || !r.Pod(&persistent) ||
      !r.Pod(&paper) || !r.Pod(&format) || !r.Pod(&target) || !r.Pod(&stage) ||
      !r.Pod(&prune_start) || !r.Pod(&pending) || !r.Pod(&pending_tau) || !r.Pod(&last_tau) ||
      !r.Pod(&last_pruned) || !r.Pod(&prunes))
    return r.Truncated();
  RETURN_IF_ERROR(CheckSame(kName, "prune_every", prune_every, prune_every_));
  RETURN_IF_ERROR(CheckSame(kName, "decay", decay, decay_));
  RETURN_IF_ERROR(CheckSame(kName, "decay_steps", decay_steps, decay_steps_));
  RETURN_IF_ERROR(CheckSame(kName, "persistent_mask", persistent != 0, persistent_));
  RETURN_IF_ERROR(CheckSame(kName, "nonzeros", paper != 0, paper_nonzeros_));
  RETURN_IF_ERROR(
      CheckSame(kName, "the sparse format", static_cast<int>(format), static_cast<int>(format_)));
  RETURN_IF_ERROR(CheckSame(kName, "the budget's nonzeros", target, target_nnz_));
  if (stage < 0 || stage > 2) return DataLoss(kName, " state: stage ", stage, " is not 0 to 2");
  pruning::SparseRows sparse;
  if (stage == 2) {
    RETURN_IF_ERROR(sparse.Load(&r, kName, space_.total(), space_.dim));
    if (sparse.format() != format_ || sparse.nnz() > target_nnz_)
      return DataLoss(kName, " state: a ", pruning::SparseFormatName(sparse.format()),
                      " layout of ", sparse.nnz(), " nonzeros, expected ",
                      pruning::SparseFormatName(format_), " with at most ", target_nnz_);
  }
  RETURN_IF_ERROR(method_internal::EndState(r));
  stage_ = stage;
  prune_start_ = prune_start;
  pending_ = pending != 0;
  pending_tau_ = pending_tau;
  last_tau_ = last_tau;
  last_pruned_ = last_pruned;
  prunes_ = prunes;
  sparse_ = std::move(sparse);
  return OkStatus();
}

}  // namespace ecps
