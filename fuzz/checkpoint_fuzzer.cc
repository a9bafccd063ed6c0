// The checkpoint readers, read-only: a single-process checkpoint's framing
// (worker/checkpoint.h CheckpointReader::Parse: magic, version, sections,
// checksums) and a cluster checkpoint's manifest (scheduler/
// checkpoint_manifest.h DecodeManifest), on the same bytes. A parsed
// checkpoint's sections are read back by tag.
#include <cstddef>
#include <cstdint>
#include <string>

#include "scheduler/checkpoint_manifest.h"
#include "worker/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto ckpt = ecps::CheckpointReader::Parse("fuzz.ckpt", bytes);
  if (ckpt.ok())
    for (const auto& [tag, payload] : ckpt->sections()) (void)ckpt->Get(tag);
  (void)ecps::scheduler::DecodeManifest("fuzz/last.ckpt", bytes);
  return 0;
}
