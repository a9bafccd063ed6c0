// Checkpoint files: a sequence of tagged, checksummed sections written
// atomically (temporary file, fsync, rename), so a crash never leaves a torn
// checkpoint. The format is specified in docs/formats.md ("Checkpoint").
//
// The trainer decides what goes in (config, trainer state, dense parameters,
// optimizer state, embedding state); this file only frames and verifies.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ecps {

inline constexpr char kCheckpointMagic[8] = {'E', 'C', 'P', 'S', 'C', 'K', 'P', 'T'};
inline constexpr uint32_t kCheckpointVersion = 1;

class CheckpointWriter {
 public:
  // Adds a section; `tag` is exactly 4 characters and unique in the file.
  void Add(const std::string& tag, std::string payload);
  // Serialises all sections and writes `path` atomically.
  Status Write(const std::string& path) const;

 private:
  std::map<std::string, std::string> sections_;
};

class CheckpointReader {
 public:
  // Reads and verifies the whole file: magic, version, per-section and
  // whole-file checksums, lengths. Errors are DataLoss naming the file and the
  // damaged part.
  static StatusOr<CheckpointReader> Open(const std::string& path);
  bool Has(const std::string& tag) const { return sections_.count(tag) > 0; }
  // NotFound naming the tag and the file when absent.
  StatusOr<std::string_view> Get(const std::string& tag) const;
  const std::map<std::string, std::string>& sections() const { return sections_; }
  uint32_t version() const { return version_; }

 private:
  std::string path_;
  uint32_t version_ = 0;
  std::map<std::string, std::string> sections_;
};

}  // namespace ecps
