// The quantization family's entries of the method registry (compressors/registry.cc).
#include <vector>

#include "compressors/compressor.h"

namespace ecps {

void AddQuantizationMethods(std::vector<CompressorInfo>* out) {}

}  // namespace ecps
