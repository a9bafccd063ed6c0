#include "compressors/row_reduction.h"

#include <algorithm>
#include <cmath>

#include "compressors/internal/l2lsh.h"

namespace ecps {
namespace {

constexpr uint64_t kChunkRows = 4096;
// Limits of what one reduction may allocate (doubles of the result, floats
// of the projection directions: block_rows x width x bands).
constexpr uint64_t kMaxReductionValues = uint64_t{1} << 27;
constexpr uint64_t kMaxDirections = uint64_t{1} << 28;

uint64_t NumBlocks(const RowReduction& op, uint64_t table_rows) {
  return table_rows / op.block_rows + (table_rows % op.block_rows != 0 ? 1 : 0);
}

// The held local rows whose table rows lie in [g0, g1).
void LocalRange(const HeldRows& h, uint64_t g0, uint64_t g1, uint64_t* lo, uint64_t* hi) {
  auto first_at_or_after = [&](uint64_t g) -> uint64_t {
    if (g <= h.first) return 0;
    return std::min<uint64_t>(h.count, (g - h.first + h.stride - 1) / h.stride);
  };
  *lo = first_at_or_after(g0);
  *hi = std::max(*lo, first_at_or_after(g1));
}

}  // namespace

uint64_t RowReductionSize(const RowReduction& op, uint64_t table_rows) {
  if (op.block_rows == 0) return 0;
  switch (op.kind) {
    case RowReductionKind::kBlockProjections:
      return NumBlocks(op, table_rows) * static_cast<uint64_t>(std::max(op.bands, 0));
    case RowReductionKind::kBlockHistogram:
      return NumBlocks(op, table_rows) * static_cast<uint64_t>(std::max(op.bins, 0));
    case RowReductionKind::kBlockPairAgreement:
      return op.pairs.size() / 2;
    case RowReductionKind::kThresholdCounts:
      return op.thresholds.size();
    case RowReductionKind::kSoftThresholdCounts:
      return 1;
  }
  return 0;
}

float RowReductionDirection(uint64_t seed, int band, uint64_t position) {
  return method_internal::L2LshDirection(seed, band, position);
}

Status ValidateRowReduction(const RowReduction& op, uint64_t table_rows) {
  if (op.block_rows == 0) return InvalidArgument("row reduction: block_rows must be > 0");
  // A holder allocates the result (and the projections' directions) before
  // it reads a row: a request for gigabytes is refused, not attempted.
  const uint64_t per_block =
      static_cast<uint64_t>(std::max(1, op.kind == RowReductionKind::kBlockProjections ? op.bands
                                        : op.kind == RowReductionKind::kBlockHistogram ? op.bins
                                                                                       : 1));
  if (op.kind != RowReductionKind::kBlockPairAgreement &&
      op.kind != RowReductionKind::kThresholdCounts &&
      op.kind != RowReductionKind::kSoftThresholdCounts &&
      NumBlocks(op, table_rows) > kMaxReductionValues / per_block)
    return InvalidArgument("row reduction: ", NumBlocks(op, table_rows), " blocks x ", per_block,
                           " values per block exceed ", kMaxReductionValues,
                           " values; fewer blocks, bands or bins");
  if (op.kind == RowReductionKind::kBlockProjections && op.block_rows > kMaxDirections / per_block)
    return InvalidArgument("row reduction: block_rows ", op.block_rows, " x bands ", op.bands,
                           " exceed ", kMaxDirections, " projection directions");
  switch (op.kind) {
    case RowReductionKind::kBlockProjections:
      if (op.bands <= 0) return InvalidArgument("row reduction: bands must be > 0, got ", op.bands);
      return OkStatus();
    case RowReductionKind::kBlockHistogram:
      if (op.bins <= 0) return InvalidArgument("row reduction: bins must be > 0, got ", op.bins);
      if (!(op.lo < op.hi) || !std::isfinite(op.lo) || !std::isfinite(op.hi))
        return InvalidArgument("row reduction: histogram range [", op.lo, ", ", op.hi,
                               ") is empty or not finite");
      return OkStatus();
    case RowReductionKind::kBlockPairAgreement: {
      if (op.pairs.size() % 2 != 0)
        return InvalidArgument("row reduction: pairs has an odd length ", op.pairs.size());
      if (!(op.tol >= 0)) return InvalidArgument("row reduction: tol must be >= 0, got ", op.tol);
      const uint64_t blocks = NumBlocks(op, table_rows);
      for (uint64_t b : op.pairs)
        if (b >= blocks)
          return OutOfRange("row reduction: block ", b, " of a pair is past the table's ", blocks,
                            " blocks");
      return OkStatus();
    }
    case RowReductionKind::kThresholdCounts:
      if (op.thresholds.empty() || op.thresholds.size() > kMaxThresholdCandidates)
        return InvalidArgument("row reduction: ", op.thresholds.size(), " thresholds; 1 to ",
                               kMaxThresholdCandidates, " expected");
      for (double t : op.thresholds)
        if (!(t >= 0) || !std::isfinite(t))
          return InvalidArgument("row reduction: threshold ", t, " is negative or not finite");
      return OkStatus();
    case RowReductionKind::kSoftThresholdCounts:
      if (!std::isfinite(op.lo))
        return InvalidArgument("row reduction: threshold offset ", op.lo, " is not finite");
      return OkStatus();
  }
  return InvalidArgument("row reduction: unknown kind ", static_cast<int>(op.kind));
}

RowReductionContext::RowReductionContext(const RowReduction& op, int width) : op_(op) {
  if (op.kind != RowReductionKind::kBlockProjections || op.bands <= 0 || width <= 0) return;
  // Past the limit the directions stay empty and AccumulateRowReduction
  // refuses the op (a constructor cannot fail).
  if (op.block_rows > kMaxDirections / static_cast<uint64_t>(width) / op.bands) return;
  directions_ = method_internal::L2LshDirections(op.seed, op.bands,
                                                 op.block_rows * static_cast<uint64_t>(width));
}

Status AccumulateRowReduction(const RowReductionContext& ctx, const HeldRows& held, double* out) {
  const RowReduction& op = ctx.op();
  RETURN_IF_ERROR(ValidateRowReduction(op, held.table_rows));
  if (held.stride == 0 || held.width <= 0)
    return InvalidArgument("row reduction: held rows with stride ", held.stride, " and width ",
                           held.width);
  const size_t w = static_cast<size_t>(held.width);
  const uint64_t R = op.block_rows;
  std::vector<float> buf;
  if (op.kind == RowReductionKind::kBlockPairAgreement) {
    const bool whole = held.first == 0 && held.stride == 1 && held.count == held.table_rows;
    if (!whole && R % held.stride != 0)
      return FailedPrecondition("row reduction: block pairs need both blocks' rows in one holder; ",
                                R, " rows per block is not a multiple of the holders' stride ",
                                held.stride);
    std::vector<float> other;
    uint64_t buf_block = ~0ull, buf_lo = 0, buf_n = 0;
    for (size_t q = 0; q < op.pairs.size() / 2; ++q) {
      const uint64_t a = op.pairs[2 * q], b = op.pairs[2 * q + 1];
      uint64_t lo, hi;
      LocalRange(held, a * R, std::min((a + 1) * R, held.table_rows), &lo, &hi);
      if (hi == lo) continue;
      // The same in-block rows of block b: locals shifted by (b - a) R / stride,
      // limited to the rows block b has.
      uint64_t blo, bhi;
      LocalRange(held, b * R, std::min((b + 1) * R, held.table_rows), &blo, &bhi);
      const int64_t shift = (static_cast<int64_t>(b) - static_cast<int64_t>(a)) *
                            static_cast<int64_t>(R / held.stride);
      const uint64_t n = std::min(hi - lo, bhi > blo ? bhi - blo : 0);
      if (n == 0) continue;
      // Consecutive pairs of one block (Dedup's candidates of a visited
      // block) read it once.
      if (a != buf_block || lo != buf_lo || n != buf_n) {
        buf.resize(n * w);
        RETURN_IF_ERROR(held.read(lo, n, buf.data()));
        buf_block = a;
        buf_lo = lo;
        buf_n = n;
      }
      other.resize(n * w);
      RETURN_IF_ERROR(
          held.read(static_cast<uint64_t>(static_cast<int64_t>(lo) + shift), n, other.data()));
      uint64_t agree = 0;
      const float tol = static_cast<float>(op.tol);
      for (size_t i = 0; i < n * w; ++i) agree += std::fabs(buf[i] - other[i]) <= tol ? 1 : 0;
      out[q] += static_cast<double>(agree);
    }
    return OkStatus();
  }
  if (op.kind == RowReductionKind::kThresholdCounts) {
    // The candidates in ascending order: each |v| is counted once, in the
    // first sorted candidate above it, and the prefix sums give every count.
    const size_t k = op.thresholds.size();
    std::vector<size_t> order(k);
    for (size_t i = 0; i < k; ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return op.thresholds[a] < op.thresholds[b]; });
    std::vector<double> sorted(k);
    for (size_t i = 0; i < k; ++i) sorted[i] = op.thresholds[order[i]];
    std::vector<uint64_t> first_above(k + 1, 0);
    for (uint64_t begin = 0; begin < held.count; begin += kChunkRows) {
      const uint64_t n = std::min(kChunkRows, held.count - begin);
      buf.resize(n * w);
      RETURN_IF_ERROR(held.read(begin, n, buf.data()));
      for (size_t i = 0; i < n * w; ++i) {
        // NaN (never in a trained table) is below no threshold.
        const double a = std::fabs(static_cast<double>(buf[i]));
        const size_t j = std::upper_bound(sorted.begin(), sorted.end(), a) - sorted.begin();
        ++first_above[a != a ? k : j];
      }
    }
    uint64_t below = 0;
    for (size_t i = 0; i < k; ++i) {
      below += first_above[i];
      out[order[i]] += static_cast<double>(below);
    }
    return OkStatus();
  }
  if (op.kind == RowReductionKind::kSoftThresholdCounts) {
    if (w % 2 != 0)
      return InvalidArgument("row reduction: soft-threshold counts need an even width, got ", w);
    const size_t h = w / 2;
    uint64_t below = 0;
    for (uint64_t begin = 0; begin < held.count; begin += kChunkRows) {
      const uint64_t n = std::min(kChunkRows, held.count - begin);
      buf.resize(n * w);
      RETURN_IF_ERROR(held.read(begin, n, buf.data()));
      for (uint64_t i = 0; i < n; ++i) {
        const float* v = buf.data() + i * w;
        for (size_t c = 0; c < h; ++c) {
          const double s = 1.0 / (1.0 + std::exp(-(static_cast<double>(v[h + c]) + op.lo)));
          below += std::fabs(static_cast<double>(v[c])) < s ? 1 : 0;
        }
      }
    }
    out[0] += static_cast<double>(below);
    return OkStatus();
  }
  const std::vector<float>& dirs = ctx.directions();
  if (op.kind == RowReductionKind::kBlockProjections) {
    if (R > kMaxDirections / w / static_cast<uint64_t>(op.bands))
      return InvalidArgument("row reduction: block_rows ", R, " x width ", w, " x bands ", op.bands,
                             " exceed ", kMaxDirections, " projection directions");
    if (dirs.size() != R * w * op.bands)
      return InvalidArgument("row reduction: the context was built for another width");
  }
  std::vector<float> acc(op.kind == RowReductionKind::kBlockProjections ? op.bands : 0);
  const double scale =
      op.kind == RowReductionKind::kBlockHistogram ? op.bins / (op.hi - op.lo) : 0.0;
  for (uint64_t begin = 0; begin < held.count; begin += kChunkRows) {
    const uint64_t n = std::min(kChunkRows, held.count - begin);
    buf.resize(n * w);
    RETURN_IF_ERROR(held.read(begin, n, buf.data()));
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t row = held.first + (begin + i) * held.stride;
      if (row >= held.table_rows)
        return OutOfRange("row reduction: held row ", row, " is past the table's ", held.table_rows,
                          " rows");
      const uint64_t block = row / R, j = row % R;
      const float* v = buf.data() + i * w;
      if (op.kind == RowReductionKind::kBlockProjections) {
        // One row's contribution in float, added to the double sums: the
        // same per row whatever holds it.
        method_internal::L2LshRowProjections(dirs.data() + j * w * op.bands, v, w, op.bands,
                                             acc.data());
        double* o = out + block * op.bands;
        for (int k = 0; k < op.bands; ++k) o[k] += acc[k];
      } else {
        double* o = out + block * op.bins;
        for (size_t c = 0; c < w; ++c) {
          const double x = (static_cast<double>(v[c]) - op.lo) * scale;
          // NaN (never in a trained table) counts in bin 0 rather than
          // reaching the int conversion.
          const int k = !(x >= 0) ? 0 : x >= op.bins ? op.bins - 1 : static_cast<int>(x);
          o[k] += 1.0;
        }
      }
    }
  }
  return OkStatus();
}

StatusOr<std::vector<double>> ReduceAllRows(const RowReduction& op, const RowAccess& rows) {
  const std::vector<RowTableSpec> specs = rows.StoredTables();
  if (op.table < 0 || static_cast<size_t>(op.table) >= specs.size())
    return OutOfRange("row reduction: table ", op.table, " not in [0, ", specs.size(), ")");
  const RowTableSpec& spec = specs[op.table];
  RETURN_IF_ERROR(ValidateRowReduction(op, spec.rows));
  HeldRows held;
  held.table_rows = spec.rows;
  held.width = spec.width;
  held.count = spec.rows;
  held.read = [&](uint64_t begin, uint64_t n, float* out) {
    return rows.ReadRows(op.table, begin, n, out);
  };
  std::vector<double> out(RowReductionSize(op, spec.rows), 0.0);
  RETURN_IF_ERROR(AccumulateRowReduction(RowReductionContext(op, spec.width), held, out.data()));
  return out;
}

}  // namespace ecps
