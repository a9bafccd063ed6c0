// The CUDA backend of DenseModel (dense_model.h): DLRM, WDL and DCN forward
// and backward on one GPU with cuBLAS GEMMs and the kernels of kernels.h.
// Plain C++ (no CUDA headers), so that CreateDenseModel (cpu_dense_model.cc)
// and tests can call it; only built when ECPS_ENABLE_CUDA is on
// (cmake/EcpsCuda.cmake).
//
// Device residency: parameters, gradients and every activation live on the
// device. params()/grads() are host mirrors, because the DenseModel interface
// hands the trainer host spans (the optimizer, the all-reduce and checkpoints
// all use them today). They are synchronised where the interface needs it:
//   Forward()/Predict() upload params() first (the caller may have changed
//     them: an optimizer step, a restored checkpoint);
//   Backward() downloads the gradients into grads() before it returns.
// That costs one H2D and one D2H copy of the parameters per step (the
// mirrors are page-locked, so at full PCIe speed); device-
// side optimizer steps and all-reduce (issue 20 items 2 and 4) remove them.
//
// Errors: Create returns FailedPrecondition when no CUDA device is usable
// (never a silent CPU fallback), InvalidArgument for a config MakeDenseNet
// refuses (dense_net.h) or a DLRM whose interaction exceeds the kernel's
// shared memory (kernels.h). A CUDA error inside a step is a loud failure
// (ECPS_CHECK): the interface has no error channel there.
// Thread-safety: one caller thread at a time, like DenseModel.
#pragma once

#include <cstdint>
#include <memory>

#include "common/status.h"
#include "worker/model/dense_model.h"

namespace ecps::model::cuda {

// OK when a CUDA device can be used; FailedPrecondition naming the reason
// (no driver, no device) otherwise.
Status CudaDeviceStatus();

// OK when cuBLAS, which the backend opens at run time rather than links
// (cuda_dense_model.cc), loads and has every function the backend calls; no
// GPU needed. Loaded once per process.
Status CublasLoadStatus();

StatusOr<std::unique_ptr<DenseModel>> CreateCudaDenseModel(const DenseModelConfig& config,
                                                           uint64_t seed);

}  // namespace ecps::model::cuda
