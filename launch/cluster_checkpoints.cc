#include "launch/cluster_checkpoints.h"

#include <filesystem>

#include "common/check.h"
#include "common/file_util.h"
#include "scheduler/checkpoint_manifest.h"

namespace ecps::launch {

namespace fs = std::filesystem;
using scheduler::CheckpointManifest;
using scheduler::CheckpointPart;

namespace {
// Section of the dense part holding the servers' table specs (wire encoding).
constexpr char kSpecsTag[] = "PSTB";
}  // namespace

ClusterCheckpoints::ClusterCheckpoints(const std::string& dir, const ClusterShape& shape,
                                       std::string config_yaml, CommitFn commit,
                                       BeforeCommitFn before_commit)
    : dir_(fs::absolute(dir).lexically_normal().string()),
      shape_(shape),
      config_yaml_(std::move(config_yaml)),
      commit_(std::move(commit)),
      before_commit_(std::move(before_commit)) {}

bool ClusterCheckpoints::Exists(const std::string& name) const {
  return FileExists(scheduler::ManifestPath(dir_, name));
}

Status ClusterCheckpoints::Save(const std::vector<std::string>& names, CheckpointWriter dense) {
  ECPS_CHECK(client_ != nullptr) << "ClusterCheckpoints: no parameter-server client";
  // A fresh generation of part names: the parts the current manifests name
  // are never overwritten.
  if (next_generation_ == 0) next_generation_ = scheduler::NextGeneration(dir_);
  const uint64_t gen = next_generation_++;
  const std::string stem = scheduler::PartStem(gen);
  CheckpointManifest m;
  m.generation = gen;
  m.servers = shape_.servers;
  m.workers = shape_.workers;
  m.virtual_shards = shape_.virtual_shards;
  m.config = config_yaml_;
  // 1. The servers write their shards (at a clock every worker reached).
  ASSIGN_OR_RETURN(auto files, client_->SaveShards((fs::path(dir_) / stem).string()));
  for (const auto& f : files)
    m.parts.push_back(
        {fs::path(f.path).filename().string(), "shard", f.vshard, f.bytes, f.checksum});
  // 2. Worker 0 writes the dense part.
  dense.Add(kSpecsTag, client_->EncodedSpecs());
  const std::string bytes = dense.Encode();
  const std::string dense_file = stem + ".dense";
  RETURN_IF_ERROR(AtomicWriteFile((fs::path(dir_) / dense_file).string(), bytes));
  m.parts.push_back(
      {dense_file, "dense", -1, bytes.size(), Checksum64(bytes.data(), bytes.size())});
  if (before_commit_) RETURN_IF_ERROR(before_commit_(gen));
  // 3. The coordinator writes the manifests, last.
  return commit_(scheduler::EncodeCommitRequest(dir_, names, m));
}

StatusOr<CheckpointReader> ClusterCheckpoints::Load(const std::string& name) {
  ECPS_CHECK(client_ != nullptr) << "ClusterCheckpoints: no parameter-server client";
  ASSIGN_OR_RETURN(CheckpointManifest m,
                   scheduler::ReadManifest(scheduler::ManifestPath(dir_, name)));
  if (m.virtual_shards != shape_.virtual_shards)
    return FailedPrecondition("checkpoint '", scheduler::ManifestPath(dir_, name), "' has ",
                              m.virtual_shards, " virtual shards, this cluster uses ",
                              shape_.virtual_shards, " (set cluster.virtual_shards to match)");
  const CheckpointPart* dense = nullptr;
  std::vector<ps::Client::ShardFile> files;
  for (const CheckpointPart& p : m.parts) {
    if (p.kind == "dense") dense = &p;
    if (p.kind == "shard")
      files.push_back({p.vshard, (fs::path(dir_) / p.file).string(), p.bytes, p.checksum});
  }
  if (dense == nullptr)
    return DataLoss("checkpoint manifest '", scheduler::ManifestPath(dir_, name),
                    "' names no dense part");
  ASSIGN_OR_RETURN(std::string bytes, scheduler::ReadPart(dir_, *dense));
  ASSIGN_OR_RETURN(CheckpointReader r,
                   CheckpointReader::Parse((fs::path(dir_) / dense->file).string(), bytes));
  ASSIGN_OR_RETURN(std::string_view specs, r.Get(kSpecsTag));
  RETURN_IF_ERROR(client_->LoadShards(std::string(specs), files));
  return r;
}

}  // namespace ecps::launch
