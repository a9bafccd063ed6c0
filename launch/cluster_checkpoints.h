// A cluster's checkpoints (docs/formats.md "Sharded checkpoint"), the
// trainer's ShardedCheckpoints over the parameter servers and the
// coordinator: every server writes its own virtual shards, worker 0 the dense
// part, and the coordinator (the scheduler, or the simulation's stand-in)
// commits the manifest last. Loading goes through the manifest only, so a
// crash at any moment leaves the previous complete checkpoint loadable, and
// the shards are redistributed onto whatever server count the resuming run
// has.
//
// Thread-safety: one trainer thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "launch/cluster_config.h"
#include "ps/client.h"
#include "worker/checkpoint.h"

namespace ecps::launch {

class ClusterCheckpoints final : public ShardedCheckpoints {
 public:
  // Sends a commit request to the coordinator and waits for its answer.
  using CommitFn = std::function<Status(const std::string& request)>;
  // Test hook, run on worker 0 after every part of `generation` is written and
  // before the commit: an error stops the save there, as a crash would.
  using BeforeCommitFn = std::function<Status(uint64_t generation)>;

  // `dir` is output.dir (made absolute: servers and the scheduler may run in
  // other processes); `config_yaml` is recorded in each manifest.
  ClusterCheckpoints(const std::string& dir, const ClusterShape& shape, std::string config_yaml,
                     CommitFn commit, BeforeCommitFn before_commit = nullptr);

  // The worker's parameter-server client (set when the trainer creates its
  // store, before any Save/Load). Not owned.
  void set_client(ps::Client* client) { client_ = client; }

  bool Exists(const std::string& name) const override;
  Status Save(const std::vector<std::string>& names, CheckpointWriter dense) override;
  StatusOr<CheckpointReader> Load(const std::string& name) override;

 private:
  std::string dir_;
  ClusterShape shape_;
  std::string config_yaml_;
  CommitFn commit_;
  BeforeCommitFn before_commit_;
  ps::Client* client_ = nullptr;
  uint64_t next_generation_ = 0;  // 0: not yet read from the directory
};

}  // namespace ecps::launch
