// The uncompressed baseline (docs/methods.md §2.1): one global fp32 table E of
// total() rows x d, row = offsets[field] + local id, initialised U(-b, b) with
// b = sqrt(1 / max_field_cardinality). The budget is ignored (always 100%).
// Parameter `init`: "global" (that bound, docs/methods.md §1.3) or "per_field"
// (field f's rows U(-b_f, b_f) with b_f = sqrt(1 / n_f), as the DLRM reference
// code and the PyTorch peer initialise; written in InitStageRows(0)).
//
// Thread-safety: as Compressor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/compressor.h"
#include "compressors/internal/method_util.h"

namespace ecps {

class FullEmbedding final : public method_internal::OneTableMethod {
 public:
  static constexpr char kName[] = "full";
  static constexpr char kStateMagic[9] = "ECPSFULL";
  // Declared parameters: init.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  std::vector<RowTableSpec> Tables() const override;
  // Encode (row = offset_f + key), Decode and DecodeBackward (copies) come
  // from OneTableMethod.
  // inference = parameter = 4*n*d bytes; optimizer_bytes is left 0 here (the
  // store's optimizer fills it in); no auxiliary state.
  MemoryReport Memory() const override;
  void AttachRows(RowAccess* rows) override { rows_ = rows; }
  Status InitStageRows(int index) override;
  // No state but the feature space and `init`; LoadState refuses a blob of
  // another method or another Init (compressors/internal/method_util.h).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

 private:
  double init_bound_ = 0;
  bool per_field_init_ = false;
  uint64_t seed_ = 0;
  RowAccess* rows_ = nullptr;
};

}  // namespace ecps
