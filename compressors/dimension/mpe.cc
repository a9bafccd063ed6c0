#include "compressors/dimension/mpe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/logging.h"
#include "common/rng.h"

namespace ecps {
namespace {

using method_internal::CheckSame;

// fp16 round to nearest even of a finite float (saturating at ±65504):
// the 16-bit candidate's fake quantisation.
float HalfRound(float x) {
  if (!std::isfinite(x)) return x;
  const double a = std::abs(static_cast<double>(x));
  if (a >= 65504.0) return std::copysign(65504.0f, x);
  int e = 0;
  std::frexp(a, &e);  // a = m·2^e, m in [0.5, 1)
  // 11 significant bits for normals (e ≥ -13); the subnormal step 2^-24.
  const int step_exp = std::max(e - 11, -24);
  const double r = std::ldexp(std::nearbyint(std::ldexp(a, -step_exp)), step_exp);
  return static_cast<float>(std::copysign(r, static_cast<double>(x)));
}

const char* TableName(int k) {
  static const char* const kNames[] = {"", "Q4", "Q8", "H16", "E32"};
  return kNames[k];
}

}  // namespace

ParamSchema MpeEmbedding::Schema() {
  ParamSchema s;
  s.Int("groups", 128, 1, 256,
        "frequency groups: the features ranked by train count, cut into this many equal groups, "
        "one precision each (the paper's g = 128)");
  s.Float("gamma", 0, 0, 1e6,
          "weight of the search's penalty on the expected inference ratio Σ_g (n_g/n)·Σ_k "
          "w_{g,k}·bytes_k/4d; 0: the budget alone decides");
  s.Float("tau", 1, 1e-6, 1e6, "temperature of the precision distribution w_g = softmax(α_g/τ)");
  return s;
}

std::unique_ptr<Compressor> MpeEmbedding::Create() { return std::make_unique<MpeEmbedding>(); }

uint64_t MpeEmbedding::RowBytes(int k, int d) {
  const uint64_t ud = static_cast<uint64_t>(d);
  switch (k) {
    case 1:
      return (ud + 1) / 2 + 4;  // packed nibbles + fp16 scale and min
    case 2:
      return ud + 4;
    case 3:
      return 2 * ud;
    case 4:
      return 4 * ud;
    default:
      return 0;
  }
}

uint64_t MpeEmbedding::MapBytes(uint64_t n) {
  return (n + 1) / 2 + 16 * ((n + kBlock - 1) / kBlock);
}

void MpeEmbedding::FakeQuant(int k, const float* v, int d, float* out) {
  if (k == 0) {
    std::fill(out, out + d, 0.0f);
  } else if (k == 4) {
    std::copy(v, v + d, out);
  } else if (k == 3) {
    for (int j = 0; j < d; ++j) out[j] = HalfRound(v[j]);
  } else {
    const float lo = *std::min_element(v, v + d), hi = *std::max_element(v, v + d);
    const double levels = k == 1 ? 15.0 : 255.0;
    const double scale = (static_cast<double>(hi) - lo) / levels;
    for (int j = 0; j < d; ++j)
      out[j] =
          scale > 0 ? static_cast<float>(lo + std::nearbyint((v[j] - lo) / scale) * scale) : v[j];
  }
}

std::vector<int> MpeEmbedding::SolveClasses(const std::vector<uint64_t>& group_sizes, int d,
                                            const std::vector<double>& log_w, uint64_t row_budget) {
  const int ng = static_cast<int>(group_sizes.size());
  auto cost = [&](int g, int k) { return group_sizes[g] * RowBytes(k, d); };
  uint64_t total = 0;
  for (uint64_t n : group_sizes) total += n;
  // λ is per byte of the full table, so its range does not depend on n.
  const double full = std::max<double>(1.0, 4.0 * static_cast<double>(total) * d);
  std::vector<int> pick(ng);
  auto choose = [&](double lambda) {
    uint64_t bytes = 0;
    for (int g = 0; g < ng; ++g) {
      int best = 0;
      double best_v = -1e300;
      for (int k = 0; k < kClasses; ++k) {
        const double v = log_w[g * kClasses + k] - lambda * static_cast<double>(cost(g, k)) / full;
        if (v >= best_v) best = k, best_v = v;  // ties: the higher precision
      }
      pick[g] = best;
      bytes += cost(g, best);
    }
    return bytes;
  };
  if (choose(0) > row_budget) {
    double lo = 0, hi = 1;
    while (choose(hi) > row_budget && hi < 1e300) hi *= 2;
    for (int it = 0; it < 200 && hi > lo * (1 + 1e-15); ++it) {
      const double mid = 0.5 * (lo + hi);
      (choose(mid) > row_budget ? lo : hi) = mid;
    }
    choose(hi);
  }
  uint64_t bytes = 0;
  for (int g = 0; g < ng; ++g) bytes += cost(g, pick[g]);
  // The slack: the raise of best gain per byte that fits, until none does.
  while (true) {
    int bg = -1, bk = -1;
    double best = -1e300;
    for (int g = 0; g < ng; ++g)
      for (int k = pick[g] + 1; k < kClasses; ++k) {
        const uint64_t extra = cost(g, k) - cost(g, pick[g]);
        if (extra == 0 || bytes + extra > row_budget) continue;
        const double gain =
            (log_w[g * kClasses + k] - log_w[g * kClasses + pick[g]]) / static_cast<double>(extra);
        if (gain > best) best = gain, bg = g, bk = k;  // ties: the first (g, k)
      }
    if (bg < 0) break;
    bytes += cost(bg, bk) - cost(bg, pick[bg]);
    pick[bg] = bk;
  }
  return pick;
}

Status MpeEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(method_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = method_internal::InitBound(space_);
  gamma_ = params.GetFloat("gamma");
  tau_ = params.GetFloat("tau");
  const uint64_t n = space_.total();
  if (n >= (uint64_t{1} << 32))
    return InvalidArgument(kName, ": ", n, " features do not fit the 32-bit rank directory");
  if (!ctx.train_counts.empty() && ctx.train_counts.size() != n)
    return InvalidArgument(kName, ": ", ctx.train_counts.size(), " train counts for ", n,
                           " features");
  const double budget =
      std::floor(4.0 * static_cast<double>(n) * space_.dim * std::min(1.0, ctx.budget));
  row_budget_ =
      budget > static_cast<double>(MapBytes(n)) ? static_cast<uint64_t>(budget) - MapBytes(n) : 0;
  const int ng = static_cast<int>(std::min<uint64_t>(params.GetInt("groups"), n));
  // Most frequent first, ties by id: group of rank r is r·G/n.
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  if (!ctx.train_counts.empty())
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return ctx.train_counts[a] > ctx.train_counts[b];
    });
  group_.assign(n, 0);
  group_sizes_.assign(ng, 0);
  group_hash_ = 0x4D50453100000000ull;  // "MPE1"
  for (uint64_t r = 0; r < n; ++r) {
    const int g = static_cast<int>(r * static_cast<uint64_t>(ng) / n);
    group_[order[r]] = static_cast<uint8_t>(g);
    ++group_sizes_[g];
  }
  for (uint64_t x = 0; x < n; ++x) {
    uint64_t h = group_hash_ ^ (x * 0x9E3779B97F4A7C15ull + group_[x]);
    group_hash_ = SplitMix64(h);
  }
  stage_ = 0;
  classes_.clear();
  codes_.clear();
  dir_.clear();
  class_rows_.assign(kClasses - 1, 0);
  // α = 0: the uniform distribution.
  params_.assign(static_cast<size_t>(ng) * kClasses, 0.0f);
  grads_.assign(params_.size(), 0.0f);
  return OkStatus();
}

std::vector<double> MpeEmbedding::Weights() const {
  const int ng = num_groups();
  std::vector<double> w(static_cast<size_t>(ng) * kClasses);
  for (int g = 0; g < ng; ++g) {
    const float* a = params_.data() + static_cast<size_t>(g) * kClasses;
    double m = a[0];
    for (int k = 1; k < kClasses; ++k) m = std::max<double>(m, a[k]);
    double s = 0;
    for (int k = 0; k < kClasses; ++k) s += (w[g * kClasses + k] = std::exp((a[k] - m) / tau_));
    for (int k = 0; k < kClasses; ++k) w[g * kClasses + k] /= s;
  }
  return w;
}

std::vector<int> MpeEmbedding::ChosenClasses() const {
  if (stage_ == 1) return classes_;
  std::vector<double> log_w = Weights();
  for (double& v : log_w) v = std::log(std::max(v, 1e-300));
  return SolveClasses(group_sizes_, space_.dim, log_w, row_budget_);
}

void MpeEmbedding::BuildMap() {
  const uint64_t n = space_.total();
  codes_.assign((n + 1) / 2, 0);
  dir_.assign(4 * ((n + kBlock - 1) / kBlock), 0);
  std::vector<uint64_t> count(kClasses, 0);
  for (uint64_t x = 0; x < n; ++x) {
    if (x % kBlock == 0)
      for (int k = 1; k < kClasses; ++k) dir_[4 * (x / kBlock) + (k - 1)] = count[k];
    const int k = classes_[group_[x]];
    codes_[x / 2] |= static_cast<uint8_t>(k << (4 * (x % 2)));
    ++count[k];
  }
  for (int k = 1; k < kClasses; ++k) class_rows_[k - 1] = count[k];
}

int MpeEmbedding::feature_class(uint64_t x) const { return (codes_[x / 2] >> (4 * (x % 2))) & 15; }

uint64_t MpeEmbedding::feature_row(uint64_t x) const {
  const int k = feature_class(x);
  const uint64_t block = x / kBlock;
  uint64_t row = dir_[4 * block + (k - 1)];
  for (uint64_t y = block * kBlock; y < x; ++y) row += feature_class(y) == k ? 1 : 0;
  return row;
}

std::vector<RowTableSpec> MpeEmbedding::Tables() const {
  if (stage_ == 0) {
    RowTableSpec e;
    e.name = "E";
    e.rows = space_.total();
    e.width = space_.dim;
    e.init_bound = init_bound_;
    return {e};
  }
  std::vector<RowTableSpec> tables;
  for (int k = 1; k < kClasses; ++k) {
    RowTableSpec t;
    t.name = TableName(k);
    t.rows = class_rows_[k - 1];
    t.width = space_.dim;
    t.init_bound = init_bound_;
    if (k <= 2) {
      // Codes with a per-row (scale, min) pair recomputed from the row on
      // every write, rounded stochastically once per row (as MixedPrec's Q).
      t.dtype = k == 1 ? DType::kU4 : DType::kU8;
      t.quant = QuantScheme::kPerRow;
      t.scale_dtype = DType::kF16;
      t.rounding = Rounding::kStochasticPerRow;
    } else if (k == 3) {
      t.dtype = DType::kF16;
      t.rounding = Rounding::kStochasticPerElement;
    }
    tables.push_back(t);
  }
  return tables;
}

std::vector<StageSpec> MpeEmbedding::Stages() const {
  StageSpec retrain{"retrain"};
  retrain.reset_optimizer_state = true;
  return {StageSpec{"search"}, retrain};
}

void MpeEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  if (stage_ == 0) {
    plan->Reset(n, 1);
    plan->per_key[0] = 1;
    method_internal::GlobalRows(space_, keys, &plan->rows[0]);
    return;
  }
  plan->Reset(n, kClasses - 1);
  for (int t = 0; t < kClasses - 1; ++t) {
    plan->per_key[t] = 1;
    plan->rows[t].assign(static_cast<size_t>(n), kNoRow);
  }
  const int nf = space_.num_fields();
  for (int i = 0; i < n; ++i) {
    const uint64_t x = space_.offsets[i % nf] + keys[i];
    const int k = feature_class(x);
    if (k > 0) plan->rows[k - 1][i] = feature_row(x);
  }
}

void MpeEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  const int d = space_.dim, n = plan.num_keys;
  if (stage_ == 1) {
    // One of the four slots holds the row; kNoRow slots are zeros.
    std::fill(out, out + static_cast<size_t>(n) * d, 0.0f);
    for (const auto& t : rows.values)
      for (size_t j = 0; j < t.size(); ++j) out[j] += t[j];
    return;
  }
  const std::vector<double> w = Weights();
  std::vector<float> q(d);
  for (int i = 0; i < n; ++i) {
    const int g = group_[plan.rows[0][i]];
    const float* v = rows.values[0].data() + static_cast<size_t>(i) * d;
    float* o = out + static_cast<size_t>(i) * d;
    std::fill(o, o + d, 0.0f);
    for (int k = 1; k < kClasses; ++k) {
      FakeQuant(k, v, d, q.data());
      const float wk = static_cast<float>(w[g * kClasses + k]);
      for (int j = 0; j < d; ++j) o[j] += wk * q[j];
    }
  }
}

void MpeEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                  const float* grad_out, FetchedRows* row_grads) {
  const int d = space_.dim, n = plan.num_keys;
  if (stage_ == 1) {
    for (size_t t = 0; t < row_grads->values.size(); ++t) {
      std::vector<float>& g = row_grads->values[t];
      for (int i = 0; i < n; ++i) {
        const bool has = plan.rows[t][i] != kNoRow;
        for (int j = 0; j < d; ++j)
          g[static_cast<size_t>(i) * d + j] = has ? grad_out[static_cast<size_t>(i) * d + j] : 0;
      }
    }
    return;
  }
  const int ng = num_groups();
  const std::vector<double> w = Weights();
  std::vector<double> dw(static_cast<size_t>(ng) * kClasses, 0.0);
  std::vector<float> q(d);
  std::vector<float>& gr = row_grads->values[0];
  for (int i = 0; i < n; ++i) {
    const int g = group_[plan.rows[0][i]];
    const size_t at = static_cast<size_t>(i) * d;
    const float* v = rows.values[0].data() + at;
    const float* go = grad_out + at;
    // Straight-through: every nonzero candidate passes the gradient.
    const float pass = static_cast<float>(1.0 - w[g * kClasses]);
    for (int j = 0; j < d; ++j) gr[at + j] = pass * go[j];
    for (int k = 1; k < kClasses; ++k) {
      FakeQuant(k, v, d, q.data());
      double s = 0;
      for (int j = 0; j < d; ++j) s += static_cast<double>(go[j]) * q[j];
      dw[g * kClasses + k] += s;
    }
  }
  if (gamma_ > 0) {
    // The penalty is the global batch's once: each worker adds 1/W of it.
    const double share = workers_ != nullptr ? 1.0 / std::max(1, workers_->size()) : 1.0;
    uint64_t total = 0;
    for (uint64_t c : group_sizes_) total += c;
    for (int g = 0; g < ng; ++g)
      for (int k = 0; k < kClasses; ++k)
        dw[g * kClasses + k] += share * gamma_ * static_cast<double>(group_sizes_[g]) /
                                static_cast<double>(total) * static_cast<double>(RowBytes(k, d)) /
                                (4.0 * d);
  }
  // Through w = softmax(α/τ).
  for (int g = 0; g < ng; ++g) {
    double wdw = 0;
    for (int k = 0; k < kClasses; ++k) wdw += w[g * kClasses + k] * dw[g * kClasses + k];
    for (int k = 0; k < kClasses; ++k)
      grads_[static_cast<size_t>(g) * kClasses + k] =
          static_cast<float>(w[g * kClasses + k] * (dw[g * kClasses + k] - wdw) / tau_);
  }
}

Status MpeEmbedding::BeginStage(int index) {
  if (index != 1) return InvalidArgument("mpe has stages 0 and 1, not ", index);
  if (stage_ != 0) return FailedPrecondition("mpe: the retrain stage has begun already");
  classes_ = ChosenClasses();
  stage_ = 1;
  BuildMap();
  params_.clear();
  grads_.clear();
  std::string chosen;
  for (int g = 0; g < num_groups(); ++g)
    chosen += (g > 0 ? "," : "") + std::to_string(kBits[classes_[g]]);
  ECPS_LOG_INFO("mpe: bits per frequency group (most frequent first) [{}]; inference ratio {:.6f}",
                chosen,
                static_cast<double>(Memory().inference_bytes) /
                    static_cast<double>(method_internal::FullBytes(space_)));
  return OkStatus();
}

MemoryReport MpeEmbedding::Memory() const {
  const std::vector<int> classes = ChosenClasses();
  uint64_t rows = 0;
  for (int g = 0; g < num_groups(); ++g) rows += group_sizes_[g] * RowBytes(classes[g], space_.dim);
  MemoryReport m;
  const uint64_t map = MapBytes(space_.total());
  m.parameter_bytes = method_internal::FullBytes(space_) + rows;
  m.auxiliary_bytes = stage_ == 1 ? map : 4 * params_.size() + group_.size();
  m.inference_bytes = rows + map;
  return m;
}

std::string MpeEmbedding::SaveState() const {
  BlobWriter w = method_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod(gamma_);
  w.Pod(tau_);
  w.Pod(row_budget_);
  w.Pod(group_hash_);
  w.Pod<int32_t>(num_groups());
  w.Pod<int32_t>(stage_);
  if (stage_ == 1) w.Vec(classes_);
  return w.Finish();
}

Status MpeEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(method_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  double gamma = 0, tau = 0;
  uint64_t budget = 0, hash = 0;
  int32_t groups = 0, stage = 0;
  if (!r.Pod(&gamma) || !r.Pod(&tau) || !r.Pod(&budget) || !r.Pod(&hash) || !r.Pod(&groups) ||
      !r.Pod(&stage))
    return r.Truncated();
  if (stage != 0 && stage != 1) return DataLoss(kName, " state: stage ", stage, " is not 0 or 1");
  std::vector<int> classes;
  if (stage == 1 && !r.Vec(&classes)) return r.Truncated();
  RETURN_IF_ERROR(method_internal::EndState(r));
  RETURN_IF_ERROR(CheckSame(kName, "gamma", gamma, gamma_));
  RETURN_IF_ERROR(CheckSame(kName, "tau", tau, tau_));
  RETURN_IF_ERROR(CheckSame(kName, "the budget's row bytes", budget, row_budget_));
  RETURN_IF_ERROR(CheckSame(kName, "groups", groups, static_cast<int32_t>(num_groups())));
  RETURN_IF_ERROR(
      CheckSame(kName, "the frequency groups (from the train counts)", hash, group_hash_));
  if (stage == 1) {
    if (classes.size() != group_sizes_.size())
      return DataLoss(kName, " state: ", classes.size(), " classes for ", group_sizes_.size(),
                      " groups");
    uint64_t rows = 0;
    for (size_t g = 0; g < classes.size(); ++g) {
      if (classes[g] < 0 || classes[g] >= kClasses)
        return DataLoss(kName, " state: group ", g, " has class ", classes[g]);
      rows += group_sizes_[g] * RowBytes(classes[g], space_.dim);
    }
    if (rows > row_budget_)
      return DataLoss(kName, " state: the classes take ", rows, " row bytes, over the budget's ",
                      row_budget_);
    classes_ = std::move(classes);
    stage_ = 1;
    BuildMap();
    params_.clear();
    grads_.clear();
  } else {
    stage_ = 0;
    classes_.clear();
    codes_.clear();
    dir_.clear();
    class_rows_.assign(kClasses - 1, 0);
    params_.assign(static_cast<size_t>(num_groups()) * kClasses, 0.0f);
    grads_.assign(params_.size(), 0.0f);
  }
  return OkStatus();
}

}  // namespace ecps
