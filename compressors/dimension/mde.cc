#include "compressors/dimension/mde.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/rng.h"

namespace ecps {
namespace {

using method_internal::CheckSame;

constexpr uint64_t kInitTag = 0x4D44455000000000ull;  // "MDEP"

// numpy's round: to the nearest integer, halves to even (the default
// floating-point rounding mode).
double RoundHalfEven(double v) { return std::nearbyint(v); }

}  // namespace

ParamSchema MdeEmbedding::Schema() {
  ParamSchema s;
  s.Float("alpha", -1, -1, 64,
          "the power law's exponent: d_f = 2^round(log2(round(d·(n_min/n_f)^alpha))); -1 solves it "
          "from the budget (bisection on [0, 1], eps 1e-3)");
  s.Bool("round_dim", true, "round every d_f to a power of two (CODE's default)");
  s.String("solver", "fill",
           "fill (the solved alpha, then the slack raises the largest fields to their next "
           "dimension while it fits) or authors (the solved alpha alone, CODE's)",
           {"fill", "authors"});
  s.String("init", "xavier",
           "projections: xavier (Xavier-normal, as the dense model) or tiny (CODE: U(±sqrt(1/max "
           "n_f)), the embedding init)",
           {"xavier", "tiny"});
  return s;
}

std::unique_ptr<Compressor> MdeEmbedding::Create() { return std::make_unique<MdeEmbedding>(); }

std::vector<int> MdeEmbedding::PowerLawDims(const FeatureSpace& s, double alpha, bool round_dim) {
  uint64_t n_min = 0;
  for (uint64_t n : s.cardinalities)
    if (n > 0 && (n_min == 0 || n < n_min)) n_min = n;
  std::vector<int> dims(s.num_fields(), s.dim);
  for (int f = 0; f < s.num_fields(); ++f) {
    const uint64_t n = s.cardinalities[f];
    if (n == 0) continue;
    // λ·n_f^−α with λ = d·n_min^α, computed as d·(n_min/n_f)^α (no overflow).
    const double raw = static_cast<double>(s.dim) *
                       std::pow(static_cast<double>(n_min) / static_cast<double>(n), alpha);
    double v = std::max(1.0, RoundHalfEven(raw));
    if (round_dim) v = std::exp2(RoundHalfEven(std::log2(v)));
    dims[f] = static_cast<int>(std::min<double>(v, s.dim));
  }
  return dims;
}

Status MdeEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(method_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = method_internal::InitBound(space_);
  round_dim_ = params.GetBool("round_dim");
  solver_ = params.GetString("solver");
  tiny_init_ = params.GetString("init") == "tiny";
  const double budget = std::floor(4.0 * static_cast<double>(space_.total()) * space_.dim *
                                   std::min(1.0, ctx.budget));
  auto fits = [&](const std::vector<int>& dims) {
    return static_cast<double>(InferenceBytes(space_, dims)) <= budget;
  };
  alpha_ = params.GetFloat("alpha");
  if (alpha_ < 0) {
    // Bytes fall as α grows (every d_f is non-increasing in α): the smallest
    // α of the grid that fits (CODE takes the lower end of its bracket, which
    // may be over the budget; §1.7: never over).
    if (fits(PowerLawDims(space_, 0, round_dim_))) {
      alpha_ = 0;
    } else if (!fits(PowerLawDims(space_, 1, round_dim_))) {
      alpha_ = 1;
    } else {
      double lo = 0, hi = 1;
      while (hi - lo > kAlphaEps) {
        const double mid = 0.5 * (lo + hi);
        (fits(PowerLawDims(space_, mid, round_dim_)) ? hi : lo) = mid;
      }
      alpha_ = hi;
    }
  }
  dims_ = PowerLawDims(space_, alpha_, round_dim_);
  if (solver_ == "fill" && params.GetFloat("alpha") < 0 && fits(dims_)) {
    // The slack to the largest fields first: each takes its next dimension
    // (the next power of two, or + 1) while the total fits.
    std::vector<int> order(space_.num_fields());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return space_.cardinalities[a] > space_.cardinalities[b];
    });
    for (bool changed = true; changed;) {
      changed = false;
      for (int f : order) {
        if (dims_[f] >= space_.dim || space_.cardinalities[f] == 0) continue;
        const int old = dims_[f];
        dims_[f] = std::min(space_.dim, round_dim_ ? 2 * old : old + 1);
        if (fits(dims_)) {
          changed = true;
        } else {
          dims_[f] = old;
        }
      }
    }
  }
  layout_.Reset(space_, dims_);
  // The projections.
  params_.assign(layout_.projection_floats(), 0.0f);
  grads_.assign(layout_.projection_floats(), 0.0f);
  layout_.InitProjections(ctx.seed, kInitTag, tiny_init_, init_bound_, params_.data());
  // An unreachable budget is trained at the real ratio (the trainer warns).
  return OkStatus();
}

std::vector<RowTableSpec> MdeEmbedding::Tables() const {
  return dimension_internal::FieldTableSpecs(layout_.tables(), "E", init_bound_);
}

void MdeEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  layout_.Encode(keys, plan);
}

void MdeEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  layout_.Decode(plan, rows, params_.data(), out);
}

void MdeEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                  const float* grad_out, FetchedRows* row_grads) {
  layout_.Backward(plan, rows, params_.data(), grad_out, row_grads, grads_.data());
}

MemoryReport MdeEmbedding::Memory() const {
  MemoryReport m;
  m.parameter_bytes = layout_.TableBytes();
  m.auxiliary_bytes = 4 * grads_.size() + 4ull * static_cast<uint64_t>(space_.num_fields());
  m.inference_bytes = m.parameter_bytes + m.auxiliary_bytes;
  return m;
}

std::string MdeEmbedding::SaveState() const {
  BlobWriter w = method_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod<uint8_t>(round_dim_ ? 1 : 0);
  w.Pod<uint8_t>(tiny_init_ ? 1 : 0);
  w.Pod(alpha_);
  w.Vec(dims_);
  return w.Finish();
}

Status MdeEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(method_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  uint8_t round_dim = 0, tiny = 0;
  double alpha = 0;
  std::vector<int> dims;
  if (!r.Pod(&round_dim) || !r.Pod(&tiny) || !r.Pod(&alpha) || !r.Vec(&dims)) return r.Truncated();
  RETURN_IF_ERROR(method_internal::EndState(r));
  RETURN_IF_ERROR(CheckSame(kName, "round_dim", round_dim, static_cast<uint8_t>(round_dim_)));
  RETURN_IF_ERROR(CheckSame(kName, "init (1 = tiny)", tiny, static_cast<uint8_t>(tiny_init_)));
  RETURN_IF_ERROR(CheckSame(kName, "alpha", alpha, alpha_));
  return CheckSame(kName, "the per-field dimensions", dims, dims_);
}

}  // namespace ecps
