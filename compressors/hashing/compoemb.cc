#include "compressors/hashing/compoemb.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/check.h"
#include "compressors/hashing/hashing_util.h"

namespace ecps {

using hashing_internal::CheckSame;

ParamSchema CompoEmbedding::Schema() {
  ParamSchema s;
  s.String("aggregator", "mul", "how Q[x div c] and R[x mod c] combine: element-wise mul or sum",
           {"mul", "sum"});
  s.Int("threshold", 0, 0, int64_t{1} << 40,
        "fields with cardinality <= threshold keep a full table");
  s.String("solver", "fill",
           "how the collision c is chosen: fill (the smallest shared c that fits, then per-field "
           "c_f spend the slack: within ~1% of the budget); shared (only the smallest shared c "
           "that fits: discrete ratios, e.g. 33% at 50%); authors (CODE's bisection of a real c "
           "then ceil, which may exceed the budget by a few rows: Criteo c = 2/10/101)",
           {"fill", "shared", "authors"});
  return s;
}

std::unique_ptr<Compressor> CompoEmbedding::Create() { return std::make_unique<CompoEmbedding>(); }

uint64_t CompoEmbedding::FieldRows(uint64_t n, uint64_t c) {
  if (c == 0) return n;
  return (n + c - 1) / c + c;
}

namespace {

// The field's collision for a shared c: 0 (full) when compression does not
// shrink it (§2.3 step 5).
uint64_t FieldCollision(uint64_t n, uint64_t c, uint64_t threshold) {
  if (n <= threshold || n <= c || n <= CompoEmbedding::FieldRows(n, c)) return 0;
  return c;
}

}  // namespace

uint64_t CompoEmbedding::AuthorsCollision(const std::vector<uint64_t>& cards, uint64_t threshold,
                                          double budget) {
  uint64_t n_total = 0;
  for (uint64_t n : cards) n_total += n;
  // CODE's memory(x) in rows for a real collision x: a compressed field
  // costs ceil(n/x) + ceil(x) rows, never more than its full table.
  auto evaluate = [&](double x) {
    uint64_t rows = 0;
    for (uint64_t n : cards) {
      if (n > threshold) {
        const uint64_t compressed = static_cast<uint64_t>(std::ceil(static_cast<double>(n) / x)) +
                                    static_cast<uint64_t>(std::ceil(x));
        rows += std::min(n, compressed);
      } else {
        rows += n;
      }
    }
    return static_cast<double>(n_total) * budget - static_cast<double>(rows);
  };
  double lo = 1.0, hi = std::sqrt(static_cast<double>(n_total));
  // CODE asserts evaluate(lo) < 0 < evaluate(hi).
  if (!(evaluate(lo) < 0)) return 1;  // c = 1 keeps every field full: within budget
  if (!(evaluate(hi) > 0)) return 0;  // unreachable
  while (hi - lo > 0.5) {             // CODE's binary_search, eps 0.5
    const double mid = (lo + hi) / 2;
    const double score = evaluate(mid);
    // CODE would loop forever on score == 0; mid then fits exactly.
    if (score < 0) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return static_cast<uint64_t>(std::ceil(lo));
}

Status CompoEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(hashing_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = hashing_internal::InitBound(space_);
  multiply_ = params.GetString("aggregator") == "mul";
  const uint64_t threshold = static_cast<uint64_t>(params.GetInt("threshold"));
  const int nf = space_.num_fields();
  const uint64_t row_bytes = 4ull * static_cast<uint64_t>(space_.dim);
  const uint64_t budget = hashing_internal::BudgetBytes(space_, ctx.budget);
  // Bytes of a field with collision c: its rows plus its c (4 bytes) if compressed.
  auto field_bytes = [&](uint64_t n, uint64_t c) {
    return row_bytes * FieldRows(n, c) + (c == 0 ? 0 : 4);
  };

  const std::string solver = params.GetString("solver");
  // Scan every integer c instead of bisecting: memory(c) is not monotone for
  // small fields, and sqrt(n) <= 65536 candidates cost nothing. The first c
  // that fits is the smallest; the least-memory c is the fallback when none
  // fits (the real ratio is then reported).
  const uint64_t c_max =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::sqrt(static_cast<double>(space_.total()))));
  uint64_t best_c = 1, best_bytes = ~0ull, chosen = 0;
  for (uint64_t c = 1; c <= c_max && chosen == 0; ++c) {
    uint64_t bytes = 0;
    for (uint64_t n : space_.cardinalities)
      bytes += field_bytes(n, FieldCollision(n, c, threshold));
    if (bytes <= budget) chosen = c;
    if (bytes < best_bytes) best_bytes = bytes, best_c = c;
  }
  uint64_t c = chosen != 0 ? chosen : best_c;
  if (solver == "authors") {
    const uint64_t a = AuthorsCollision(space_.cardinalities, threshold, ctx.budget);
    c = a != 0 ? a : best_c;
  }
  collision_.resize(nf);
  uint64_t used = 0;
  for (int f = 0; f < nf; ++f) {
    collision_[f] = FieldCollision(space_.cardinalities[f], c, threshold);
    used += field_bytes(space_.cardinalities[f], collision_[f]);
  }

  const bool fill = solver == "fill";
  if (fill && used > budget) {
    // No shared c fits: give the largest fields their own least-memory c
    // (about sqrt(n_f)) until the budget is met or every field is minimal.
    std::vector<int> order(nf);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return space_.cardinalities[a] > space_.cardinalities[b];
    });
    for (int f : order) {
      if (used <= budget) break;
      const uint64_t n = space_.cardinalities[f];
      if (n <= threshold) continue;
      const uint64_t root = static_cast<uint64_t>(std::sqrt(static_cast<double>(n)));
      uint64_t best = collision_[f];
      for (uint64_t cf = std::max<uint64_t>(1, root); cf <= root + 1; ++cf)
        if (FieldRows(n, cf) < n && field_bytes(n, cf) < field_bytes(n, best)) best = cf;
      used -= field_bytes(n, collision_[f]) - field_bytes(n, best);
      collision_[f] = best;
    }
  }
  if (fill && used < budget) {
    // Largest fields first take their coarse steps; smaller fields then fill
    // what is left with finer ones (down to keeping the field full).
    std::vector<int> order(nf);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return space_.cardinalities[a] > space_.cardinalities[b];
    });
    for (int f : order) {
      const uint64_t n = space_.cardinalities[f];
      if (collision_[f] == 0) continue;
      const uint64_t now = field_bytes(n, collision_[f]);
      if (field_bytes(n, 0) - now <= budget - used) {  // the full table fits
        used += field_bytes(n, 0) - now;
        collision_[f] = 0;
        continue;
      }
      for (uint64_t cf = 2; cf < collision_[f]; ++cf) {
        const uint64_t bytes = field_bytes(n, cf);
        if (FieldRows(n, cf) < n && bytes > now && bytes - now <= budget - used) {
          used += bytes - now;
          collision_[f] = cf;
          break;
        }
      }
    }
  }
  Layout();
  return OkStatus();
}

void CompoEmbedding::Layout() {
  const int nf = space_.num_fields();
  q_off_.assign(nf, 0);
  r_off_.assign(nf, 0);
  e_off_.assign(nf, 0);
  q_rows_ = r_rows_ = e_rows_ = 0;
  for (int f = 0; f < nf; ++f) {
    const uint64_t n = space_.cardinalities[f], c = collision_[f];
    if (c == 0) {
      e_off_[f] = e_rows_;
      e_rows_ += n;
    } else {
      q_off_[f] = q_rows_;
      r_off_[f] = r_rows_;
      q_rows_ += (n + c - 1) / c;
      r_rows_ += c;
    }
  }
}

std::vector<RowTableSpec> CompoEmbedding::Tables() const {
  std::vector<RowTableSpec> t(3);
  const char* names[3] = {"Q", "R", "E"};
  const uint64_t rows[3] = {q_rows_, r_rows_, e_rows_};
  for (int i = 0; i < 3; ++i) {
    t[i].name = names[i];
    t[i].rows = rows[i];
    t[i].width = space_.dim;
    t[i].init_bound = init_bound_;
  }
  return t;
}

void CompoEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  const int nf = space_.num_fields();
  plan->Reset(n, 3);
  plan->per_key = {1, 1, 1};
  uint64_t* q = (plan->rows[0].resize(n), plan->rows[0].data());
  uint64_t* r = (plan->rows[1].resize(n), plan->rows[1].data());
  uint64_t* e = (plan->rows[2].resize(n), plan->rows[2].data());
  int field = 0;
  for (int i = 0; i < n; ++i) {
    ECPS_DCHECK(keys[i] < space_.cardinalities[field]);
    const uint64_t c = collision_[field];
    if (c == 0) {
      q[i] = r[i] = kNoRow;
      e[i] = e_off_[field] + keys[i];
    } else {
      q[i] = q_off_[field] + keys[i] / c;
      r[i] = r_off_[field] + keys[i] % c;
      e[i] = kNoRow;
    }
    if (++field == nf) field = 0;
  }
}

void CompoEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  const int d = space_.dim;
  const float* q = rows.values[0].data();
  const float* r = rows.values[1].data();
  const float* e = rows.values[2].data();
  const uint64_t* e_rows = plan.rows[2].data();
  for (int i = 0; i < plan.num_keys; ++i, q += d, r += d, e += d, out += d) {
    if (e_rows[i] != kNoRow) {
      std::copy(e, e + d, out);
    } else if (multiply_) {
      for (int j = 0; j < d; ++j) out[j] = q[j] * r[j];
    } else {
      for (int j = 0; j < d; ++j) out[j] = q[j] + r[j];
    }
  }
}

void CompoEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                    const float* grad_out, FetchedRows* row_grads) {
  const int d = space_.dim;
  const float* q = rows.values[0].data();
  const float* r = rows.values[1].data();
  float* gq = row_grads->values[0].data();
  float* gr = row_grads->values[1].data();
  float* ge = row_grads->values[2].data();
  const uint64_t* e_rows = plan.rows[2].data();
  for (int i = 0; i < plan.num_keys; ++i) {
    const size_t o = static_cast<size_t>(i) * d;
    const float* g = grad_out + o;
    if (e_rows[i] != kNoRow) {
      std::copy(g, g + d, ge + o);
      std::fill(gq + o, gq + o + d, 0.0f);
      std::fill(gr + o, gr + o + d, 0.0f);
    } else {
      std::fill(ge + o, ge + o + d, 0.0f);
      if (multiply_) {
        for (int j = 0; j < d; ++j) {
          gq[o + j] = g[j] * r[o + j];
          gr[o + j] = g[j] * q[o + j];
        }
      } else {
        std::copy(g, g + d, gq + o);
        std::copy(g, g + d, gr + o);
      }
    }
  }
}

MemoryReport CompoEmbedding::Memory() const {
  MemoryReport m;
  const uint64_t row_bytes = 4ull * static_cast<uint64_t>(space_.dim);
  m.parameter_bytes = row_bytes * (q_rows_ + r_rows_ + e_rows_);
  for (uint64_t c : collision_) m.auxiliary_bytes += c == 0 ? 0 : 4;
  m.inference_bytes = m.parameter_bytes + m.auxiliary_bytes;
  return m;
}

std::string CompoEmbedding::SaveState() const {
  BlobWriter w = hashing_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod<uint8_t>(multiply_ ? 1 : 0);
  w.Vec(collision_);
  return w.Finish();
}

Status CompoEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(hashing_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  uint8_t mul = 0;
  std::vector<uint64_t> collision;
  if (!r.Pod(&mul) || !r.Vec(&collision)) return r.Truncated();
  RETURN_IF_ERROR(hashing_internal::EndState(r));
  RETURN_IF_ERROR(
      CheckSame(kName, "the aggregator (1 = mul)", mul, static_cast<uint8_t>(multiply_ ? 1 : 0)));
  return CheckSame(kName, "the per-field collisions", collision, collision_);
}

}  // namespace ecps
