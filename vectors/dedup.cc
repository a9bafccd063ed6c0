// Dedup with 2-D blocks: near-duplicate blocks of R rows x C columns found
// by L2LSH (the one implementation Dedup's training-time method uses,
// compressors/internal/l2lsh.h), checked position by position, and stored
// once (docs/methods.md §6.8).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "common/fork_join.h"
#include "compressors/internal/l2lsh.h"
#include "vectors/internal/methods.h"

namespace ecps::vectors::internal {
namespace {

// Directions a block's projections use (R·C·bands floats): above this the
// configuration is refused rather than allocating gigabytes.
constexpr uint64_t kMaxDirections = uint64_t{1} << 26;
// Candidates of one block compared at most (the likeliest first): a bucket
// width that makes everything collide must not make the visit quadratic.
constexpr size_t kMaxCandidates = 64;
// Row blocks per work item of the projections.
constexpr uint64_t kRowBlocksPerItem = 16;

// The geometry both the encoder and the decoder derive from (n, d, R, C).
struct BlockGrid {
  uint64_t n = 0;
  int d = 0;
  uint64_t rows = 1;  // R
  int cols = 1;       // C, divides d
  uint64_t row_blocks() const { return (n + rows - 1) / rows; }
  int col_blocks() const { return d / cols; }
  uint64_t blocks() const { return row_blocks() * static_cast<uint64_t>(col_blocks()); }
  // The last row block has fewer rows unless R divides n.
  bool has_partial() const { return n % rows != 0; }
  uint64_t partial_rows() const { return has_partial() ? n % rows : rows; }
  // Blocks of the partial row block (the last col_blocks() ids): never
  // mapped and never a target (their missing rows would be compared).
  uint64_t full_blocks() const { return blocks() - (has_partial() ? col_blocks() : 0); }
  uint64_t block_values() const { return rows * static_cast<uint64_t>(cols); }
};

class DedupCodec final : public VectorCodec {
 public:
  // map: every block's kept block; data: the kept blocks in ascending block
  // order (so the partial ones, if any, are last), each R·C floats (the
  // partial ones R_p·C), an in-block row's C values consecutive.
  DedupCodec(const BlockGrid& g, std::vector<int32_t> map, uint64_t kept, std::vector<float> data)
      : VectorCodec(g.n, g.d),
        grid_(g),
        map_(std::move(map)),
        kept_(kept),
        full_kept_(kept - (g.has_partial() ? g.col_blocks() : 0)),
        data_(std::move(data)) {}
  std::string_view method() const override { return "dedup"; }
  void Decode(std::span<const uint64_t> ids, float* out) const override {
    const uint64_t R = grid_.rows;
    const size_t C = static_cast<size_t>(grid_.cols);
    const int nc = grid_.col_blocks();
    const uint64_t full_size = grid_.block_values();
    const uint64_t partial_size = grid_.partial_rows() * C;
    for (size_t k = 0; k < ids.size(); ++k) {
      const uint64_t rb = ids[k] / R, i = ids[k] - rb * R;
      const int32_t* m = map_.data() + rb * nc;
      float* o = out + k * dim();
      for (int cb = 0; cb < nc; ++cb) {
        const uint64_t kb = static_cast<uint64_t>(m[cb]);
        const uint64_t base = kb < full_kept_
                                  ? kb * full_size
                                  : full_kept_ * full_size + (kb - full_kept_) * partial_size;
        std::memcpy(o + cb * C, data_.data() + base + i * C, C * sizeof(float));
      }
    }
  }
  // The kept blocks' floats and the int32 block map.
  uint64_t MemoryBytes() const override { return 4 * data_.size() + 4 * map_.size(); }
  std::string Params() const override {
    return "block_rows=" + std::to_string(grid_.rows) +
           " block_cols=" + std::to_string(grid_.cols) +
           " blocks=" + std::to_string(grid_.blocks()) + " kept=" + std::to_string(kept_);
  }
  void Save(BlobWriter* w) const override {
    w->Pod<uint64_t>(grid_.rows);
    w->Pod<int32_t>(grid_.cols);
    w->Pod<uint64_t>(kept_);
    w->Vec(map_);
    w->Vec(data_);
  }

 private:
  BlockGrid grid_;
  std::vector<int32_t> map_;
  uint64_t kept_;
  uint64_t full_kept_;  // kept full blocks: the first in data_
  std::vector<float> data_;
};

// x's values of block b (row block rb = b / nc, column block b % nc), the
// in-block rows `rows` of them: [rows x C] into out.
void ReadBlock(const VectorSet& x, const BlockGrid& g, uint64_t b, uint64_t rows, float* out) {
  const uint64_t rb = b / g.col_blocks();
  const int cb = static_cast<int>(b % g.col_blocks());
  for (uint64_t i = 0; i < rows; ++i)
    std::memcpy(out + i * g.cols, x.row(rb * g.rows + i) + cb * g.cols, g.cols * sizeof(float));
}

// Positions of two full blocks whose values differ by at most tol.
uint64_t Agreement(const VectorSet& x, const BlockGrid& g, uint64_t a, uint64_t b, float tol) {
  const uint64_t ra = (a / g.col_blocks()) * g.rows, rb = (b / g.col_blocks()) * g.rows;
  const int ca = static_cast<int>(a % g.col_blocks()) * g.cols;
  const int cb = static_cast<int>(b % g.col_blocks()) * g.cols;
  uint64_t agree = 0;
  for (uint64_t i = 0; i < g.rows; ++i) {
    const float* u = x.row(ra + i) + ca;
    const float* v = x.row(rb + i) + cb;
    for (int c = 0; c < g.cols; ++c) agree += std::fabs(u[c] - v[c]) <= tol ? 1 : 0;
  }
  return agree;
}

// The largest divisor of d that is at most `cap`.
int LargestDivisorAtMost(int d, int cap) {
  for (int c = std::min(d, cap); c > 1; --c)
    if (d % c == 0) return c;
  return 1;
}

}  // namespace

CodecOr CompressDedup(const VectorSet& x, const CompressOptions& o) {
  RETURN_IF_ERROR(o.params.OnlyKnown(
      "dedup", {"block_rows", "block_cols", "bands", "lsh_threshold", "fp", "sim"}));
  BlockGrid g;
  g.n = x.n;
  g.d = x.dim;
  ASSIGN_OR_RETURN(const int64_t rows, o.params.Int("block_rows", 16, 1, int64_t{1} << 32));
  ASSIGN_OR_RETURN(const int64_t cols,
                   o.params.Int("block_cols", LargestDivisorAtMost(x.dim, 100), 1, x.dim));
  if (x.dim % cols != 0)
    return InvalidArgument("--param block_cols=", cols, ": must divide the dimension ", x.dim);
  g.rows = std::min<uint64_t>(static_cast<uint64_t>(rows), x.n);
  g.cols = static_cast<int>(cols);
  ASSIGN_OR_RETURN(const int64_t bands, o.params.Int("bands", 16, 1, 1024));
  ASSIGN_OR_RETURN(const int64_t threshold,
                   o.params.Int("lsh_threshold", (bands + 1) / 2, 1, bands));
  ASSIGN_OR_RETURN(const double fp_rel, o.params.Double("fp", 0.05));
  ASSIGN_OR_RETURN(const double sim, o.params.Double("sim", 1.0));
  if (fp_rel < 0) return InvalidArgument("--param fp=", fp_rel, ": must be >= 0");
  if (!(sim > 0 && sim <= 1)) return InvalidArgument("--param sim=", sim, ": must be in (0, 1]");
  if (g.block_values() * static_cast<uint64_t>(bands) > kMaxDirections)
    return InvalidArgument("--param block_rows=", g.rows, " x block_cols=", g.cols,
                           " x bands=", bands, ": ", g.block_values() * bands,
                           " projection directions exceed ", kMaxDirections,
                           "; smaller blocks or fewer bands");
  if (g.blocks() > static_cast<uint64_t>(INT32_MAX))
    return InvalidArgument("--param block_rows=", g.rows, ": ", g.blocks(),
                           " blocks do not fit the int32 block map; larger blocks");
  const int nb = static_cast<int>(bands);
  const uint64_t n_blocks = g.blocks(), full = g.full_blocks();

  // The tolerance is relative to the matrix's RMS value (SIFT's 0..191 and a
  // retriever's ±0.1 alike); two blocks within it everywhere are at most
  // tol·sqrt(R·C) apart, and a bucket width of 4× that makes them collide in
  // a band with probability >= 0.8 while unrelated blocks rarely do.
  double sq = 0;
  for (float v : x.values) sq += static_cast<double>(v) * v;
  const double rms = std::sqrt(sq / static_cast<double>(x.values.size()));
  const float tol = static_cast<float>(fp_rel * rms);
  double r = 4.0 * tol * std::sqrt(static_cast<double>(g.block_values()));
  if (!(r > 0)) r = 1.0;  // an all-zero matrix or fp=0: only exact copies agree

  // The fewest full blocks whose removal brings the kept floats and the
  // block map within the budget; at most all full blocks but one.
  const uint64_t cap = static_cast<uint64_t>(std::floor(o.budget * 4.0 * x.n * x.dim));
  const uint64_t all = 4 * x.values.size() + 4 * n_blocks;
  const uint64_t block_bytes = 4 * g.block_values();
  uint64_t needed = cap >= all ? 0 : (all - cap + block_bytes - 1) / block_bytes;
  needed = std::min<uint64_t>(needed, full > 0 ? full - 1 : 0);

  std::vector<int64_t> target(n_blocks, -1);
  if (needed > 0) {
    // Projections of every full block, a row's part in float as the
    // training-time Dedup adds them, summed in double.
    const std::vector<float> dirs = method_internal::L2LshDirections(o.seed, nb, g.block_values());
    const std::vector<double> offsets = method_internal::L2LshOffsets(o.seed + 1, nb, r);
    std::vector<int64_t> hashes(full * nb);
    const int nc = g.col_blocks();
    const uint64_t full_row_blocks = full / nc;
    const uint64_t items = (full_row_blocks + kRowBlocksPerItem - 1) / kRowBlocksPerItem;
    auto project = [&](size_t item) {
      std::vector<float> acc(nb);
      std::vector<double> p(nb);
      const uint64_t end = std::min(full_row_blocks, (item + 1) * kRowBlocksPerItem);
      for (uint64_t rb = item * kRowBlocksPerItem; rb < end; ++rb)
        for (int cb = 0; cb < nc; ++cb) {
          std::fill(p.begin(), p.end(), 0.0);
          for (uint64_t i = 0; i < g.rows; ++i) {
            method_internal::L2LshRowProjections(dirs.data() + i * g.cols * nb,
                                                 x.row(rb * g.rows + i) + cb * g.cols,
                                                 static_cast<uint64_t>(g.cols), nb, acc.data());
            for (int j = 0; j < nb; ++j) p[j] += acc[j];
          }
          int64_t* h = hashes.data() + (rb * nc + cb) * nb;
          for (int j = 0; j < nb; ++j) h[j] = method_internal::L2LshHash(p[j], offsets[j], r);
        }
    };
    if (o.threads > 1) {
      ForkJoinPool pool(o.threads);
      pool.Run(items, project);
    } else {
      for (size_t i = 0; i < items; ++i) project(i);
    }
    if (o.progress) o.progress(0.5);

    // The greedy visit in block order: a block is mapped to the candidate
    // (a kept block it collides with in >= lsh_threshold bands) that agrees
    // in the most positions, at least sim of them; the likeliest candidates
    // first, stopping at one that agrees everywhere. Only kept blocks are
    // targets, so no chain forms and a mapped block's error is its own.
    method_internal::L2LshBuckets buckets(nb);
    std::vector<uint32_t> candidates;
    const uint64_t positions = g.block_values();
    uint64_t mapped = 0;
    for (uint64_t b = 0; b < full && mapped < needed; ++b) {
      const int64_t* h = hashes.data() + b * nb;
      buckets.Candidates(h, static_cast<uint32_t>(threshold), &candidates);
      int64_t best = -1;
      uint64_t best_agree = 0;
      for (size_t q = 0; q < candidates.size() && q < kMaxCandidates; ++q) {
        const uint64_t a = Agreement(x, g, b, candidates[q], tol);
        if (static_cast<double>(a) >= sim * static_cast<double>(positions) &&
            (best < 0 || a > best_agree)) {
          best = candidates[q];
          best_agree = a;
        }
        if (a == positions) break;
      }
      if (best >= 0) {
        target[b] = best;
        ++mapped;
      } else {
        buckets.Insert(static_cast<uint32_t>(b), h);
      }
      if (o.progress && b % 4096 == 0) o.progress(0.5 + 0.5 * b / full);
    }
  }

  // The kept blocks in ascending order, each mapped block on its target's.
  std::vector<int32_t> map(n_blocks, -1);
  uint64_t kept = 0, floats = 0;
  for (uint64_t b = 0; b < n_blocks; ++b)
    if (target[b] < 0) {
      map[b] = static_cast<int32_t>(kept++);
      floats += (b < full ? g.rows : g.partial_rows()) * g.cols;
    }
  for (uint64_t b = 0; b < n_blocks; ++b)
    if (target[b] >= 0) map[b] = map[target[b]];
  std::vector<float> data(floats);
  float* at = data.data();
  for (uint64_t b = 0; b < n_blocks; ++b)
    if (target[b] < 0) {
      const uint64_t rows_b = b < full ? g.rows : g.partial_rows();
      ReadBlock(x, g, b, rows_b, at);
      at += rows_b * g.cols;
    }
  if (o.progress) o.progress(1.0);
  return std::unique_ptr<VectorCodec>(new DedupCodec(g, std::move(map), kept, std::move(data)));
}

CodecOr LoadDedup(BlobReader* r, uint64_t n, int dim) {
  BlockGrid g;
  g.n = n;
  g.d = dim;
  int32_t cols = 0;
  uint64_t kept = 0;
  std::vector<int32_t> map;
  std::vector<float> data;
  if (!r->Pod(&g.rows) || !r->Pod(&cols) || !r->Pod(&kept) || !r->Vec(&map) || !r->Vec(&data))
    return r->Truncated();
  if (g.rows == 0 || g.rows > n || cols <= 0 || dim % cols != 0)
    return DataLoss("blocks of ", g.rows, " rows x ", cols, " columns for ", n, " x ", dim);
  g.cols = cols;
  if (map.size() != g.blocks())
    return DataLoss(map.size(), " block map entries for ", g.blocks(), " blocks");
  const uint64_t partial_blocks = g.blocks() - g.full_blocks();
  if (kept < partial_blocks + 1 || kept > g.blocks())
    return DataLoss(kept, " kept blocks of ", g.blocks());
  const uint64_t full_kept = kept - partial_blocks;
  if (data.size() != full_kept * g.block_values() + partial_blocks * g.partial_rows() * cols)
    return DataLoss(data.size(), " values for ", kept, " kept blocks");
  // Every entry is checked here, so Decode can trust them: full blocks on
  // kept full blocks, each partial block on its own.
  for (uint64_t b = 0; b < g.blocks(); ++b) {
    const bool ok = b < g.full_blocks()
                        ? map[b] >= 0 && static_cast<uint64_t>(map[b]) < full_kept
                        : static_cast<uint64_t>(map[b]) == full_kept + (b - g.full_blocks());
    if (!ok) return DataLoss("block ", b, " maps to kept block ", map[b], " of ", kept);
  }
  return std::unique_ptr<VectorCodec>(new DedupCodec(g, std::move(map), kept, std::move(data)));
}

}  // namespace ecps::vectors::internal
