// DHE, Deep Hash Embedding (docs/methods.md §2.8, CODE `dhe`), per field. A
// field compressed by DHE stores no rows: its field-local id x is encoded by
// k = num_hash universal hashes
//   h_i(x) = ((a_i·x + b_i) mod p_i) mod M,   M = num_buckets,
// a_i, b_i in [1, M), p_i a prime in [M, 2M) (exact 64-bit unsigned
// arithmetic, §4 item 7), into u_i = 2·h_i/(M − 1) − 1 (dist=uniform) or
// Box–Muller normals of hash pairs (dist=gaussian), and the field's own MLP
//   `layers` × [Linear(in→h_f), BatchNorm(h_f), Mish], Linear(h_f→d)
// maps the k encodings to the embedding. A field is kept full (its rows in the
// store table E) when its DHE form is not smaller.
//
// Dense state (compressor.h): every MLP weight, bias and BN affine (γ, β) is
// in DenseParams() (the trainer's dense optimizer steps it); the BN running
// mean and variance are DenseBuffers(), updated in DecodeBackward() of
// training batches (momentum 0.1, unbiased batch variance, as PyTorch) and
// used by evaluation decodes. BN uses eps 1e-5.
//
// SyncBN (sync_bn = true, the default): with the trainer's WorkerSums of W > 1
// workers attached, a training Decode all-reduces each BN layer's per-channel
// statistics (count, Σz and the sum of squared deviations, combined exactly)
// before normalising, and DecodeBackward the two sums the BN backward needs
// (Σ dx̂, Σ dx̂·x̂): every worker normalises by the global batch's statistics,
// as PyTorch's SyncBatchNorm, and the running statistics move by them (the
// trainer's average of DenseBuffers() is then a no-op). One all-reduce per
// field and layer in each direction. A failed all-reduce is kept and
// returned by AfterStep() of the same step; the step's later BN layers then
// use their local statistics.
//
// DenseParams layout, DHE fields in field order, each block:
//   for l < layers: W_l [h × in_l] (row-major, in_0 = k, else h), b_l [h],
//                   γ_l [h], β_l [h];
//   W_out [d × h], b_out [d].
// DenseBuffers layout, the same fields: for l < layers: mean_l [h], var_l [h].
//
// Budget (solver): per DHE field of width h,
//   bytes(h) = 4·((k+1)h + (layers−1)(h+1)h + (h+1)d + 4·layers·h) + 24k
// (weights, biases, BN affine and running statistics, and the 3k uint64 hash
// constants): everything an evaluation lookup reads. `shared`: the largest h
// in [1, ⌊√(nd)⌋] with Σ_f min(bytes(h), 4·n_f·d) <= the budget (the sum is
// monotone in h: integer bisection); `fill` (default): then the slack goes to
// the largest DHE fields first, h_f = h + 1 each while it fits; `authors`:
// CODE's word count (k+1)h + 4h(h+1) + (d+1)h + 10h against n·d·CR words,
// without the running statistics and hash constants (Criteo h = 3626 / 1372
// / 271 / 29), so Memory() reports a little over the budget. If even h = 1
// does not fit, h = 1 and the real ratio is reported.
//
// Memory: parameter = 4d·rows of E; auxiliary = the DHE fields' bytes(h_f)
// (dense parameters, running statistics, hash constants); inference =
// parameter + auxiliary.
//
// Thread-safety: as Compressor (Decode writes only plan.saved, and builds
// the MLPs under std::call_once if nothing did before).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/fork_join.h"
#include "common/mutex.h"
#include "compressors/compressor.h"

namespace ecps {

class DheEmbedding final : public Compressor {
 public:
  static constexpr char kName[] = "dhe";
  static constexpr char kStateMagic[9] = "ECPSDHE1";
  static constexpr float kBnEps = 1e-5f;
  static constexpr float kBnMomentum = 0.1f;
  // Declared parameters: num_hash, num_buckets, layers, dist, init, solver,
  // width, threshold, sync_bn.
  static ParamSchema Schema();
  static std::unique_ptr<Compressor> Create();

  // One field's hash constants.
  struct FieldHashes {
    std::vector<uint64_t> a, b, p;  // k each
    bool operator==(const FieldHashes&) const = default;
  };

  std::string Name() const override { return kName; }
  Status Init(const CompressorContext& ctx, const ParamSet& params) override;
  // {E: (Σ n_f of fields kept full) × d f32 U(±b)}; 0 rows if every field is DHE.
  std::vector<RowTableSpec> Tables() const override;
  // per_key {1}: the E row of a full field's key, kNoRow for a DHE field's;
  // the field-local keys go to plan.aux_index (the encodings are computed in
  // Decode, on the worker, straight into plan.saved).
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  // Full fields: the E row. DHE fields: per field one GEMM per layer over the
  // batch's keys of the field; training plans normalise by the batch
  // statistics, evaluation plans by the running ones.
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  // E rows get the output gradient (zeros for DHE keys); DenseGrads() is
  // overwritten with the MLPs' gradients; a training plan then moves the
  // running statistics towards its batch statistics.
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;
  std::span<float> DenseParams() override { return (EnsureDense(), params_); }
  std::span<float> DenseGrads() override { return (EnsureDense(), grads_); }
  std::span<float> DenseBuffers() override { return (EnsureDense(), buffers_); }
  void AttachWorkers(WorkerSums* workers) override { workers_ = workers; }
  // The error of a failed SyncBN all-reduce of this step, if any.
  Status AfterStep(int64_t step) override;
  MemoryReport Memory() const override;
  // The parameters and per-field widths, and a digest of the hash constants;
  // LoadState refuses a blob that differs from this Init's. The MLP weights
  // and running statistics are the trainer's (MDNS, MDBF checkpoint sections).
  std::string SaveState() const override;
  Status LoadState(const std::string& blob) override;

  // ------------------------------------------------ for tests and oracles --
  // The width h_f of field f; 0 means the field is kept full.
  int width(int f) const { return width_[f]; }
  int num_hash() const { return k_; }
  uint64_t num_buckets() const { return m_; }
  int layers() const { return layers_; }
  bool gaussian() const { return gaussian_; }
  bool sync_bn() const { return sync_bn_; }
  // Field f's hash constants (empty for a full field).
  const FieldHashes& hashes(int f) const { return hashes_[f]; }
  // Offsets of field f's block in DenseParams() and DenseBuffers().
  size_t param_offset(int f) const { return param_off_[f]; }
  size_t buffer_offset(int f) const { return buffer_off_[f]; }
  // Row of E where field f's rows start (full fields only).
  uint64_t full_offset(int f) const { return e_off_[f]; }
  // Dense parameters of one DHE field (floats).
  static uint64_t FieldParams(int k, int layers, int d, uint64_t h);
  // Inference bytes of one DHE field (bytes(h) above).
  static uint64_t FieldBytes(int k, int layers, int d, uint64_t h);
  // CODE's words for one DHE field (solver=authors).
  static uint64_t AuthorsWords(int k, int layers, int d, uint64_t h);
  // The encodings (ids.size() x k) of DHE field f's ids, as Decode computes
  // them. REQUIRES: width(f) != 0.
  void Encodings(int f, std::span<const uint32_t> ids, float* u) const;
  // Deterministic Miller–Rabin for 64-bit n (the p_i are drawn with it).
  static bool IsPrime(uint64_t n);

 private:
  // Field f's encodings u (n x k) of ids[j·stride], j < n: each distinct id
  // once, spread over pool_.
  void EncodeField(int f, const uint32_t* ids, size_t stride, int n, float* u) const;
  // A training plan's plan.saved layout for n keys: the DHE fields with keys
  // (in field order) and their blocks' offsets; returns the total floats.
  size_t TrainingBlocks(int n, std::vector<int>* fields, std::vector<size_t>* offs) const;
  // fn(0..items-1) over the pool with one BLAS thread each, or in order
  // (SyncBN's collective calls, one CPU).
  template <typename Fn>
  void RunFields(size_t items, bool synced, Fn&& fn) const;
  // One id's k hashes (hs, scratch of k doubles) and encodings (row).
  void EncodeRow(int f, uint64_t x, double* hs, float* row) const;
  // One field's MLP over its n keys; `saved` is its block of plan.saved,
  // holding every layer's activations with `keep` (training plans), else two
  // alternating layer slots.
  void ForwardField(int f, const uint32_t* keys, int n, bool training, bool keep, bool synced,
                    float* saved, float* out) const;
  void BackwardField(int f, int n, bool training, bool synced, const float* saved,
                     const float* grad_out);
  uint64_t HashDigest() const;
  // Whether a plan's BN statistics are summed over the workers.
  bool Synced(const LookupPlan& plan) const;
  // data <- its sum over the workers; false (and the error kept for
  // AfterStep) when the all-reduce fails or an earlier one did this step.
  bool SumOverWorkers(std::span<double> data) const;
  // Allocates and initialises the MLPs once per Init, on first use (thread-safe).
  void EnsureDense() const;
  void BuildDense() const;

  FeatureSpace space_;
  double init_bound_ = 0;
  int k_ = 1024;
  uint64_t m_ = 1000000;
  int layers_ = 5;
  bool gaussian_ = false;
  std::string init_ = "xavier";
  bool sync_bn_ = true;
  WorkerSums* workers_ = nullptr;  // not owned
  // The hashing's threads (null on one CPU); Run() is safe from any thread.
  std::unique_ptr<ForkJoinPool> pool_;
  mutable Mutex sync_mu_;
  mutable Status sync_error_ ABSL_GUARDED_BY(sync_mu_);
  std::vector<int> width_;  // per field; 0 = full
  std::vector<FieldHashes> hashes_;
  // Per hash constant: floor((2^64 - 1) / p), for the division-free mod p.
  std::vector<std::vector<uint64_t>> inv_p_;
  // The constants as doubles (and 1/p) where p < 2^26: the vectorised path.
  struct FieldDoubleHashes {
    std::vector<double> a, b, p, ip;
  };
  std::vector<FieldDoubleHashes> hashes_d_;
  std::vector<uint64_t> e_off_;
  uint64_t e_rows_ = 0;
  std::vector<size_t> param_off_, buffer_off_;
  // The MLPs, built lazily: an Init that only sizes the method (budget
  // tables, state checks) allocates nothing.
  uint64_t dense_seed_ = 0;
  size_t num_params_ = 0, num_buffers_ = 0;
  mutable std::unique_ptr<std::once_flag> dense_once_ = std::make_unique<std::once_flag>();
  mutable std::vector<float> params_, grads_, buffers_;
  // DecodeBackward scratch (kept across batches).
  std::vector<std::vector<float>> d_act_, d_pre_;  // per field
  // An evaluation plan's recomputed activations and outputs (DecodeBackward).
  std::vector<float> eval_saved_, eval_out_;
};

}  // namespace ecps
