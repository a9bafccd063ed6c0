// Post4Bits (docs/methods.md §2.19, ORIG Guan et al. 2019 / FBGEMM): a
// post-training method. Stage "train" trains a full fp32 table E (as `full`);
// stage "quantize" (post_training) replaces it by n x d packed 4-bit codes
// with a per-row fp16 (scale, bias): every row's range [xmin, xmax] comes from
// the greedy range search below, then
//   bias = fp16(xmin), scale = fp16((xmax - bias) / 15) (1 if the range is 0),
//   q = clamp(round((x - bias) / scale), 0, 15), value = q * scale + bias.
// The quantize stage has no trainable rows (and freezes the dense model), so
// any steps the trainer runs in it change nothing: it evaluates on codes.
//
// Budget: fixed, n·(ceil(d/2) + 4) bytes = 18.75% at d = 16; a smaller
// budget is reported at its real ratio.
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/quantization/quant_common.h"

namespace ecps {

class Post4BitsEmbedding final : public quant_internal::OneTableMethod {
 public:
  static constexpr char kName[] = "post4bits";
  static constexpr char kStateMagic[9] = "ECPSP4BT";
  static constexpr int kBits = 4;
  // Declared parameters: n_bins, ratio.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // Stage 0: E n×d f32, trainable. Stage 1: E n×d u4, kPerRow f16, frozen.
  std::vector<RowTableSpec> Tables() const override;
  std::vector<StageSpec> Stages() const override;
  void AttachRows(RowAccess* rows) override { rows_ = rows; }
  // BeginStage(1) reads the trained rows and runs the range search per row;
  // InitStageRows(1) writes the rows with their (scale, bias).
  Status BeginStage(int index) override;
  Status InitStageRows(int index) override;
  // inference = n·(ceil(d/2) + 4) (codes + fp16 scale + fp16 bias);
  // parameter = 4nd (the trained fp32 table) + the inference bytes.
  MemoryReport Memory() const override;
  // The feature space, n_bins, ratio (checked by LoadState) and the stage
  // (restored: a checkpoint of the quantize stage holds 4-bit rows).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // The greedy range search of FBGEMM's param_search_greedy on one row
  // x[0..d): starts from [min, max], step (max - min) / n_bins, and while the
  // range is wider than (1 - ratio) of the start moves the end whose move
  // lowers the L2 error most, recording local optima; returns the best local
  // optimum (or [min, max] if none). REQUIRES: d > 0.
  static void RangeSearch(const float* x, int d, int n_bins, double ratio, float* xmin,
                          float* xmax);
  // fp16 (scale, bias) of a range, as stored (see above).
  static void RangeParams(float xmin, float xmax, float* scale, float* bias);
  // L2 error sqrt(Σ (x - dequant(quant(x)))^2) of quantising x[0..d) with
  // the fp16 parameters of [xmin, xmax].
  static double RangeLoss(const float* x, int d, float xmin, float xmax);

 private:
  double init_bound_ = 0;
  int n_bins_ = 200;
  double ratio_ = 0.16;
  int stage_ = 0;
  RowAccess* rows_ = nullptr;
  // Between BeginStage(1) and InitStageRows(1): the trained rows and their
  // (scale, bias) pairs.
  std::vector<float> pending_values_, pending_params_;
};

}  // namespace ecps
