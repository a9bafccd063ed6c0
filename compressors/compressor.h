// The compressed-embedding interface every method implements.
//
// A method is split into the four modules of the literature (docs/methods.md;
// docs/architecture.md has the per-method table):
//
//   1. encoding function   Encode(): feature -> references to stored rows
//   2. embedding layer     the stored rows, described by Tables() and held by a
//                          RowStore (embedding/row_store.h) -- locally or
//                          sharded over parameter servers -- in fp32, fp16,
//                          int8/int16 with scales, or sparse form
//   3. decoder             Decode()/DecodeBackward(): fetched rows (+ the
//                          method's own dense parameters: DHE MLP, TT cores are
//                          rows, MDE projections) -> one d-vector per feature
//   4. stage plan and      Stages(), BeginStage(), Observe(), AfterStep(),
//      auxiliary state     StageComplete(): frequency counters, masks
//
// One lookup of N keys runs:
//   plan = Encode(keys)                       // worker
//   values = store.Gather(plan.rows)          // local or remote (ps/)
//   Decode(plan, values) -> out [N x d]       // worker
// and the backward pass:
//   DecodeBackward(plan, values, dout) -> row grads (+ dense decoder grads)
//   store.Push(plan.rows, row grads)          // sparse optimizer on the owner
//
// Because rows are addressed by (table, row), any method's state can be
// sharded over servers row by row; that is how ps/ scales every method.
//
// Thread-safety: Encode, and Decode of evaluation plans, are const and may be
// called concurrently on different batches. Training-plan Decode and
// DecodeBackward are called by one thread, once per training step and in step
// order on every worker (a method holding WorkerSums makes its collective
// calls there). Init, BeginStage, AfterStep, Load are not concurrent.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/params.h"
#include "common/status.h"
#include "compressors/key_mapping.h"
#include "compressors/lookup_plan.h"
#include "compressors/stage_spec.h"
#include "compressors/storage.h"

namespace ecps {

// The shape of the feature space: per-field cardinalities and offsets.
struct FeatureSpace {
  std::vector<uint64_t> cardinalities;
  std::vector<uint64_t> offsets;
  int dim = 16;
  uint64_t total() const { return offsets.empty() ? 0 : offsets.back() + cardinalities.back(); }
  int num_fields() const { return static_cast<int>(cardinalities.size()); }
  uint64_t max_cardinality() const;
};

// Everything a method may read when it sizes itself.
struct CompressorContext {
  FeatureSpace space;
  double budget = 1.0;  // fraction of the full fp32 table's bytes (docs/methods.md §1.7)
  uint64_t seed = 0;
  // Train-split occurrence counts by global id (may be empty if not needed).
  std::span<const uint32_t> train_counts;
  // The row optimizer's learning rate (0: unknown). INT8's automatic code
  // step follows it: Adam moves a row element by about lr per step, and the
  // step has to be fine enough for that (docs/results.md, "INT8").
  double sparse_lr = 0;
  // The partitions of a keyed table (compressors/key_mapping.h): the model's
  // virtual shard count (cluster.virtual_shards), in one process too, so that
  // a mapping decides the same way wherever its partitions are held.
  int partitions = 1;
};

// Sums over the training workers, for a method whose decoder needs the
// global batch (DHE's synchronised BatchNorm). The trainer adapts its workers'
// collective (comm/collective.h; compressors/ does not depend on comm/).
// Every worker calls AllreduceSum in the same order with the same sizes (the
// collective contract): a method calls it only in training-plan Decode and
// DecodeBackward, which every worker runs once per training step.
class WorkerSums {
 public:
  virtual ~WorkerSums() = default;
  virtual int size() const = 0;
  // data <- its elementwise sum over the workers.
  virtual Status AllreduceSum(std::span<double> data) = 0;
};

class Compressor {
 public:
  virtual ~Compressor() = default;
  Compressor() = default;
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  // Config name ("full", "hash", ...).
  virtual std::string Name() const = 0;

  // Sizes the method for ctx.budget (its budget solver) and creates its
  // encoder/decoder state. `params` holds the method's declared parameters
  // (validated against its schema). Returns InvalidArgument naming the
  // parameter when a combination is impossible.
  virtual Status Init(const CompressorContext& ctx, const ParamSet& params) = 0;

  // The stored row tables, in a fixed order. May change only in BeginStage().
  virtual std::vector<RowTableSpec> Tables() const = 0;

  // Encodes N = keys.size() features. keys[i] is field-local; its field is
  // i % num_fields (the batch is sample-major). Fills `plan` (keeping its
  // `training` and `noise_seed`, which the caller sets).
  // REQUIRES: keys[i] < cardinalities[i % num_fields].
  virtual void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const = 0;

  // Builds the output vectors, out: [N x dim], from fetched rows.
  virtual void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const = 0;

  // Gradient of the loss w.r.t. each fetched row, in plan order: row_grads[t]
  // arrives sized like rows.values[t] and every element must be written.
  // Duplicated rows are *not* summed here (the store does it). Dense decoder
  // gradients (DenseGrads()) are overwritten with this batch's gradient.
  // Method-private parameters with their own rule (OptEmbed thresholds: SGD)
  // may be updated here directly.
  virtual void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                              const float* grad_out, FetchedRows* row_grads) = 0;

  // Dense decoder parameters (DHE MLP, MDE projections, ...): two flat
  // buffers of the same size, empty for most methods. The trainer keeps the
  // contract on every worker of every launch mode: after each training step
  // it all-reduces DenseGrads() together with the dense model's gradients
  // (averaged over the workers), steps DenseParams() with a dense optimizer of
  // their own (the optimizer.* settings; skipped in freeze_dense stages, reset
  // with reset_optimizer_state) and checkpoints both. Their size may change
  // only in BeginStage(); the trainer then re-creates that optimizer.
  virtual std::span<float> DenseParams() { return {}; }
  virtual std::span<float> DenseGrads() { return {}; }
  // Dense state that is not trained but follows the batches (DHE's
  // BatchNorm running mean and variance), empty for most methods. The
  // method updates it in DecodeBackward() of training batches; after each
  // training step the trainer averages it over the workers (an exponential
  // moving average is linear, so the average of the workers' updates keeps
  // every replica identical) and checkpoints it. Its size may change only in
  // BeginStage().
  virtual std::span<float> DenseBuffers() { return {}; }

  // Stage plan; most methods have a single "train" stage. Every StageSpec
  // flag is honoured by the trainer (compressors/stage_spec.h).
  virtual std::vector<StageSpec> Stages() const { return {StageSpec{"train"}}; }
  // Row access to the store that holds this method's tables (not owned),
  // given by the embedding layer after Init() and after every store reset.
  // Methods that do whole-table work (dedup, pruning thresholds, dimension
  // transfer, 4-bit range search, cluster splits) keep the pointer and use it
  // in BeginStage/InitStageRows/AfterStep; others ignore it. In a cluster
  // every worker's replica makes the same calls; only worker 0's writes reach
  // the servers.
  virtual void AttachRows(RowAccess* rows) {}
  // The sums over the training workers (not owned; null or never called: one
  // worker), given by the trainer after Init() on every worker of every
  // launch mode. A method that keeps it makes its collective calls only in
  // training-plan Decode/DecodeBackward and reports a failed one from
  // AfterStep() of the same step (Decode returns nothing).
  virtual void AttachWorkers(WorkerSums* workers) {}
  // Called before stage `index` (> 0) starts, while the store still holds the
  // previous stage's rows (the best checkpoint of the previous stage). May
  // replace Tables() (reshape); if it does, the store is re-created with the
  // new tables, re-attached, and InitStageRows(index) fills them (rows not
  // written keep their seeded init). InitStageRows(0) is also called once
  // after Init(), for methods that write their own initial values.
  virtual Status BeginStage(int index) { return OkStatus(); }
  // After a BeginStage(index) that changed Tables(): the rows of the new
  // tables that are copies of the previous stage's rows (Dedup's kept
  // blocks). The store makes them where the rows are -- in a cluster each
  // server from its own shards when a copy's source and destination rows
  // share their virtual shards -- so no row crosses the network
  // (RowStore::Reshape). Empty (the default): the new tables start from their
  // specs' initial values. InitStageRows(index) runs after the copies.
  virtual std::vector<RowCopy> StageCopies(int index) const { return {}; }
  virtual Status InitStageRows(int index) { return OkStatus(); }
  // Frequency counters: a method that returns true from ObservesKeys() gets
  // Observe() with the keys of every training step's *global* batch (all
  // workers' shares, in sample order, so replicas on every worker stay
  // identical) before that step's Encode. The trainer skips the gather of the
  // other workers' keys for methods that do not observe.
  virtual bool ObservesKeys() const { return false; }
  virtual void Observe(std::span<const uint32_t> keys) {}
  // After each training step (pruning schedules, code refresh, cluster
  // splits), with the 1-based optimizer step, on every worker. Rows written
  // here through RowAccess::WriteRows are seen by every worker's next read:
  // the servers apply the writes after the step's pushes of all workers, and
  // the trainer drops prefetched pulls and barriers the workers after a step
  // whose AfterStep wrote rows.
  virtual Status AfterStep(int64_t step) { return OkStatus(); }
  // An evaluation_search stage (StageSpec): the trainer calls NextCandidate()
  // until it returns false; after each true it scores the model as the
  // method now decodes (its candidate applied) on the validation split and
  // hands the score to ReportScore(): the AUC, or minus the log loss with
  // train.select_by=logloss (higher is better). In a cluster every worker
  // gets the coordinator's global score, so every replica proposes the same
  // next candidate. After the last, the method decodes its choice.
  virtual bool NextCandidate() { return false; }
  virtual void ReportScore(double score) {}
  // Asked by the trainer after each evaluation of a training stage (the
  // coordinator asks worker 0's answer in a cluster); true ends the current
  // stage regardless of early stopping (PEP stage 1 once the target prune
  // rate is reached). The stage's last evaluation is its final one.
  virtual bool StageComplete() { return false; }

  // Keyed tables (compressors/key_mapping.h): tables whose rows the plan
  // addresses by key and the store resolves through a mapping kind, whose
  // state is two more of Tables(). Empty for most methods. May change only
  // in BeginStage(); the embedding layer hands them to the store after every
  // reset or load of the rows.
  virtual std::vector<KeyMappingSpec> KeyMappings() const { return {}; }

  // Exact memory accounting (bytes) for the current stage and the final model.
  virtual MemoryReport Memory() const = 0;

  // Encoder/decoder state that is not in the row tables (hash seeds, maps,
  // dense decoder weights), as an opaque blob for checkpoints.
  virtual std::string SaveState() const { return {}; }
  virtual Status LoadState(const std::string& blob) { return OkStatus(); }
};

}  // namespace ecps
