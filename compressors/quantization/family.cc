// The quantization family's entries of the method registry (compressors/registry.cc),
// in docs/methods.md order (§2.16-§2.19c).
#include <vector>

#include "compressors/compressor.h"
#include "compressors/quantization/alpt.h"
#include "compressors/quantization/fp16.h"
#include "compressors/quantization/int_quant.h"
#include "compressors/quantization/mixed_prec.h"
#include "compressors/quantization/post4bits.h"
#include "compressors/quantization/pq.h"
#include "compressors/registry.h"

namespace ecps {

void AddQuantizationMethods(std::vector<CompressorInfo>* out) {
  out->push_back(
      {Fp16Embedding::kName, "quantization",
       "fp16 table, fp32 Adam, stochastic rounding on write-back (docs/methods.md 2.16); "
       "fixed 50%",
       Fp16Embedding::Schema(), &Fp16Embedding::Create});
  out->push_back(
      {IntQuantEmbedding::kInt8Name, "quantization",
       "uint8 codes with a global scale/zero, stochastic rounding (docs/methods.md 2.17); "
       "fixed 25%",
       IntQuantEmbedding::Schema(8), &IntQuantEmbedding::CreateInt8});
  out->push_back({IntQuantEmbedding::kInt16Name, "quantization",
                  "uint16 codes with a global scale/zero, stochastic rounding (docs/methods.md "
                  "2.17); 50%, or int8 below",
                  IntQuantEmbedding::Schema(16), &IntQuantEmbedding::CreateInt16});
  out->push_back({AlptEmbedding::kName, "quantization",
                  "signed int8/16 codes with a learned per-row scale (LSQ, own Adam) "
                  "(docs/methods.md 2.18); 56.25% / 31.25%",
                  AlptEmbedding::Schema(), &AlptEmbedding::Create});
  out->push_back({Post4BitsEmbedding::kName, "quantization",
                  "post-training 4-bit rows with fp16 scale/bias from a greedy range search "
                  "(docs/methods.md 2.19); 18.75% at d=16",
                  Post4BitsEmbedding::Schema(), &Post4BitsEmbedding::Create});
  out->push_back({MixedPrecEmbedding::kName, "quantization",
                  "row-wise int8 table + fp32 cache of the hottest rows sized by the budget "
                  "(docs/methods.md 2.19b)",
                  MixedPrecEmbedding::Schema(), &MixedPrecEmbedding::Create});
  out->push_back({PqEmbedding::kName, "quantization",
                  "post-training product quantisation: per subspace a k-means codebook of 256 "
                  "centroids fitted on the trained rows, a byte code per row and subspace "
                  "(docs/methods.md 2.19c)",
                  PqEmbedding::Schema(), &PqEmbedding::Create});
}

}  // namespace ecps
