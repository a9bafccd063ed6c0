#include "compressors/dimension/optembed.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/logging.h"
#include "common/rng.h"

namespace ecps {
namespace {

using method_internal::CheckSame;

constexpr uint64_t kColumnTag = 0x4F50434F4C000000ull;  // "OPCOL"
constexpr uint64_t kSearchTag = 0x4F50534541524348ull;  // "OPSEARCH"
constexpr uint64_t kReadChunk = 4096;                   // rows per RowAccess read
// Parents of the mutations and crossovers: the best 10 (CODE's select_num).
constexpr size_t kParents = 10;

}  // namespace

ParamSchema OptEmbedEmbedding::Schema() {
  ParamSchema s;
  s.Float("alpha", 1e-5, 0, 1e3, "weight of the threshold penalty alpha·Σ_f exp(−t_f)");
  s.Float("thresh_lr", 1e-4, 0, 1e3, "learning rate of the thresholds' own SGD");
  s.Int("keep_num", 0, 0, 1000, "best candidates kept unchanged into the next generation");
  s.Int("mutation_num", 10, 0, 1000, "mutations per generation");
  s.Int("crossover_num", 10, 0, 1000, "crossovers per generation");
  s.Float("m_prob", 0.1, 0, 1, "probability that a mutation resamples a field's dimension");
  s.Int("search_epochs", 30, 1, 100000, "generations of the evolutionary search");
  return s;
}

std::unique_ptr<Compressor> OptEmbedEmbedding::Create() {
  return std::make_unique<OptEmbedEmbedding>();
}

int OptEmbedEmbedding::ColumnK(uint64_t noise_seed, int i, int d) {
  uint64_t s = noise_seed ^ (kColumnTag + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull);
  return static_cast<int>(SplitMix64(s) % static_cast<uint64_t>(d));
}

double OptEmbedEmbedding::Surrogate(double z) {
  const double a = std::abs(z);
  if (a <= 0.4) return 2 - 4 * a;
  return a <= 1 ? 0.4 : 0.0;
}

Status OptEmbedEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(method_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = method_internal::InitBound(space_);
  alpha_ = params.GetFloat("alpha");
  thresh_lr_ = params.GetFloat("thresh_lr");
  m_prob_ = params.GetFloat("m_prob");
  keep_num_ = static_cast<int>(params.GetInt("keep_num"));
  mutation_num_ = static_cast<int>(params.GetInt("mutation_num"));
  crossover_num_ = static_cast<int>(params.GetInt("crossover_num"));
  search_epochs_ = static_cast<int>(params.GetInt("search_epochs"));
  if (keep_num_ + mutation_num_ + crossover_num_ == 0)
    return InvalidArgument(kName, ": keep_num + mutation_num + crossover_num is 0: no candidates");
  seed_ = ctx.seed;
  stage_ = 0;
  collective_ = OkStatus();
  t_.assign(space_.num_fields(), 0.0);
  remap_.clear();
  population_.clear();
  scores_.clear();
  next_ = 0;
  generation_ = 0;
  searched_ = false;
  best_.assign(space_.num_fields(), space_.dim - 1);
  best_score_ = -1e300;
  current_ = best_;
  tables_ = {};
  carried_.clear();
  prepared_ = false;
  prepare_status_ = OkStatus();
  return OkStatus();
}

std::vector<RowTableSpec> OptEmbedEmbedding::Tables() const {
  if (stage_ == 2) return dimension_internal::FieldTableSpecs(tables_, "R", init_bound_);
  RowTableSpec e;
  e.name = "E";
  e.rows = space_.total();
  e.width = space_.dim;
  e.init_bound = init_bound_;
  return {e};
}

std::vector<StageSpec> OptEmbedEmbedding::Stages() const {
  StageSpec search{"search"};
  search.evaluation_search = true;
  StageSpec retrain{"retrain"};
  retrain.reset_optimizer_state = true;  // CODE: parameters inherited, fresh Adam
  return {StageSpec{"supernet"}, search, retrain};
}

void OptEmbedEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  if (stage_ < 2) {
    plan->Reset(n, 1);
    plan->per_key[0] = 1;
    method_internal::GlobalRows(space_, keys, &plan->rows[0]);
    return;
  }
  const size_t nt = tables_.widths.size();
  plan->Reset(n, nt);
  for (size_t t = 0; t < nt; ++t) {
    plan->per_key[t] = 1;
    plan->rows[t].assign(static_cast<size_t>(n), kNoRow);
  }
  const int nf = space_.num_fields();
  for (int i = 0; i < n; ++i) {
    const int f = i % nf;
    plan->rows[tables_.table[f]][i] = remap_[space_.offsets[f] + keys[i]];
  }
}

void OptEmbedEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  const int nf = space_.num_fields(), d = space_.dim, n = plan.num_keys;
  std::fill(out, out + static_cast<size_t>(n) * d, 0.0f);
  for (int i = 0; i < n; ++i) {
    const int f = i % nf;
    float* o = out + static_cast<size_t>(i) * d;
    if (stage_ == 2) {
      const int w = tables_.widths[tables_.table[f]];
      const float* r = rows.values[tables_.table[f]].data() + static_cast<size_t>(i) * w;
      std::copy(r, r + w, o);  // a pruned row was fetched as zeros
      continue;
    }
    const float* v = rows.values[0].data() + static_cast<size_t>(i) * d;
    int k = d - 1;
    if (stage_ == 0) {
      double l1 = 0;
      for (int j = 0; j < d; ++j) l1 += std::abs(v[j]);
      if (l1 - t_[f] <= 0) continue;  // the row mask
      if (plan.training) k = ColumnK(plan.noise_seed, i, d);
    } else {
      if (remap_[plan.rows[0][i]] == kNoRow) continue;  // pruned
      k = current_[f];
    }
    std::copy(v, v + k + 1, o);
  }
}

void OptEmbedEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                       const float* grad_out, FetchedRows* row_grads) {
  const int nf = space_.num_fields(), d = space_.dim, n = plan.num_keys;
  for (auto& g : row_grads->values) std::fill(g.begin(), g.end(), 0.0f);
  if (stage_ == 2) {
    for (int i = 0; i < n; ++i) {
      const int f = i % nf;
      const int t = tables_.table[f], w = tables_.widths[t];
      if (plan.rows[t][i] == kNoRow) continue;
      std::copy(grad_out + static_cast<size_t>(i) * d, grad_out + static_cast<size_t>(i) * d + w,
                row_grads->values[t].data() + static_cast<size_t>(i) * w);
    }
    return;
  }
  if (stage_ == 1) return;  // no training in the search
  std::vector<double> dt(nf, 0.0);
  float* gr = row_grads->values[0].data();
  for (int i = 0; i < n; ++i) {
    const int f = i % nf;
    const size_t at = static_cast<size_t>(i) * d;
    const float* v = rows.values[0].data() + at;
    const float* g = grad_out + at;
    double l1 = 0;
    for (int j = 0; j < d; ++j) l1 += std::abs(v[j]);
    const double z = l1 - t_[f];
    const double m = z > 0 ? 1.0 : 0.0;
    const int k = plan.training ? ColumnK(plan.noise_seed, i, d) : d - 1;
    double dot = 0;  // g · (m_col ⊙ v)
    for (int j = 0; j <= k; ++j) dot += static_cast<double>(g[j]) * v[j];
    const double s = Surrogate(z);
    for (int j = 0; j < d; ++j) {
      const double sign = v[j] > 0 ? 1.0 : (v[j] < 0 ? -1.0 : 0.0);
      gr[at + j] = static_cast<float>((j <= k ? m * g[j] : 0.0) + s * sign * dot);
    }
    dt[f] -= s * dot;
  }
  if (!plan.training) return;
  // The penalty α·Σ exp(−t_f) once per global batch: each worker adds 1/W.
  const double share = workers_ != nullptr ? 1.0 / std::max(1, workers_->size()) : 1.0;
  for (int f = 0; f < nf; ++f) dt[f] -= share * alpha_ * std::exp(-t_[f]);
  if (workers_ != nullptr && workers_->size() > 1) {
    const Status st = workers_->AllreduceSum(dt);
    if (!st.ok() && collective_.ok()) collective_ = st;
  }
  for (int f = 0; f < nf; ++f) t_[f] -= thresh_lr_ * dt[f];
}

Status OptEmbedEmbedding::AfterStep(int64_t step) {
  Status st = collective_;
  collective_ = OkStatus();
  return Annotate(st, "optembed threshold all-reduce");
}

uint64_t OptEmbedEmbedding::kept_rows() const {
  if (remap_.empty()) return space_.total();
  uint64_t k = 0;
  for (uint64_t r : remap_) k += r != kNoRow ? 1 : 0;
  return k;
}

Status OptEmbedEmbedding::BeginStage(int index) {
  if (index != 1 && index != 2)
    return InvalidArgument("optembed has stages 0, 1 and 2, not ", index);
  if (stage_ != index - 1)
    return FailedPrecondition("optembed: stage ", index, " cannot follow stage ", stage_);
  if (rows_ == nullptr) return FailedPrecondition("optembed: no row access to prune or carry rows");
  const int d = space_.dim, nf = space_.num_fields();
  const uint64_t n = space_.total();
  std::vector<float> buf;
  if (index == 1) {
    // Prune the rows whose L1 norm is at most their field's threshold
    // (CODE's compaction at the supernet's best checkpoint).
    remap_.assign(n, kNoRow);
    for (int f = 0; f < nf; ++f)
      for (uint64_t b = 0; b < space_.cardinalities[f]; b += kReadChunk) {
        const uint64_t cnt = std::min(kReadChunk, space_.cardinalities[f] - b);
        buf.resize(cnt * d);
        RETURN_IF_ERROR(rows_->ReadRows(0, space_.offsets[f] + b, cnt, buf.data()));
        for (uint64_t r = 0; r < cnt; ++r) {
          double l1 = 0;
          for (int j = 0; j < d; ++j) l1 += std::abs(buf[r * d + j]);
          if (l1 > t_[f]) remap_[space_.offsets[f] + b + r] = space_.offsets[f] + b + r;
        }
      }
    stage_ = 1;
    population_.clear();
    scores_.clear();
    next_ = 0;
    generation_ = 0;
    searched_ = false;
    prepared_ = false;
    prepare_status_ = OkStatus();
    ECPS_LOG_INFO("optembed: {} of {} rows kept by the field thresholds", kept_rows(), n);
    return OkStatus();
  }
  if (!prepared_) RETURN_IF_ERROR(PrepareRetrain());
  RETURN_IF_ERROR(prepare_status_);
  stage_ = 2;
  std::string chosen;
  for (int f = 0; f < nf; ++f) chosen += (f > 0 ? "," : "") + std::to_string(best_[f] + 1);
  ECPS_LOG_INFO("optembed: per-field dimensions [{}] (search score {:.6f}); inference ratio {:.6f}",
                chosen, best_score_,
                static_cast<double>(Memory().inference_bytes) /
                    static_cast<double>(method_internal::FullBytes(space_)));
  return OkStatus();
}

Status OptEmbedEmbedding::PrepareRetrain() {
  // Each field's kept rows at width best_f + 1, carried from the search's
  // rows (read here, written in InitStageRows(2)).
  prepared_ = true;
  const int d = space_.dim, nf = space_.num_fields();
  std::vector<float> buf;
  std::vector<uint64_t> kept(nf, 0);
  for (int f = 0; f < nf; ++f)
    for (uint64_t x = 0; x < space_.cardinalities[f]; ++x)
      kept[f] += remap_[space_.offsets[f] + x] != kNoRow ? 1 : 0;
  std::vector<int> widths(nf);
  for (int f = 0; f < nf; ++f) widths[f] = best_[f] + 1;
  FeatureSpace kept_space = space_;
  kept_space.cardinalities = kept;
  uint64_t off = 0;
  for (int f = 0; f < nf; ++f) kept_space.offsets[f] = off, off += kept[f];
  tables_ = dimension_internal::PlanFieldTables(kept_space, widths, 1);
  std::vector<std::vector<float>> carried(tables_.widths.size());
  for (size_t t = 0; t < carried.size(); ++t)
    carried[t].assign(tables_.rows[t] * tables_.widths[t], 0.0f);
  std::vector<uint64_t> remap = remap_;
  for (int f = 0; f < nf; ++f) {
    const int t = tables_.table[f], w = widths[f];
    uint64_t row = tables_.row_off[f];
    for (uint64_t b = 0; b < space_.cardinalities[f]; b += kReadChunk) {
      const uint64_t cnt = std::min(kReadChunk, space_.cardinalities[f] - b);
      buf.resize(cnt * d);
      prepare_status_ = rows_->ReadRows(0, space_.offsets[f] + b, cnt, buf.data());
      RETURN_IF_ERROR(prepare_status_);
      for (uint64_t r = 0; r < cnt; ++r) {
        uint64_t& m = remap[space_.offsets[f] + b + r];
        if (m == kNoRow) continue;
        std::copy(buf.data() + r * d, buf.data() + r * d + w, carried[t].data() + row * w);
        m = row++;
      }
    }
  }
  // Kept rows stay != kNoRow: the search's pruning check still holds.
  remap_ = std::move(remap);
  carried_.clear();
  for (auto& c : carried) carried_.insert(carried_.end(), c.begin(), c.end());
  return OkStatus();
}

Status OptEmbedEmbedding::InitStageRows(int index) {
  if (index != 2 || carried_.empty()) return OkStatus();
  size_t at = 0;
  for (size_t t = 0; t < tables_.widths.size(); ++t) {
    if (tables_.rows[t] > 0)
      RETURN_IF_ERROR(
          rows_->WriteRows(static_cast<int>(t), 0, tables_.rows[t], carried_.data() + at));
    at += tables_.rows[t] * tables_.widths[t];
  }
  carried_.clear();
  carried_.shrink_to_fit();
  return OkStatus();
}

void OptEmbedEmbedding::NextGeneration() {
  const int nf = space_.num_fields(), d = space_.dim;
  Rng rng(seed_ ^ kSearchTag ^ (static_cast<uint64_t>(generation_) << 20));
  std::vector<std::vector<int>> next;
  if (population_.empty()) {
    const int size = keep_num_ + mutation_num_ + crossover_num_;
    for (int c = 0; c < size; ++c) {
      std::vector<int> cand(nf);
      for (int& v : cand) v = static_cast<int>(rng.Below(static_cast<uint64_t>(d)));
      next.push_back(std::move(cand));
    }
  } else {
    std::vector<size_t> order(population_.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return scores_[a] > scores_[b]; });
    const size_t parents = std::min(kParents, order.size());
    for (int c = 0; c < keep_num_ && c < static_cast<int>(order.size()); ++c)
      next.push_back(population_[order[c]]);
    // Mutations and crossovers work on copies (CODE edits the parents in
    // place, which can alter its remembered best; §4 item 10).
    for (int c = 0; c < mutation_num_; ++c) {
      std::vector<int> child = population_[order[c % parents]];
      for (int& v : child)
        if (rng.Uniform() < m_prob_) v = static_cast<int>(rng.Below(static_cast<uint64_t>(d)));
      next.push_back(std::move(child));
    }
    for (int c = 0; c < crossover_num_; ++c) {
      const size_t a = rng.Below(parents);
      size_t b = parents > 1 ? rng.Below(parents - 1) : a;
      if (parents > 1 && b >= a) ++b;
      // One cut per child over the fields, in [1, F) (CODE's range uses d).
      const int cut = nf > 1 ? 1 + static_cast<int>(rng.Below(static_cast<uint64_t>(nf - 1))) : 0;
      std::vector<int> child = population_[order[a]];
      const std::vector<int>& other = population_[order[b]];
      for (int f = cut; f < nf; ++f) child[f] = other[f];
      next.push_back(std::move(child));
    }
  }
  population_ = std::move(next);
  scores_.assign(population_.size(), -1e300);
  next_ = 0;
}

bool OptEmbedEmbedding::NextCandidate() {
  if (stage_ != 1 || searched_) {
    current_ = best_;
    return false;
  }
  if (population_.empty()) NextGeneration();
  if (next_ == population_.size()) {
    if (++generation_ >= search_epochs_) {
      searched_ = true;
      current_ = best_;
      // The retrain's rows are read now, while every worker is still in the
      // search (its evaluations are collective): in BeginStage(2) worker 0
      // may already have reset the servers' tables under another worker's
      // reads. A failed read is reported by BeginStage(2).
      if (rows_ != nullptr) prepare_status_ = PrepareRetrain();
      return false;
    }
    NextGeneration();
  }
  current_ = population_[next_++];
  return true;
}

void OptEmbedEmbedding::ReportScore(double score) {
  if (stage_ != 1 || next_ == 0) return;
  scores_[next_ - 1] = score;
  if (score > best_score_) {
    best_score_ = score;
    best_ = population_[next_ - 1];
  }
}

MemoryReport OptEmbedEmbedding::Memory() const {
  const int nf = space_.num_fields(), d = space_.dim;
  uint64_t retrain = 0;
  if (stage_ == 2) {
    for (size_t t = 0; t < tables_.widths.size(); ++t)
      retrain += 4 * tables_.rows[t] * static_cast<uint64_t>(tables_.widths[t]);
  } else {
    for (int f = 0; f < nf; ++f) {
      uint64_t kept = space_.cardinalities[f];
      if (!remap_.empty()) {
        kept = 0;
        for (uint64_t x = 0; x < space_.cardinalities[f]; ++x)
          kept += remap_[space_.offsets[f] + x] != kNoRow ? 1 : 0;
      }
      retrain += 4 * kept * static_cast<uint64_t>(best_[f] + 1);
    }
  }
  const uint64_t maps = 4 * space_.total() + 4ull * nf;  // remap + widths
  MemoryReport m;
  m.parameter_bytes = 4 * space_.total() * static_cast<uint64_t>(d) + retrain;
  // The thresholds are training state: gone once the rows are pruned.
  m.auxiliary_bytes = stage_ == 2 ? maps : maps + 8ull * nf;
  m.inference_bytes = retrain + maps;
  return m;
}

std::string OptEmbedEmbedding::SaveState() const {
  BlobWriter w = method_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod(alpha_);
  w.Pod(thresh_lr_);
  w.Pod(m_prob_);
  w.Pod<int32_t>(keep_num_);
  w.Pod<int32_t>(mutation_num_);
  w.Pod<int32_t>(crossover_num_);
  w.Pod<int32_t>(search_epochs_);
  w.Pod<int32_t>(stage_);
  w.Vec(t_);
  if (stage_ >= 1) {
    std::vector<uint8_t> kept((space_.total() + 7) / 8, 0);
    for (uint64_t x = 0; x < space_.total(); ++x)
      if (remap_[x] != kNoRow) kept[x / 8] |= static_cast<uint8_t>(1u << (x % 8));
    w.Vec(kept);
    w.Pod<uint8_t>(searched_ ? 1 : 0);
    w.Vec(best_);
    w.Pod(best_score_);
  }
  return w.Finish();
}

Status OptEmbedEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(method_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  double alpha = 0, lr = 0, mp = 0;
  int32_t keep = 0, mut = 0, cross = 0, epochs = 0, stage = 0;
  std::vector<double> t;
  if (!r.Pod(&alpha) || !r.Pod(&lr) || !r.Pod(&mp) || !r.Pod(&keep) || !r.Pod(&mut) ||
      !r.Pod(&cross) || !r.Pod(&epochs) || !r.Pod(&stage) || !r.Vec(&t))
    return r.Truncated();
  if (stage < 0 || stage > 2) return DataLoss(kName, " state: stage ", stage, " is not 0, 1 or 2");
  if (t.size() != t_.size())
    return DataLoss(kName, " state: ", t.size(), " thresholds for ", t_.size(), " fields");
  for (size_t f = 0; f < t.size(); ++f)
    if (!std::isfinite(t[f])) return DataLoss(kName, " state: threshold ", f, " is ", t[f]);
  std::vector<uint8_t> kept;
  uint8_t searched = 0;
  std::vector<int> best;
  double best_score = -1e300;
  if (stage >= 1) {
    if (!r.Vec(&kept) || !r.Pod(&searched) || !r.Vec(&best) || !r.Pod(&best_score))
      return r.Truncated();
    if (kept.size() != (space_.total() + 7) / 8)
      return DataLoss(kName, " state: a kept-row map of ", kept.size(), " bytes for ",
                      space_.total(), " features");
    if (best.size() != t_.size())
      return DataLoss(kName, " state: ", best.size(), " dimensions for ", t_.size(), " fields");
    for (size_t f = 0; f < best.size(); ++f)
      if (best[f] < 0 || best[f] >= space_.dim)
        return DataLoss(kName, " state: field ", f, " keeps dimension ", best[f], " of ",
                        space_.dim);
  }
  RETURN_IF_ERROR(method_internal::EndState(r));
  RETURN_IF_ERROR(CheckSame(kName, "alpha", alpha, alpha_));
  RETURN_IF_ERROR(CheckSame(kName, "thresh_lr", lr, thresh_lr_));
  RETURN_IF_ERROR(CheckSame(kName, "m_prob", mp, m_prob_));
  RETURN_IF_ERROR(CheckSame(kName, "keep_num", keep, static_cast<int32_t>(keep_num_)));
  RETURN_IF_ERROR(CheckSame(kName, "mutation_num", mut, static_cast<int32_t>(mutation_num_)));
  RETURN_IF_ERROR(CheckSame(kName, "crossover_num", cross, static_cast<int32_t>(crossover_num_)));
  RETURN_IF_ERROR(CheckSame(kName, "search_epochs", epochs, static_cast<int32_t>(search_epochs_)));
  // The trainer loads the search's best checkpoint before BeginStage(2):
  // the retrain rows read when the search ended (PrepareRetrain) are those
  // of exactly that state when the checkpoint is the finished search of this
  // same kept set and candidate (no step changes a row in the search), so
  // they are kept rather than read again (which would race with worker 0's
  // reset of the servers' tables).
  bool same_kept = stage == 1 && stage_ == 1 && !remap_.empty();
  for (uint64_t x = 0; same_kept && x < space_.total(); ++x)
    same_kept = ((kept[x / 8] >> (x % 8) & 1) != 0) == (remap_[x] != kNoRow);
  if (prepared_ && prepare_status_.ok() && same_kept && searched != 0 && searched_ &&
      best == best_) {
    t_ = std::move(t);
    best_score_ = best_score;
    current_ = best_;
    return OkStatus();
  }
  t_ = std::move(t);
  stage_ = stage;
  population_.clear();
  scores_.clear();
  next_ = 0;
  generation_ = 0;
  carried_.clear();
  prepared_ = false;
  prepare_status_ = OkStatus();
  if (stage_ == 0) {
    remap_.clear();
    searched_ = false;
    best_.assign(space_.num_fields(), space_.dim - 1);
    best_score_ = -1e300;
    current_ = best_;
    tables_ = {};
    return OkStatus();
  }
  searched_ = searched != 0;
  best_ = std::move(best);
  best_score_ = best_score;
  current_ = best_;
  remap_.assign(space_.total(), kNoRow);
  for (uint64_t x = 0; x < space_.total(); ++x)
    if (kept[x / 8] >> (x % 8) & 1) remap_[x] = x;
  if (stage_ == 2) {
    // The retrain layout from the kept rows and dimensions; the rows are the
    // checkpoint's.
    const int nf = space_.num_fields();
    FeatureSpace kept_space = space_;
    uint64_t off = 0;
    std::vector<int> widths(nf);
    for (int f = 0; f < nf; ++f) {
      uint64_t k = 0;
      for (uint64_t x = 0; x < space_.cardinalities[f]; ++x)
        k += remap_[space_.offsets[f] + x] != kNoRow ? 1 : 0;
      kept_space.cardinalities[f] = k;
      kept_space.offsets[f] = off;
      off += k;
      widths[f] = best_[f] + 1;
    }
    tables_ = dimension_internal::PlanFieldTables(kept_space, widths, 1);
    for (int f = 0; f < nf; ++f) {
      uint64_t row = tables_.row_off[f];
      for (uint64_t x = 0; x < space_.cardinalities[f]; ++x) {
        uint64_t& m = remap_[space_.offsets[f] + x];
        if (m != kNoRow) m = row++;
      }
    }
  } else {
    tables_ = {};
  }
  return OkStatus();
}

}  // namespace ecps
