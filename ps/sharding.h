// Where a row lives (docs/architecture.md "How a parameter server shards the
// rows"): row r of every table belongs to virtual shard r mod V at local
// index r div V, and virtual shard v is served by server v mod S. V is fixed
// for the life of a model (it is recorded in checkpoints); S may change
// between a checkpoint and the run that resumes from it, because a checkpoint
// is one blob per virtual shard.
//
// Thread-safety: immutable value type.
#pragma once

#include <cstdint>

namespace ecps::ps {

struct ShardMap {
  int num_servers = 1;
  int virtual_shards = 1;

  int VShardOf(uint64_t row) const { return static_cast<int>(row % virtual_shards); }
  uint64_t LocalRow(uint64_t row) const { return row / virtual_shards; }
  uint64_t GlobalRow(int vshard, uint64_t local) const {
    return local * virtual_shards + static_cast<uint64_t>(vshard);
  }
  int ServerOfVShard(int vshard) const { return vshard % num_servers; }
  int ServerOf(uint64_t row) const { return ServerOfVShard(VShardOf(row)); }
  // Rows of a table of `rows` rows held by virtual shard `vshard`.
  uint64_t RowsInVShard(uint64_t rows, int vshard) const {
    const uint64_t v = static_cast<uint64_t>(vshard);
    return rows > v ? (rows - v + virtual_shards - 1) / virtual_shards : 0;
  }
};

// Consistency model of the sparse updates (the item 4).
//   kBsp: a step's pushes from all workers are summed (in worker order) and
//         applied once; a pull for step t sees exactly steps < t.
//   kSsp: pushes apply on arrival; a pull by a worker at clock c waits until
//         every worker has pushed clock c - staleness.
//   kAsp: pushes apply on arrival; pulls never wait.
enum class Consistency : uint8_t { kBsp = 0, kAsp = 1, kSsp = 2 };

}  // namespace ecps::ps
