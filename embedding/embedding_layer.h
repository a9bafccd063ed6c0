// The embedding layer the trainer talks to: a Compressor (the method) bound to
// a RowStore (where the rows live). It turns a batch's field-local ids into
// [N x dim] vectors and applies the backward pass.
//
// Thread-safety: one trainer thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "compressors/compressor.h"
#include "embedding/row_store.h"

namespace ecps {

class EmbeddingLayer {
 public:
  EmbeddingLayer(std::unique_ptr<Compressor> compressor, std::unique_ptr<RowStore> store);

  // Sizes the method and initialises the store.
  Status Init(const CompressorContext& ctx, const ParamSet& method_params);

  // out: [keys.size() x dim]. With training=true, keeps what Backward() needs.
  // values: empty (every key's value is 1: out is the method's vectors), or
  // one per key, the feature's value (libSVM/libFM/libFFM, Batch::values),
  // which multiplies its vector: out[k] = values[k] * vector(keys[k]); the
  // training Backward() then scales the gradient of key k by values[k].
  // Errors: the store's (a failed pull), with the method named.
  Status Forward(std::span<const uint32_t> keys, float* out, bool training,
                 std::span<const float> values = {});
  // The keys of a training step's whole global batch (every worker's share),
  // before that step's Forward(), for methods that count them
  // (Compressor::ObservesKeys/Observe); a no-op for the others.
  void Observe(std::span<const uint32_t> global_keys);
  bool observes_keys() const { return compressor_->ObservesKeys(); }
  // The keys of the next training batch, while the current one is computed:
  // encodes them with the method's current encoding and hints the plan to
  // the store (RowStore::Prefetch). If the training Forward() of those keys
  // encodes them differently (the method observed keys or changed its
  // mapping in between), the store just reads the rows it is asked for.
  void Prefetch(std::span<const uint32_t> keys);

  // grad_out: [N x dim] for the keys of the last training Forward().
  // Applies the sparse optimizer at global step `step` (1-based). Evaluation
  // Forward()s in between do not disturb it (they use their own buffers). The
  // trainer calls AfterStep(step) once the whole step is done. Errors: the
  // store's (a failed push).
  Status Backward(const float* grad_out, int64_t step);

  // Compressor::AfterStep(step). Returns how many WriteRows() calls the method
  // made through its RowAccess meanwhile: the trainer orders such writes
  // before every worker's next read (docs/architecture.md, "Stage plan").
  StatusOr<uint64_t> AfterStep(int64_t step);

  // Moves to stage `index` of compressor().Stages(): the method sees the old
  // rows (BeginStage); if its Tables() change the store is re-created and the
  // method fills the new rows (InitStageRows); otherwise the stage's
  // reinit_rows / reset_optimizer_state flags are applied to the store.
  Status BeginStage(int index);
  int stage() const { return stage_; }

  // Asked by the trainer after each evaluation (Compressor::StageComplete).
  bool StageComplete() { return compressor_->StageComplete(); }

  MemoryReport Memory() const;
  Compressor& compressor() { return *compressor_; }
  const Compressor& compressor() const { return *compressor_; }
  RowStore& store() { return *store_; }
  int dim() const { return dim_; }

  // Method state + store state (rows, optimizer state), the stage and the
  // noise counter, for checkpoints: a layer loaded from Save() continues
  // bit-identically. Load() requires a layer built with the same method and
  // Init()ed with the same context.
  // With with_rows = false the store's part is left empty (a cluster's
  // servers write the rows themselves); Load() of such a blob restores the
  // method only and expects the store to hold the matching rows already.
  // Errors: the store's Save() (a store without a one-blob checkpoint, asked
  // for its rows).
  StatusOr<std::string> Save(bool with_rows = true) const;
  Status Load(const std::string& blob);
  // The same blob streamed (the store's rows go between its arrays and the
  // sink or source in pieces: RowStore::SaveTo/LoadFrom), for a checkpoint
  // section written and read a chunk at a time. LoadFrom reads exactly one
  // blob from `src`, which must verify as it reads (a checkpoint section).
  // `method_state`: Compressor::SaveState() taken by the caller (a
  // checkpoint writes the section twice, counting then writing, and to
  // every file of one checkpoint: the method's state is taken once); null:
  // taken here.
  Status SaveTo(ByteSink* sink, bool with_rows = true,
                const std::string* method_state = nullptr) const;
  Status LoadFrom(ByteSource* src);

 private:
  // The noise seed of the forward-th training forward.
  uint64_t NoiseSeed(uint64_t forward) const;
  Status RunForward(std::span<const uint32_t> keys, float* out, bool training, LookupPlan* plan,
                    FetchedRows* values);
  void PrepareGrads();

  // The RowAccess a method gets: the store's, counting the method's writes.
  class CountingAccess final : public RowAccess {
   public:
    void Bind(RowAccess* rows) { rows_ = rows; }
    uint64_t writes() const { return writes_; }
    std::vector<RowTableSpec> StoredTables() const override { return rows_->StoredTables(); }
    Status ReadRows(int table, uint64_t begin, uint64_t count, float* out) const override {
      return rows_->ReadRows(table, begin, count, out);
    }
    Status WriteRows(int table, uint64_t begin, uint64_t count, const float* values,
                     const float* scale_zero = nullptr) override {
      ++writes_;
      return rows_->WriteRows(table, begin, count, values, scale_zero);
    }
    StatusOr<std::vector<double>> ReduceRows(const RowReduction& op) const override {
      return rows_->ReduceRows(op);
    }

   private:
    RowAccess* rows_ = nullptr;
    uint64_t writes_ = 0;
  };
  void AttachStore();
  // Hands the method's keyed tables (Compressor::KeyMappings) to the store:
  // after every reset or load of its rows.
  Status SetKeyMappings();

  std::unique_ptr<Compressor> compressor_;
  std::unique_ptr<RowStore> store_;
  CountingAccess access_;
  uint64_t seed_ = 0;
  int dim_ = 0;
  int stage_ = 0;
  uint64_t forward_count_ = 0;  // training forwards so far: the noise_seed counter
  bool has_training_batch_ = false;
  // Reused per-step buffers (training batch, and evaluation batches).
  LookupPlan plan_;
  FetchedRows values_;
  FetchedRows grads_;
  LookupPlan eval_plan_;
  LookupPlan next_plan_;  // Prefetch()'s
  FetchedRows eval_values_;
  // The last training Forward()'s feature values (empty: all 1) and the
  // gradient they scale in Backward().
  std::vector<float> train_values_;
  std::vector<float> scaled_grad_;
};

// The fields of an EmbeddingLayer::Save() blob, read without a layer to load
// them into (operator tools inspecting a checkpoint). Errors: DataLoss for a
// damaged or truncated blob.
struct SavedEmbedding {
  std::string method;  // Compressor::Name()
  int32_t stage = 0;
  uint64_t forward_count = 0;
  uint64_t seed = 0;
  int32_t dim = 0;
  std::string method_state;  // Compressor::SaveState()
  std::string store_state;   // RowStore::Save(); empty when saved without rows
};
StatusOr<SavedEmbedding> ParseEmbeddingBlob(const std::string& blob);
// The same fields read from `src` (one blob) without keeping the rows:
// `rows` is handed the store's part as a source (when there is one) and must
// read all of it; store_state stays empty. The blob's checksum is checked
// after `rows` returns.
StatusOr<SavedEmbedding> ReadEmbeddingBlob(ByteSource* src,
                                           const std::function<Status(ByteSource* rows)>& rows);

}  // namespace ecps
