// Checkpoint files: a sequence of tagged, checksummed sections written
// atomically (temporary file, fsync, rename), so a crash never leaves a torn
// checkpoint. The format is specified in docs/formats.md ("Checkpoint").
//
// Version 2 streams: a section's payload is stored in chunks of at most
// kStreamChunkBytes, each followed by its checksum, then the section's
// checksum, so a table-sized section (EMBD: the rows) is written from its
// producer and read into its consumer a chunk at a time, every chunk verified
// before it is handed on; neither side holds a table-sized buffer. Version 1
// files (one checksum before each payload) are still read.
//
// The trainer decides what goes in (config, trainer state, dense parameters,
// optimizer state, embedding state); this file only frames and verifies.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/blob.h"
#include "common/status.h"
#include "worker/data/dataset.h"

namespace ecps {

inline constexpr char kCheckpointMagic[8] = {'E', 'C', 'P', 'S', 'C', 'K', 'P', 'T'};
inline constexpr uint32_t kCheckpointVersion = 2;
// Sections up to this size are kept in memory by CheckpointReader::Open (the
// config, the trainer state, dense parameters); larger ones are read from
// the file when asked for.
inline constexpr uint64_t kCheckpointInMemoryBytes = 16 << 20;

// Thread-safety: one thread per writer.
class CheckpointWriter {
 public:
  // Writes a section's payload into `sink`; called twice per write (once to
  // count its length, once to write it), so it must write the same bytes
  // each time: it serialises state, it does not change it.
  using Producer = std::function<Status(ByteSink* sink)>;
  // Adds a section; `tag` is exactly 4 characters and unique in the file.
  void Add(const std::string& tag, std::string payload);
  // Adds a section streamed from `produce` when the file is written (a row
  // store's tables: no copy of them is made).
  void AddStream(const std::string& tag, Producer produce);
  // Serialises all sections and writes `path` atomically, a chunk at a time.
  Status Write(const std::string& path) const;
  // The serialised file (what Write() writes), in memory.
  std::string Encode() const;
  // Serialises into `sink` (what Write() writes).
  Status WriteTo(ByteSink* sink) const;

 private:
  struct Section {
    std::string bytes;
    Producer produce;  // when set, the payload (bytes is empty)
  };
  std::map<std::string, Section> sections_;
};

// Thread-safety: one thread (Get() of a section kept on disk caches it).
class CheckpointReader {
 public:
  // Reads and verifies the whole file, a chunk at a time: magic, version,
  // per-chunk, per-section and whole-file checksums, lengths. Sections larger
  // than kCheckpointInMemoryBytes stay in the file until asked for. Errors are
  // DataLoss naming the file and the damaged part.
  static StatusOr<CheckpointReader> Open(const std::string& path);
  // The same checks on bytes already read from `path` (named in errors).
  static StatusOr<CheckpointReader> Parse(const std::string& path, const std::string& bytes);
  bool Has(const std::string& tag) const { return sections_.count(tag) > 0; }
  // NotFound naming the tag and the file when absent. A section kept in the
  // file is read into memory here (use OpenSection() to stream it instead).
  StatusOr<std::string_view> Get(const std::string& tag) const;
  // The section's payload as a stream: from the file a chunk at a time, each
  // chunk verified against its checksum before it is handed out (DataLoss
  // naming the file, section and chunk when the file changed since Open());
  // from memory otherwise. The reader must outlive the source.
  StatusOr<std::unique_ptr<ByteSource>> OpenSection(const std::string& tag) const;
  // The payload's length; 0 when absent.
  uint64_t SectionSize(const std::string& tag) const;
  std::vector<std::string> tags() const;
  // Every section by tag, in memory (those kept in the file are read: for
  // checkpoints known to be small, and tests that rewrite one). A section
  // that cannot be read any more (the file changed since Open()) is a
  // loud failure.
  std::map<std::string, std::string> sections() const;
  uint32_t version() const { return version_; }

 private:
  struct Section {
    uint64_t length = 0;
    bool in_memory = false;
    std::string bytes;    // when in_memory
    uint64_t offset = 0;  // of its first chunk in the file (version 2, kept on disk)
  };
  std::string path_;
  uint32_t version_ = 0;
  uint32_t chunk_bytes_ = 0;
  mutable std::map<std::string, Section> sections_;
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
