#include "compressors/dimension/autodim.h"

#include <algorithm>
#include <cmath>

#include "common/logging.h"
#include "common/rng.h"

namespace ecps {
namespace {

using method_internal::CheckSame;

constexpr uint64_t kInitTag = 0x4144494D00000000ull;     // "ADIM"
constexpr uint64_t kGumbelTag = 0x4144474D00000000ull;   // "ADGM"
constexpr uint64_t kRetrainTag = 0x4144525400000000ull;  // "ADRT"

using dimension_internal::FillInit;

// Floats of a search plan's plan.saved for n keys, F fields, K candidates
// and dim d: the weights w and the noise G (F·K each), then per candidate
// x̂ (n·d), and per candidate 1/σ, the batch mean and unbiased variance (d
// each).
size_t SavedFloats(int n, int nf, int k, int d) {
  return 2 * static_cast<size_t>(nf) * k + static_cast<size_t>(k) * n * d +
         3 * static_cast<size_t>(k) * d;
}

}  // namespace

ParamSchema AutoDimEmbedding::Schema() {
  ParamSchema s;
  s.Float("tau_decay", 3.2e-6, 0, 1,
          "kappa of the Gumbel-softmax temperature tau = max(0.01, 1 - kappa·t), t the search's "
          "training steps (CODE: 5e-5/2000 · batch size, 3.2e-6 at 128)");
  s.Bool("reset_retrain", false,
         "retrain from fresh rows and projections instead of the search's rows of the chosen "
         "dimension and its W, b (CODE's reset_retrain)");
  s.Int("shard_align", 64, 1, 1 << 20,
        "a retrain field starts at a row congruent to its global ids modulo this (the default "
        "cluster.virtual_shards), so each server copies its own rows at the stage change; costs "
        "fewer than shard_align unused rows per field; 1: none");
  s.String("init", "xavier",
           "W_c and the retrain projections: xavier (Xavier-normal, zero biases) or tiny (CODE: "
           "U(±sqrt(1/max n_f)) for weights and biases); alpha is always U(±sqrt(1/max n_f))",
           {"xavier", "tiny"});
  return s;
}

std::unique_ptr<Compressor> AutoDimEmbedding::Create() {
  return std::make_unique<AutoDimEmbedding>();
}

Status AutoDimEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(method_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = method_internal::InitBound(space_);
  tau_decay_ = params.GetFloat("tau_decay");
  reset_retrain_ = params.GetBool("reset_retrain");
  tiny_init_ = params.GetString("init") == "tiny";
  align_ = static_cast<uint64_t>(params.GetInt("shard_align"));
  seed_ = ctx.seed;
  stage_ = 0;
  steps_ = 0;
  cands_.clear();
  for (int c = 2; c < space_.dim; c *= 2) cands_.push_back(c);
  cands_.push_back(space_.dim);
  SearchLayout();
  const int nf = space_.num_fields(), d = space_.dim;
  Rng rng(seed_ ^ kInitTag);
  for (size_t k = 0; k < cands_.size(); ++k) {
    const int c = cands_[k];
    FillInit(&rng, tiny_init_, init_bound_, c, d, params_.data() + w_off_[k],
             static_cast<size_t>(nf) * c * d);
    if (tiny_init_)
      FillInit(&rng, true, init_bound_, 0, 0, params_.data() + b_off_[k],
               static_cast<size_t>(nf) * d);
  }
  FillInit(&rng, true, init_bound_, 0, 0, params_.data() + alpha_off_,
           static_cast<size_t>(nf) * cands_.size());
  return OkStatus();
}

void AutoDimEmbedding::SearchLayout() {
  const size_t nf = space_.num_fields(), d = space_.dim, nk = cands_.size();
  w_off_.assign(nk, 0);
  b_off_.assign(nk, 0);
  size_t at = 0;
  for (size_t k = 0; k < nk; ++k) {
    w_off_[k] = at;
    at += nf * cands_[k] * d;
    b_off_[k] = at;
    at += nf * d;
  }
  alpha_off_ = at;
  at += nf * nk;
  params_.assign(at, 0.0f);
  grads_.assign(at, 0.0f);
  buffers_.assign(2 * nk * d, 0.0f);
  for (size_t k = 0; k < nk; ++k) std::fill_n(buffers_.begin() + (2 * k + 1) * d, d, 1.0f);
}

AutoDimEmbedding::RetrainTables AutoDimEmbedding::PlanRetrain(const FeatureSpace& s,
                                                              const std::vector<int>& dims,
                                                              uint64_t align) {
  return dimension_internal::PlanFieldTables(s, dims, align);
}

void AutoDimEmbedding::RetrainLayout() {
  const int nf = space_.num_fields(), d = space_.dim;
  retrain_ = dimension_internal::PlanFieldTables(space_, dims_, align_);
  field_off_.assign(nf, 0);
  size_t at = 0;
  for (int f = 0; f < nf; ++f) {
    field_off_[f] = at;
    at += static_cast<size_t>(dims_[f] + 1) * d;
  }
  params_.assign(at, 0.0f);
  grads_.assign(at, 0.0f);
  buffers_.clear();
}

std::vector<int> AutoDimEmbedding::ChosenDims() const {
  if (stage_ == 1) return dims_;
  const int nf = space_.num_fields(), nk = static_cast<int>(cands_.size());
  std::vector<int> dims(nf);
  for (int f = 0; f < nf; ++f) {
    const float* a = params_.data() + alpha_off_ + static_cast<size_t>(f) * nk;
    dims[f] = cands_[std::max_element(a, a + nk) - a];
  }
  return dims;
}

double AutoDimEmbedding::tau() const {
  return std::max(kMinTau, 1.0 - tau_decay_ * static_cast<double>(steps_));
}

std::vector<RowTableSpec> AutoDimEmbedding::Tables() const {
  std::vector<RowTableSpec> tables;
  const std::vector<int>& widths = stage_ == 0 ? cands_ : retrain_.widths;
  for (size_t t = 0; t < widths.size(); ++t) {
    RowTableSpec e;
    e.name = (stage_ == 0 ? "E" : "R") + std::to_string(widths[t]);
    e.rows = stage_ == 0 ? space_.total() : retrain_.rows[t];
    e.width = widths[t];
    e.init_bound = init_bound_;
    tables.push_back(e);
  }
  return tables;
}

std::vector<StageSpec> AutoDimEmbedding::Stages() const {
  StageSpec retrain{"retrain"};
  retrain.reset_optimizer_state = true;  // CODE: parameters carried over, fresh Adam
  return {StageSpec{"search"}, retrain};
}

void AutoDimEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  const int nf = space_.num_fields();
  const size_t nt = stage_ == 0 ? cands_.size() : retrain_.widths.size();
  plan->Reset(n, nt);
  for (size_t t = 0; t < nt; ++t) plan->per_key[t] = 1;
  if (stage_ == 0) {
    std::vector<uint64_t> global;
    method_internal::GlobalRows(space_, keys, &global);
    for (size_t t = 0; t < nt; ++t) plan->rows[t] = global;
    return;
  }
  dimension_internal::EncodeFieldTables(retrain_, nf, keys, plan);
}

std::vector<float> AutoDimEmbedding::Gumbel(uint64_t noise_seed) const {
  Rng rng(noise_seed ^ kGumbelTag);
  std::vector<float> g(static_cast<size_t>(space_.num_fields()) * cands_.size());
  for (float& v : g) {
    const double u = std::clamp(rng.Uniform(), 1e-20, 1.0 - 1e-16);
    v = static_cast<float>(-std::log(-std::log(u)));
  }
  return g;
}

void AutoDimEmbedding::Weights(const float* g, std::vector<float>* w) const {
  const int nf = space_.num_fields(), nk = static_cast<int>(cands_.size());
  const double t = tau();
  w->assign(static_cast<size_t>(nf) * nk, 0.0f);
  std::vector<double> z(nk);
  for (int f = 0; f < nf; ++f) {
    const float* a = params_.data() + alpha_off_ + static_cast<size_t>(f) * nk;
    double amax = a[0];
    for (int k = 1; k < nk; ++k) amax = std::max<double>(amax, a[k]);
    double sa = 0;
    for (int k = 0; k < nk; ++k) sa += std::exp(a[k] - amax);
    const double lse = amax + std::log(sa);
    double zmax = -1e300;
    for (int k = 0; k < nk; ++k) {
      z[k] = (a[k] - lse + (g != nullptr ? g[f * nk + k] : 0.0)) / t;
      zmax = std::max(zmax, z[k]);
    }
    double sz = 0;
    for (int k = 0; k < nk; ++k) sz += (z[k] = std::exp(z[k] - zmax));
    for (int k = 0; k < nk; ++k) (*w)[f * nk + k] = static_cast<float>(z[k] / sz);
  }
}

void AutoDimEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  if (stage_ == 0) return DecodeSearch(plan, rows, out);
  const int nf = space_.num_fields(), d = space_.dim;
  for (int i = 0; i < plan.num_keys; ++i) {
    const int f = i % nf;
    const int w = dims_[f];
    const float* r = rows.values[retrain_.table[f]].data() + static_cast<size_t>(i) * w;
    const float* p = params_.data() + field_off_[f];
    float* o = out + static_cast<size_t>(i) * d;
    std::copy(p + static_cast<size_t>(w) * d, p + static_cast<size_t>(w + 1) * d, o);  // b_f
    for (int a = 0; a < w; ++a)
      for (int c = 0; c < d; ++c) o[c] += r[a] * p[static_cast<size_t>(a) * d + c];
  }
}

void AutoDimEmbedding::DecodeSearch(const LookupPlan& plan, const FetchedRows& rows,
                                    float* out) const {
  const int n = plan.num_keys, nf = space_.num_fields(), d = space_.dim;
  const int nk = static_cast<int>(cands_.size());
  plan.saved.assign(SavedFloats(n, nf, nk, d), 0.0f);
  float* w = plan.saved.data();
  float* g = w + static_cast<size_t>(nf) * nk;
  if (plan.training) {
    const std::vector<float> noise = Gumbel(plan.noise_seed);
    std::copy(noise.begin(), noise.end(), g);
  }
  std::vector<float> weights;
  Weights(plan.training ? g : nullptr, &weights);
  std::copy(weights.begin(), weights.end(), w);
  std::fill(out, out + static_cast<size_t>(n) * d, 0.0f);
  std::vector<double> mean(d), var(d);
  for (int k = 0; k < nk; ++k) {
    const int c = cands_[k];
    float* xhat = g + static_cast<size_t>(nf) * nk + static_cast<size_t>(k) * n * d;
    float* stats = g + static_cast<size_t>(nf) * nk + static_cast<size_t>(nk) * n * d +
                   3 * static_cast<size_t>(k) * d;  // inv, mean, unbiased var
    const float* vals = rows.values[k].data();
    for (int i = 0; i < n; ++i) {
      const int f = i % nf;
      const float* wk = params_.data() + w_off_[k] + static_cast<size_t>(f) * c * d;
      const float* bk = params_.data() + b_off_[k] + static_cast<size_t>(f) * d;
      float* h = xhat + static_cast<size_t>(i) * d;
      std::copy(bk, bk + d, h);
      for (int a = 0; a < c; ++a) {
        const float v = vals[static_cast<size_t>(i) * c + a];
        for (int j = 0; j < d; ++j) h[j] += v * wk[static_cast<size_t>(a) * d + j];
      }
    }
    if (plan.training) {
      std::fill(mean.begin(), mean.end(), 0.0);
      std::fill(var.begin(), var.end(), 0.0);
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < d; ++j) mean[j] += xhat[static_cast<size_t>(i) * d + j];
      for (int j = 0; j < d; ++j) mean[j] /= n;
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < d; ++j) {
          const double e = xhat[static_cast<size_t>(i) * d + j] - mean[j];
          var[j] += e * e;
        }
      for (int j = 0; j < d; ++j) {
        stats[j] = static_cast<float>(1.0 / std::sqrt(var[j] / n + kBnEps));
        stats[d + j] = static_cast<float>(mean[j]);
        stats[2 * d + j] = static_cast<float>(n > 1 ? var[j] / (n - 1) : var[j]);
      }
    } else {
      const float* rm = buffers_.data() + 2 * static_cast<size_t>(k) * d;
      for (int j = 0; j < d; ++j) {
        stats[j] = 1.0f / std::sqrt(rm[d + j] + kBnEps);
        stats[d + j] = rm[j];
        stats[2 * d + j] = rm[d + j];
      }
    }
    for (int i = 0; i < n; ++i) {
      const float wt = w[(i % nf) * nk + k];
      float* x = xhat + static_cast<size_t>(i) * d;
      float* o = out + static_cast<size_t>(i) * d;
      for (int j = 0; j < d; ++j) {
        x[j] = (x[j] - stats[d + j]) * stats[j];
        o[j] += wt * x[j];
      }
    }
  }
}

void AutoDimEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                      const float* grad_out, FetchedRows* row_grads) {
  std::fill(grads_.begin(), grads_.end(), 0.0f);
  for (auto& g : row_grads->values) std::fill(g.begin(), g.end(), 0.0f);
  if (stage_ == 0) return BackwardSearch(plan, rows, grad_out, row_grads);
  const int nf = space_.num_fields(), d = space_.dim;
  for (int i = 0; i < plan.num_keys; ++i) {
    const int f = i % nf;
    const int w = dims_[f];
    const size_t at = static_cast<size_t>(i) * w;
    const float* r = rows.values[retrain_.table[f]].data() + at;
    float* gr = row_grads->values[retrain_.table[f]].data() + at;
    const float* g = grad_out + static_cast<size_t>(i) * d;
    const float* p = params_.data() + field_off_[f];
    float* dp = grads_.data() + field_off_[f];
    for (int a = 0; a < w; ++a) {
      float s = 0;
      for (int c = 0; c < d; ++c) {
        s += p[static_cast<size_t>(a) * d + c] * g[c];
        dp[static_cast<size_t>(a) * d + c] += r[a] * g[c];
      }
      gr[a] = s;
    }
    for (int c = 0; c < d; ++c) dp[static_cast<size_t>(w) * d + c] += g[c];
  }
}

void AutoDimEmbedding::BackwardSearch(const LookupPlan& plan, const FetchedRows& rows,
                                      const float* grad_out, FetchedRows* row_grads) {
  const int n = plan.num_keys, nf = space_.num_fields(), d = space_.dim;
  const int nk = static_cast<int>(cands_.size());
  if (plan.saved.size() != SavedFloats(n, nf, nk, d)) {
    std::vector<float> scratch(static_cast<size_t>(n) * d);
    DecodeSearch(plan, rows, scratch.data());
  }
  const float* w = plan.saved.data();
  const float* xhat0 = w + 2 * static_cast<size_t>(nf) * nk;
  const float* stats0 = xhat0 + static_cast<size_t>(nk) * n * d;
  // dL/dw per field and candidate.
  std::vector<double> dw(static_cast<size_t>(nf) * nk, 0.0);
  for (int k = 0; k < nk; ++k) {
    const float* xhat = xhat0 + static_cast<size_t>(k) * n * d;
    for (int i = 0; i < n; ++i) {
      double s = 0;
      for (int j = 0; j < d; ++j)
        s += static_cast<double>(grad_out[static_cast<size_t>(i) * d + j]) *
             xhat[static_cast<size_t>(i) * d + j];
      dw[(i % nf) * nk + k] += s;
    }
  }
  // Through the softmax of z = (log_softmax(α) + G)/τ, then the log_softmax.
  const double t = tau();
  for (int f = 0; f < nf; ++f) {
    const float* wf = w + static_cast<size_t>(f) * nk;
    const float* a = params_.data() + alpha_off_ + static_cast<size_t>(f) * nk;
    double wdw = 0;
    for (int k = 0; k < nk; ++k) wdw += wf[k] * dw[f * nk + k];
    std::vector<double> dls(nk);
    double sum = 0;
    for (int k = 0; k < nk; ++k) sum += (dls[k] = wf[k] * (dw[f * nk + k] - wdw) / t);
    double amax = a[0];
    for (int k = 1; k < nk; ++k) amax = std::max<double>(amax, a[k]);
    double sa = 0;
    for (int k = 0; k < nk; ++k) sa += std::exp(a[k] - amax);
    for (int k = 0; k < nk; ++k)
      grads_[alpha_off_ + static_cast<size_t>(f) * nk + k] =
          static_cast<float>(dls[k] - std::exp(a[k] - amax) / sa * sum);
  }
  // Through BatchNorm and the candidates' linear maps.
  std::vector<double> m1(d), m2(d);
  std::vector<float> dh(d);
  for (int k = 0; k < nk; ++k) {
    const int c = cands_[k];
    const float* xhat = xhat0 + static_cast<size_t>(k) * n * d;
    const float* stats = stats0 + 3 * static_cast<size_t>(k) * d;
    const float* vals = rows.values[k].data();
    float* gr = row_grads->values[k].data();
    std::fill(m1.begin(), m1.end(), 0.0);
    std::fill(m2.begin(), m2.end(), 0.0);
    if (plan.training) {
      for (int i = 0; i < n; ++i) {
        const float wt = w[(i % nf) * nk + k];
        for (int j = 0; j < d; ++j) {
          const double dx = wt * grad_out[static_cast<size_t>(i) * d + j];
          m1[j] += dx;
          m2[j] += dx * xhat[static_cast<size_t>(i) * d + j];
        }
      }
      for (int j = 0; j < d; ++j) m1[j] /= n, m2[j] /= n;
    }
    for (int i = 0; i < n; ++i) {
      const int f = i % nf;
      const float wt = w[f * nk + k];
      for (int j = 0; j < d; ++j) {
        const double dx = wt * grad_out[static_cast<size_t>(i) * d + j];
        dh[j] = static_cast<float>(stats[j] *
                                   (dx - m1[j] - xhat[static_cast<size_t>(i) * d + j] * m2[j]));
      }
      const float* wk = params_.data() + w_off_[k] + static_cast<size_t>(f) * c * d;
      float* dwk = grads_.data() + w_off_[k] + static_cast<size_t>(f) * c * d;
      float* dbk = grads_.data() + b_off_[k] + static_cast<size_t>(f) * d;
      for (int j = 0; j < d; ++j) dbk[j] += dh[j];
      for (int a = 0; a < c; ++a) {
        const float v = vals[static_cast<size_t>(i) * c + a];
        float s = 0;
        for (int j = 0; j < d; ++j) {
          s += wk[static_cast<size_t>(a) * d + j] * dh[j];
          dwk[static_cast<size_t>(a) * d + j] += v * dh[j];
        }
        gr[static_cast<size_t>(i) * c + a] = s;
      }
    }
    if (plan.training) {
      float* rm = buffers_.data() + 2 * static_cast<size_t>(k) * d;
      for (int j = 0; j < d; ++j) {
        rm[j] = (1 - kBnMomentum) * rm[j] + kBnMomentum * stats[d + j];
        rm[d + j] = (1 - kBnMomentum) * rm[d + j] + kBnMomentum * stats[2 * d + j];
      }
    }
  }
}

Status AutoDimEmbedding::AfterStep(int64_t step) {
  if (stage_ == 0) ++steps_;
  return OkStatus();
}

void AutoDimEmbedding::InitRetrainParams(const std::vector<float>& search) {
  const int nf = space_.num_fields(), d = space_.dim;
  Rng rng(seed_ ^ kRetrainTag);
  for (int f = 0; f < nf; ++f) {
    const int w = dims_[f];
    float* p = params_.data() + field_off_[f];
    if (reset_retrain_) {
      FillInit(&rng, tiny_init_, init_bound_, w, d, p, static_cast<size_t>(w) * d);
      if (tiny_init_) FillInit(&rng, true, init_bound_, 0, 0, p + static_cast<size_t>(w) * d, d);
      continue;
    }
    const int k = static_cast<int>(std::find(cands_.begin(), cands_.end(), w) - cands_.begin());
    const float* wk = search.data() + w_off_[k] + static_cast<size_t>(f) * w * d;
    const float* bk = search.data() + b_off_[k] + static_cast<size_t>(f) * d;
    std::copy(wk, wk + static_cast<size_t>(w) * d, p);
    std::copy(bk, bk + d, p + static_cast<size_t>(w) * d);
  }
}

Status AutoDimEmbedding::BeginStage(int index) {
  if (index != 1) return InvalidArgument("autodim has stages 0 and 1, not ", index);
  if (stage_ != 0) return FailedPrecondition("autodim: the retrain stage has begun already");
  dims_ = ChosenDims();
  const std::vector<float> search = params_;
  RetrainLayout();
  InitRetrainParams(search);
  stage_ = 1;
  std::string chosen;
  for (int f = 0; f < space_.num_fields(); ++f)
    chosen += (f > 0 ? "," : "") + std::to_string(dims_[f]);
  ECPS_LOG_INFO("autodim: per-field dimensions [{}] after {} search steps; inference ratio {:.6f}",
                chosen, steps_,
                static_cast<double>(Memory().inference_bytes) /
                    static_cast<double>(method_internal::FullBytes(space_)));
  return OkStatus();
}

std::vector<RowCopy> AutoDimEmbedding::StageCopies(int index) const {
  std::vector<RowCopy> copies;
  if (index != 1 || stage_ != 1 || reset_retrain_) return copies;
  for (int f = 0; f < space_.num_fields(); ++f) {
    if (space_.cardinalities[f] == 0) continue;
    const int k =
        static_cast<int>(std::find(cands_.begin(), cands_.end(), dims_[f]) - cands_.begin());
    copies.push_back(RowCopy{k, space_.offsets[f], retrain_.table[f], retrain_.row_off[f],
                             space_.cardinalities[f]});
  }
  return copies;
}

MemoryReport AutoDimEmbedding::Memory() const {
  const std::vector<int> dims = ChosenDims();
  const uint64_t d = static_cast<uint64_t>(space_.dim);
  uint64_t search_words = 0, retrain_words = 0, proj_words = 0;
  for (int c : cands_) search_words += space_.total() * static_cast<uint64_t>(c);
  const RetrainTables plan = PlanRetrain(space_, dims, align_);
  for (size_t t = 0; t < plan.widths.size(); ++t)
    retrain_words += plan.rows[t] * static_cast<uint64_t>(plan.widths[t]);
  for (int f = 0; f < space_.num_fields(); ++f)
    proj_words += (static_cast<uint64_t>(dims[f]) + 1) * d;
  const uint64_t final_aux = 4 * proj_words + 4ull * static_cast<uint64_t>(space_.num_fields());
  MemoryReport m;
  m.parameter_bytes = 4 * (search_words + retrain_words);
  m.auxiliary_bytes = stage_ == 0 ? 4 * (params_.size() + buffers_.size()) : final_aux;
  m.inference_bytes = 4 * retrain_words + final_aux;
  return m;
}

std::string AutoDimEmbedding::SaveState() const {
  BlobWriter w = method_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod(tau_decay_);
  w.Pod<uint8_t>(reset_retrain_ ? 1 : 0);
  w.Pod<uint8_t>(tiny_init_ ? 1 : 0);
  w.Pod(align_);
  w.Pod<int32_t>(stage_);
  w.Pod(steps_);
  if (stage_ == 1) w.Vec(dims_);
  return w.Finish();
}

Status AutoDimEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(method_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  double tau_decay = 0;
  uint8_t reset = 0, tiny = 0;
  int32_t stage = 0;
  int64_t steps = 0;
  uint64_t align = 0;
  if (!r.Pod(&tau_decay) || !r.Pod(&reset) || !r.Pod(&tiny) || !r.Pod(&align) || !r.Pod(&stage) ||
      !r.Pod(&steps))
    return r.Truncated();
  RETURN_IF_ERROR(CheckSame(kName, "shard_align", align, align_));
  RETURN_IF_ERROR(CheckSame(kName, "tau_decay", tau_decay, tau_decay_));
  RETURN_IF_ERROR(CheckSame(kName, "reset_retrain", reset, static_cast<uint8_t>(reset_retrain_)));
  RETURN_IF_ERROR(CheckSame(kName, "init (1 = tiny)", tiny, static_cast<uint8_t>(tiny_init_)));
  if (stage != 0 && stage != 1) return DataLoss(kName, " state: stage ", stage, " is not 0 or 1");
  if (steps < 0) return DataLoss(kName, " state: ", steps, " search steps");
  std::vector<int> dims;
  if (stage == 1) {
    if (!r.Vec(&dims)) return r.Truncated();
    if (dims.size() != static_cast<size_t>(space_.num_fields()))
      return DataLoss(kName, " state: ", dims.size(), " dimensions for ", space_.num_fields(),
                      " fields");
    for (size_t f = 0; f < dims.size(); ++f)
      if (std::find(cands_.begin(), cands_.end(), dims[f]) == cands_.end())
        return DataLoss(kName, " state: field ", f, " has dimension ", dims[f],
                        ", not a candidate");
  }
  RETURN_IF_ERROR(method_internal::EndState(r));
  steps_ = steps;
  if (stage == 1) {
    dims_ = std::move(dims);
    RetrainLayout();  // the projections come from the checkpoint (MDNS)
  } else if (stage_ != 0) {
    SearchLayout();
  }
  stage_ = stage;
  return OkStatus();
}

}  // namespace ecps
