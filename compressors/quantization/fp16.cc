#include "compressors/quantization/fp16.h"

namespace ecps {

using quant_internal::CheckSpace;
using quant_internal::InitBound;
using quant_internal::ParseRounding;

ParamSchema Fp16Embedding::Schema() {
  return ParamSchema().String("rounding", "stochastic_element",
                              "write-back rounding of updated rows: stochastic_element "
                              "(textbook, unbiased), stochastic_row (one draw per row) or nearest",
                              quant_internal::RoundingChoices());
}

std::unique_ptr<Compressor> Fp16Embedding::Create() { return std::make_unique<Fp16Embedding>(); }

Status Fp16Embedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = InitBound(space_);
  rounding_ = ParseRounding(params.GetString("rounding"));
  return OkStatus();
}

std::vector<RowTableSpec> Fp16Embedding::Tables() const {
  RowTableSpec e;
  e.name = "E";
  e.rows = space_.total();
  e.width = space_.dim;
  e.dtype = DType::kF16;
  e.rounding = rounding_;
  e.init_bound = init_bound_;
  return {e};
}

MemoryReport Fp16Embedding::Memory() const {
  MemoryReport r;
  r.inference_bytes = 2ull * space_.total() * static_cast<uint64_t>(space_.dim);
  r.parameter_bytes = r.inference_bytes;
  return r;
}

std::string Fp16Embedding::SaveState() const {
  BlobWriter w = quant_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod(rounding_);
  return w.Finish();
}

Status Fp16Embedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(quant_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  Rounding rounding{};
  if (!r.Pod(&rounding)) return r.Truncated();
  RETURN_IF_ERROR(quant_internal::EndState(r));
  return quant_internal::CheckSame(kName, "the rounding", rounding, rounding_);
}

}  // namespace ecps
