// The compressed-embedding interface every method implements.
//
// A method is split into the four modules of the literature (methods.md,
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
//   4. stage plan and      Stages(), BeginStage(), Observe(), AfterStep():
//      auxiliary state     frequency counters, masks, architecture weights
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
// Thread-safety: Encode/Decode/DecodeBackward are const-like and may be called
// concurrently on different batches; Init, BeginStage, AfterStep, Load are not.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/params.h"
#include "common/status.h"

namespace ecps {

// Storage element types. Values reach disk and wire: never renumber.
enum class DType : uint8_t {
  kF32 = 0,
  kF16 = 1,
  kI8 = 2,   // signed int8 codes
  kI16 = 3,  // signed int16 codes
  kU8 = 4,   // unsigned int8 codes
  kU16 = 5,  // unsigned int16 codes
  kI32 = 6,  // ids / maps / codes (not trainable)
  kU4 = 7,   // packed 4-bit codes, two per byte
};
size_t DTypeBits(DType t);
const char* DTypeName(DType t);

// How quantized codes map to values. Values reach disk: never renumber.
enum class QuantScheme : uint8_t {
  kNone = 0,    // fp32/fp16/int map: value = stored value
  kGlobal = 1,  // value = code * scale + zero (one scale/zero per table)
  kPerRow = 2,  // value = code * scale[row] + zero[row] (fp16 or fp32 pairs per row)
};

// Rounding used when a trained fp32 value is written back into a low-precision
// table (methods.md §2.16, §2.17, §4 item 6).
enum class Rounding : uint8_t { kNearest = 0, kStochasticPerElement = 1, kStochasticPerRow = 2 };

// Initial distribution of a table's elements. Values reach disk: never renumber.
enum class RowInit : uint8_t {
  kUniform = 0,      // U(-init_bound, init_bound) (methods.md §1.3); bound 0 gives zeros
  kConstant = 1,     // every element = init_value (MEmCom w = 1, b = 0; PEP g)
  kNormalTails = 2,  // N(0,1) keeping only |z| >= 2, times init_value (TT-Rec cores, §2.7)
};

// One stored table of rows: the unit a parameter server shards.
struct RowTableSpec {
  std::string name;  // "E", "Q", "R", "core0", "M" (ROBE), "remap", ...
  uint64_t rows = 0;
  int width = 0;  // elements per row
  DType dtype = DType::kF32;
  QuantScheme quant = QuantScheme::kNone;
  Rounding rounding = Rounding::kNearest;
  double scale = 1.0, zero = 0.0;  // for QuantScheme::kGlobal
  bool trainable = true;           // rows get sparse-optimizer state
  // Initial values: U(-init_bound, init_bound) (methods.md §1.3); 0 disables.
  double init_bound = 0.0;
  RowInit init = RowInit::kUniform;
  double init_value = 0.0;  // kConstant: the value; kNormalTails: the scale sigma
  // QuantScheme::kPerRow only: storage type of each row's (scale, zero) pair
  // (kF32 or kF16). Without learn_scale the pair is recomputed from the row's
  // min/max on every optimizer write-back (MixedPrec, INT8 use_qparam), unless
  // set explicitly through RowAccess::WriteRows (Post4Bits' range search).
  DType scale_dtype = DType::kF32;
  // ALPT (§2.18): the per-row scale is learned (LSQ gradient, its own Adam with
  // lr scale_lr sharing the global step); zero is fixed at 0 and `scale` is the
  // initial value.
  bool learn_scale = false;
  double scale_lr = 0.0;

  bool operator==(const RowTableSpec&) const = default;
};

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
  double budget = 1.0;  // fraction of the full fp32 table's bytes (methods.md §1.7)
  uint64_t seed = 0;
  // Train-split occurrence counts by global id (may be empty if not needed).
  std::span<const uint32_t> train_counts;
  // The row optimizer's learning rate (0: unknown). INT8's automatic code
  // step follows it: Adam moves a row element by about lr per step, and the
  // step has to be fine enough for that (docs/results.md, "INT8").
  double sparse_lr = 0;
};

// Sentinel row id meaning "contributes zeros" (e.g. AdaptEmb's out-of-range lookup).
inline constexpr uint64_t kNoRow = ~0ull;

// Marks a table whose rows per key vary (CSR/COO lookups, §1.8): key i then owns
// rows[t][aux_index[offset_base + i] .. aux_index[offset_base + i + 1]) with the
// method documenting where its offsets start in aux_index.
inline constexpr int kVariableRows = -1;

// What Encode() produces for N keys: for each table t, `per_key[t]` row ids per
// key, key-major: rows[t][i * per_key[t] + j]. Methods that need per-key side
// information for decoding (signs, field ids, coefficients) keep it in `aux`
// (floats) or `aux_index` (integers: groups, CSR offsets, codes).
//
// The store reads only `rows` (a flat list per table); every other field is
// private to the method. A plan is reused across batches: Reset() keeps the
// buffers' capacity so the steady state allocates nothing.
struct LookupPlan {
  int num_keys = 0;
  std::vector<int> per_key;                 // size = Tables().size()
  std::vector<std::vector<uint64_t>> rows;  // size = Tables().size()
  std::vector<float> aux;                   // method-defined
  std::vector<uint32_t> aux_index;          // method-defined
  // Set by the caller before Encode(); Reset() leaves them alone.
  bool training = false;    // training-mode decode (batch statistics, noise, STE)
  uint64_t noise_seed = 0;  // per-batch seed for training noise (Gumbel, column masks)
  // Activations Decode() keeps for DecodeBackward() of the same batch (DHE
  // MLP, BN statistics). Mutable because Decode() is const; a plan is used by
  // one thread at a time.
  mutable std::vector<float> saved;
  void Reset(int n, size_t num_tables) {
    num_keys = n;
    per_key.assign(num_tables, 0);
    rows.resize(num_tables);
    for (auto& r : rows) r.clear();
    aux.clear();
    aux_index.clear();
    saved.clear();
  }
};

// Rows fetched for a plan, dequantized to fp32: values[t] has
// rows[t].size() * width(t) floats, in plan order. kNoRow rows are zeros.
struct FetchedRows {
  std::vector<std::vector<float>> values;
};

// One stage of a multi-stage method (methods.md §1.9).
struct StageSpec {
  std::string name;                    // "train", "warmup", "search", "retrain", "prune", ...
  bool reset_optimizer_state = false;  // fresh Adam state at the start of the stage
  bool freeze_dense = false;           // dense MLP not updated (AutoSrh search)
  bool post_training = false;          // no training steps: a transform (Post4Bits, Dedup)
  // Rows re-initialised from the run's seed, i.e. the very same initial values
  // as stage 0 (PEP's lottery-ticket rewinding, §2.24).
  bool reinit_rows = false;
  // Each training step is followed by one validation batch whose gradient
  // updates only the method's architecture parameters (AutoDim alpha, AutoSrh
  // alpha): EmbeddingLayer::ArchForward/ArchBackward -> UpdateArchitecture().
  bool arch_on_validation = false;
  // No training: the trainer scores candidates proposed by the method on the
  // validation split (OptEmbed's evolutionary search, §2.22):
  //   while (NextCandidate()) ReportScore(validation AUC);
  bool evaluation_search = false;
};

// Row-level access to the tables as stored, for the rare whole-table work of
// stage changes and schedules (dedup, pruning thresholds, dimension transfer,
// post-training quantisation). The local store implements it directly; the
// parameter-server client implements it with chunked pulls/pushes. Not for the
// per-batch path (use LookupPlan + Gather/Push there).
class RowAccess {
 public:
  virtual ~RowAccess() = default;
  // The tables currently held, in order.
  virtual std::vector<RowTableSpec> StoredTables() const = 0;
  // out: [count x width] dequantized fp32 values of rows [begin, begin+count).
  virtual Status ReadRows(int table, uint64_t begin, uint64_t count, float* out) const = 0;
  // Writes [count x width] fp32 values, converted to the table's dtype with its
  // rounding. For QuantScheme::kPerRow tables `scale_zero` ([count x 2]) fixes
  // each row's (scale, zero); null derives them as for an optimizer write.
  // Optimizer state of the rows is left as is.
  virtual Status WriteRows(int table, uint64_t begin, uint64_t count, const float* values,
                           const float* scale_zero = nullptr) = 0;
};

// Exact memory accounting in bytes (methods.md §1.6).
struct MemoryReport {
  uint64_t inference_bytes = 0;  // everything a lookup needs at inference
  uint64_t parameter_bytes = 0;  // trainable state as stored during training
  uint64_t optimizer_bytes = 0;  // optimizer state (filled in by the RowStore's optimizer)
  uint64_t auxiliary_bytes = 0;  // counters, masks, maps, architecture weights
  uint64_t training_bytes() const { return parameter_bytes + optimizer_bytes + auxiliary_bytes; }
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

  // Dense decoder parameters (DHE MLP, MDE projections, ...): flat buffers
  // updated by the trainer's dense optimizer after each step. Empty for most
  // methods. Architecture parameters are not in here (UpdateArchitecture).
  virtual std::span<float> DenseParams() { return {}; }
  virtual std::span<float> DenseGrads() { return {}; }

  // Stage plan; most methods have a single "train" stage.
  virtual std::vector<StageSpec> Stages() const { return {StageSpec{"train"}}; }
  // Row access to the store that holds this method's tables (not owned),
  // given by the embedding layer after Init() and after every store reset.
  // Methods that do whole-table work (dedup, pruning thresholds, dimension
  // transfer, 4-bit range search, cluster splits) keep the pointer and use it
  // in BeginStage/InitStageRows/AfterStep/StageComplete; others ignore it.
  virtual void AttachRows(RowAccess* rows) {}
  // Called before stage `index` (> 0) starts, while the store still holds the
  // previous stage's rows. May replace Tables() (reshape); if it does, the
  // store is re-created with the new tables, re-attached, and
  // InitStageRows(index) fills them (rows not written keep their seeded init).
  // InitStageRows(0) is also called once after Init(), for methods that write
  // their own initial values.
  virtual Status BeginStage(int index) { return OkStatus(); }
  virtual Status InitStageRows(int index) { return OkStatus(); }
  // Sees every training batch's keys before Encode (frequency counters).
  virtual void Observe(std::span<const uint32_t> keys) {}
  // After each optimizer step (pruning schedules, code refresh, cluster
  // splits); called by the trainer.
  virtual void AfterStep(int64_t step) {}
  // Asked by the trainer after each evaluation; true ends the current stage
  // regardless of early stopping (PEP stage 1 once the target prune rate is
  // reached).
  virtual bool StageComplete() { return false; }
  // Search stages (StageSpec::arch_on_validation): applies the method's own
  // update rule (SGD, gradient normalisation, clipping) to its architecture
  // parameters from the last DecodeBackward() of a validation batch.
  virtual void UpdateArchitecture(int64_t step) {}
  // Evaluation-driven search (StageSpec::evaluation_search): installs the next
  // candidate and returns true, or installs the best one and returns false.
  virtual bool NextCandidate() { return false; }
  virtual void ReportScore(double score) {}

  // Exact memory accounting (bytes) for the current stage and the final model.
  virtual MemoryReport Memory() const = 0;

  // Encoder/decoder state that is not in the row tables (hash seeds, maps,
  // dense decoder weights), as an opaque blob for checkpoints.
  virtual std::string SaveState() const { return {}; }
  virtual Status LoadState(const std::string& blob) { return OkStatus(); }
};

// Registry of methods: name -> (description, parameter schema, factory).
struct CompressorInfo {
  std::string name;
  std::string family;  // "baseline", "hashing", "quantization", ...
  std::string description;
  ParamSchema schema;  // the method's declared parameters
  std::unique_ptr<Compressor> (*create)();
};

// Every registered method, in registry.cc's order.
const std::vector<CompressorInfo>& CompressorRegistry();
const CompressorInfo* FindCompressor(const std::string& name);
// Creates a method by config name; the error lists every registered name.
StatusOr<std::unique_ptr<Compressor>> CreateCompressor(const std::string& name);

}  // namespace ecps
