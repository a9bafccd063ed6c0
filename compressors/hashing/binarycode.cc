#include "compressors/hashing/binarycode.h"

#include <algorithm>
#include <numeric>

#include "common/check.h"
#include "compressors/hashing/hashing_util.h"

namespace ecps {

using hashing_internal::StateReader;
using hashing_internal::StateWriter;

namespace {

int AddressBits(uint64_t n) {
  int l = 0;
  while (l < 64 && (1ull << l) < n) ++l;
  return l;
}

// Rows of a field of cardinality n with c-bit blocks (c = 0: full).
uint64_t OptionRows(uint64_t n, int c) {
  if (c == 0) return n;
  const int l = AddressBits(n);
  return static_cast<uint64_t>((l + c - 1) / c) << c;
}

struct Option {
  uint64_t bytes;
  int bits;
};

}  // namespace

ParamSchema BinaryCodeEmbedding::Schema() {
  ParamSchema s;
  s.String("split", "skip",
           "how the id's bits form blocks: skip (block j = bits j, j+t, ...) or succession "
           "(consecutive runs)",
           {"skip", "succession"});
  s.String("pooling", "sum", "how the block rows combine", {"sum", "mean"});
  return s;
}

std::unique_ptr<Compressor> BinaryCodeEmbedding::Create() {
  return std::make_unique<BinaryCodeEmbedding>();
}

Status BinaryCodeEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(hashing_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = hashing_internal::InitBound(space_);
  skip_ = params.GetString("split") == "skip";
  mean_ = params.GetString("pooling") == "mean";
  const int nf = space_.num_fields();
  const uint64_t row_bytes = 4ull * static_cast<uint64_t>(space_.dim);
  const uint64_t budget = hashing_internal::BudgetBytes(space_, ctx.budget);

  // Each field's options, by bytes ascending (a compressed field also keeps c).
  std::vector<std::vector<Option>> options(nf);
  for (int f = 0; f < nf; ++f) {
    const uint64_t n = space_.cardinalities[f];
    for (int c = 1; c < AddressBits(n); ++c)
      if (OptionRows(n, c) < n) options[f].push_back({row_bytes * OptionRows(n, c) + 4, c});
    options[f].push_back({row_bytes * n, 0});
    std::stable_sort(options[f].begin(), options[f].end(),
                     [](const Option& a, const Option& b) { return a.bytes < b.bytes; });
  }
  // 1. Per-field share (methods.md §2.6.6).
  std::vector<size_t> pick(nf, 0);
  uint64_t used = 0;
  for (int f = 0; f < nf; ++f) {
    const double share = static_cast<double>(row_bytes * space_.cardinalities[f]) * ctx.budget;
    for (size_t i = 0; i < options[f].size(); ++i)
      if (static_cast<double>(options[f][i].bytes) <= share) pick[f] = i;
    used += options[f][pick[f]].bytes;
  }
  std::vector<int> by_size(nf);
  std::iota(by_size.begin(), by_size.end(), 0);
  std::stable_sort(by_size.begin(), by_size.end(),
                   [&](int a, int b) { return space_.cardinalities[a] > space_.cardinalities[b]; });
  // 2. Over budget (small fields at their minimum): shrink the largest fields.
  for (int f : by_size) {
    if (used <= budget) break;
    used -= options[f][pick[f]].bytes - options[f][0].bytes;
    pick[f] = 0;
  }
  // 3. Spend the slack, largest field first.
  for (int f : by_size) {
    for (size_t i = options[f].size(); i-- > pick[f] + 1;) {
      const uint64_t extra = options[f][i].bytes - options[f][pick[f]].bytes;
      if (used + extra <= budget) {
        used += extra;
        pick[f] = i;
        break;
      }
    }
  }
  bits_.resize(nf);
  for (int f = 0; f < nf; ++f) bits_[f] = options[f][pick[f]].bits;
  Layout();
  return OkStatus();
}

void BinaryCodeEmbedding::Layout() {
  const int nf = space_.num_fields();
  blocks_.assign(nf, 1);
  address_bits_.assign(nf, 0);
  base_.assign(nf, 0);
  rows_ = 0;
  max_blocks_ = 1;
  for (int f = 0; f < nf; ++f) {
    const uint64_t n = space_.cardinalities[f];
    address_bits_[f] = AddressBits(n);
    const int c = bits_[f];
    if (c > 0) blocks_[f] = (address_bits_[f] + c - 1) / c;
    base_[f] = rows_;
    rows_ += OptionRows(n, c);
    max_blocks_ = std::max(max_blocks_, blocks_[f]);
  }
}

std::vector<RowTableSpec> BinaryCodeEmbedding::Tables() const {
  RowTableSpec t;
  t.name = "T";
  t.rows = rows_;
  t.width = space_.dim;
  t.init_bound = init_bound_;
  return {t};
}

void BinaryCodeEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  const int nf = space_.num_fields();
  const int per = max_blocks_;
  plan->Reset(n, 1);
  plan->per_key[0] = per;
  plan->rows[0].resize(static_cast<size_t>(n) * per);
  uint64_t* out = plan->rows[0].data();
  int field = 0;
  for (int i = 0; i < n; ++i, out += per) {
    ECPS_DCHECK(keys[i] < space_.cardinalities[field]);
    const uint64_t x = keys[i];
    const int c = bits_[field];
    const int t = blocks_[field];
    const uint64_t base = base_[field];
    if (c == 0) {
      out[0] = base + x;
    } else if (!skip_) {
      const uint64_t mask = (1ull << c) - 1;
      for (int j = 0; j < t; ++j)
        out[j] = base + (static_cast<uint64_t>(j) << c) + ((x >> (j * c)) & mask);
    } else {
      // Block j gathers bits j, j + t, j + 2t, ... (positions beyond L are 0).
      for (int j = 0; j < t; ++j) {
        uint64_t v = 0;
        uint64_t rest = x >> j;
        for (int k = 0; k < c && rest != 0; ++k, rest >>= t) v |= (rest & 1) << k;
        out[j] = base + (static_cast<uint64_t>(j) << c) + v;
      }
    }
    for (int j = t; j < per; ++j) out[j] = kNoRow;
    if (++field == nf) field = 0;
  }
}

void BinaryCodeEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows,
                                 float* out) const {
  const int d = space_.dim;
  const int per = max_blocks_;
  const int nf = space_.num_fields();
  const float* v = rows.values[0].data();
  int field = 0;
  for (int i = 0; i < plan.num_keys; ++i, out += d, v += static_cast<size_t>(per) * d) {
    const int t = blocks_[field];
    std::copy(v, v + d, out);
    for (int j = 1; j < t; ++j)
      for (int e = 0; e < d; ++e) out[e] += v[j * d + e];
    if (mean_ && t > 1) {
      const float inv = 1.0f / static_cast<float>(t);
      for (int e = 0; e < d; ++e) out[e] *= inv;
    }
    if (++field == nf) field = 0;
  }
}

void BinaryCodeEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                         const float* grad_out, FetchedRows* row_grads) {
  const int d = space_.dim;
  const int per = max_blocks_;
  const int nf = space_.num_fields();
  float* g = row_grads->values[0].data();
  int field = 0;
  for (int i = 0; i < plan.num_keys; ++i, grad_out += d, g += static_cast<size_t>(per) * d) {
    const int t = blocks_[field];
    const float scale = mean_ && t > 1 ? 1.0f / static_cast<float>(t) : 1.0f;
    for (int j = 0; j < t; ++j)
      for (int e = 0; e < d; ++e) g[j * d + e] = grad_out[e] * scale;
    std::fill(g + static_cast<size_t>(t) * d, g + static_cast<size_t>(per) * d, 0.0f);
    if (++field == nf) field = 0;
  }
}

MemoryReport BinaryCodeEmbedding::Memory() const {
  MemoryReport r;
  r.parameter_bytes = 4ull * static_cast<uint64_t>(space_.dim) * rows_;
  for (int c : bits_) r.auxiliary_bytes += c == 0 ? 0 : 4;
  r.inference_bytes = r.parameter_bytes + r.auxiliary_bytes;
  return r;
}

std::string BinaryCodeEmbedding::SaveState() const {
  StateWriter w(kName, 1);
  w.Pod<uint8_t>(skip_ ? 1 : 0);
  w.Pod<uint8_t>(mean_ ? 1 : 0);
  w.Vec(bits_);
  return w.Finish();
}

Status BinaryCodeEmbedding::LoadState(const std::string& blob) {
  StateReader r;
  RETURN_IF_ERROR(r.Open(blob, kName, 1));
  uint8_t skip = 0, mean = 0;
  std::vector<int> bits;
  if (!r.Pod(&skip) || !r.Pod(&mean) || !r.Vec(&bits) || !r.AtEnd() ||
      bits.size() != space_.cardinalities.size())
    return r.Corrupt();
  for (int c : bits)
    if (c < 0 || c > 62) return r.Corrupt();
  skip_ = skip != 0;
  mean_ = mean != 0;
  bits_ = std::move(bits);
  Layout();
  return OkStatus();
}

}  // namespace ecps
