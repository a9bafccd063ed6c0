#include "compressors/dedup/dedup.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "common/check.h"
#include "common/logging.h"
#include "compressors/hashing/hashing_util.h"
#include "compressors/internal/l2lsh.h"

namespace ecps {
namespace {

using method_internal::CheckSame;

// Projection directions a RowReductionContext holds (block_rows x dim x
// bands floats): above this a configuration is refused rather than
// allocating gigabytes on every holder of rows.
constexpr uint64_t kMaxDirections = uint64_t{1} << 28;
// Bins of the whole-table histograms that find the value range.
constexpr int kRangeBins = 4096;
constexpr int kRangePasses = 16;
constexpr uint64_t kLshTag = 0x64656475ull;  // "dedu"

}  // namespace

ParamSchema DedupEmbedding::Schema() {
  ParamSchema s;
  s.Int("block_rows", 0, 0, int64_t{1} << 32,
        "rows per block R_b; 0 = from the table: about 3,298 blocks (Criteo's count at CODE's "
        "block size), a multiple of 64, at least 64 (10,240 on Criteo); a multiple of "
        "cluster.virtual_shards lets every server copy and compare its own rows");
  s.Int("bands", 90, 1, 1024, "L2LSH bands l, one hash function each (k = 1)");
  s.Float("r", 0.09, 1e-12, 1e12, "L2LSH bucket width: h = ceil((a·v + b) / r), b ~ U[0, r)");
  s.Int("lsh_threshold", 0, 0, 1024,
        "a candidate collides with the block in at least max(1, lsh_threshold) bands");
  s.Float("fp", 0.01, 0.0, 1e12, "two positions agree when their values differ by at most fp");
  s.Float("sim", 0.7, 0.0, 1.0,
          "a block is mapped to its most similar candidate if at least this fraction of its "
          "positions agree");
  return s;
}

std::unique_ptr<Compressor> DedupEmbedding::Create() { return std::make_unique<DedupEmbedding>(); }

Status DedupEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(hashing_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = method_internal::InitBound(space_);
  block_rows_ = static_cast<uint64_t>(params.GetInt("block_rows"));
  if (block_rows_ == 0) block_rows_ = AutoBlockRows(space_.total());
  bands_ = static_cast<int>(params.GetInt("bands"));
  r_ = params.GetFloat("r");
  lsh_threshold_ = static_cast<int>(params.GetInt("lsh_threshold"));
  fp_ = params.GetFloat("fp");
  sim_ = params.GetFloat("sim");
  const uint64_t n = space_.total();
  const uint64_t d = static_cast<uint64_t>(space_.dim);
  if (block_rows_ * d * static_cast<uint64_t>(bands_) > kMaxDirections)
    return InvalidArgument("embedding.params.block_rows: ", block_rows_, " rows x dim ", d, " x ",
                           bands_, " bands of projection directions exceed ", kMaxDirections,
                           " floats; lower block_rows or bands");
  n_blocks_ = (n + block_rows_ - 1) / block_rows_;
  if (n_blocks_ > static_cast<uint64_t>(INT32_MAX))
    return InvalidArgument("embedding.params.block_rows: ", n_blocks_,
                           " blocks do not fit the int32 block map; raise block_rows");
  // The fewest full blocks whose rows must go for 4·d·rows + 4·n_blocks to
  // fit; at most all blocks but one (the first visited one is always kept).
  const uint64_t budget = hashing_internal::BudgetBytes(space_, ctx.budget);
  const uint64_t all = 4 * d * n + 4 * n_blocks_;
  const uint64_t block_bytes = 4 * d * block_rows_;
  needed_ = budget >= all ? 0 : (all - budget + block_bytes - 1) / block_bytes;
  needed_ = std::min<uint64_t>(needed_, n_blocks_ - 1);
  seed_ = hashing_internal::MethodSeed(ctx.seed, kLshTag);
  stage_ = 0;
  map_.clear();
  kept_ids_.clear();
  stats_ = Stats{};
  return OkStatus();
}

uint64_t DedupEmbedding::AutoBlockRows(uint64_t rows) {
  // A fixed block size would leave a small table with a handful of blocks
  // (10,240 rows on a 130k-row table: 13 blocks, too coarse to map any at 50%) and a
  // huge one with a block map larger than needed; a fixed block count keeps
  // the granularity of CODE's Criteo run (3,298 blocks) at every size. The
  // multiple of 64 is the default cluster.virtual_shards (each server then
  // copies and compares its own rows).
  constexpr uint64_t kBlocks = 3298, kAlign = 64;
  const uint64_t units = (rows + kBlocks * kAlign / 2) / (kBlocks * kAlign);
  return std::max<uint64_t>(1, units) * kAlign;
}

uint64_t DedupEmbedding::BlockRows(uint64_t b) const {
  const uint64_t n = space_.total();
  return std::min(block_rows_, n - b * block_rows_);
}

uint64_t DedupEmbedding::kept_rows() const {
  if (stage_ == 0) return space_.total() - needed_ * block_rows_;
  uint64_t rows = 0;
  for (uint32_t b : kept_ids_) rows += BlockRows(b);
  return rows;
}

std::vector<RowTableSpec> DedupEmbedding::Tables() const {
  RowTableSpec e;
  e.name = "E";
  e.rows = stage_ == 0 ? space_.total() : kept_rows();
  e.width = space_.dim;
  e.init_bound = init_bound_;
  return {e};
}

std::vector<StageSpec> DedupEmbedding::Stages() const {
  return {StageSpec{"pretrain"}, StageSpec{"finetune"}};
}

void DedupEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  OneTableMethod::Encode(keys, plan);
  if (stage_ == 0) return;
  for (uint64_t& row : plan->rows[0]) {
    const uint64_t b = row / block_rows_;
    row = static_cast<uint64_t>(map_[b]) * block_rows_ + (row - b * block_rows_);
  }
}

double DedupEmbedding::HistogramPercentile(const double* h, int bins, double lo, double hi,
                                           double q) {
  double total = 0;
  for (int k = 0; k < bins + 2; ++k) total += h[k];
  if (total <= 0) return lo;
  const double rank = q * (total - 1);  // 0-based order statistic
  const double w = (hi - lo) / bins;
  double before = 0;
  for (int k = 0; k < bins + 2; ++k) {
    if (h[k] <= 0 || before + h[k] <= rank) {
      before += h[k];
      continue;
    }
    if (k == 0) return lo;
    if (k == bins + 1) return hi;
    // The bin's values taken as spread evenly over it.
    return lo + (k - 1 + (rank - before + 0.5) / h[k]) * w;
  }
  return hi;
}

Status DedupEmbedding::TableRange(double* lo_out, double* hi_out) {
  const uint64_t n = space_.total();
  double lo = -1, hi = 1;
  RowReduction op;
  op.kind = RowReductionKind::kBlockHistogram;
  op.table = 0;
  op.block_rows = n;  // one block: the whole table
  op.bins = kRangeBins + 2;
  for (int pass = 0; pass < kRangePasses; ++pass) {
    const double w = (hi - lo) / kRangeBins;
    op.lo = lo - w;
    op.hi = hi + w;
    ASSIGN_OR_RETURN(std::vector<double> h, rows_->ReduceRows(op));
    ++stats_.reductions;
    if (h.size() != static_cast<size_t>(op.bins))
      return DataLoss("dedup: a table histogram has ", h.size(), " bins, expected ", op.bins);
    if (h[0] > 0 || h[kRangeBins + 1] > 0) {
      // Values outside: widen that side and look again.
      const double span = hi - lo;
      if (h[0] > 0) lo -= 15 * span;
      if (h[kRangeBins + 1] > 0) hi += 15 * span;
      if (!(std::fabs(lo) < 1e30 && std::fabs(hi) < 1e30))
        return FailedPrecondition("dedup: table 'E' has values beyond ±1e30 (not finite?)");
      continue;
    }
    int k1 = 1, k2 = kRangeBins;
    while (k1 <= kRangeBins && h[k1] == 0) ++k1;
    while (k2 >= 1 && h[k2] == 0) --k2;
    if (k1 > k2) break;  // no rows
    const double new_lo = lo + (k1 - 1) * w, new_hi = lo + k2 * w;
    lo = new_lo;
    hi = new_hi;
    // Fine enough once the values span a quarter of the bins, or when the
    // range is down to rounding (all values equal).
    if (k2 - k1 + 1 >= kRangeBins / 4 || hi - lo <= 1e-9 * std::max(1.0, std::fabs(lo))) break;
  }
  if (!(hi > lo)) hi = lo + 1e-9 * std::max(1.0, std::fabs(lo));
  *lo_out = lo;
  *hi_out = hi;
  return OkStatus();
}

Status DedupEmbedding::Deduplicate() {
  stats_ = Stats{};
  const uint64_t d = static_cast<uint64_t>(space_.dim);
  // The last block is partial unless R_b divides n; it is never a target
  // (CODE never inserts its padded block), so only full blocks are compared.
  const bool has_partial = space_.total() % block_rows_ != 0;
  const uint64_t partial = has_partial ? n_blocks_ - 1 : n_blocks_;
  std::vector<int64_t> target(n_blocks_, -1);
  if (needed_ > 0) {
    if (rows_ == nullptr) return FailedPrecondition("dedup: no row access attached");
    // 1. Visit order: ascending 75th percentile of each block's values.
    double lo, hi;
    RETURN_IF_ERROR(TableRange(&lo, &hi));
    RowReduction hist;
    hist.kind = RowReductionKind::kBlockHistogram;
    hist.block_rows = block_rows_;
    hist.bins = kPercentileBins + 2;
    const double w = (hi - lo) / kPercentileBins;
    hist.lo = lo - w;
    hist.hi = hi + w;
    ASSIGN_OR_RETURN(std::vector<double> h, rows_->ReduceRows(hist));
    ++stats_.reductions;
    if (h.size() != n_blocks_ * static_cast<uint64_t>(hist.bins))
      return DataLoss("dedup: block histograms have ", h.size(), " values, expected ",
                      n_blocks_ * hist.bins);
    std::vector<double> p75(n_blocks_);
    for (uint64_t b = 0; b < n_blocks_; ++b)
      p75[b] = HistogramPercentile(h.data() + b * hist.bins, kPercentileBins, lo, hi, 0.75);
    std::vector<uint32_t> order(n_blocks_);
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return p75[a] < p75[b]; });
    std::vector<double>().swap(h);

    // 2. L2LSH hashes of every block.
    RowReduction proj;
    proj.kind = RowReductionKind::kBlockProjections;
    proj.block_rows = block_rows_;
    proj.bands = bands_;
    proj.seed = seed_;
    ASSIGN_OR_RETURN(std::vector<double> p, rows_->ReduceRows(proj));
    ++stats_.reductions;
    if (p.size() != n_blocks_ * static_cast<uint64_t>(bands_))
      return DataLoss("dedup: block projections have ", p.size(), " values, expected ",
                      n_blocks_ * bands_);
    const std::vector<double> offsets =
        method_internal::L2LshOffsets(hashing_internal::MethodSeed(seed_, 1), bands_, r_);
    std::vector<int64_t> hashes(p.size());
    for (uint64_t b = 0; b < n_blocks_; ++b)
      for (int j = 0; j < bands_; ++j)
        hashes[b * bands_ + j] = method_internal::L2LshHash(p[b * bands_ + j], offsets[j], r_);
    std::vector<double>().swap(p);

    // 3. The greedy visit.
    method_internal::L2LshBuckets buckets(bands_);
    std::vector<uint32_t> candidates;
    const uint32_t min_hits = static_cast<uint32_t>(std::max(1, lsh_threshold_));
    const uint64_t goal = needed_ * block_rows_;
    uint64_t removed = 0;
    RowReduction pairs;
    pairs.kind = RowReductionKind::kBlockPairAgreement;
    pairs.block_rows = block_rows_;
    pairs.tol = fp_;
    for (uint32_t b : order) {
      ++stats_.visited;
      // Candidates by descending collisions, then ascending block: the
      // likeliest duplicates first, and the tie-break of equal similarities.
      buckets.Candidates(&hashes[b * bands_], min_hits, &candidates);
      if (b < partial) buckets.Insert(b, &hashes[b * bands_]);
      // The similarity to each candidate, in rounds of kFirstPairRound,
      // 2·kFirstPairRound, ... candidates in that order: once one agrees in
      // every position no later one can beat it (the best is the first of
      // the highest), so the rounds stop with the result of comparing all.
      // Blocks of rare rows near their initial values agree everywhere, so
      // most visited blocks need one round.
      const uint64_t positions = BlockRows(b) * d;
      int64_t best = -1;
      double best_sim = 0;
      bool perfect = false;
      for (size_t done = 0, round = DedupEmbedding::kFirstPairRound;
           done < candidates.size() && !perfect; round *= 2) {
        const size_t end = std::min(candidates.size(), done + round);
        pairs.pairs.clear();
        for (size_t q = done; q < end; ++q) {
          pairs.pairs.push_back(b);
          pairs.pairs.push_back(candidates[q]);
        }
        ASSIGN_OR_RETURN(std::vector<double> agree, rows_->ReduceRows(pairs));
        ++stats_.reductions;
        stats_.candidate_pairs += end - done;
        if (agree.size() != end - done)
          return DataLoss("dedup: ", agree.size(), " pair agreements for ", end - done, " pairs");
        for (size_t q = done; q < end; ++q) {
          // The fraction of the block's positions that agree (a partial
          // block's padding is not compared).
          const double s = agree[q - done] / static_cast<double>(positions);
          if (s >= sim_ && (best < 0 || s > best_sim)) {
            best = candidates[q];
            best_sim = s;
            perfect = agree[q - done] >= static_cast<double>(positions);
          }
          if (perfect) break;
        }
        done = end;
      }
      if (best >= 0) {
        target[b] = best;
        ++stats_.mapped;
        removed += BlockRows(b);
      }
      if (removed >= goal) {
        stats_.reached = true;
        break;
      }
    }
  } else {
    stats_.reached = true;
  }

  // 4. Kept blocks in ascending order; a mapped block takes its target's
  // new block (targets were visited first, so chains end at a kept block).
  std::vector<int64_t> root(n_blocks_);
  kept_ids_.clear();
  std::vector<int32_t> index(n_blocks_, -1);
  for (uint64_t b = 0; b < n_blocks_; ++b)
    if (target[b] < 0) {
      index[b] = static_cast<int32_t>(kept_ids_.size());
      kept_ids_.push_back(static_cast<uint32_t>(b));
    }
  map_.assign(n_blocks_, -1);
  for (uint64_t b = 0; b < n_blocks_; ++b) {
    uint64_t r = b;
    for (uint64_t hops = 0; target[r] >= 0; ++hops) {
      ECPS_CHECK(hops < n_blocks_) << "dedup: a cycle in the block targets";
      r = static_cast<uint64_t>(target[r]);
    }
    map_[b] = index[r];
  }
  stats_.kept_blocks = kept_ids_.size();
  return OkStatus();
}

Status DedupEmbedding::BeginStage(int index) {
  if (index != 1) return InvalidArgument("dedup has stages 0 and 1, not ", index);
  if (stage_ != 0) return FailedPrecondition("dedup: the table is deduplicated already");
  RETURN_IF_ERROR(Deduplicate());
  stage_ = 1;
  const MemoryReport m = Memory();
  ECPS_LOG_INFO(
      "dedup: {} of {} blocks of {} rows mapped ({} needed for the budget{}), {} kept; {} "
      "blocks visited, {} pairs compared; inference ratio {:.6f}",
      stats_.mapped, n_blocks_, block_rows_, needed_, stats_.reached ? "" : ": not reached",
      kept_ids_.size(), stats_.visited, stats_.candidate_pairs,
      static_cast<double>(m.inference_bytes) /
          static_cast<double>(method_internal::FullBytes(space_)));
  return OkStatus();
}

std::vector<RowCopy> DedupEmbedding::StageCopies(int index) const {
  std::vector<RowCopy> copies;
  if (index != 1 || stage_ != 1) return copies;
  for (size_t k = 0; k < kept_ids_.size(); ++k) {
    const uint64_t src = kept_ids_[k] * block_rows_, dst = k * block_rows_;
    const uint64_t count = BlockRows(kept_ids_[k]);
    if (!copies.empty() && copies.back().src_begin + copies.back().count == src &&
        copies.back().dst_begin + copies.back().count == dst) {
      copies.back().count += count;
      continue;
    }
    copies.push_back(RowCopy{0, src, 0, dst, count});
  }
  return copies;
}

MemoryReport DedupEmbedding::Memory() const {
  const uint64_t n = space_.total();
  const uint64_t d = static_cast<uint64_t>(space_.dim);
  const uint64_t rows = kept_rows();
  MemoryReport m;
  m.auxiliary_bytes = 4 * n_blocks_;
  m.inference_bytes = 4 * d * rows + m.auxiliary_bytes;
  m.parameter_bytes = 4 * d * n + (rows != n ? 4 * d * rows : 0);
  return m;
}

std::string DedupEmbedding::SaveState() const {
  BlobWriter w = method_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod(block_rows_);
  w.Pod<int32_t>(bands_);
  w.Pod(r_);
  w.Pod<int32_t>(lsh_threshold_);
  w.Pod(fp_);
  w.Pod(sim_);
  w.Pod(seed_);
  w.Pod(n_blocks_);
  w.Pod(needed_);
  w.Pod<int32_t>(stage_);
  if (stage_ == 1) {
    w.Pod<uint64_t>(kept_ids_.size());
    for (uint32_t b : kept_ids_) w.Pod(b);
    for (int32_t m : map_) w.Pod(m);
  }
  return w.Finish();
}

Status DedupEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(method_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  uint64_t block_rows = 0, seed = 0, n_blocks = 0, needed = 0;
  int32_t bands = 0, lsh_threshold = 0, stage = 0;
  double rr = 0, fp = 0, sim = 0;
  if (!r.Pod(&block_rows) || !r.Pod(&bands) || !r.Pod(&rr) || !r.Pod(&lsh_threshold) ||
      !r.Pod(&fp) || !r.Pod(&sim) || !r.Pod(&seed) || !r.Pod(&n_blocks) || !r.Pod(&needed) ||
      !r.Pod(&stage))
    return r.Truncated();
  RETURN_IF_ERROR(CheckSame(kName, "block_rows", block_rows, block_rows_));
  RETURN_IF_ERROR(CheckSame(kName, "bands", bands, static_cast<int32_t>(bands_)));
  RETURN_IF_ERROR(CheckSame(kName, "r", rr, r_));
  RETURN_IF_ERROR(
      CheckSame(kName, "lsh_threshold", lsh_threshold, static_cast<int32_t>(lsh_threshold_)));
  RETURN_IF_ERROR(CheckSame(kName, "fp", fp, fp_));
  RETURN_IF_ERROR(CheckSame(kName, "sim", sim, sim_));
  RETURN_IF_ERROR(CheckSame(kName, "the LSH seed", seed, seed_));
  RETURN_IF_ERROR(CheckSame(kName, "the number of blocks", n_blocks, n_blocks_));
  RETURN_IF_ERROR(CheckSame(kName, "the blocks the budget needs mapped", needed, needed_));
  if (stage != 0 && stage != 1) return DataLoss(kName, " state: stage ", stage, " is not 0 or 1");
  std::vector<uint32_t> kept;
  std::vector<int32_t> map;
  if (stage == 1) {
    uint64_t k = 0;
    if (!r.Pod(&k)) return r.Truncated();
    if (k == 0 || k > n_blocks_)
      return DataLoss(kName, " state: ", k, " kept blocks of ", n_blocks_);
    kept.resize(k);
    map.resize(n_blocks_);
    for (uint32_t& b : kept)
      if (!r.Pod(&b)) return r.Truncated();
    for (int32_t& m : map)
      if (!r.Pod(&m)) return r.Truncated();
    // The map must describe kept blocks in ascending order that keep
    // themselves, every entry a new block.
    for (size_t i = 0; i < k; ++i)
      if (kept[i] >= n_blocks_ || (i > 0 && kept[i] <= kept[i - 1]) ||
          map[kept[i]] != static_cast<int32_t>(i))
        return DataLoss(kName, " state: kept block ", i, " is inconsistent with the block map");
    for (uint64_t b = 0; b < n_blocks_; ++b)
      if (map[b] < 0 || static_cast<uint64_t>(map[b]) >= k)
        return DataLoss(kName, " state: block ", b, " maps to ", map[b], " of ", k, " kept blocks");
  }
  RETURN_IF_ERROR(method_internal::EndState(r));
  stage_ = stage;
  kept_ids_ = std::move(kept);
  map_ = std::move(map);
  return OkStatus();
}

}  // namespace ecps
