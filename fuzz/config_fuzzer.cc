// The config parser (common/params.h FlattenYaml, the YAML entry point of
// every config file and of a checkpoint's embedded config), read-only: any
// text, including alias bombs, complex keys and deep nesting, gives a map or
// a Status, within its limits, never a crash or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/params.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto flat = ecps::FlattenYaml(text, "fuzz.yaml");
  if (flat.ok()) (void)ecps::FlattenYaml(ecps::NestedYaml(*flat), "fuzz.yaml (round trip)");
  return 0;
}
