// CUDA kernels of the dense network (everything that is not a GEMM; those go
// to cuBLAS in cuda_dense_model.cc). Each launcher enqueues on `stream` and
// returns the launch's error (cudaGetLastError); execution errors surface at
// the next synchronising call. Pointers are device memory, matrices
// row-major with explicit leading dimensions, as in cpu_kernels.h; the host
// oracle of each kernel is the function of the same name in reference.h.
//
// Reductions (bias gradients, the BCE mean) use a fixed assignment of
// elements to threads and a fixed tree, so a kernel gives the same bits on
// every run on the same GPU; they are not bit-equal to the CPU backend
// (tolerances: tests/model/cuda/kernels_test.cc).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "worker/model/cuda/reference.h"

namespace ecps::model::cuda {

// y = act(y + bias) per row; bias may be null.
cudaError_t BiasAct(cudaStream_t stream, int rows, int cols, const float* bias, bool relu, float* y,
                    int ldy);

// dy zeroed where relu and y <= 0 (in place); db = column sums of dy when
// non-null (overwritten).
cudaError_t ActBackward(cudaStream_t stream, int rows, int cols, const float* y, int ldy, bool relu,
                        float* dy, int lddy, float* db);

// y[r, c] += x[r, c] for r < rows, c < cols.
cudaError_t AddStrided(cudaStream_t stream, int rows, int cols, const float* x, int ldx, float* y,
                       int ldy);

// DLRM dot interaction: out[r, :] = strict lower triangle of z[r]·z[r]ᵀ.
// InvalidValue when m x d and the m x m pair matrix do not fit in 48 KiB of
// shared memory (m = 110 fields at d = 16).
cudaError_t DotInteractionForward(cudaStream_t stream, int rows, int m, int d, const float* z,
                                  float* out, int ldo);
cudaError_t DotInteractionBackward(cudaStream_t stream, int rows, int m, int d, const float* z,
                                   const float* dtri, int ldd, float* dz);

// One DCN cross layer (reference.h's CrossForward / CrossBackward): s [rows]
// and y [rows x D] written. Backward: g (dL/dy in, dL/dx_l out), dx0 added
// to, ds [rows] scratch, dw and db overwritten.
cudaError_t CrossForward(cudaStream_t stream, int rows, int D, const float* x0, const float* xl,
                         const float* w, const float* b, float* s, float* y);
cudaError_t CrossBackward(cudaStream_t stream, int rows, int D, const float* x0, const float* xl,
                          const float* w, const float* s, float* g, float* dx0, float* ds,
                          float* dw, float* db);

// BCE-with-logits: dlogits[i] = (sigmoid(logits[i]) - labels[i]) / n and
// *loss = the mean loss (a device double).
cudaError_t BceWithLogits(cudaStream_t stream, int n, const float* logits, const float* labels,
                          float* dlogits, double* loss);

// One Adam step over n elements (m, v: the moments, updated in place).
cudaError_t AdamStep(cudaStream_t stream, size_t n, const AdamConsts& c, float* p, const float* g,
                     float* m, float* v);

// One SGD / Adagrad step (reference.h's SgdStep / AdagradStep); s: the
// squared-gradient accumulator, updated in place.
cudaError_t SgdStep(cudaStream_t stream, size_t n, float lr, float wd, float* p, const float* g);
cudaError_t AdagradStep(cudaStream_t stream, size_t n, float lr, float wd, float eps, float* p,
                        const float* g, float* s);

}  // namespace ecps::model::cuda
