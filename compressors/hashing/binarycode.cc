#include "compressors/hashing/binarycode.h"

#include <algorithm>
#include <numeric>

#include "common/check.h"
#include "compressors/hashing/hashing_util.h"

namespace ecps {

using hashing_internal::CheckSame;

namespace {

int AddressBits(uint64_t n) {
  int l = 0;
  while (l < 64 && (1ull << l) < n) ++l;
  return l;
}

// Bit positions of each of the t blocks of an L-bit id: skip deals the bits
// round robin (block j = bits j, j+t, ...; the first L mod t blocks get one
// more); succession cuts runs of c = ceil(L/t) bits (the last run is
// shorter). Empty if succession cannot make exactly t non-empty runs (then t
// is the same split as a smaller t).
std::vector<std::vector<int>> SplitPositions(int l, int t, bool skip) {
  const int c = (l + t - 1) / t;
  if (!skip && (t - 1) * c >= l) return {};
  std::vector<std::vector<int>> pos(t);
  for (int p = 0; p < l; ++p) pos[skip ? p % t : p / c].push_back(p);
  return pos;
}

// Rows block j needs: the values v of its bits that some id < n has. Placing
// v's bits at the block's positions is increasing in v and gives the
// smallest id with that block value, so those values are exactly
// [0, count): all 2^{b_j} of them except for the block holding bit L-1 when
// n is not a power of two.
uint64_t BlockRows(uint64_t n, const std::vector<int>& pos) {
  auto place = [&](uint64_t v) {
    uint64_t x = 0;
    for (size_t k = 0; k < pos.size(); ++k) x |= ((v >> k) & 1) << pos[k];
    return x;
  };
  uint64_t lo = 0, hi = (uint64_t{1} << pos.size()) - 1;  // place(lo) = 0 < n
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo + 1) / 2;
    if (place(mid) < n) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo + 1;
}

// Rows of each block of a field of n ids split into t blocks; empty if the
// split is not valid.
std::vector<uint64_t> SplitRows(uint64_t n, int t, bool skip) {
  std::vector<uint64_t> rows;
  for (const std::vector<int>& pos : SplitPositions(AddressBits(n), t, skip))
    rows.push_back(BlockRows(n, pos));
  return rows;
}

struct Option {
  uint64_t bytes;
  int blocks;  // 0 = full
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
    const int l = AddressBits(n);
    for (int t = 2; t <= l; ++t) {
      const std::vector<uint64_t> split = SplitRows(n, t, skip_);
      const uint64_t rows = std::accumulate(split.begin(), split.end(), uint64_t{0});
      if (rows > 0 && rows < n) options[f].push_back({row_bytes * rows + 4, t});
    }
    options[f].push_back({row_bytes * n, 0});
    std::stable_sort(options[f].begin(), options[f].end(),
                     [](const Option& a, const Option& b) { return a.bytes < b.bytes; });
  }
  // 1. Per-field share (docs/methods.md §2.6.6).
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
  split_.resize(nf);
  for (int f = 0; f < nf; ++f) split_[f] = options[f][pick[f]].blocks;
  Layout();
  return OkStatus();
}

void BinaryCodeEmbedding::Layout() {
  const int nf = space_.num_fields();
  blocks_.assign(nf, 1);
  address_bits_.assign(nf, 0);
  block_bits_.assign(nf, {});
  block_off_.assign(nf, {0});
  base_.assign(nf, 0);
  field_rows_.assign(nf, 0);
  rows_ = 0;
  max_blocks_ = 1;
  for (int f = 0; f < nf; ++f) {
    const uint64_t n = space_.cardinalities[f];
    address_bits_[f] = AddressBits(n);
    field_rows_[f] = n;
    if (split_[f] > 0) {
      const std::vector<std::vector<int>> pos = SplitPositions(address_bits_[f], split_[f], skip_);
      ECPS_CHECK(!pos.empty()) << "binarycode: field " << f << " split " << split_[f];
      blocks_[f] = split_[f];
      block_bits_[f].assign(blocks_[f], 0);
      block_off_[f].assign(blocks_[f], 0);
      uint64_t off = 0;
      for (int j = 0; j < blocks_[f]; ++j) {
        block_bits_[f][j] = static_cast<int>(pos[j].size());
        block_off_[f][j] = off;
        off += BlockRows(n, pos[j]);
      }
      field_rows_[f] = off;
    }
    base_[f] = rows_;
    rows_ += field_rows_[f];
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
    const int t = blocks_[field];
    const uint64_t base = base_[field];
    if (split_[field] == 0) {
      out[0] = base + x;
    } else if (!skip_) {
      const int c = block_bits_[field][0];
      for (int j = 0; j < t; ++j) {
        const uint64_t mask = (uint64_t{1} << block_bits_[field][j]) - 1;
        out[j] = base + block_off_[field][j] + ((x >> (j * c)) & mask);
      }
    } else {
      // Block j gathers bits j, j + t, j + 2t, ... of x.
      for (int j = 0; j < t; ++j) {
        uint64_t v = 0;
        uint64_t rest = x >> j;
        for (int k = 0; rest != 0; ++k, rest >>= t) v |= (rest & 1) << k;
        out[j] = base + block_off_[field][j] + v;
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
  for (int t : split_) r.auxiliary_bytes += t == 0 ? 0 : 4;
  r.inference_bytes = r.parameter_bytes + r.auxiliary_bytes;
  return r;
}

std::string BinaryCodeEmbedding::SaveState() const {
  BlobWriter w = hashing_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod<uint8_t>(skip_ ? 1 : 0);
  w.Pod<uint8_t>(mean_ ? 1 : 0);
  w.Vec(split_);
  return w.Finish();
}

Status BinaryCodeEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(hashing_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  uint8_t skip = 0, mean = 0;
  std::vector<int> split;
  if (!r.Pod(&skip) || !r.Pod(&mean) || !r.Vec(&split)) return r.Truncated();
  RETURN_IF_ERROR(hashing_internal::EndState(r));
  RETURN_IF_ERROR(CheckSame(kName, "split (1 = skip)", skip, static_cast<uint8_t>(skip_ ? 1 : 0)));
  RETURN_IF_ERROR(
      CheckSame(kName, "pooling (1 = mean)", mean, static_cast<uint8_t>(mean_ ? 1 : 0)));
  return CheckSame(kName, "the blocks per field", split, split_);
}

}  // namespace ecps
