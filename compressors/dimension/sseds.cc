#include "compressors/dimension/sseds.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/logging.h"

namespace ecps {
namespace {

using method_internal::CheckSame;

constexpr uint64_t kInitTag = 0x5353454400000000ull;  // "SSED"

// A saliency as a sort key: a non-finite one (a diverged model) sorts last
// instead of breaking the order.
double Key(double s) { return std::isfinite(s) ? s : -1.0; }

}  // namespace

ParamSchema SsedsEmbedding::Schema() {
  ParamSchema s;
  s.Int("saliency_batches", 0, 0, int64_t{1} << 40,
        "training batches of the search stage whose mask gradients make the saliency; 0: every "
        "batch of the stage, which ends at its first evaluation (train.evals_per_epoch)");
  s.String("init", "xavier",
           "retrain projections: xavier (Xavier-normal) or tiny (U(±sqrt(1/max n_f)), the "
           "embedding init)",
           {"xavier", "tiny"});
  return s;
}

std::unique_ptr<Compressor> SsedsEmbedding::Create() { return std::make_unique<SsedsEmbedding>(); }

std::vector<int> SsedsEmbedding::SelectDims(const FeatureSpace& s,
                                            const std::vector<double>& saliency,
                                            uint64_t budget_bytes) {
  const int nf = s.num_fields(), d = s.dim;
  struct Column {
    double saliency;
    int rank, field;
  };
  std::vector<Column> rest;
  std::vector<int> order(d);
  for (int f = 0; f < nf; ++f) {
    const double* sf = saliency.data() + static_cast<size_t>(f) * d;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return Key(sf[a]) > Key(sf[b]); });
    // Rank 0, the field's most salient column, is kept in any case.
    for (int r = 1; r < d; ++r) rest.push_back({Key(sf[order[r]]), r, f});
  }
  std::stable_sort(rest.begin(), rest.end(), [](const Column& a, const Column& b) {
    if (a.saliency != b.saliency) return a.saliency > b.saliency;
    if (a.rank != b.rank) return a.rank < b.rank;
    return a.field < b.field;
  });
  std::vector<int> dims(nf, 1);
  // Words of field f at width w: its rows and, below d, its projection.
  auto words = [&](int f, int w) {
    const uint64_t uw = static_cast<uint64_t>(w);
    return s.cardinalities[f] * uw + (w < d ? uw * static_cast<uint64_t>(d) : 0);
  };
  uint64_t bytes = dimension_internal::ProjectedFields::InferenceBytes(s, dims);
  for (const Column& c : rest) {
    const int f = c.field;
    // The field's old words out, its new ones in (a small field reaching d
    // may even get cheaper: its projection goes); bytes holds the old words,
    // so the difference never wraps.
    const uint64_t next = bytes - 4 * words(f, dims[f]) + 4 * words(f, dims[f] + 1);
    if (next > budget_bytes) continue;
    bytes = next;
    ++dims[f];
  }
  return dims;
}

Status SsedsEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(method_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = method_internal::InitBound(space_);
  tiny_init_ = params.GetString("init") == "tiny";
  saliency_batches_ = params.GetInt("saliency_batches");
  budget_bytes_ = static_cast<uint64_t>(std::floor(4.0 * static_cast<double>(space_.total()) *
                                                   space_.dim * std::min(1.0, ctx.budget)));
  seed_ = ctx.seed;
  stage_ = 0;
  steps_ = 0;
  saliency_.assign(static_cast<size_t>(space_.num_fields()) * space_.dim, 0.0);
  collective_ = OkStatus();
  dims_.clear();
  params_.clear();
  grads_.clear();
  return OkStatus();
}

std::vector<RowTableSpec> SsedsEmbedding::Tables() const {
  if (stage_ == 2) return dimension_internal::FieldTableSpecs(layout_.tables(), "E", init_bound_);
  RowTableSpec e;
  e.name = "E";
  e.rows = space_.total();
  e.width = space_.dim;
  e.init_bound = init_bound_;
  return {e};
}

std::vector<StageSpec> SsedsEmbedding::Stages() const {
  StageSpec search{"search"};
  // The model is held while the saliency is measured: no dense step, and
  // zero row gradients on fresh optimizer state move no row.
  search.freeze_dense = true;
  search.reset_optimizer_state = true;
  StageSpec retrain{"retrain"};
  retrain.reset_optimizer_state = true;
  return {StageSpec{"pretrain"}, search, retrain};
}

void SsedsEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  if (stage_ == 2) return layout_.Encode(keys, plan);
  plan->Reset(static_cast<int>(keys.size()), 1);
  plan->per_key[0] = 1;
  method_internal::GlobalRows(space_, keys, &plan->rows[0]);
}

void SsedsEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  if (stage_ == 2) return layout_.Decode(plan, rows, params_.data(), out);
  method_internal::CopyRows(rows, 0, static_cast<size_t>(plan.num_keys) * space_.dim, out);
}

void SsedsEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                    const float* grad_out, FetchedRows* row_grads) {
  if (stage_ == 2)
    return layout_.Backward(plan, rows, params_.data(), grad_out, row_grads, grads_.data());
  const int nf = space_.num_fields(), d = space_.dim;
  const size_t floats = static_cast<size_t>(plan.num_keys) * d;
  std::vector<float>& g = row_grads->values[0];
  if (stage_ == 0) {
    std::copy(grad_out, grad_out + floats, g.begin());
    return;
  }
  std::fill(g.begin(), g.end(), 0.0f);
  if (!plan.training || (saliency_batches_ > 0 && steps_ >= saliency_batches_)) return;
  // ∂L/∂m at m = 1: Σ over the keys of each field of g ⊙ e.
  std::vector<double> mask_grad(saliency_.size(), 0.0);
  const float* e = rows.values[0].data();
  for (int i = 0; i < plan.num_keys; ++i) {
    double* mg = mask_grad.data() + static_cast<size_t>(i % nf) * d;
    const size_t at = static_cast<size_t>(i) * d;
    for (int j = 0; j < d; ++j)
      mg[j] += static_cast<double>(grad_out[at + j]) * static_cast<double>(e[at + j]);
  }
  // The global batch's gradient: every worker's share (the trainer already
  // scales each share's loss by 1/W), summed. Every worker makes this call
  // at the same steps (steps_ is replicated).
  if (workers_ != nullptr && workers_->size() > 1) {
    const Status st = workers_->AllreduceSum(mask_grad);
    if (!st.ok() && collective_.ok()) collective_ = st;
  }
  for (size_t k = 0; k < saliency_.size(); ++k) saliency_[k] += std::abs(mask_grad[k]);
  ++steps_;
}

Status SsedsEmbedding::AfterStep(int64_t step) {
  Status st = collective_;
  collective_ = OkStatus();
  return Annotate(st, "sseds saliency all-reduce");
}

std::vector<int> SsedsEmbedding::ChosenDims() const {
  if (stage_ == 2) return dims_;
  return SelectDims(space_, saliency_, budget_bytes_);
}

Status SsedsEmbedding::BeginStage(int index) {
  if (index != 1 && index != 2) return InvalidArgument("sseds has stages 0, 1 and 2, not ", index);
  if (stage_ != index - 1)
    return FailedPrecondition("sseds: stage ", index, " cannot follow stage ", stage_);
  stage_ = index;
  if (index == 1) return OkStatus();
  dims_ = SelectDims(space_, saliency_, budget_bytes_);
  layout_.Reset(space_, dims_);
  params_.assign(layout_.projection_floats(), 0.0f);
  grads_.assign(layout_.projection_floats(), 0.0f);
  layout_.InitProjections(seed_, kInitTag, tiny_init_, init_bound_, params_.data());
  std::string chosen;
  for (int f = 0; f < space_.num_fields(); ++f)
    chosen += (f > 0 ? "," : "") + std::to_string(dims_[f]);
  ECPS_LOG_INFO(
      "sseds: per-field dimensions [{}] from the saliency of {} batches; inference "
      "ratio {:.6f}",
      chosen, steps_,
      static_cast<double>(Memory().inference_bytes) /
          static_cast<double>(method_internal::FullBytes(space_)));
  return OkStatus();
}

MemoryReport SsedsEmbedding::Memory() const {
  const std::vector<int> dims = ChosenDims();
  uint64_t retrain = 0;
  for (int f = 0; f < space_.num_fields(); ++f)
    retrain += 4 * space_.cardinalities[f] * static_cast<uint64_t>(dims[f]);
  MemoryReport m;
  m.parameter_bytes = method_internal::FullBytes(space_) + retrain;
  m.inference_bytes = dimension_internal::ProjectedFields::InferenceBytes(space_, dims);
  m.auxiliary_bytes = stage_ == 2 ? m.inference_bytes - retrain : 8 * saliency_.size();
  return m;
}

std::string SsedsEmbedding::SaveState() const {
  BlobWriter w = method_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod<uint8_t>(tiny_init_ ? 1 : 0);
  w.Pod(saliency_batches_);
  w.Pod(budget_bytes_);
  w.Pod<int32_t>(stage_);
  w.Pod(steps_);
  w.Vec(saliency_);
  if (stage_ == 2) w.Vec(dims_);
  return w.Finish();
}

Status SsedsEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(method_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  uint8_t tiny = 0;
  int64_t batches = 0, steps = 0;
  uint64_t budget = 0;
  int32_t stage = 0;
  std::vector<double> saliency;
  if (!r.Pod(&tiny) || !r.Pod(&batches) || !r.Pod(&budget) || !r.Pod(&stage) || !r.Pod(&steps) ||
      !r.Vec(&saliency))
    return r.Truncated();
  if (stage < 0 || stage > 2) return DataLoss(kName, " state: stage ", stage, " is not 0, 1 or 2");
  if (steps < 0) return DataLoss(kName, " state: ", steps, " saliency batches");
  if (saliency.size() != saliency_.size())
    return DataLoss(kName, " state: ", saliency.size(), " saliency columns for ", saliency_.size());
  for (size_t k = 0; k < saliency.size(); ++k)
    if (!(saliency[k] >= 0) || !std::isfinite(saliency[k]))
      return DataLoss(kName, " state: saliency of column ", k, " is ", saliency[k]);
  std::vector<int> dims;
  if (stage == 2 && !r.Vec(&dims)) return r.Truncated();
  RETURN_IF_ERROR(method_internal::EndState(r));
  RETURN_IF_ERROR(CheckSame(kName, "init (1 = tiny)", tiny, static_cast<uint8_t>(tiny_init_)));
  RETURN_IF_ERROR(CheckSame(kName, "saliency_batches", batches, saliency_batches_));
  RETURN_IF_ERROR(CheckSame(kName, "the budget's bytes", budget, budget_bytes_));
  // The dimensions follow from the saliency and the budget: a blob whose
  // dimensions do not is damaged.
  if (stage == 2 && dims != SelectDims(space_, saliency, budget_bytes_))
    return DataLoss(kName, " state: the retrain dimensions are not the saliency's");
  stage_ = stage;
  steps_ = steps;
  saliency_ = std::move(saliency);
  if (stage_ == 2) {
    dims_ = std::move(dims);
    layout_.Reset(space_, dims_);
    // The projections' values come from the checkpoint (MDNS).
    params_.assign(layout_.projection_floats(), 0.0f);
    grads_.assign(layout_.projection_floats(), 0.0f);
  } else {
    dims_.clear();
    params_.clear();
    grads_.clear();
  }
  return OkStatus();
}

}  // namespace ecps
