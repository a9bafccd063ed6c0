#include "compressors/dimension/field_tables.h"

#include <algorithm>
#include <cmath>

namespace ecps::dimension_internal {
namespace {
constexpr double kTwoPi = 6.283185307179586;
}  // namespace

FieldTables PlanFieldTables(const FeatureSpace& s, const std::vector<int>& dims, uint64_t align) {
  const int nf = s.num_fields();
  FieldTables p;
  p.widths = dims;
  std::sort(p.widths.begin(), p.widths.end());
  p.widths.erase(std::unique(p.widths.begin(), p.widths.end()), p.widths.end());
  p.table.assign(nf, 0);
  p.row_off.assign(nf, 0);
  p.rows.assign(p.widths.size(), 0);
  for (int f = 0; f < nf; ++f) {
    const int t = static_cast<int>(std::lower_bound(p.widths.begin(), p.widths.end(), dims[f]) -
                                   p.widths.begin());
    // The field starts at the first row congruent to its global ids modulo
    // align, so that copies from a global table stay on their servers.
    const uint64_t end = p.rows[t];
    const uint64_t gap = (s.offsets[f] % align + align - end % align) % align;
    p.table[f] = t;
    p.row_off[f] = end + (s.cardinalities[f] == 0 ? 0 : gap);
    p.rows[t] = p.row_off[f] + s.cardinalities[f];
  }
  return p;
}

std::vector<RowTableSpec> FieldTableSpecs(const FieldTables& t, const std::string& prefix,
                                          double init_bound) {
  std::vector<RowTableSpec> tables;
  for (size_t i = 0; i < t.widths.size(); ++i) {
    RowTableSpec e;
    e.name = prefix + std::to_string(t.widths[i]);
    e.rows = t.rows[i];
    e.width = t.widths[i];
    e.init_bound = init_bound;
    tables.push_back(e);
  }
  return tables;
}

void EncodeFieldTables(const FieldTables& t, int num_fields, std::span<const uint32_t> keys,
                       LookupPlan* plan) {
  const int n = static_cast<int>(keys.size());
  const size_t nt = t.widths.size();
  plan->Reset(n, nt);
  for (size_t i = 0; i < nt; ++i) {
    plan->per_key[i] = 1;
    plan->rows[i].assign(static_cast<size_t>(n), kNoRow);
  }
  for (int i = 0; i < n; ++i) {
    const int f = i % num_fields;
    plan->rows[t.table[f]][i] = t.row_off[f] + keys[i];
  }
}

void FillInit(Rng* rng, bool tiny, double bound, int fan_in, int fan_out, float* w, size_t count) {
  if (tiny) {
    for (size_t i = 0; i < count; ++i) w[i] = static_cast<float>(rng->Uniform(-bound, bound));
    return;
  }
  const double sd = std::sqrt(2.0 / (fan_in + fan_out));
  for (size_t i = 0; i < count; i += 2) {
    double u1 = rng->Uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    const double r = std::sqrt(-2.0 * std::log(u1)) * sd, a = kTwoPi * rng->Uniform();
    w[i] = static_cast<float>(r * std::cos(a));
    if (i + 1 < count) w[i + 1] = static_cast<float>(r * std::sin(a));
  }
}

void ProjectedFields::Reset(const FeatureSpace& s, std::vector<int> dims) {
  num_fields_ = s.num_fields();
  dim_ = s.dim;
  dims_ = std::move(dims);
  tables_ = PlanFieldTables(s, dims_, 1);
  proj_off_.assign(num_fields_, 0);
  proj_floats_ = 0;
  for (int f = 0; f < num_fields_; ++f) {
    if (dims_[f] >= dim_) continue;
    proj_off_[f] = proj_floats_;
    proj_floats_ += static_cast<size_t>(dims_[f]) * dim_;
  }
}

void ProjectedFields::InitProjections(uint64_t seed, uint64_t tag, bool tiny, double bound,
                                      float* p) const {
  for (int f = 0; f < num_fields_; ++f) {
    if (dims_[f] >= dim_) continue;
    Rng rng(seed ^ (tag + static_cast<uint64_t>(f)));
    FillInit(&rng, tiny, bound, dims_[f], dim_, p + proj_off_[f],
             static_cast<size_t>(dims_[f]) * dim_);
  }
}

uint64_t ProjectedFields::TableBytes() const {
  uint64_t b = 0;
  for (size_t t = 0; t < tables_.widths.size(); ++t)
    b += 4 * tables_.rows[t] * static_cast<uint64_t>(tables_.widths[t]);
  return b;
}

uint64_t ProjectedFields::InferenceBytes(const FeatureSpace& s, const std::vector<int>& dims) {
  uint64_t words = 0;
  for (int f = 0; f < s.num_fields(); ++f) {
    const uint64_t df = static_cast<uint64_t>(dims[f]);
    words += s.cardinalities[f] * df;
    if (dims[f] < s.dim) words += df * static_cast<uint64_t>(s.dim);
  }
  return 4 * words + 4ull * static_cast<uint64_t>(s.num_fields());
}

void ProjectedFields::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  EncodeFieldTables(tables_, num_fields_, keys, plan);
}

void ProjectedFields::Decode(const LookupPlan& plan, const FetchedRows& rows, const float* proj,
                             float* out) const {
  const int d = dim_;
  for (int i = 0; i < plan.num_keys; ++i) {
    const int f = i % num_fields_;
    const int w = dims_[f];
    const float* r = rows.values[tables_.table[f]].data() + static_cast<size_t>(i) * w;
    float* o = out + static_cast<size_t>(i) * d;
    if (w == d) {
      std::copy(r, r + d, o);
      continue;
    }
    std::fill(o, o + d, 0.0f);
    const float* p = proj + proj_off_[f];
    for (int a = 0; a < w; ++a) {
      const float v = r[a];
      const float* pa = p + static_cast<size_t>(a) * d;
      for (int c = 0; c < d; ++c) o[c] += v * pa[c];
    }
  }
}

void ProjectedFields::Backward(const LookupPlan& plan, const FetchedRows& rows, const float* proj,
                               const float* grad_out, FetchedRows* row_grads,
                               float* proj_grads) const {
  const int d = dim_;
  std::fill(proj_grads, proj_grads + proj_floats_, 0.0f);
  for (auto& g : row_grads->values) std::fill(g.begin(), g.end(), 0.0f);
  for (int i = 0; i < plan.num_keys; ++i) {
    const int f = i % num_fields_;
    const int w = dims_[f];
    const size_t at = static_cast<size_t>(i) * w;
    const float* r = rows.values[tables_.table[f]].data() + at;
    float* gr = row_grads->values[tables_.table[f]].data() + at;
    const float* g = grad_out + static_cast<size_t>(i) * d;
    if (w == d) {
      std::copy(g, g + d, gr);
      continue;
    }
    const float* p = proj + proj_off_[f];
    float* dp = proj_grads + proj_off_[f];
    for (int a = 0; a < w; ++a) {
      const float* pa = p + static_cast<size_t>(a) * d;
      float* dpa = dp + static_cast<size_t>(a) * d;
      float s = 0;
      for (int c = 0; c < d; ++c) {
        s += pa[c] * g[c];
        dpa[c] += r[a] * g[c];
      }
      gr[a] = s;
    }
  }
}

}  // namespace ecps::dimension_internal
