#include "worker/model/cuda/cuda_dense_model.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <map>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/check.h"
#include "common/rng.h"
#include "worker/model/cuda/gemm_layout.h"
#include "worker/model/cuda/kernels.h"
#include "worker/model/dense_net.h"

// Inside a step (no Status channel in DenseModel): fail loudly, naming the call.
#define ECPS_CUDA_CHECK(expr)                                                                    \
  do {                                                                                           \
    const cudaError_t ecps_cuda_err = (expr);                                                    \
    ECPS_CHECK(ecps_cuda_err == cudaSuccess) << #expr << ": " << cudaGetErrorName(ecps_cuda_err) \
                                             << ": " << cudaGetErrorString(ecps_cuda_err);       \
  } while (0)
#define ECPS_CUBLAS_CHECK(expr)                                   \
  do {                                                            \
    const cublasStatus_t ecps_cublas_st = (expr);                 \
    ECPS_CHECK(ecps_cublas_st == CUBLAS_STATUS_SUCCESS)           \
        << #expr << ": " << Cublas().status_name(ecps_cublas_st); \
  } while (0)

namespace ecps::model::cuda {
namespace {

// cuBLAS is opened on first use (dlopen), not linked: loading libcublas
// costs about 70 ms and 215 MB of resident memory per process (measured on
// an empty program), which every binary that links worker_model (ecps, some
// 20 test binaries) would pay on CPU runs too. cudart costs nothing to load
// and stays linked. The declarations come from cublas_v2.h, so a changed
// signature is a compile error, not a crash.
struct CublasApi {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
  decltype(&cublasGetStatusName) status_name = nullptr;
};

Status LoadCublas(CublasApi* api) {
  // The soname of the toolkit built against, then its absolute path
  // (worker/model/cuda/CMakeLists.txt) for a library outside the loader's path.
  void* lib = nullptr;
  std::string errors;
  for (const char* name : {ECPS_CUBLAS_SONAME, ECPS_CUBLAS_PATH}) {
    lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (lib != nullptr) break;
    const char* e = dlerror();
    errors += std::string(errors.empty() ? "" : "; ") + (e != nullptr ? e : name);
  }
  if (lib == nullptr) return FailedPrecondition("dense model (cuda): cannot load cuBLAS: ", errors);
  auto sym = [&](const char* n, auto* fn) {
    *fn = reinterpret_cast<std::remove_pointer_t<decltype(fn)>>(dlsym(lib, n));
    return *fn != nullptr;
  };
  if (!sym("cublasCreate_v2", &api->create) || !sym("cublasDestroy_v2", &api->destroy) ||
      !sym("cublasSetStream_v2", &api->set_stream) ||
      !sym("cublasSetMathMode", &api->set_math_mode) || !sym("cublasSgemm_v2", &api->sgemm) ||
      !sym("cublasGetStatusName", &api->status_name))
    return FailedPrecondition("dense model (cuda): ", ECPS_CUBLAS_SONAME,
                              " lacks a cuBLAS function this build uses");
  return OkStatus();
}

// Loaded once per process (never closed); the Status of that one attempt.
const Status& CublasStatus(CublasApi** api) {
  static CublasApi loaded;
  static const Status status = LoadCublas(&loaded);
  if (api != nullptr) *api = &loaded;
  return status;
}

// Only after CublasStatus() was OK (every model's Init checks it).
const CublasApi& Cublas() {
  CublasApi* api = nullptr;
  ECPS_CHECK(CublasStatus(&api).ok()) << CublasStatus(nullptr);
  return *api;
}

Status CudaError(const char* what, cudaError_t e) {
  return FailedPrecondition("dense model (cuda): ", what, ": ", cudaGetErrorName(e), ": ",
                            cudaGetErrorString(e));
}

// Device array of floats; grows, never shrinks (a steady-state step allocates
// nothing).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() {
    if (p_ != nullptr) cudaFree(p_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  Status Reserve(size_t n) {
    if (n <= n_) return OkStatus();
    if (p_ != nullptr) cudaFree(p_);
    p_ = nullptr;
    n_ = 0;
    const cudaError_t e = cudaMalloc(&p_, std::max<size_t>(n, 1) * sizeof(float));
    if (e != cudaSuccess) return CudaError("cudaMalloc", e);
    n_ = n;
    return OkStatus();
  }
  float* get() const { return p_; }

 private:
  float* p_ = nullptr;
  size_t n_ = 0;
};

// Page-locked host array: the per-step parameter upload and gradient
// download run at full PCIe speed (pageable memory is staged through a
// driver bounce buffer), and a later overlap of copies with compute needs it.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer() {
    if (p_ != nullptr) cudaFreeHost(p_);
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  Status Allocate(size_t n) {
    const cudaError_t e = cudaMallocHost(&p_, std::max<size_t>(n, 1) * sizeof(float));
    if (e != cudaSuccess) return CudaError("cudaMallocHost", e);
    n_ = n;
    std::fill(p_, p_ + n_, 0.0f);
    return OkStatus();
  }
  float* data() const { return p_; }
  size_t size() const { return n_; }
  std::span<float> span() const { return {p_, n_}; }

 private:
  float* p_ = nullptr;
  size_t n_ = 0;
};

struct Layer {
  int in = 0, out = 0;
  bool relu = false;
  size_t w = 0, b = 0;  // offsets into the flat parameter buffer
};

class CudaDenseModel final : public DenseModel {
 public:
  CudaDenseModel(std::unique_ptr<DenseNet<float>> net) : net_(std::move(net)) {}
  ~CudaDenseModel() override {
    if (cublas_ != nullptr) Cublas().destroy(cublas_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  Status Init(uint64_t seed) {
    const DenseModelConfig& c = net_->config();
    d_ = c.dim;
    f_ = c.num_fields;
    nd_ = c.num_dense;
    m_ = f_ + (nd_ > 0 ? 1 : 0);
    zoff_ = nd_ > 0 ? d_ : 0;
    top_in_ = zoff_ + m_ * (m_ - 1) / 2;
    wdl_ = c.name == "wdl";
    dcn_ = c.name == "dcn";
    if (dcn_) {
      // DCN (dcn.h): x = [emb, dense]; cross layers on x; the deep MLP
      // (`top_`) on x; "out" over cat = [x_L, deep(x)] (width top_in_).
      xd_ = f_ * d_ + nd_;
      std::map<std::string, const ParamBlock*> byname;
      for (const ParamBlock& b : net_->layout().blocks()) byname[b.name] = &b;
      for (int l = 0; l < c.cross_layers; ++l) {
        const std::string p = "cross." + std::to_string(l);
        auto w = byname.find(p + ".weight");
        auto b = byname.find(p + ".bias");
        if (w == byname.end() || b == byname.end())
          return InvalidArgument("dense model (cuda): unexpected DCN layout at ", p);
        cross_.push_back({w->second->offset, b->second->offset});
      }
      RETURN_IF_ERROR(ParseMlp("deep", /*relu_last=*/false, &top_));
      auto ow = byname.find("out.weight");
      auto ob = byname.find("out.bias");
      if (top_.empty() || ow == byname.end() || ob == byname.end())
        return InvalidArgument("dense model (cuda): unexpected DCN layout");
      top_in_ = xd_ + top_.back().out;
      out_ = {{top_in_, 1, /*relu=*/false, ow->second->offset, ob->second->offset}};
    } else if (wdl_) {
      // WDL: x = [emb (F·d), dense]; the deep MLP is `top_`, the wide part a
      // bias-free [1 x xd] weight.
      xd_ = f_ * d_ + nd_;
      top_in_ = 0;  // no interaction
      RETURN_IF_ERROR(ParseMlp("deep", /*relu_last=*/false, &top_));
      const ParamBlock* wide = nullptr;
      for (const ParamBlock& b : net_->layout().blocks())
        if (b.name == "wide.weight") wide = &b;
      if (wide == nullptr || top_.empty() || top_.front().in != xd_)
        return InvalidArgument("dense model (cuda): unexpected WDL layout");
      wide_ = wide->offset;
    } else {
      RETURN_IF_ERROR(ParseMlp("bottom", /*relu_last=*/true, &bottom_));
      RETURN_IF_ERROR(ParseMlp("top", /*relu_last=*/false, &top_));
      if ((nd_ > 0) != !bottom_.empty() || top_.empty() || top_.front().in != top_in_)
        return InvalidArgument("dense model (cuda): unexpected DLRM layout");
    }
    const size_t n = net_->layout().size();
    RETURN_IF_ERROR(params_.Allocate(n));
    RETURN_IF_ERROR(grads_.Allocate(n));
    // The same initial values as the CPU backend for the same seed.
    Rng rng(seed);
    net_->layout().Initialize(params_.data(), rng);
    cudaError_t e = cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
    if (e != cudaSuccess) return CudaError("cudaStreamCreate", e);
    RETURN_IF_ERROR(CublasStatus(nullptr));
    if (Cublas().create(&cublas_) != CUBLAS_STATUS_SUCCESS)
      return FailedPrecondition("dense model (cuda): cublasCreate failed");
    if (Cublas().set_stream(cublas_, stream_) != CUBLAS_STATUS_SUCCESS ||
        Cublas().set_math_mode(cublas_, c.cuda_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                    : CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS)
      return FailedPrecondition("dense model (cuda): cuBLAS stream/math mode setup failed");
    RETURN_IF_ERROR(params_d_.Reserve(n));
    RETURN_IF_ERROR(grads_d_.Reserve(n));
    // The interaction kernels' shared-memory bound, checked once here.
    if (!wdl_ && !dcn_ &&
        sizeof(float) * (static_cast<size_t>(m_) * d_ + static_cast<size_t>(m_) * m_) > 48 * 1024)
      return InvalidArgument("dense model (cuda): ", m_, " interacting vectors of dimension ", d_,
                             " exceed the interaction kernel's 48 KiB of shared memory");
    return OkStatus();
  }

  const DenseModelConfig& config() const override { return net_->config(); }
  std::span<float> params() override { return params_.span(); }
  std::span<float> grads() override { return grads_.span(); }
  const std::vector<ParamBlock>& blocks() const override { return net_->layout().blocks(); }

  void Forward(int batch, const float* dense, const float* emb, float* logits) override {
    ECPS_CHECK_GT(batch, 0);
    ECPS_CHECK(dense != nullptr || nd_ == 0) << "dense features missing";
    const Status s = Reserve(batch);
    ECPS_CHECK(s.ok()) << s;
    batch_ = batch;
    ECPS_CUDA_CHECK(cudaMemcpyAsync(params_d_.get(), params_.data(), sizeof(float) * params_.size(),
                                    cudaMemcpyHostToDevice, stream_));
    if (wdl_ || dcn_) {
      // x = [emb, dense] in z_ (ld xd_).
      const size_t ed = static_cast<size_t>(f_) * d_;
      ECPS_CUDA_CHECK(cudaMemcpy2DAsync(z_.get(), sizeof(float) * xd_, emb, sizeof(float) * ed,
                                        sizeof(float) * ed, batch, cudaMemcpyHostToDevice,
                                        stream_));
      if (nd_ > 0) {
        ECPS_CUDA_CHECK(cudaMemcpy2DAsync(z_.get() + ed, sizeof(float) * xd_, dense,
                                          sizeof(float) * nd_, sizeof(float) * nd_, batch,
                                          cudaMemcpyHostToDevice, stream_));
      }
      if (wdl_) {
        WdlForward(batch);
      } else {
        DcnForward(batch);
      }
      ECPS_CUDA_CHECK(cudaMemcpyAsync(logits, logits_.get(), sizeof(float) * batch,
                                      cudaMemcpyDeviceToHost, stream_));
      ECPS_CUDA_CHECK(cudaStreamSynchronize(stream_));
      return;
    }
    const size_t zd = static_cast<size_t>(m_) * d_, ed = static_cast<size_t>(f_) * d_;
    float* z = z_.get();
    if (nd_ > 0) {
      ECPS_CUDA_CHECK(cudaMemcpyAsync(dense_.get(), dense, sizeof(float) * batch * nd_,
                                      cudaMemcpyHostToDevice, stream_));
      MlpForward(batch, bottom_, bottom_acts_, dense_.get(), nd_, z, static_cast<int>(zd));
    }
    // The embeddings go straight into Z's rows, after the bottom output.
    ECPS_CUDA_CHECK(cudaMemcpy2DAsync(z + zoff_, sizeof(float) * zd, emb, sizeof(float) * ed,
                                      sizeof(float) * ed, batch, cudaMemcpyHostToDevice, stream_));
    if (nd_ > 0) {
      ECPS_CUDA_CHECK(cudaMemcpy2DAsync(t0_.get(), sizeof(float) * top_in_, z, sizeof(float) * zd,
                                        sizeof(float) * d_, batch, cudaMemcpyDeviceToDevice,
                                        stream_));
    }
    ECPS_CUDA_CHECK(DotInteractionForward(stream_, batch, m_, d_, z, t0_.get() + zoff_, top_in_));
    MlpForward(batch, top_, top_acts_, t0_.get(), top_in_, logits_.get(), 1);
    ECPS_CUDA_CHECK(cudaMemcpyAsync(logits, logits_.get(), sizeof(float) * batch,
                                    cudaMemcpyDeviceToHost, stream_));
    ECPS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void Backward(const float* dlogits, float* demb) override {
    ECPS_CHECK_GT(batch_, 0) << "Backward() without Forward()";
    const int rows = batch_;
    const size_t zd = static_cast<size_t>(m_) * d_, ed = static_cast<size_t>(f_) * d_;
    ECPS_CUDA_CHECK(cudaMemcpyAsync(dlogits_.get(), dlogits, sizeof(float) * rows,
                                    cudaMemcpyHostToDevice, stream_));
    if (wdl_ || dcn_) {
      if (wdl_) {
        WdlBackward(rows);
      } else {
        DcnBackward(rows);
      }
      // demb = dx[:, 0:F·d] (dx in dz_, ld xd_).
      ECPS_CUDA_CHECK(cudaMemcpy2DAsync(demb, sizeof(float) * ed, dz_.get(), sizeof(float) * xd_,
                                        sizeof(float) * ed, rows, cudaMemcpyDeviceToHost, stream_));
      ECPS_CUDA_CHECK(cudaMemcpyAsync(grads_.data(), grads_d_.get(), sizeof(float) * grads_.size(),
                                      cudaMemcpyDeviceToHost, stream_));
      ECPS_CUDA_CHECK(cudaStreamSynchronize(stream_));
      return;
    }
    MlpBackward(rows, top_, top_acts_, t0_.get(), top_in_, logits_.get(), 1, dlogits_.get(), 1,
                dt0_.get(), top_in_);
    ECPS_CUDA_CHECK(DotInteractionBackward(stream_, rows, m_, d_, z_.get(), dt0_.get() + zoff_,
                                           top_in_, dz_.get()));
    ECPS_CUDA_CHECK(cudaMemcpy2DAsync(demb, sizeof(float) * ed, dz_.get() + zoff_,
                                      sizeof(float) * zd, sizeof(float) * ed, rows,
                                      cudaMemcpyDeviceToHost, stream_));
    if (nd_ > 0) {
      // The bottom output feeds both the interaction and the top input.
      ECPS_CUDA_CHECK(
          AddStrided(stream_, rows, d_, dt0_.get(), top_in_, dz_.get(), static_cast<int>(zd)));
      MlpBackward(rows, bottom_, bottom_acts_, dense_.get(), nd_, z_.get(), static_cast<int>(zd),
                  dz_.get(), static_cast<int>(zd), nullptr, 0);
    }
    ECPS_CUDA_CHECK(cudaMemcpyAsync(grads_.data(), grads_d_.get(), sizeof(float) * grads_.size(),
                                    cudaMemcpyDeviceToHost, stream_));
    ECPS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

 private:
  // WDL (wdl.h): logit = deep(x) + wide·x, x = [emb, dense] in z_ (ld xd_).
  void WdlForward(int rows) {
    const float* x = z_.get();
    MlpForward(rows, top_, top_acts_, x, xd_, logits_.get(), 1);
    // logits += x · wideᵀ (beta 1: added to the deep output).
    Gemm(false, true, rows, 1, xd_, 1.0f, x, xd_, params_d_.get() + wide_, xd_, 1.0f, logits_.get(),
         1);
  }

  // dx (in dz_) = deep's input gradient + dlogits · wide; dwide = dlogitsᵀ x.
  void WdlBackward(int rows) {
    const float* x = z_.get();
    float* dx = dz_.get();
    float* g = grads_d_.get();
    // The wide gradient and a copy of dlogits first: the deep backward owns
    // dlogits_ as its clobberable dy.
    Gemm(true, false, 1, xd_, rows, 1.0f, dlogits_.get(), 1, x, xd_, 0.0f, g + wide_, xd_);
    ECPS_CUDA_CHECK(cudaMemcpyAsync(dt0_.get(), dlogits_.get(), sizeof(float) * rows,
                                    cudaMemcpyDeviceToDevice, stream_));
    MlpBackward(rows, top_, top_acts_, x, xd_, logits_.get(), 1, dlogits_.get(), 1, dx, xd_);
    Gemm(false, false, rows, xd_, 1, 1.0f, dt0_.get(), 1, params_d_.get() + wide_, xd_, 1.0f, dx,
         xd_);
  }

  // DCN (dcn.h): x_{l+1} = cross_l(x, x_l); cat = [x_L, deep(x)] in t0_ (ld
  // top_in_); logit = out(cat).
  void DcnForward(int rows) {
    const float* p = params_d_.get();
    const float* x = z_.get();
    const float* xl = x;
    for (size_t l = 0; l < cross_.size(); ++l) {
      ECPS_CUDA_CHECK(CrossForward(stream_, rows, xd_, x, xl, p + cross_[l].w, p + cross_[l].b,
                                   cross_s_[l].get(), cross_x_[l].get()));
      xl = cross_x_[l].get();
    }
    ECPS_CUDA_CHECK(cudaMemcpy2DAsync(t0_.get(), sizeof(float) * top_in_, xl, sizeof(float) * xd_,
                                      sizeof(float) * xd_, rows, cudaMemcpyDeviceToDevice,
                                      stream_));
    MlpForward(rows, top_, top_acts_, x, xd_, t0_.get() + xd_, top_in_);
    MlpForward(rows, out_, out_acts_, t0_.get(), top_in_, logits_.get(), 1);
  }

  // dcat (dt0_) from out; deep's dx into dx (dz_); the cross chain in
  // cross_g_, each layer adding its x0 term to dx; then dx += the chain.
  void DcnBackward(int rows) {
    const float* p = params_d_.get();
    float* gr = grads_d_.get();
    const float* x = z_.get();
    float* dx = dz_.get();
    float* g = cross_g_.get();
    MlpBackward(rows, out_, out_acts_, t0_.get(), top_in_, logits_.get(), 1, dlogits_.get(), 1,
                dt0_.get(), top_in_);
    MlpBackward(rows, top_, top_acts_, x, xd_, t0_.get() + xd_, top_in_, dt0_.get() + xd_, top_in_,
                dx, xd_);
    ECPS_CUDA_CHECK(cudaMemcpy2DAsync(g, sizeof(float) * xd_, dt0_.get(), sizeof(float) * top_in_,
                                      sizeof(float) * xd_, rows, cudaMemcpyDeviceToDevice,
                                      stream_));
    for (int l = static_cast<int>(cross_.size()) - 1; l >= 0; --l) {
      const float* xl = l == 0 ? x : cross_x_[l - 1].get();
      ECPS_CUDA_CHECK(CrossBackward(stream_, rows, xd_, x, xl, p + cross_[l].w, cross_s_[l].get(),
                                    g, dx, cross_ds_.get(), gr + cross_[l].w, gr + cross_[l].b));
    }
    ECPS_CUDA_CHECK(AddStrided(stream_, rows, xd_, g, xd_, dx, xd_));
  }

  // Layers "<prefix>.<i>.weight" [out x in] / ".bias" of the layout, in order.
  Status ParseMlp(const std::string& prefix, bool relu_last, std::vector<Layer>* out) {
    std::map<std::string, const ParamBlock*> byname;
    for (const ParamBlock& b : net_->layout().blocks()) byname[b.name] = &b;
    for (int i = 0;; ++i) {
      const std::string p = prefix + "." + std::to_string(i);
      auto w = byname.find(p + ".weight");
      if (w == byname.end()) break;
      auto b = byname.find(p + ".bias");
      if (b == byname.end() || w->second->shape.size() != 2)
        return InvalidArgument("dense model (cuda): layer ", p, " is not a biased linear layer");
      Layer l;
      l.out = w->second->shape[0];
      l.in = w->second->shape[1];
      l.w = w->second->offset;
      l.b = b->second->offset;
      out->push_back(l);
    }
    for (size_t i = 0; i < out->size(); ++i) (*out)[i].relu = i + 1 < out->size() || relu_last;
    return OkStatus();
  }

  Status ReserveActs(int rows, const std::vector<Layer>& mlp, std::vector<DeviceBuffer>* acts) {
    if (acts->size() < mlp.size()) *acts = std::vector<DeviceBuffer>(mlp.size());
    // The last layer writes into the caller's array; the others keep theirs.
    for (size_t i = 0; i + 1 < mlp.size(); ++i)
      RETURN_IF_ERROR((*acts)[i].Reserve(static_cast<size_t>(rows) * mlp[i].out));
    return OkStatus();
  }

  Status Reserve(int rows) {
    if (rows <= reserved_) return OkStatus();
    const size_t r = rows;
    int width = 0;
    for (const auto* mlp : {&bottom_, &top_, &out_})
      for (const Layer& l : *mlp) width = std::max({width, l.in, l.out});
    RETURN_IF_ERROR(dense_.Reserve(r * nd_));
    // z/dz hold DLRM's Z or WDL's x; dt0 also WDL's copy of dlogits.
    const size_t zd = wdl_ || dcn_ ? static_cast<size_t>(xd_) : static_cast<size_t>(m_) * d_;
    RETURN_IF_ERROR(z_.Reserve(r * zd));
    RETURN_IF_ERROR(dz_.Reserve(r * zd));
    RETURN_IF_ERROR(t0_.Reserve(r * top_in_));
    RETURN_IF_ERROR(dt0_.Reserve(r * std::max(top_in_, 1)));
    RETURN_IF_ERROR(logits_.Reserve(r));
    RETURN_IF_ERROR(dlogits_.Reserve(r));
    RETURN_IF_ERROR(bufa_.Reserve(r * width));
    RETURN_IF_ERROR(bufb_.Reserve(r * width));
    RETURN_IF_ERROR(ReserveActs(rows, bottom_, &bottom_acts_));
    RETURN_IF_ERROR(ReserveActs(rows, top_, &top_acts_));
    if (dcn_) {
      if (cross_x_.size() < cross_.size()) {
        cross_x_ = std::vector<DeviceBuffer>(cross_.size());
        cross_s_ = std::vector<DeviceBuffer>(cross_.size());
      }
      for (size_t l = 0; l < cross_.size(); ++l) {
        RETURN_IF_ERROR(cross_x_[l].Reserve(r * xd_));
        RETURN_IF_ERROR(cross_s_[l].Reserve(r));
      }
      RETURN_IF_ERROR(cross_g_.Reserve(r * xd_));
      RETURN_IF_ERROR(cross_ds_.Reserve(r));
    }
    reserved_ = rows;
    return OkStatus();
  }

  // Row-major C[M x N] = alpha op(A) op(B) + beta C (blas.h's Gemm contract)
  // on cuBLAS, through gemm_layout.h.
  void Gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
            const float* b, int ldb, float beta, float* c, int ldc) {
    const ColMajorGemm g = ToColMajor(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
    ECPS_CUBLAS_CHECK(Cublas().sgemm(cublas_, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.m, g.n, g.k, &alpha,
                                     g.a, g.lda, g.b, g.ldb, &beta, g.c, g.ldc));
  }

  // x [rows x in] (ld ldx) -> y [rows x out] (ld ldy) through `mlp`.
  void MlpForward(int rows, const std::vector<Layer>& mlp, std::vector<DeviceBuffer>& acts,
                  const float* x, int ldx, float* y, int ldy) {
    const float* p = params_d_.get();
    const float* cur = x;
    int ldc = ldx;
    for (size_t i = 0; i < mlp.size(); ++i) {
      const Layer& l = mlp[i];
      const bool last = i + 1 == mlp.size();
      float* dst = last ? y : acts[i].get();
      const int ldd = last ? ldy : l.out;
      Gemm(false, true, rows, l.out, l.in, 1.0f, cur, ldc, p + l.w, l.in, 0.0f, dst, ldd);
      ECPS_CUDA_CHECK(BiasAct(stream_, rows, l.out, p + l.b, l.relu, dst, ldd));
      cur = dst;
      ldc = ldd;
    }
  }

  // Backward of MlpForward with the same x, activations and y. dy (ld lddy)
  // is clobbered; the MLP's gradient blocks are overwritten; dx (ld lddx) is
  // written unless null.
  void MlpBackward(int rows, const std::vector<Layer>& mlp, std::vector<DeviceBuffer>& acts,
                   const float* x, int ldx, const float* y, int ldy, float* dy, int lddy, float* dx,
                   int lddx) {
    const float* p = params_d_.get();
    float* g = grads_d_.get();
    float* cur = dy;
    int ldc = lddy;
    for (int i = static_cast<int>(mlp.size()) - 1; i >= 0; --i) {
      const Layer& l = mlp[i];
      const bool last = i + 1 == static_cast<int>(mlp.size());
      const float* yout = last ? y : acts[i].get();
      const int ldyout = last ? ldy : l.out;
      const float* xin = i == 0 ? x : acts[i - 1].get();
      const int ldxin = i == 0 ? ldx : l.in;
      ECPS_CUDA_CHECK(ActBackward(stream_, rows, l.out, yout, ldyout, l.relu, cur, ldc, g + l.b));
      // dW [out x in] = dyᵀ · x.
      Gemm(true, false, l.out, l.in, rows, 1.0f, cur, ldc, xin, ldxin, 0.0f, g + l.w, l.in);
      float* target = i == 0 ? dx : (cur == bufa_.get() ? bufb_.get() : bufa_.get());
      const int ldt = i == 0 ? lddx : l.in;
      if (target != nullptr)
        Gemm(false, false, rows, l.in, l.out, 1.0f, cur, ldc, p + l.w, l.in, 0.0f, target, ldt);
      cur = target;
      ldc = ldt;
    }
  }

  std::unique_ptr<DenseNet<float>> net_;  // the layout (the CPU layers are not run)
  int d_ = 0, f_ = 0, nd_ = 0, m_ = 0, zoff_ = 0, top_in_ = 0;
  bool wdl_ = false, dcn_ = false;
  struct Cross {
    size_t w = 0, b = 0;  // offsets of "cross.<l>.weight" / ".bias"
  };
  std::vector<Cross> cross_;
  std::vector<Layer> out_;                                  // DCN's "out" Linear (one layer)
  std::vector<DeviceBuffer> out_acts_, cross_x_, cross_s_;  // x_1..x_L and s per layer
  DeviceBuffer cross_g_, cross_ds_;
  int xd_ = 0;       // WDL input width
  size_t wide_ = 0;  // WDL "wide.weight" offset
  std::vector<Layer> bottom_, top_;
  PinnedBuffer params_, grads_;  // host mirrors
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  DeviceBuffer params_d_, grads_d_;
  DeviceBuffer dense_, z_, dz_, t0_, dt0_, logits_, dlogits_, bufa_, bufb_;
  std::vector<DeviceBuffer> bottom_acts_, top_acts_;
  int reserved_ = 0;  // rows the workspaces hold
  int batch_ = -1;    // rows of the last Forward
};

}  // namespace

Status CublasLoadStatus() { return CublasStatus(nullptr); }

Status CudaDeviceStatus() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return CudaError("no usable CUDA device (cudaGetDeviceCount)", e);
  if (count == 0) return FailedPrecondition("dense model (cuda): no CUDA device present");
  return OkStatus();
}

StatusOr<std::unique_ptr<DenseModel>> CreateCudaDenseModel(const DenseModelConfig& config,
                                                           uint64_t seed) {
  ASSIGN_OR_RETURN(std::unique_ptr<DenseNet<float>> net, MakeDenseNet<float>(config));
  Status dev = CudaDeviceStatus();
  if (!dev.ok()) return FailedPrecondition("dense model: model.device=cuda, but ", dev.message());
  auto m = std::make_unique<CudaDenseModel>(std::move(net));
  RETURN_IF_ERROR(m->Init(seed));
  return std::unique_ptr<DenseModel>(std::move(m));
}

}  // namespace ecps::model::cuda
