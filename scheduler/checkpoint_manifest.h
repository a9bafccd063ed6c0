// The manifest of a sharded (cluster) checkpoint, docs/formats.md "Sharded
// checkpoint": one small file, <dir>/<name>.ckpt, that names every part of
// the checkpoint (the dense part written by worker 0 and one shard file per
// virtual shard written by the servers) with its size and checksum.
//
// The manifest is written last, atomically, by the coordinator (the
// scheduler, or the simulation's stand-in): a checkpoint is complete exactly
// when its manifest exists and every part it names matches its checksum.
// Parts carry the generation in their names (ckpt.g<N>.dense,
// ckpt.g<N>.vs<v>.shard), so writing generation N never touches the parts
// of N-1 that the previous manifest names; parts that no manifest names any
// more are deleted only after the new manifest is in place.
//
// Thread-safety: free functions over files; CommitCheckpoint must not run
// concurrently for the same directory (the coordinator serialises it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace ecps::scheduler {

inline constexpr int kManifestVersion = 1;

struct CheckpointPart {
  std::string file;       // a plain file name inside the checkpoint directory
  std::string kind;       // "dense" | "shard"
  int vshard = -1;        // the virtual shard of a "shard" part
  uint64_t bytes = 0;     // file size
  uint64_t checksum = 0;  // Checksum64 (XXH3-64) of the whole file
};

struct CheckpointManifest {
  std::string name;         // "last" | "best"
  uint64_t generation = 0;  // of the parts (shared by the manifests of one save)
  int servers = 0;          // that wrote the shards (a resume may use another count)
  int workers = 0;
  int virtual_shards = 0;  // fixed for the life of a model
  std::string config;      // the effective config (YAML) of the saving run
  std::vector<CheckpointPart> parts;
};

// <dir>/<name>.ckpt
std::string ManifestPath(const std::string& dir, const std::string& name);
// "ckpt.g<generation>": the file-name prefix of one generation's parts.
std::string PartStem(uint64_t generation);

// "ECPSMANI <version> <checksum of the rest, 16 hex digits>\n" + JSON.
std::string EncodeManifest(const CheckpointManifest& m);
// Errors: DataLoss naming `path` for a damaged manifest, FailedPrecondition
// for another format version.
StatusOr<CheckpointManifest> DecodeManifest(const std::string& path, const std::string& bytes);
// NotFound when absent.
StatusOr<CheckpointManifest> ReadManifest(const std::string& path);
// The bytes of `part` in `dir`, verified against its size and checksum
// (DataLoss naming the file otherwise).
StatusOr<std::string> ReadPart(const std::string& dir, const CheckpointPart& part);

// 1 + the largest generation of any manifest or part file in `dir` (1 for an
// empty or missing directory): a new run never reuses a name that a crashed
// one may have left half-written.
uint64_t NextGeneration(const std::string& dir);

// What worker 0 sends the coordinator once every part is written: the
// directory (absolute), the names to commit and the manifest (name unset).
std::string EncodeCommitRequest(const std::string& dir, const std::vector<std::string>& names,
                                const CheckpointManifest& m);

// The coordinator's side: checks the request (plain part names, every
// virtual shard once, one dense part, each file present with its size),
// writes the manifest of each name atomically, in order, and then deletes
// every part file (and leftover temporary file) of an older generation that
// no manifest in the directory names any more. Errors leave the previous
// manifests untouched.
Status CommitCheckpoint(const std::string& request);

}  // namespace ecps::scheduler
