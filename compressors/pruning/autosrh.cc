#include "compressors/pruning/autosrh.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/logging.h"
#include "common/rng.h"
#include "compressors/hashing/hashing_util.h"
#include "compressors/pruning/magnitude_threshold.h"

namespace ecps {
namespace {

using method_internal::CheckSame;
using pruning::SparseFormat;

constexpr uint64_t kChunkRows = 4096;
// CODE's guard of the per-group normalisation of α's gradient.
constexpr double kNormEps = 1e-8;

}  // namespace

ParamSchema AutoSrhEmbedding::Schema() {
  ParamSchema s;
  s.Int("groups", 6, 1, 255,
        "frequency groups (CODE nsplit): ids by train count, ties never split, group 0 the rarest");
  s.Float("alpha_l1", 1e-5, 0.0, 1.0, "L1 weight of alpha in the search's loss");
  s.Float("alpha_lr", 1e-3, 0.0, 10.0,
          "alpha's SGD step on its per-group normalised gradient (then clipped to [0, 1])");
  s.String("order", "paper",
           "paper: prune after the search, then retrain the kept values (the paper's text); "
           "authors: retrain under alpha, then prune with no fine-tune (CODE, methods.md 4 item 3)",
           {"paper", "authors"});
  s.String("nonzeros", "budget",
           "budget: the most nonzeros whose exact bytes fit the budget; paper: methods.md §1.8's "
           "density (r - 1)/(2d) or CR/3 (4-byte column indices)",
           {"budget", "paper"});
  return s;
}

std::unique_ptr<Compressor> AutoSrhEmbedding::Create() {
  return std::make_unique<AutoSrhEmbedding>();
}

std::vector<uint8_t> AutoSrhEmbedding::FrequencyGroups(std::span<const uint32_t> counts, uint64_t n,
                                                       int groups) {
  std::vector<uint64_t> order(n);
  std::iota(order.begin(), order.end(), uint64_t{0});
  auto count = [&](uint64_t i) -> uint32_t { return counts.empty() ? 0 : counts[order[i]]; };
  if (!counts.empty() && n <= (uint64_t{1} << 32)) {
    // (count, id) packed in one word: a plain sort of 64-bit keys, several
    // times faster than an indirect stable sort over Criteo's 33.8M ids.
    for (uint64_t i = 0; i < n; ++i) order[i] = (uint64_t{counts[i]} << 32) | i;
    std::sort(order.begin(), order.end());
    for (uint64_t& o : order) o &= 0xFFFFFFFFull;
  } else if (!counts.empty()) {
    std::stable_sort(order.begin(), order.end(),
                     [&](uint64_t a, uint64_t b) { return counts[a] < counts[b]; });
  }
  std::vector<uint8_t> group(n, 0);
  uint64_t pos = 0;
  for (int g = 0; g < groups && pos < n; ++g) {
    uint64_t end = n;  // the last group takes the leftovers
    if (g + 1 < groups) {
      const uint64_t left = static_cast<uint64_t>(groups - g);
      end = pos + std::max<uint64_t>(1, (n - pos) / left);
      // Ties are never split: the group ends after its last id's tie block.
      while (end < n && count(end) == count(end - 1)) ++end;
    }
    for (uint64_t i = pos; i < end; ++i) group[order[i]] = static_cast<uint8_t>(g);
    pos = end;
  }
  return group;
}

Status AutoSrhEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(method_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = method_internal::InitBound(space_);
  alpha_l1_ = params.GetFloat("alpha_l1");
  alpha_lr_ = params.GetFloat("alpha_lr");
  authors_order_ = params.GetString("order") == "authors";
  paper_nonzeros_ = params.GetString("nonzeros") == "paper";
  const uint64_t n = space_.total();
  const int d = space_.dim;
  if (!ctx.train_counts.empty() && ctx.train_counts.size() != n)
    return InvalidArgument(kName, ": ", ctx.train_counts.size(), " train counts for ", n,
                           " features");
  budget_ = ctx.budget;
  format_ = pruning::FormatForBudget(ctx.budget, d);
  ASSIGN_OR_RETURN(
      target_nnz_,
      pruning::TargetNonzeros(kName, format_, n, d, ctx.budget,
                              hashing_internal::BudgetBytes(space_, ctx.budget), paper_nonzeros_));
  const int ng = static_cast<int>(params.GetInt("groups"));
  group_ = FrequencyGroups(ctx.train_counts, n, ng);
  group_sizes_.assign(ng, 0);
  for (uint8_t g : group_) ++group_sizes_[g];
  // The state checks the assignment by a digest (n bytes per checkpoint
  // otherwise).
  group_hash_ = 0x4155544F53524831ull;  // "AUTOSRH1"
  for (uint64_t x = 0; x < n; ++x) {
    uint64_t h = group_hash_ ^ (x * 0x9E3779B97F4A7C15ull + group_[x]);
    group_hash_ = SplitMix64(h);
  }
  stage_ = 0;
  alpha_.assign(static_cast<size_t>(ng) * d, 1.0f);
  tau_ = 0;
  sparse_ = pruning::SparseRows();
  collective_ = OkStatus();
  return OkStatus();
}

double AutoSrhEmbedding::prune_rate() const {
  return 1.0 - static_cast<double>(target_nnz_) / static_cast<double>(Elements());
}

std::vector<RowTableSpec> AutoSrhEmbedding::Tables() const {
  if (pruned()) {
    RowTableSpec values = pruning::ValuesTable(sparse_.nnz());
    // The paper's order retrains the kept values.
    values.trainable = !authors_order_;
    return {values, pruning::ColumnsTable(sparse_.nnz(), space_.dim)};
  }
  RowTableSpec e;
  e.name = "E";
  e.rows = space_.total();
  e.width = space_.dim;
  e.init_bound = init_bound_;
  return {e};
}

std::vector<StageSpec> AutoSrhEmbedding::Stages() const {
  StageSpec search{"search"};
  search.reset_optimizer_state = true;
  search.freeze_dense = true;
  StageSpec retrain{"retrain"};
  retrain.reset_optimizer_state = true;
  if (!authors_order_) return {StageSpec{"train"}, search, retrain};
  StageSpec sparse{"sparse"};
  sparse.post_training = true;
  sparse.freeze_dense = true;
  return {StageSpec{"train"}, search, retrain, sparse};
}

void AutoSrhEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  if (!pruned()) {
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

void AutoSrhEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  if (pruned()) return sparse_.Decode(plan, rows, 0, 1, out);
  const size_t d = static_cast<size_t>(space_.dim);
  const float* v = rows.values[0].data();
  if (!Scaled()) return method_internal::CopyRows(rows, 0, plan.num_keys * d, out);
  for (int i = 0; i < plan.num_keys; ++i) {
    const float* a = alpha_.data() + group_[plan.rows[0][i]] * d;
    for (size_t c = 0; c < d; ++c) out[i * d + c] = v[i * d + c] * a[c];
  }
}

std::vector<double> AutoSrhEmbedding::AlphaGradient(const LookupPlan& plan, const FetchedRows& rows,
                                                    const float* grad_out) const {
  const size_t d = static_cast<size_t>(space_.dim);
  std::vector<double> da(alpha_.size(), 0.0);
  const float* v = rows.values[0].data();
  for (int i = 0; i < plan.num_keys; ++i) {
    double* g = da.data() + group_[plan.rows[0][i]] * d;
    for (size_t c = 0; c < d; ++c)
      g[c] += static_cast<double>(grad_out[i * d + c]) * static_cast<double>(v[i * d + c]);
  }
  return da;
}

void AutoSrhEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                      const float* grad_out, FetchedRows* row_grads) {
  if (pruned()) return sparse_.DecodeBackward(plan, rows, grad_out, 0, 1, row_grads);
  const size_t d = static_cast<size_t>(space_.dim);
  float* gr = row_grads->values[0].data();
  if (!Scaled()) {
    std::copy(grad_out, grad_out + plan.num_keys * d, gr);
    return;
  }
  for (int i = 0; i < plan.num_keys; ++i) {
    const float* a = alpha_.data() + group_[plan.rows[0][i]] * d;
    for (size_t c = 0; c < d; ++c) gr[i * d + c] = grad_out[i * d + c] * a[c];
  }
  // α steps in the search only (frozen in the authors' retrain), once per
  // training step on the global batch.
  if (stage_ != 1 || !plan.training) return;
  std::vector<double> da = AlphaGradient(plan, rows, grad_out);
  // alpha_l1·Σ|α| once per global batch: each worker adds 1/W of it. α is
  // in [0, 1]: its subgradient is 1 above 0, 0 at 0.
  const double share = workers_ != nullptr ? 1.0 / std::max(1, workers_->size()) : 1.0;
  for (size_t k = 0; k < da.size(); ++k)
    if (alpha_[k] > 0) da[k] += share * alpha_l1_;
  if (workers_ != nullptr && workers_->size() > 1) {
    const Status st = workers_->AllreduceSum(da);
    if (!st.ok() && collective_.ok()) collective_ = st;
  }
  for (int g = 0; g < num_groups(); ++g) {
    if (group_sizes_[g] == 0) continue;  // no feature: nothing to scale
    double mean = 0;
    for (size_t c = 0; c < d; ++c) mean += std::fabs(da[g * d + c]);
    mean /= static_cast<double>(d);
    for (size_t c = 0; c < d; ++c) {
      float& a = alpha_[g * d + c];
      const double next = a - alpha_lr_ * da[g * d + c] / (mean + kNormEps);
      a = static_cast<float>(std::clamp(next, 0.0, 1.0));
    }
  }
}

Status AutoSrhEmbedding::AfterStep(int64_t step) {
  Status st = collective_;
  collective_ = OkStatus();
  return Annotate(st, "autosrh alpha all-reduce");
}

Status AutoSrhEmbedding::Prune() {
  const uint64_t n = space_.total();
  const size_t d = static_cast<size_t>(space_.dim);
  const uint64_t total = Elements();
  // W = E ⊙ α[group]; no store holds it, so its threshold is searched here
  // over its magnitudes (the search of §2.23 on the budget's side).
  std::vector<float> w(total);
  for (uint64_t begin = 0; begin < n; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, n - begin);
    float* chunk = w.data() + begin * d;
    RETURN_IF_ERROR(rows_->ReadRows(0, begin, count, chunk));
    for (uint64_t i = 0; i < count; ++i) {
      const float* a = alpha_.data() + group_[begin + i] * d;
      for (size_t c = 0; c < d; ++c) chunk[i * d + c] *= a[c];
    }
  }
  std::vector<double> sorted;
  for (float x : w)
    if (x != 0.0f) sorted.push_back(std::fabs(static_cast<double>(x)));
  double tau = 0;
  if (sorted.size() > target_nnz_) {
    std::sort(sorted.begin(), sorted.end());
    // Zeros (α clipped to 0) are pruned at every τ. CODE stops once
    // |sparsity − P| < 1e-3·CR; here the side of at most K kept.
    const double zeros = static_cast<double>(total - sorted.size());
    const double tol = std::max(1.0, 1e-3 * budget_ * static_cast<double>(total));
    ASSIGN_OR_RETURN(
        pruning::ThresholdResult r,
        pruning::SortedThreshold(sorted, zeros, static_cast<double>(total - target_nnz_), tol,
                                 /*at_least=*/true));
    tau = r.tau;
  }
  std::vector<double>().swap(sorted);
  sparse_.Start(format_, n, space_.dim);
  std::vector<uint8_t> keep(d);
  for (uint64_t r = 0; r < n; ++r) {
    const float* row = w.data() + r * d;
    for (size_t c = 0; c < d; ++c)
      keep[c] = row[c] != 0.0f && std::fabs(static_cast<double>(row[c])) >= tau;
    sparse_.AppendRow(row, keep.data());
  }
  RETURN_IF_ERROR(sparse_.Finish());
  if (sparse_.nnz() > target_nnz_)
    return FailedPrecondition("autosrh: ", sparse_.nnz(), " nonzeros kept at threshold ", tau,
                              ", more than the budget's ", target_nnz_);
  tau_ = tau;
  return OkStatus();
}

Status AutoSrhEmbedding::BeginStage(int index) {
  const int last = static_cast<int>(Stages().size()) - 1;
  if (index < 1 || index > last)
    return InvalidArgument("autosrh has stages 0 to ", last,
                           " (order=", authors_order_ ? "authors" : "paper", "), not ", index);
  if (stage_ != index - 1)
    return FailedPrecondition("autosrh: stage ", index, " cannot follow stage ", stage_);
  if (index == prune_stage()) {
    if (rows_ == nullptr) return FailedPrecondition("autosrh: no row access to prune");
    RETURN_IF_ERROR(Prune());
  }
  stage_ = index;
  if (pruned())
    ECPS_LOG_INFO(
        "autosrh: {} of {} elements of E ⊙ alpha kept ({} for the budget), threshold {:.6g}, "
        "{} layout; inference ratio {:.6f}",
        sparse_.nnz(), Elements(), target_nnz_, tau_, pruning::SparseFormatName(format_),
        static_cast<double>(Memory().inference_bytes) /
            static_cast<double>(method_internal::FullBytes(space_)));
  return OkStatus();
}

Status AutoSrhEmbedding::InitStageRows(int index) {
  if (index != prune_stage() || rows_ == nullptr) return OkStatus();
  const uint64_t nnz = sparse_.nnz();
  if (sparse_.values().size() != nnz)
    return FailedPrecondition("autosrh: InitStageRows without BeginStage");
  constexpr uint64_t kChunk = uint64_t{1} << 20;
  for (uint64_t begin = 0; begin < nnz; begin += kChunk) {
    const uint64_t count = std::min(kChunk, nnz - begin);
    RETURN_IF_ERROR(rows_->WriteRows(0, begin, count, sparse_.values().data() + begin));
    RETURN_IF_ERROR(rows_->WriteRows(1, begin, count, sparse_.columns().data() + begin));
  }
  sparse_.ReleaseValues();
  return OkStatus();
}

MemoryReport AutoSrhEmbedding::Memory() const {
  const uint64_t n = space_.total();
  const uint64_t nnz = pruned() ? sparse_.nnz() : target_nnz_;
  const uint64_t tables = nnz * (4 + pruning::ColumnBytes(space_.dim));
  const uint64_t index = pruning::IndexBytes(format_, n, nnz);
  MemoryReport m;
  // Before the prune the lookup needs the groups and α as well.
  m.auxiliary_bytes = index + (pruned() ? 0 : n + 4 * alpha_.size());
  m.inference_bytes = tables + index;
  m.parameter_bytes = method_internal::FullBytes(space_) + tables;
  return m;
}

std::string AutoSrhEmbedding::SaveState() const {
  BlobWriter w = method_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod(alpha_l1_);
  w.Pod(alpha_lr_);
  w.Pod<uint8_t>(authors_order_);
  w.Pod<uint8_t>(paper_nonzeros_);
  w.Pod(static_cast<uint8_t>(format_));
  w.Pod(target_nnz_);
  w.Vec(group_sizes_);
  w.Pod(group_hash_);
  w.Pod<int32_t>(stage_);
  w.Vec(alpha_);
  w.Pod(tau_);
  if (pruned()) sparse_.Save(&w);
  return w.Finish();
}

Status AutoSrhEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(method_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  double l1 = 0, lr = 0, tau = 0;
  uint8_t authors = 0, paper = 0, format = 0;
  uint64_t target = 0;
  std::vector<uint64_t> sizes;
  uint64_t group_hash = 0;
  int32_t stage = 0;
  std::vector<float> alpha;
  if (!r.Pod(&l1) || !r.Pod(&lr) || !r.Pod(&authors) || !r.Pod(&paper) || !r.Pod(&format) ||
      !r.Pod(&target) || !r.Vec(&sizes) || !r.Pod(&group_hash) || !r.Pod(&stage) ||
      !r.Vec(&alpha) || !r.Pod(&tau))
    return r.Truncated();
  RETURN_IF_ERROR(CheckSame(kName, "alpha_l1", l1, alpha_l1_));
  RETURN_IF_ERROR(CheckSame(kName, "alpha_lr", lr, alpha_lr_));
  RETURN_IF_ERROR(CheckSame(kName, "order (authors)", authors != 0, authors_order_));
  RETURN_IF_ERROR(CheckSame(kName, "nonzeros", paper != 0, paper_nonzeros_));
  RETURN_IF_ERROR(
      CheckSame(kName, "the sparse format", static_cast<int>(format), static_cast<int>(format_)));
  RETURN_IF_ERROR(CheckSame(kName, "the budget's nonzeros", target, target_nnz_));
  RETURN_IF_ERROR(CheckSame(kName, "the group sizes", sizes, group_sizes_));
  RETURN_IF_ERROR(CheckSame(kName, "the frequency groups' digest", group_hash, group_hash_));
  const int last = static_cast<int>(Stages().size()) - 1;
  if (stage < 0 || stage > last)
    return DataLoss(kName, " state: stage ", stage, " is not 0 to ", last);
  if (alpha.size() != alpha_.size())
    return DataLoss(kName, " state: alpha of ", alpha.size(), " values, expected ", alpha_.size());
  for (float a : alpha)
    if (!(a >= 0.0f && a <= 1.0f)) return DataLoss(kName, " state: alpha ", a, " not in [0, 1]");
  pruning::SparseRows sparse;
  if (stage >= prune_stage()) {
    RETURN_IF_ERROR(sparse.Load(&r, kName, space_.total(), space_.dim));
    if (sparse.format() != format_ || sparse.nnz() > target_nnz_)
      return DataLoss(kName, " state: a ", pruning::SparseFormatName(sparse.format()),
                      " layout of ", sparse.nnz(), " nonzeros, expected ",
                      pruning::SparseFormatName(format_), " with at most ", target_nnz_);
  }
  RETURN_IF_ERROR(method_internal::EndState(r));
  stage_ = stage;
  alpha_ = std::move(alpha);
  tau_ = tau;
  sparse_ = std::move(sparse);
  return OkStatus();
}

}  // namespace ecps
