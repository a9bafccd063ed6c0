#include "compressors/pruning/pep.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "common/logging.h"
#include "compressors/hashing/hashing_util.h"
#include "compressors/pruning/magnitude_threshold.h"

namespace ecps {
namespace {

using method_internal::CheckSame;
using pruning::SparseFormat;

constexpr uint64_t kChunkRows = 4096;

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

ParamSchema PepEmbedding::Schema() {
  ParamSchema s;
  s.Float("threshold_init", -15, -200, 10,
          "initial g of every element (threshold sigma(g)); CODE's -150 underflows in fp32 and "
          "never trains (methods.md 4 item 11)");
  s.String("nonzeros", "budget",
           "budget: the most nonzeros whose exact bytes fit the budget; paper: methods.md §1.8's "
           "density (r - 1)/(2d) or CR/3 (4-byte column indices)",
           {"budget", "paper"});
  return s;
}

std::unique_ptr<Compressor> PepEmbedding::Create() { return std::make_unique<PepEmbedding>(); }

Status PepEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(method_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = method_internal::InitBound(space_);
  threshold_init_ = params.GetFloat("threshold_init");
  paper_nonzeros_ = params.GetString("nonzeros") == "paper";
  const uint64_t n = space_.total();
  const int d = space_.dim;
  format_ = pruning::FormatForBudget(ctx.budget, d);
  ASSIGN_OR_RETURN(
      target_nnz_,
      pruning::TargetNonzeros(kName, format_, n, d, ctx.budget,
                              hashing_internal::BudgetBytes(space_, ctx.budget), paper_nonzeros_));
  stage_ = 0;
  last_prune_rate_ = -1;
  mask_.clear();
  kept_ = 0;
  sparse_ = pruning::SparseRows();
  return OkStatus();
}

double PepEmbedding::prune_rate() const {
  return 1.0 - static_cast<double>(target_nnz_) / static_cast<double>(Elements());
}

std::vector<RowTableSpec> PepEmbedding::Tables() const {
  if (stage_ == 2)
    return {pruning::ValuesTable(sparse_.nnz()), pruning::ColumnsTable(sparse_.nnz(), space_.dim)};
  RowTableSpec e;
  e.name = "EG";
  e.rows = space_.total();
  e.width = 2 * space_.dim;
  e.init_bound = init_bound_;
  return {e};
}

std::vector<StageSpec> PepEmbedding::Stages() const {
  StageSpec retrain{"retrain"};
  retrain.reinit_rows = true;
  retrain.reset_optimizer_state = true;
  StageSpec sparse{"sparse"};
  sparse.post_training = true;
  sparse.freeze_dense = true;
  return {StageSpec{"search"}, retrain, sparse};
}

float PepEmbedding::SoftThreshold(float w, float g) {
  const double m = std::fabs(static_cast<double>(w)) - Sigmoid(g);
  return m > 0 ? static_cast<float>(std::copysign(m, static_cast<double>(w))) : 0.0f;
}

void PepEmbedding::SoftThresholdGrad(float w, float g, float dout, float* dw, float* dg) {
  const double s = Sigmoid(g);
  if (std::fabs(static_cast<double>(w)) > s) {
    *dw = dout;
    // d/dg of −sign(w)·σ(g), in double: σ'(−15) = 3e-7 is fine in fp32,
    // but the product with the output gradient is formed before rounding.
    *dg = static_cast<float>(-std::copysign(1.0, static_cast<double>(w)) * s * (1 - s) * dout);
  } else {
    *dw = 0;
    *dg = 0;
  }
}

bool PepEmbedding::Kept(uint64_t row, int c) const {
  const uint64_t i = row * static_cast<uint64_t>(space_.dim) + static_cast<uint64_t>(c);
  return (mask_[i >> 6] >> (i & 63)) & 1;
}

void PepEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
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

void PepEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  if (stage_ == 2) return sparse_.Decode(plan, rows, 0, 1, out);
  const int d = space_.dim;
  const float* v = rows.values[0].data();
  for (int i = 0; i < plan.num_keys; ++i) {
    const float* row = v + static_cast<size_t>(i) * 2 * d;
    float* o = out + static_cast<size_t>(i) * d;
    const uint64_t r = plan.rows[0][i];
    for (int c = 0; c < d; ++c)
      o[c] = stage_ == 0 ? SoftThreshold(row[c], G(row[d + c])) : Kept(r, c) ? row[c] : 0.0f;
  }
}

void PepEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                  const float* grad_out, FetchedRows* row_grads) {
  if (stage_ == 2) return sparse_.DecodeBackward(plan, rows, grad_out, 0, 1, row_grads);
  const int d = space_.dim;
  const float* v = rows.values[0].data();
  float* gr = row_grads->values[0].data();
  for (int i = 0; i < plan.num_keys; ++i) {
    const float* row = v + static_cast<size_t>(i) * 2 * d;
    const float* g = grad_out + static_cast<size_t>(i) * d;
    float* o = gr + static_cast<size_t>(i) * 2 * d;
    const uint64_t r = plan.rows[0][i];
    for (int c = 0; c < d; ++c) {
      if (stage_ == 0) {
        SoftThresholdGrad(row[c], G(row[d + c]), g[c], &o[c], &o[d + c]);
      } else {
        o[c] = Kept(r, c) ? g[c] : 0.0f;
        o[d + c] = 0.0f;  // g is frozen in the retrain
      }
    }
  }
}

Status PepEmbedding::InitStageRows(int index) {
  if (rows_ == nullptr || index != 2) return OkStatus();
  const uint64_t nnz = sparse_.nnz();
  if (sparse_.values().size() != nnz)
    return FailedPrecondition("pep: InitStageRows without BeginStage");
  constexpr uint64_t kChunk = uint64_t{1} << 20;
  for (uint64_t begin = 0; begin < nnz; begin += kChunk) {
    const uint64_t count = std::min(kChunk, nnz - begin);
    RETURN_IF_ERROR(rows_->WriteRows(0, begin, count, sparse_.values().data() + begin));
    RETURN_IF_ERROR(rows_->WriteRows(1, begin, count, sparse_.columns().data() + begin));
  }
  sparse_.ReleaseValues();
  return OkStatus();
}

bool PepEmbedding::StageComplete() {
  if (stage_ != 0 || rows_ == nullptr) return false;
  RowReduction op;
  op.kind = RowReductionKind::kSoftThresholdCounts;
  op.table = 0;
  op.block_rows = 1;
  op.lo = threshold_init_;
  StatusOr<std::vector<double>> r = rows_->ReduceRows(op);
  if (!r.ok() || r->size() != 1) {
    ECPS_LOG_WARN("pep: the prune rate could not be measured ({}); the search goes on",
                  r.ok() ? "wrong result size" : r.status().ToString());
    return false;
  }
  last_prune_rate_ = (*r)[0] / static_cast<double>(Elements());
  ECPS_LOG_INFO("pep: prune rate {:.6f} (target {:.6f})", last_prune_rate_, prune_rate());
  return last_prune_rate_ >= prune_rate();
}

Status PepEmbedding::TakeMask() {
  const uint64_t n = space_.total();
  const size_t d = static_cast<size_t>(space_.dim);
  const uint64_t total = Elements();
  // |E| where kept by |E| > σ(g), the sentinel where pruned: the budget's
  // cap then needs only magnitudes.
  std::vector<float> eff(total);
  std::vector<float> buf;
  uint64_t kept = 0;
  for (uint64_t begin = 0; begin < n; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, n - begin);
    buf.resize(count * 2 * d);
    RETURN_IF_ERROR(rows_->ReadRows(0, begin, count, buf.data()));
    for (uint64_t i = 0; i < count; ++i)
      for (size_t c = 0; c < d; ++c) {
        const float w = buf[i * 2 * d + c], g = G(buf[i * 2 * d + d + c]);
        const bool keep = std::fabs(static_cast<double>(w)) > Sigmoid(g);
        eff[(begin + i) * d + c] = keep ? std::fabs(w) : pruning::kPrunedValue;
        kept += keep ? 1 : 0;
      }
  }
  double tau = 0;
  if (kept > target_nnz_) {
    // More kept than the budget allows (the best checkpoint can be less
    // pruned than the one that ended the search): the K largest |E|.
    std::vector<double> sorted;
    sorted.reserve(kept);
    for (float x : eff)
      if (!pruning::IsPruned(x)) sorted.push_back(x);
    std::sort(sorted.begin(), sorted.end());
    const double pruned_already = static_cast<double>(total - kept);
    ASSIGN_OR_RETURN(pruning::ThresholdResult r,
                     pruning::SortedThreshold(sorted, pruned_already,
                                              static_cast<double>(total - target_nnz_), 1.0,
                                              /*at_least=*/true));
    tau = r.tau;
  }
  mask_.assign((total + 63) / 64, 0);
  kept_ = 0;
  for (uint64_t i = 0; i < total; ++i)
    if (!pruning::IsPruned(eff[i]) && static_cast<double>(eff[i]) >= tau) {
      mask_[i >> 6] |= uint64_t{1} << (i & 63);
      ++kept_;
    }
  ECPS_LOG_INFO("pep: the mask keeps {} of {} elements ({} by the thresholds, {} for the budget)",
                kept_, total, kept, target_nnz_);
  return OkStatus();
}

Status PepEmbedding::BeginStage(int index) {
  if (index < 1 || index > 2) return InvalidArgument("pep has stages 0 to 2, not ", index);
  if (rows_ == nullptr) return FailedPrecondition("pep: no row access attached");
  if (index == 1) {
    if (stage_ != 0) return FailedPrecondition("pep: the mask is taken already");
    RETURN_IF_ERROR(TakeMask());
    stage_ = 1;
    return OkStatus();
  }
  if (stage_ != 1) return FailedPrecondition("pep: the sparse stage follows the retrain");
  const uint64_t n = space_.total();
  const int d = space_.dim;
  sparse_.Start(format_, n, d);
  std::vector<float> buf;
  std::vector<uint8_t> keep(d);
  for (uint64_t begin = 0; begin < n; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, n - begin);
    buf.resize(count * 2 * d);
    RETURN_IF_ERROR(rows_->ReadRows(0, begin, count, buf.data()));
    for (uint64_t i = 0; i < count; ++i) {
      for (int c = 0; c < d; ++c) keep[c] = Kept(begin + i, c);
      sparse_.AppendRow(buf.data() + i * 2 * d, keep.data());
    }
  }
  RETURN_IF_ERROR(sparse_.Finish());
  stage_ = 2;
  std::vector<uint64_t>().swap(mask_);
  ECPS_LOG_INFO("pep: {} of {} elements in the {} layout; inference ratio {:.6f}", sparse_.nnz(),
                Elements(), pruning::SparseFormatName(format_),
                static_cast<double>(Memory().inference_bytes) /
                    static_cast<double>(method_internal::FullBytes(space_)));
  return OkStatus();
}

MemoryReport PepEmbedding::Memory() const {
  const uint64_t n = space_.total();
  const uint64_t nnz = stage_ == 2 ? sparse_.nnz() : target_nnz_;
  const uint64_t tables = nnz * (4 + pruning::ColumnBytes(space_.dim));
  const uint64_t index = pruning::IndexBytes(format_, n, nnz);
  MemoryReport m;
  m.auxiliary_bytes = index + (stage_ == 1 ? (Elements() + 7) / 8 : 0);
  m.inference_bytes = tables + index;
  m.parameter_bytes = 2 * method_internal::FullBytes(space_) + tables;
  return m;
}

std::string PepEmbedding::SaveState() const {
  BlobWriter w = method_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod(threshold_init_);
  w.Pod<uint8_t>(paper_nonzeros_);
  w.Pod(static_cast<uint8_t>(format_));
  w.Pod(target_nnz_);
  w.Pod<int32_t>(stage_);
  w.Pod(last_prune_rate_);
  if (stage_ == 1) w.Vec(mask_);
  if (stage_ == 2) sparse_.Save(&w);
  return w.Finish();
}

Status PepEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(method_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  double threshold_init = 0, last_rate = 0;
  uint8_t paper = 0, format = 0;
  uint64_t target = 0;
  int32_t stage = 0;
  if (!r.Pod(&threshold_init) || !r.Pod(&paper) || !r.Pod(&format) || !r.Pod(&target) ||
      !r.Pod(&stage) || !r.Pod(&last_rate))
    return r.Truncated();
  RETURN_IF_ERROR(CheckSame(kName, "threshold_init", threshold_init, threshold_init_));
  RETURN_IF_ERROR(CheckSame(kName, "nonzeros", paper != 0, paper_nonzeros_));
  RETURN_IF_ERROR(
      CheckSame(kName, "the sparse format", static_cast<int>(format), static_cast<int>(format_)));
  RETURN_IF_ERROR(CheckSame(kName, "the budget's nonzeros", target, target_nnz_));
  if (stage < 0 || stage > 2) return DataLoss(kName, " state: stage ", stage, " is not 0 to 2");
  std::vector<uint64_t> mask;
  uint64_t kept = 0;
  pruning::SparseRows sparse;
  if (stage == 1) {
    ASSIGN_OR_RETURN(kept, pruning::LoadElementMask(&r, kName, Elements(), target_nnz_, &mask));
  }
  if (stage == 2) {
    RETURN_IF_ERROR(pruning::LoadBudgetedSparse(&r, kName, space_.total(), space_.dim, format_,
                                                target_nnz_, &sparse));
  }
  RETURN_IF_ERROR(method_internal::EndState(r));
  stage_ = stage;
  last_prune_rate_ = last_rate;
  mask_ = std::move(mask);
  kept_ = kept;
  sparse_ = std::move(sparse);
  return OkStatus();
}

}  // namespace ecps
