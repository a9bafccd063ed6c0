// PQ (docs/methods.md §2.19c): post-training product quantisation of the
// trained table. Stage "train" trains a full fp32 table E (as `full`); stage
// "quantize" (post_training, freeze_dense) splits each row into m subspaces
// of d/m dimensions, fits a codebook of 256 centroids per subspace by k-means
// on a seeded sample of the trained rows and replaces E by each row's m
// nearest-centroid codes:
//   codes  n x m u8 on the store (the identity code map, not trainable);
//   the codebooks [m x 256 x d/m] f32 are method state (auxiliary bytes).
// A lookup gathers a key's code row and Decode concatenates its codewords,
// so the table is never expanded to fp32. The PQ itself (sample, k-means,
// nearest-centroid encoding, decode) is compressors/internal/pq_core.h, the
// one implementation the retrieval codec `pq` of ecps vectors uses too.
//
// Budget: the largest m dividing d whose n·m + 4·d·256 bytes fit
// floor(4nd·CR) (`m` overrides); m = 1 when none does (the codebooks alone
// are 4·d·256 B), reported at its real ratio. At d = 16: 25% (m = 16), 12.5%,
// 6.25%, 3.125%, 1.5625% plus the codebooks.
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/internal/pq_core.h"
#include "compressors/quantization/quant_common.h"

namespace ecps {

class PqEmbedding final : public quant_internal::OneTableMethod {
 public:
  static constexpr char kName[] = "pq";
  static constexpr char kStateMagic[9] = "ECPSPQEM";
  static constexpr int kBits = 8;  // one byte per code: 256 centroids per subspace
  // Declared parameters: m, iters, sample.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // Stage 0: E n x d f32, trainable. Stage 1: codes n x m u8, frozen.
  std::vector<RowTableSpec> Tables() const override;
  // {train, quantize (post_training, freeze_dense)}.
  std::vector<StageSpec> Stages() const override;
  // Stage 1: the key's codewords (Encode: its code row, as stage 0's E row).
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  void AttachRows(RowAccess* rows) override { rows_ = rows; }
  // BeginStage(1) reads the trained rows twice in 4096-row chunks (the
  // sample, then the encoding) and fits the codebooks; InitStageRows(1)
  // writes the codes.
  Status BeginStage(int index) override;
  Status InitStageRows(int index) override;
  // inference = n·m + 4·d·256 (the codebooks: auxiliary); parameter = 4nd
  // (the trained fp32 table) + n·m.
  MemoryReport Memory() const override;
  // The feature space, m, iters, sample (checked), the stage and in stage 1
  // the codebooks (restored).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  int m() const { return m_; }
  int stage() const { return stage_; }
  const method_internal::PqCore& pq() const { return pq_; }
  // The budget solver: the largest m dividing `dim` whose bytes fit.
  static int SubspacesForBudget(uint64_t rows, int dim, uint64_t budget_bytes);

 private:
  double init_bound_ = 0;
  int m_ = 1;
  int iters_ = 25;
  uint64_t sample_ = 0;
  uint64_t seed_ = 0;
  int stage_ = 0;
  RowAccess* rows_ = nullptr;
  // Stage 1: the codebooks (pq_.codes holds the codes only between
  // BeginStage(1) and InitStageRows(1); they live on the store).
  method_internal::PqCore pq_;
};

}  // namespace ecps
