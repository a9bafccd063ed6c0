// The registry of methods: name -> (family, description, parameter schema,
// factory), in registry.cc's order (docs/methods.md order).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/params.h"
#include "common/status.h"
#include "compressors/compressor.h"

namespace ecps {

// Registry of methods: name -> (description, parameter schema, factory).
struct CompressorInfo {
  std::string name;
  std::string family;  // "baseline", "hashing", "quantization", ...
  std::string description;
  ParamSchema schema;  // the method's declared parameters
  std::unique_ptr<Compressor> (*create)();
};

// Every registered method, in registry.cc's order.
const std::vector<CompressorInfo>& CompressorRegistry();
const CompressorInfo* FindCompressor(const std::string& name);
// Creates a method by config name; the error lists every registered name.
StatusOr<std::unique_ptr<Compressor>> CreateCompressor(const std::string& name);

// Tests only: makes a method that FindCompressor/CreateCompressor (and so the
// trainer and config validation) find, but that CompressorRegistry() does
// not list, so the conformance suite, the docs check and --list-methods never
// see it (tests/cluster/hook_contract_test.cc registers its recording
// method). A name already registered is refused.
Status RegisterTestOnlyCompressor(CompressorInfo info);

}  // namespace ecps
