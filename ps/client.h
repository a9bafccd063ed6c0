// The worker side of the parameter server: a RowStore whose rows live on the
// servers, so EmbeddingLayer and every method work over it unchanged.
//
// Gather() deduplicates each table's rows (a hot row crosses the network once
// per batch), slices them by owning server, sends every server its slice at
// once and scatters the replies back into plan order. Push() sums duplicate
// rows' gradients in plan order (exactly as LocalRowStore does, so 1 worker +
// 1 server reproduces the single-process trainer bit for bit) and sends each
// server its rows (every server gets a push each step: it is also the
// worker's clock tick). Under BSP it returns without waiting for the
// acknowledgements (the next read's min clock orders it after the push);
// they are collected by the next Push() or whole-store operation, which
// return the error of a failed push. Under SSP/ASP Push() waits for them.
//
// Whole-store operations (Reset, Load, ResetOptimizerState, WriteRows) are
// sent only by the primary client (worker 0); the others return at once, and
// the trainer barriers the workers after them. Whole-table work runs at the
// servers (docs/architecture.md "Whole-table work where the rows are"):
// ReduceRows() from any worker (a read); Reshape() from every worker, and
// the servers change the rows once every worker's request has arrived, so
// that no worker's reads of the old tables (the method's reductions in
// BeginStage()) can meet the new ones.
//
// Prefetch() sends the pull of the next batch's rows while the worker still
// computes the current one (ClientOptions::prefetch says when the servers
// serve it); the Gather() that asks for the same rows at the clock after the
// next push takes its reply. Any other Gather() leaves it pending; a
// whole-store operation drops it.
//
// Thread-safety: one thread at a time (the trainer's); PullAsync's future may
// be waited on from another thread.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "comm/rpc.h"
#include "embedding/row_store.h"
#include "ps/sharding.h"

namespace ecps::ps {

struct ClientOptions {
  int worker = 0;            // worker rank in [0, num_workers)
  std::vector<int> servers;  // node id of server s, s in [0, S)
  int virtual_shards = 1;
  Consistency consistency = Consistency::kBsp;
  int64_t staleness = 0;                       // SSP bound (ignored for BSP/ASP)
  PrefetchMode prefetch = PrefetchMode::kOff;  // see ps/sharding.h; kEager needs ASP/SSP
  bool primary = true;                         // worker 0 sends the whole-store operations
  SparseOptimizerConfig optimizer;             // for the memory report only (servers apply it)
  int timeout_ms = 600000;                     // per request
};

class Client final : public RowStore {
 public:
  // `rpc` must be started and outlive the client.
  Client(ClientOptions options, comm::Rpc* rpc);
  ~Client() override;

  Status Reset(const std::vector<RowTableSpec>& tables, uint64_t seed) override;
  Status Gather(const LookupPlan& plan, FetchedRows* values) const override;
  void Prefetch(const LookupPlan& plan) const override;
  Status Push(const LookupPlan& plan, const FetchedRows& grads, int64_t step) override;
  Status ResetOptimizerState() override;
  // Keyed tables: kept for the pushes (each key's count travels with it) and
  // sent by the primary to the servers, which resolve, count and advance the
  // mappings where the rows are. partitions must equal the virtual shards.
  Status SetKeyMappings(const std::vector<KeyMappingSpec>& specs, int partition = -1) override;
  // The servers' statistics of the keyed tables, merged (kStats with arg =
  // top); exactly the single process's for the same state.
  StatusOr<NamedKeyStats> KeyStatistics(int64_t step, int top) const override;
  uint64_t parameter_bytes() const override;
  uint64_t optimizer_bytes() const override;
  // RowStore's one-blob checkpoint is a capability this store lacks: the rows
  // stay on the servers, which write them themselves (SaveShards/LoadShards
  // below). Save() returns Unimplemented and Load() FailedPrecondition saying
  // so. EmbeddingLayer::Save(/*with_rows=*/false) does not call them.
  StatusOr<std::string> Save() const override;
  Status Load(const std::string& blob) override;
  std::vector<RowTableSpec> StoredTables() const override { return specs_; }
  Status ReadRows(int table, uint64_t begin, uint64_t count, float* out) const override;
  Status WriteRows(int table, uint64_t begin, uint64_t count, const float* values,
                   const float* scale_zero = nullptr) override;
  // Each server evaluates `op` over its virtual shards (one request each);
  // the client sums the servers' partial results. A block-pair agreement
  // whose block_rows is not a multiple of the virtual shards cannot be split
  // by shard: then the rows are read here (ReduceAllRows), with a warning
  // once per process.
  StatusOr<std::vector<double>> ReduceRows(const RowReduction& op) const override;
  // Every server rebuilds its virtual shards: the new tables as Reset()
  // makes them, then the copies. A copy whose source and destination rows
  // lie in the same virtual shards (dst_begin = src_begin mod V) is made by
  // each server from its own rows; the rows of any other copy are read by
  // the primary and sent with its request (a warning once per process).
  // Every worker calls it (the replicas' stage changes) and each returns
  // once the servers are done. On an error the servers' tables are
  // unchanged.
  Status Reshape(const std::vector<RowTableSpec>& tables, uint64_t seed,
                 std::span<const RowCopy> copies) override;

  // Asynchronous pull: the rows of `plan` as they are once the servers have
  // every worker's clock >= this worker's clock - staleness. The request is
  // sent before this returns (at the current clock); `plan` may change
  // afterwards. Errors are returned by the future.
  std::future<Status> PullAsync(const LookupPlan& plan, FetchedRows* values) const;

  // Sharded checkpoints (docs/formats.md "Sharded checkpoint"): the servers
  // write and read their virtual shards' blobs as files themselves, so no
  // row crosses the network for a checkpoint.
  struct ShardFile {
    int vshard = 0;
    std::string path;  // ps::internal::ShardFilePath(prefix, vshard)
    uint64_t bytes = 0;
    uint64_t checksum = 0;  // Checksum64 of the file
  };
  // Every server writes each virtual shard it owns to `prefix`.vs<v>.shard
  // (atomically), at the same clock a pull of this worker would see. Returns
  // one entry per virtual shard, ordered by vshard. Any worker may call it
  // (the launcher calls it on worker 0).
  StatusOr<std::vector<ShardFile>> SaveShards(const std::string& prefix) const;
  // Adopts `encoded_specs` (EncodedSpecs() of the saving run) and, on the
  // primary, has each server load the files of the virtual shards it owns
  // under the *current* server count, verifying each file's size and
  // checksum. REQUIRES: `files` holds every virtual shard once.
  Status LoadShards(const std::string& encoded_specs, const std::vector<ShardFile>& files);
  // The table specs in the wire encoding, for a checkpoint's dense part.
  std::string EncodedSpecs() const;

  // Statistics of every server (JSON array of Server::StatsJson()).
  StatusOr<std::string> ServerStats() const;
  int64_t clock() const { return clock_; }
  // Gather()s served by a Prefetch()'s pull (results, tests).
  uint64_t prefetch_hits() const { return prefetch_hits_; }
  const ShardMap& shards() const { return shards_; }

 private:
  struct Scratch;     // layouts of a pull (client.cc)
  struct Pull;        // a pull sent and not yet received (client.cc)
  struct Prefetched;  // Prefetch()'s pull and its own layouts (client.cc)
  // Deduplicates and lays out `plan`'s rows in p's layouts and sends each
  // server its slice with min clock `min_clock` and reader clock `reader`
  // (ps/wire.h kPull).
  Status SendPull(const LookupPlan& plan, int64_t min_clock, int64_t reader, Pull* p) const;
  // Waits for p's replies, checks them and scatters them into plan order.
  Status ReceivePull(Pull* p, FetchedRows* values) const;
  Status DoPull(const LookupPlan& plan, FetchedRows* values) const;
  // Takes the prefetched rows (*taken) if they are `plan`'s at this clock;
  // errors: the prefetched pull's.
  Status TakePrefetched(const LookupPlan& plan, FetchedRows* values, bool* taken) const;
  void DropPrefetch() const;
  static Scratch& ThreadScratch();  // the calling thread's layouts (Gather, Push)
  Status DoPush(const LookupPlan& plan, const FetchedRows& grads, int64_t step);
  StatusOr<comm::Message> CallServer(int s, comm::Message m) const;
  // Sends make(s) to every server s at once and waits for every reply;
  // errors name `what` and the server.
  Status CallEachServer(const std::function<comm::Message(int)>& make, const char* what) const;
  Status Broadcast(comm::Message m) const;  // the same request to every server
  // Waits for the acknowledgements of the last push, if not yet collected.
  Status WaitForPushes() const;
  // The min clock of a read by this worker at `clock` (kNoWait: none).
  int64_t MinClockForRead(int64_t clock) const;
  int64_t MinClockForRead() const { return MinClockForRead(clock_); }
  void SetSpecs(const std::vector<RowTableSpec>& tables);

  ClientOptions opt_;
  comm::Rpc* rpc_;
  ShardMap shards_;
  FastShardMap fast_shards_;  // shards_'s per-row functions without divisions
  std::vector<RowTableSpec> specs_;
  std::vector<KeyMappingSpec> mappings_;  // keyed tables (SetKeyMappings)
  int64_t clock_ = 0;                     // pushes sent so far
  mutable std::vector<std::future<StatusOr<comm::Message>>> pending_pushes_;
  mutable std::unique_ptr<Prefetched> prefetch_;  // created by the first Prefetch()
  mutable uint64_t prefetch_hits_ = 0;
  uint64_t param_bytes_ = 0, opt_bytes_ = 0;
};

}  // namespace ecps::ps
