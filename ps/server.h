// A parameter-server shard: owns the virtual shards v with v mod S == rank
// (ps/sharding.h) of every table, each a LocalRowStore of the rows it holds
// with their optimizer state, and serves pull/push/stage/checkpoint requests
// (ps/wire.h) arriving on its transport.
//
// Requests are received and handled by `threads` handler threads (one of
// them receives at a time, then handles what it received). Pulls of different (and the same)
// virtual shards run concurrently; a push locks only the virtual shards it touches. The row
// work of one big request is split by virtual shard over `row_threads` threads
// (common/fork_join.h), each shard's rows on one thread in request order, so sums and rounding
// draws do not depend on the thread count. A malformed request is answered with a kError reply (or,
// if it cannot even be decoded, counted and dropped); it never stops the server.
//
// Thread-safety: Start/Stop/Wait from the owning thread; Stats() and the
// counters from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "comm/transport.h"
#include "common/fork_join.h"
#include "common/mutex.h"
#include "common/status.h"
#include "embedding/row_store.h"
#include "ps/sharding.h"

namespace ecps::ps {

struct ServerOptions {
  int rank = 0;  // server index in [0, shards.num_servers)
  ShardMap shards;
  int num_workers = 1;
  Consistency consistency = Consistency::kBsp;
  SparseOptimizerConfig optimizer;
  int threads = 2;  // request handler threads
  // Threads that share the row work of one big request (its virtual-shard
  // runs), the handler thread included; 0: the CPUs this process may use
  // (UsableCpus(), common/cpu.h: its affinity mask). At most
  // one per virtual shard of this server is used.
  int row_threads = 0;
  int hot_keys = 8;  // hottest rows reported per table (see TableStats in server.cc)
  // The most this server allocates for the tables a reset or reshape (or a
  // load) asks for: its share of their rows in their dtype, their optimizer
  // state and the fp32 initial values drawn for them. Larger requests are
  // refused naming the sizes before anything is allocated, rather than the
  // row count of a message being allocated as it stands. 0: the memory this
  // process can have (AvailableMemoryBytes(), common/process_memory.h).
  uint64_t max_memory_bytes = 0;
};

class Server {
 public:
  // `transport` is bound by the caller and connected to every worker (replies
  // go to the request's sender); it must outlive the server.
  Server(ServerOptions options, comm::Transport* transport, int node_id);
  ~Server();  // Stop()

  void Start();
  // Returns once a kShutdown request has been served or Stop() was called.
  void Wait();
  void Stop();

  // Per-table statistics of this shard as JSON: {"server", "tables": [{name,
  // rows (global), rows_here, bytes, pulls, pushes, hot: [[row, estimated pulls]...]}],
  // "rejected_messages", "max_staleness"}.
  std::string StatsJson() const ABSL_LOCKS_EXCLUDED(tables_mu_);
  // The keyed tables' statistics of this server's shards at `step`
  // (RowStore::KeyStatistics, merged over its virtual shards).
  StatusOr<NamedKeyStats> KeyStatistics(int64_t step, int top) const
      ABSL_LOCKS_EXCLUDED(tables_mu_);
  uint64_t rejected_messages() const { return rejected_.load(); }
  // Whole-table reductions this server computed (identical requests of the
  // workers share one).
  uint64_t reductions_computed() const { return reductions_computed_.load(); }
  // Largest (pulling worker's clock - slowest worker's clock) seen when a
  // pull was served: the staleness actually observed (SSP tests).
  int64_t max_staleness() const { return max_staleness_.load(); }

 private:
  struct VShard {
    VShard(int id, std::unique_ptr<RowStore> store) : id(id), store(std::move(store)) {}

    const int id;
    mutable SharedMutex mu;
    // The rows, and the pointer, under mu. The pointer is replaced (Reset,
    // Load) with tables_mu_ held exclusive too, so that it matches specs_
    // for a request that holds tables_mu_ shared.
    std::unique_ptr<RowStore> store ABSL_GUARDED_BY(mu) ABSL_PT_GUARDED_BY(mu);
  };
  struct TableStats;

  void HandlerLoop();
  void Enqueue(comm::Message m) ABSL_LOCKS_EXCLUDED(queue_mu_);
  void Handle(comm::Message m);
  // Serves `m` now or parks it until it is Ready().
  bool ParkIfEarly(comm::Message* m) ABSL_LOCKS_EXCLUDED(clock_mu_);
  // Every worker's clock has reached m's min clock (wire.h GetMinClock) and, for a
  // pull, the reader's own pushes up to its clock (GetPullFields) are applied:
  // a pull sent ahead of the reader's push (ps::Client::Prefetch) waits for
  // it.
  bool Ready(const comm::Message& m) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(clock_mu_);
  void ReleaseParked() ABSL_LOCKS_EXCLUDED(clock_mu_, queue_mu_);
  // Each takes tables_mu_ itself (and, below it, the virtual shards' locks).
  Status HandlePull(const comm::Message& m, comm::Message* reply) ABSL_LOCKS_EXCLUDED(tables_mu_);
  Status HandlePush(comm::Message m) ABSL_LOCKS_EXCLUDED(tables_mu_, clock_mu_);
  Status ApplyPushes(const std::vector<const comm::Message*>& msgs, int64_t opt_step)
      ABSL_LOCKS_EXCLUDED(tables_mu_);
  Status HandleReset(const comm::Message& m) ABSL_LOCKS_EXCLUDED(tables_mu_);
  Status HandleSave(const comm::Message& m, comm::Message* reply) ABSL_LOCKS_EXCLUDED(tables_mu_);
  Status HandleLoad(const comm::Message& m) ABSL_LOCKS_EXCLUDED(tables_mu_);
  Status HandleReadRows(const comm::Message& m, comm::Message* reply)
      ABSL_LOCKS_EXCLUDED(tables_mu_);
  Status HandleWriteRows(const comm::Message& m) ABSL_LOCKS_EXCLUDED(tables_mu_);
  // Keyed tables (compressors/key_mapping.h): every virtual shard gets its
  // partition of the mappings; AdvanceKeyMappings runs their end-of-step work
  // once a step's pushes of every worker are applied.
  Status HandleKeyMappings(const comm::Message& m) ABSL_LOCKS_EXCLUDED(tables_mu_);
  Status AdvanceKeyMappings(int64_t step) ABSL_LOCKS_EXCLUDED(tables_mu_);
  // Whole-table work (docs/architecture.md "Whole-table work where the
  // rows are"): a reduction over this server's virtual shards, and a
  // reshape that every worker requests (wire.h kReshape). *later: the
  // request's reply is sent elsewhere (by the handler of the last worker's
  // request), not by Handle().
  // Identical requests (every worker's replica asks for the same reduction)
  // are computed once while the rows stay unchanged: a request that finds
  // the same op in flight waits for its result (*later), one that finds it
  // computed takes it.
  Status HandleReduceRows(const comm::Message& m, comm::Message* reply, bool* later)
      ABSL_LOCKS_EXCLUDED(tables_mu_, reduce_mu_);
  StatusOr<comm::Buffer> ComputeReduction(const comm::Message& m) const
      ABSL_LOCKS_EXCLUDED(tables_mu_);
  // Brackets every change of the rows (before and after), so that a
  // reduction computed across a change is not reused.
  void RowsChanged() { rows_version_.fetch_add(1); }
  Status HandleReshape(comm::Message m, bool* later) ABSL_LOCKS_EXCLUDED(tables_mu_, reshape_mu_);
  // Checks a reshape request against the tables held now (specs, copies,
  // payload counts), before it waits for the other workers' requests.
  Status CheckReshape(const comm::Message& m) const ABSL_LOCKS_EXCLUDED(tables_mu_);
  // Rebuilds every virtual shard from the workers' requests (worker order).
  Status ApplyReshape(const std::vector<comm::Message>& all) ABSL_LOCKS_EXCLUDED(tables_mu_);
  // Checks the specs of a reset, reshape or load (`what`) before anything is
  // drawn or allocated for them: each as a locally built table is checked
  // (CheckRowTableSpec: a RowInit it draws, dtype, width, size), and this
  // server's share of them against max_memory_bytes (ResourceExhausted).
  Status CheckArrivingSpecs(const std::vector<RowTableSpec>& specs, const char* what) const;
  // The initial rows of `specs` from `seed` that this server holds, as
  // Reset() draws them: per slot k, the local specs (its rows, no
  // initialiser) and the fp32 values of each table. REQUIRES: the specs
  // passed CheckArrivingSpecs.
  void InitialShards(const std::vector<RowTableSpec>& specs, uint64_t seed,
                     std::vector<std::vector<RowTableSpec>>* local,
                     std::vector<std::vector<std::vector<float>>>* values) const;
  Status CheckRows(int table, std::span<const uint64_t> rows) const
      ABSL_SHARED_LOCKS_REQUIRED(tables_mu_);
  // specs_ = specs, with the statistics of tables that stay.
  void SetSpecs(std::vector<RowTableSpec> specs) ABSL_EXCLUSIVE_LOCKS_REQUIRED(tables_mu_);
  // A run of rows of one virtual shard within a request: the unit of row
  // work (one shared lock, one bulk read).
  struct ReadRun {
    VShard* vs = nullptr;
    int table = 0;
    std::span<const uint64_t> local;  // ids local to the virtual shard
    float* out = nullptr;             // local.size() x width
    bool keys = false;                // `local` are keys of a keyed table (a pull)
  };
  // Splits global `rows` of `table` (checked) into runs of one virtual shard
  // each, appended to *runs, whose values go to out [rows x width] and whose
  // local ids are written to local[0, rows.size()).
  // `keys`: a pull, whose ids of a keyed table are keys (read through the
  // table's mapping); otherwise rows (RowAccess).
  Status PlanReads(int table, std::span<const uint64_t> rows, float* out, uint64_t* local,
                   std::vector<ReadRun>* runs, bool keys = false) const
      ABSL_SHARED_LOCKS_REQUIRED(tables_mu_);
  // Reads the runs (of `rows` rows in all), in parallel if that is many,
  // and calls `also`, if set, as one more item of the same row work.
  Status ReadRuns(std::span<const ReadRun> runs, size_t rows,
                  const std::function<void()>& also = nullptr) const;
  // fn(0..items-1) for a request's row work over `rows` rows: on the calling
  // thread if that is few, else spread over row_pool_.
  void RowWork(size_t rows, size_t items, const std::function<void(size_t)>& fn) const;
  // The coded pull payload (ps/wire.h) of global `rows` of a CodedPull()
  // table (checked): codes, then per-row parameters, read per virtual shard
  // under its shared lock. False (and *out unspecified) if a row's stored
  // parameters cannot travel in the table's scale_dtype: send fp32 instead.
  StatusOr<bool> ReadGlobalCodes(int table, std::span<const uint64_t> rows,
                                 std::vector<uint8_t>* out) const
      ABSL_SHARED_LOCKS_REQUIRED(tables_mu_);
  VShard* Owner(uint64_t row) const;
  int64_t MinClock() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(clock_mu_);

  const ServerOptions opt_;
  const FastShardMap fast_shards_;  // opt_.shards's per-row functions without divisions
  comm::Transport* transport_;
  const int node_id_;
  std::vector<std::unique_ptr<VShard>> vshards_;  // slot k holds vshard rank + k*S

  // specs_ and every VShard::store pointer: shared for requests, exclusive
  // for Reset/Load.
  mutable SharedMutex tables_mu_;
  std::vector<RowTableSpec> specs_ ABSL_GUARDED_BY(tables_mu_);
  std::vector<std::unique_ptr<TableStats>> stats_ ABSL_GUARDED_BY(tables_mu_);
  // The keyed tables' mappings (cleared with every change of specs_), and per
  // table the keys a keyed table's requests may carry (0: not keyed).
  std::vector<KeyMappingSpec> mappings_ ABSL_GUARDED_BY(tables_mu_);
  std::vector<uint64_t> key_limit_ ABSL_GUARDED_BY(tables_mu_);

  Mutex queue_mu_;
  CondVar queue_cv_;
  std::deque<comm::Message> queue_ ABSL_GUARDED_BY(queue_mu_);  // released parked requests
  bool receiving_ ABSL_GUARDED_BY(queue_mu_) = false;           // a handler thread is in Recv()
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;

  Mutex clock_mu_;
  std::vector<int64_t> clocks_ ABSL_GUARDED_BY(clock_mu_);  // per worker
  // clock -> pushes
  std::map<int64_t, std::vector<comm::Message>> bsp_pending_ ABSL_GUARDED_BY(clock_mu_);
  std::vector<comm::Message> parked_ ABSL_GUARDED_BY(clock_mu_);

  // Reshape requests waiting for the other workers' (slot w: worker w's,
  // kInvalid until it arrives).
  Mutex reshape_mu_;
  std::vector<comm::Message> reshape_pending_ ABSL_GUARDED_BY(reshape_mu_);

  // The reduction being computed and the last one computed (HandleReduceRows).
  struct Reduction {
    std::string key;       // the op's payloads
    uint64_t version = 0;  // rows_version_ when it started
    std::vector<comm::Header> waiting;
    comm::Buffer result;
  };
  Mutex reduce_mu_;
  std::unique_ptr<Reduction> reduce_inflight_ ABSL_GUARDED_BY(reduce_mu_);
  std::unique_ptr<Reduction> reduce_done_ ABSL_GUARDED_BY(reduce_mu_);
  std::atomic<uint64_t> rows_version_{0};
  mutable std::atomic<uint64_t> reductions_computed_{0};
  // Results up to this size are kept for the next identical request.
  static constexpr size_t kKeptReductionBytes = size_t{16} << 20;

  std::atomic<uint64_t> rejected_{0};
  std::atomic<int64_t> max_staleness_{0};
  Mutex done_mu_;
  CondVar done_cv_;
  bool done_ ABSL_GUARDED_BY(done_mu_) = false;
  std::vector<std::thread> handlers_;
  bool started_ = false;
  // Requests of fewer rows do their row work on the handler thread alone: a
  // pool thread's wake-up would cost more than it saves.
  static constexpr size_t kParallelRows = 1024;
  std::unique_ptr<ForkJoinPool> row_pool_;
};

}  // namespace ecps::ps
