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
#include "compressors/storage.h"
#include "embedding/row_store.h"
#include "embedding/sparse_optimizer.h"
#include "worker/bundle.h"

namespace ecps::tools {

struct VerifiedTable {
  std::string name;
  std::string dtype;  // DTypeName()
  int width = 0;
  uint64_t rows = 0;   // over all virtual shards
  uint64_t bytes = 0;  // parameters as stored (StoredRowBytes() per row)
  // Rows and bytes of each virtual shard, by vshard (one entry, the whole
  // table, for a single-process checkpoint): what each server holds.
  std::vector<uint64_t> shard_rows, shard_bytes;
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
  // The effective config of the saving run (YAML; the manifest's for a
  // cluster, CONF otherwise) and what `inspect` reads out of it.
  std::string config;
  double budget = 0;
  std::string model;
  int dim = 0;
  // The method's stage names (Compressor::Stages() of a method built with
  // the config's parameters; empty when the method is not in this build).
  std::vector<std::string> stage_names;
  // The build that trained it, when the checkpoint records one ("" for a
  // checkpoint written before the trainer recorded it in STAT).
  std::string git_commit;
  // The keyed tables' frequency statistics when it was written (STAT
  // "key_stats": RowStore::KeyStatsJson, mch/adaptemb/cafe; a JSON object,
  // "" when not recorded).
  std::string key_stats;
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

// `ecps checkpoint inspect`: the summary plus the per-shard and per-server
// bytes of every table, the stage by name and the training config.
std::string InspectJson(const CheckpointSummary& s);
std::string InspectText(const CheckpointSummary& s);

// The parts a model is rebuilt from (export, predict), read after
// VerifyCheckpoint found the checkpoint intact: a damaged checkpoint is an
// error here (DataLoss naming every problem), never partly used.
struct CheckpointContents {
  CheckpointSummary summary;
  std::string trainer_file;   // the single-process file, or the cluster's dense part
  std::string trainer_bytes;  // its bytes (worker/checkpoint.h framing)
  SparseOptimizerKind optimizer = SparseOptimizerKind::kAdam;
  int virtual_shards = 1;  // 1 for a single-process checkpoint
  // RowStore::Save() blobs by virtual shard (one: the single store's).
  std::vector<std::string> store_blobs;
};
StatusOr<CheckpointContents> ReadCheckpointContents(const std::string& path);

// One stored table decoded to fp32 (RowStore::ReadRows: dequantised), rows in
// global order: row r is local row r div V of virtual shard r mod V
// (ps/sharding.h). NotFound naming the tables there are for another name.
struct DecodedTable {
  RowTableSpec spec;          // rows = over every shard
  std::vector<float> values;  // spec.rows x spec.width
  // QuantScheme::kPerRow tables: each row's (scale, zero) as stored
  // (RowStore::ReadCodes), spec.rows x 2; empty otherwise.
  std::vector<float> scale_zero;
};
StatusOr<DecodedTable> DecodeTable(const CheckpointContents& c, const std::string& name);

// Puts every table of `c` into `store` (a fresh local store): the single
// store's blob as is, or a cluster's shards decoded and written back as the
// tables `want` (the method's specs; each must match a stored table's name,
// rows, width and dtype, else FailedPrecondition naming it). Decoded values
// lie on their codes' grid and per-row tables get their stored (scale,
// zero), so the codes written back are the stored ones.
Status FillStore(const CheckpointContents& c, RowStore& store,
                 const std::vector<RowTableSpec>& want);

// The model of checkpoint `c` (read from `path`) as a Predictor on the
// feature space of `data` (its schema and train counts; a cache of another
// number of features than the checkpoint's DATA records is refused with
// FailedPrecondition naming both). With `same_data`, `data` must be the very
// data the checkpoint was trained on (DATA's identity digest), as for
// `convert`, which records that schema in the bundle.
StatusOr<std::unique_ptr<Predictor>> PredictorFromCheckpoint(const std::string& path,
                                                             const CheckpointContents& c,
                                                             const TrainConfig& config,
                                                             const Dataset& data, bool same_data);

// Rewrites the cluster checkpoints of the directory of manifest `path` (its
// last and best manifests, whichever exist) for `servers` servers into
// `out_dir` (created; refused with FailedPrecondition when it holds any
// checkpoint file already): every part copied after its checksum verified,
// each manifest with servers = N and its config's cluster.servers = N. The
// virtual shards stay (a row's shard is r mod V; server v mod N serves shard
// v on load), so N must be at most V (InvalidArgument otherwise). Returns
// the manifests written. A single-process checkpoint is InvalidArgument.
StatusOr<std::vector<std::string>> ReshardCheckpoints(const std::string& path, int servers,
                                                      const std::string& out_dir);

}  // namespace ecps::tools
