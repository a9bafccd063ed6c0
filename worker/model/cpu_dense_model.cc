#include "worker/model/cpu_dense_model.h"

#include <omp.h>

#include <algorithm>
#include <utility>

#include "common/check.h"
#include "common/rng.h"
#include "worker/model/blas.h"
#include "worker/model/cpu_kernels.h"
#if defined(ECPS_HAVE_CUDA)
#include "worker/model/cuda/cuda_dense_model.h"
#endif

namespace ecps::model {
namespace {

// Below this many rows per shard the per-shard GEMMs get too thin to pay for
// a second thread; such batches use fewer shards.
constexpr int kMinShardRows = 16;

}  // namespace

template <typename T>
StatusOr<std::unique_ptr<CpuDenseNet<T>>> CpuDenseNet<T>::Create(const DenseModelConfig& config,
                                                                 uint64_t seed) {
  ASSIGN_OR_RETURN(std::unique_ptr<DenseNet<T>> net, MakeDenseNet<T>(config));
  const int threads = config.threads > 0 ? config.threads : std::max(1, omp_get_num_procs());
  std::unique_ptr<CpuDenseNet<T>> m(new CpuDenseNet<T>(std::move(net), threads));
  Rng rng(seed);
  m->net_->layout().Initialize(m->params_.data(), rng);
  return m;
}

template <typename T>
CpuDenseNet<T>::CpuDenseNet(std::unique_ptr<DenseNet<T>> net, int threads)
    : net_(std::move(net)),
      threads_(threads),
      params_(net_->layout().size()),
      grads_(net_->layout().size()) {
  if (threads_ > 1) pool_ = std::make_unique<ForkJoinPool>(DensePoolOptions(threads_));
}

template <typename T>
void CpuDenseNet<T>::Plan(int batch) {
  // "auto" means shards. Measured with model_bench / a windowed driver on the
  // 2-core box: OpenBLAS's own OpenMP team (mode "blas") lost at batch 128,
  // 512 and 4096, and collapsed (2-20x slower, spinning) whenever the other
  // core was busy, because an OpenMP region cannot end before every team
  // member has run. Shards on the ForkJoinPool degrade to one-core speed instead.
  const std::string& mode = net_->config().cpu_parallel;
  const bool use_blas = threads_ > 1 && mode == "blas";
  const int shards = use_blas ? 1 : std::clamp(batch / kMinShardRows, 1, threads_);
  blas_threads_ = use_blas ? threads_ : 1;
  if (shards_.size() < static_cast<size_t>(shards)) shards_.resize(shards);
  active_ = shards;
  for (int s = 0; s < shards; ++s) {
    Shard& sh = shards_[s];
    sh.begin = static_cast<int>(static_cast<int64_t>(batch) * s / shards);
    sh.rows = static_cast<int>(static_cast<int64_t>(batch) * (s + 1) / shards) - sh.begin;
    const size_t need = net_->WorkspaceSize(sh.rows);
    if (sh.ws.size() < need) sh.ws.resize(need);
    if (s > 0 && sh.grads.size() != grads_.size()) sh.grads.resize(grads_.size());
  }
  batch_ = batch;
}

template <typename T>
void CpuDenseNet<T>::Forward(int batch, const T* dense, const T* emb, T* logits) {
  ECPS_CHECK_GT(batch, 0);
  const DenseModelConfig& c = net_->config();
  ECPS_CHECK(dense != nullptr || c.num_dense == 0) << "dense features missing";
  Plan(batch);
  const size_t ed = static_cast<size_t>(c.num_fields) * c.dim;
  const int shards = static_cast<int>(active_);
  const T* params = params_.data();
  auto run = [&](int s) {
    Shard& sh = shards_[s];
    net_->Forward(sh.rows, params, dense == nullptr ? nullptr : dense + sh.begin * c.num_dense,
                  emb + sh.begin * ed, sh.ws.data(), logits + sh.begin);
  };
  if (shards == 1) {
    ScopedBlasThreads blas(blas_threads_);
    run(0);
    return;
  }
  // Shards are fixed row ranges, so whichever thread runs one, the result is
  // the same (common/fork_join.h).
  pool_->Run(shards, run);
}

template <typename T>
void CpuDenseNet<T>::Backward(const T* dlogits, T* demb) {
  ECPS_CHECK_GT(batch_, 0) << "Backward() without Forward()";
  const DenseModelConfig& c = net_->config();
  const size_t ed = static_cast<size_t>(c.num_fields) * c.dim;
  const int shards = static_cast<int>(active_);
  const T* params = params_.data();
  auto run = [&](int s) {
    Shard& sh = shards_[s];
    net_->Backward(sh.rows, params, sh.ws.data(), dlogits + sh.begin,
                   s == 0 ? grads_.data() : sh.grads.data(), demb + sh.begin * ed);
  };
  if (shards == 1) {
    ScopedBlasThreads blas(blas_threads_);
    run(0);
    return;
  }
  // Reduction: the parameter range is cut into fixed chunks; every element
  // is summed as shard 0 + shard 1 + ... in that order, whichever thread
  // does the chunk.
  const size_t n = grads_.size();
  constexpr size_t kChunk = 16384;
  const int chunks = static_cast<int>((n + kChunk - 1) / kChunk);
  pool_->Run(shards, run);
  pool_->Run(chunks, [&](int k) {
    const size_t lo = static_cast<size_t>(k) * kChunk;
    const size_t len = std::min(kChunk, n - lo);
    for (int s = 1; s < shards; ++s) AddTo(len, shards_[s].grads.data() + lo, grads_.data() + lo);
  });
}

template class CpuDenseNet<float>;
template class CpuDenseNet<double>;

namespace {

class CpuDenseModel final : public DenseModel {
 public:
  explicit CpuDenseModel(std::unique_ptr<CpuDenseNet<float>> net) : net_(std::move(net)) {}
  const DenseModelConfig& config() const override { return net_->config(); }
  void Forward(int batch, const float* dense, const float* emb, float* logits) override {
    net_->Forward(batch, dense, emb, logits);
  }
  void Backward(const float* dlogits, float* demb) override { net_->Backward(dlogits, demb); }
  std::span<float> params() override { return net_->params(); }
  std::span<float> grads() override { return net_->grads(); }
  const std::vector<ParamBlock>& blocks() const override { return net_->blocks(); }

 private:
  std::unique_ptr<CpuDenseNet<float>> net_;
};

}  // namespace
}  // namespace ecps::model

namespace ecps {

StatusOr<std::unique_ptr<DenseModel>> CreateDenseModel(const DenseModelConfig& config,
                                                       Device device, uint64_t seed) {
  if (device == Device::kCuda) {
#if defined(ECPS_HAVE_CUDA)
    return model::cuda::CreateCudaDenseModel(config, seed);
#else
    return FailedPrecondition("dense model: device cuda requested but ecps was built without CUDA");
#endif
  }
  ASSIGN_OR_RETURN(std::unique_ptr<model::CpuDenseNet<float>> net,
                   model::CpuDenseNet<float>::Create(config, seed));
  return std::unique_ptr<DenseModel>(new model::CpuDenseModel(std::move(net)));
}

}  // namespace ecps
