// CEL, Clustered Embedding Learning (docs/methods.md §2.15; Chen et al.,
// "Clustered Embedding Learning for Recommender Systems", WWW 2023): the
// features share cluster rows of one table E of m rows, and the clustering
// is learned online, top-down, where the rows are (compressors/key_mapping.h):
// every feature starts in its field's root cluster; a cluster whose members
// had more than 2b interactions since its last split is split in two by GPCA
// (the sign of each member's gradient projected on the first principal
// component of the members' gradients), the new cluster starting from a
// copy of the old row, while free rows remain (the budget's m); and every
// `reassign_every` steps a feature moves to the other cluster of its last
// split when its gradients since the last decision say (to first order)
// that the other row has the lower loss on its own interactions.
//
// Tables (the mapping's state, not trained, zero at the start):
//   E  m x d fp32, U(±b): the cluster rows
//   K  n x 6 fp32: per feature [cluster + 1 (0: its field's root), decayed
//      count, last step, GPCA projection, reassignment gain, other cluster + 1]
//   O  m x (4 + 2d) fp32: per cluster [interactions, pushes, in use, done,
//      gradient mean (d), principal direction (d)]
// In a cluster the mapping lives with the rows on the parameter servers
// (each virtual shard clusters its own partition's features), so no worker
// holds the assignment.
//
// Memory (exact): inference = 4·m·d + 4·n (the rows and the assignment, one
// int32 per feature: mapping_bytes); parameter = every stored table: 4·m·d +
// 24·n (K) + 4·m·(4 + 2d) (O). Budget: the largest m with 4·m·d + 4·n within
// the budget (m >= one row per partition; below 1/d the assignment alone is
// over it and the real ratio is reported).
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/compressor.h"
#include "compressors/internal/method_util.h"
#include "compressors/key_mapping.h"

namespace ecps {

namespace dynamic_internal {

// The parameters of the CEL mapping, in KeyMappingSpec::params order. The
// fields, whose roots are the clusters every feature starts in, are the
// spec's field_offsets.
struct CelParams {
  double split_b = 100;       // a cluster splits after more than 2b interactions
  double reassign_every = 0;  // steps between reassignment rounds (0: none)
  double half_life = 0;       // of the per-feature counts (statistics only)
  double dim = 1;             // d: the width of the gradient statistics
  std::vector<double> Encode() const;
  static CelParams Decode(const std::vector<double>& p);
  static constexpr size_t kCount = 4;
};

// State columns (see cel.h's table list).
inline constexpr int kCelKeyWidth = 6;
inline int CelRowWidth(int dim) { return 4 + 2 * dim; }

const KeyMappingKind* CelKind();

}  // namespace dynamic_internal

class CelEmbedding final : public method_internal::OneTableMethod {
 public:
  static constexpr char kName[] = "cel";
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();
  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // {E m x d, K n x 6, O m x (4 + 2d)}.
  std::vector<RowTableSpec> Tables() const override;
  // rows[0] = global feature ids (keys of E); K and O take no lookups.
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  std::vector<KeyMappingSpec> KeyMappings() const override;
  MemoryReport Memory() const override;
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  uint64_t rows() const { return m_; }
  const dynamic_internal::CelParams& params() const { return params_; }

 private:
  dynamic_internal::CelParams params_;
  int partitions_ = 1;
  uint64_t seed_ = 0;
  double init_bound_ = 0;
  uint64_t m_ = 1;
};

}  // namespace ecps
