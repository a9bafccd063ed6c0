// Dedup (docs/methods.md §2.10; CODE `dedup`, after "Serving Deep Learning
// Models with Deduplication from Relational Databases"): L2LSH deduplication
// of blocks of consecutive rows of one global table.
//
// Stage "pretrain" trains the full table E (n x d f32, as `full`). Before
// stage "finetune" (BeginStage(1)) the method deduplicates the best pretrained
// table where its rows are, through RowAccess::ReduceRows (the local store,
// or every parameter server over its own shards; only block statistics and
// the block map cross the network):
//   1. blocks of R_b = block_rows consecutive rows (the last one may be
//      partial); each block's 75th percentile from per-block histograms over
//      the table's range (kBlockHistogram), blocks visited in ascending order;
//   2. L2LSH: `bands` projections a_j·v of every block (kBlockProjections),
//      hash h_j = ceil((a_j·v + b_j) / r), b_j ~ U[0, r) from the seed;
//   3. the greedy visit: a block's candidates are the visited full blocks it
//      collides with in at least max(1, lsh_threshold) bands; its similarity to
//      each (the fraction of its positions within fp, kBlockPairAgreement,
//      most-colliding candidates first, in rounds that stop at a candidate
//      agreeing everywhere) picks the most similar candidate with
//      sim >= `sim`, and the block is mapped to it; the visit stops as soon as
//      enough blocks are mapped for the budget;
//   4. the kept blocks become the new table E (in ascending block order, so
//      a kept partial block is last and no padding is stored), and a block
//      map of n_blocks int32 (a mapped block shares its target's new block).
//      StageCopies() has the store copy the kept blocks' rows where they are.
// Lookup after the dedup: row = map[x div R_b]·R_b + (x mod R_b), x the
// global id; shared blocks receive the summed gradients (the store sums
// duplicate rows).
//
// Budget: the greedy stops once #mapped >= needed = the fewest full blocks
// whose removal brings 4·d·kept_rows + 4·n_blocks within floor(4·n·d·CR)
// (CODE's (n_blocks·cap − n·d·CR)/(cap − 1) without padding); if not enough
// similar blocks exist, fewer are mapped and the real ratio is reported.
//
// Thread-safety: as Compressor.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compressors/internal/method_util.h"

namespace ecps {

class DedupEmbedding final : public method_internal::OneTableMethod {
 public:
  static constexpr char kName[] = "dedup";
  static constexpr char kStateMagic[9] = "ECPSDDUP";
  // Bins of the per-block histograms whose 75th percentiles order the
  // visit (plus one bin on either side for values outside the range).
  static constexpr int kPercentileBins = 1024;
  // Candidates of a visited block compared in its first round (then twice as
  // many per round, until one agrees in every position).
  static constexpr size_t kFirstPairRound = 64;
  // Declared parameters: block_rows, bands, r, lsh_threshold, fp, sim.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  // What the last deduplication did (BeginStage(1)); zeros before it.
  struct Stats {
    uint64_t visited = 0;          // blocks visited before the stop
    uint64_t mapped = 0;           // blocks mapped to another block
    uint64_t candidate_pairs = 0;  // pairs whose similarity was computed
    uint64_t reductions = 0;       // ReduceRows calls (histograms, projections, pairs)
    uint64_t kept_blocks = 0;
    bool reached = false;  // mapped >= needed
  };

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // Stage 0: E n x d f32. Stage 1: E (rows of the kept blocks) x d f32, the
  // same spec as stage 0 when no block was mapped (the store keeps its rows).
  std::vector<RowTableSpec> Tables() const override;
  // {pretrain, finetune}: fine-tuning keeps the dense model's parameters and
  // Adam state; the new table's rows start with fresh optimizer state.
  std::vector<StageSpec> Stages() const override;
  // Stage 0: the global id; stage 1: through the block map.
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void AttachRows(RowAccess* rows) override { rows_ = rows; }
  // BeginStage(1) runs the deduplication (above) on the attached rows.
  Status BeginStage(int index) override;
  // One copy per run of kept blocks that stay consecutive (old -> new rows).
  std::vector<RowCopy> StageCopies(int index) const override;
  // inference = 4·d·kept_rows + 4·n_blocks (the block map, auxiliary);
  // parameter = 4·n·d + 4·d·kept_rows (the tables of both stages; 4·n·d alone
  // when nothing is mapped). Before the dedup, kept_rows is what the budget
  // asks for (n − needed·R_b).
  MemoryReport Memory() const override;
  // The parameters and the sizes Init derives (checked by LoadState), the
  // stage and, after the dedup, the block map (restored).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  uint64_t block_rows() const { return block_rows_; }
  // The default R_b (block_rows = 0) for a table of `rows` rows.
  static uint64_t AutoBlockRows(uint64_t rows);
  uint64_t num_blocks() const { return n_blocks_; }
  // Blocks the budget asks to be mapped (the stop rule).
  uint64_t needed() const { return needed_; }
  int stage() const { return stage_; }
  // Stage 1: new block of every old block.
  const std::vector<int32_t>& block_map() const { return map_; }
  // Rows of the table of stage 1 (before the dedup: the planned rows).
  uint64_t kept_rows() const;
  const Stats& stats() const { return stats_; }
  // The old block that every new block copies (stage 1).
  const std::vector<uint32_t>& kept_blocks() const { return kept_ids_; }
  // The LSH's seed (directions a_j of kBlockProjections; the offsets b_j are
  // U[0, r) draws of Rng(MethodSeed(lsh_seed, 1)), in band order).
  uint64_t lsh_seed() const { return seed_; }
  int bands() const { return bands_; }
  double r() const { return r_; }
  int lsh_threshold() const { return lsh_threshold_; }
  double fp() const { return fp_; }
  double sim() const { return sim_; }

  // The 75th percentile (numpy's linear interpolation of order statistics)
  // from a block's histogram `h` of `bins` bins over [lo, hi) plus one
  // outside bin on either side (h has bins + 2 entries, from
  // kBlockHistogram over [lo − w, hi + w) with w = (hi − lo) / bins):
  // values of a bin are taken as spread evenly over it, so the result is
  // within about one bin width of the exact percentile where the values
  // around it are dense (a block's R_b·d values are; with a few values per
  // bin the error is up to the gap between two of them).
  static double HistogramPercentile(const double* h, int bins, double lo, double hi, double q);

 private:
  // Rows of old block b (R_b, or fewer for the last).
  uint64_t BlockRows(uint64_t b) const;
  // The table's value range [lo, hi) by zooming whole-table histograms.
  Status TableRange(double* lo, double* hi);
  Status Deduplicate();

  double init_bound_ = 0;
  uint64_t block_rows_ = 10240;
  int bands_ = 90;
  double r_ = 0.09;
  int lsh_threshold_ = 0;
  double fp_ = 0.01;
  double sim_ = 0.7;
  uint64_t seed_ = 0;  // the LSH's (directions and offsets)
  uint64_t n_blocks_ = 0;
  uint64_t needed_ = 0;
  int stage_ = 0;
  std::vector<int32_t> map_;        // stage 1: n_blocks entries
  std::vector<uint32_t> kept_ids_;  // stage 1: the old block of every new block
  RowAccess* rows_ = nullptr;
  Stats stats_;
};

}  // namespace ecps
