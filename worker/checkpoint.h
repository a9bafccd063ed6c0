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
#include <vector>

#include "common/status.h"
#include "worker/data/dataset.h"

namespace ecps {

inline constexpr char kCheckpointMagic[8] = {'E', 'C', 'P', 'S', 'C', 'K', 'P', 'T'};
inline constexpr uint32_t kCheckpointVersion = 1;

class CheckpointWriter {
 public:
  // Adds a section; `tag` is exactly 4 characters and unique in the file.
  void Add(const std::string& tag, std::string payload);
  // Serialises all sections and writes `path` atomically.
  Status Write(const std::string& path) const;
  // The serialised file (what Write() writes).
  std::string Encode() const;

 private:
  std::map<std::string, std::string> sections_;
};

class CheckpointReader {
 public:
  // Reads and verifies the whole file: magic, version, per-section and
  // whole-file checksums, lengths. Errors are DataLoss naming the file and the
  // damaged part.
  static StatusOr<CheckpointReader> Open(const std::string& path);
  // The same checks on bytes already read from `path` (named in errors).
  static StatusOr<CheckpointReader> Parse(const std::string& path, const std::string& bytes);
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

// The data a run trained on, for the checkpoint section DATA
// (docs/formats.md): the format, fields, features, rows per split and the
// cache's identity (worker/data/cache_identity.h: its inputs and options) with
// its digest. The checkpoint's position (epoch, step in epoch) indexes rows of
// exactly this data.
std::string EncodeDataIdentity(const Dataset& data);

// Whether `data` is the data that checkpoint `path` (read as `r`) was trained
// on. FailedPrecondition naming what changed (e.g. "train rows 32000 -> 16000",
// or the identity's changed inputs) otherwise: resuming at a position into
// other data would train on other rows silently, or past their end. A
// checkpoint written before DATA existed is accepted with a warning.
Status CheckDataIdentity(const std::string& path, const CheckpointReader& r, const Dataset& data);

// How the checkpoints of a cluster are written and read (docs/formats.md
// "Sharded checkpoint"; launch/ implements it over the parameter servers and
// the coordinator). The trainer hands over its dense part, a checkpoint file
// whose EMBD section holds no rows, and the implementation has every server
// write its own shards and the coordinator commit the manifest last.
//
// Thread-safety: one trainer thread.
class ShardedCheckpoints {
 public:
  virtual ~ShardedCheckpoints() = default;
  // Whether checkpoint `name` ("last", "best") has a manifest.
  virtual bool Exists(const std::string& name) const = 0;
  // Worker 0: writes one generation of parts (every server its virtual
  // shards, `dense` as the dense part) and then commits a manifest for each
  // of `names`, which share those parts.
  virtual Status Save(const std::vector<std::string>& names, CheckpointWriter dense) = 0;
  // Every worker: verifies checkpoint `name` (its manifest and the checksum
  // of every part it reads); worker 0 also has the servers load their
  // virtual shards. Returns the dense part.
  virtual StatusOr<CheckpointReader> Load(const std::string& name) = 0;
};

}  // namespace ecps
