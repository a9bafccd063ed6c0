// `ecps checkpoint verify` (docs/cli.md): reads a checkpoint the way a resume
// would, without a model or a cluster, and says whether it is intact and what
// it holds.
//
// Two kinds of checkpoint are recognised by their first bytes
// (docs/formats.md):
//   - a cluster's manifest (`ECPSMANI`, last.ckpt / best.ckpt of a
//     `--simulate`, mpirun or by-hand run): every part it names is read and
//     checked against the manifest's size and checksum, the dense part's
//     sections are verified, and each virtual shard's rows are decoded;
//   - a single-process checkpoint (`ECPSCKPT`): the file's framing and
//     section checksums, and the rows of its EMBD section.
//
// Thread-safety: a free function over files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace ecps::tools {

struct VerifiedTable {
  std::string name;
  std::string dtype;  // DTypeName()
  int width = 0;
  uint64_t rows = 0;   // over all virtual shards
  uint64_t bytes = 0;  // parameters as stored (StoredRowBytes() per row)
};

struct VerifiedPart {
  std::string file;  // as named by the manifest (the checkpoint file itself otherwise)
  std::string kind;  // "shard" | "dense" | "manifest" | "checkpoint"
  int vshard = -1;
  uint64_t bytes = 0;
};

struct CheckpointSummary {
  std::string path;
  std::string format;  // "cluster" | "single-process"
  // Cluster manifests only (0 / empty otherwise).
  std::string name;  // "last" | "best"
  uint64_t generation = 0;
  int servers = 0;  // that wrote the shards
  int workers = 0;
  int virtual_shards = 0;
  // From the trainer state (STAT) and the embedding section (EMBD).
  std::string method;
  int stage = 0;
  int64_t epoch = 0;
  int64_t step_in_epoch = 0;
  int64_t step = 0;  // total training steps so far
  // The data it was trained on (section DATA, which --resume checks); false
  // for a checkpoint written before the section existed.
  bool has_data = false;
  uint64_t train_rows = 0, val_rows = 0, test_rows = 0, features = 0;
  std::string data_digest;  // the cache identity's XXH3-64, 16 hex digits ("" when unknown)
  std::vector<VerifiedTable> tables;
  uint64_t parameter_bytes = 0;  // sum of the tables' bytes
  uint64_t optimizer_bytes = 0;
  std::vector<VerifiedPart> parts;  // the manifest first, then as it lists them
  uint64_t total_bytes = 0;         // every file above
  // Every damaged, truncated or missing file, each message naming it. Empty
  // exactly when the checkpoint is intact.
  std::vector<std::string> problems;
};

// Verifies the checkpoint at `path` and summarises it; the summary holds
// whatever could be read even when `problems` is not empty. Errors (nothing
// to summarise): NotFound when `path` is missing, InvalidArgument when it is
// not an ecps checkpoint, DataLoss / FailedPrecondition naming `path` when
// the manifest itself is damaged or of another format version.
StatusOr<CheckpointSummary> VerifyCheckpoint(const std::string& path);

// The summary as one JSON object (`--json`): the fields above, plus "ok".
std::string SummaryJson(const CheckpointSummary& s);
// The summary as a few aligned lines for a person.
std::string SummaryText(const CheckpointSummary& s);

}  // namespace ecps::tools
