// Kernels of kernels.h. Kept to one translation unit with no heavy includes:
// nvcc time is most of what CUDA adds to the CI build.
#include "worker/model/cuda/kernels.h"

namespace ecps::model::cuda {
namespace {

constexpr int kThreads = 256;
constexpr size_t kMaxShared = 48 * 1024;

int Blocks(size_t n, int threads = kThreads) {
  const size_t b = (n + threads - 1) / threads;
  return static_cast<int>(b < 65535 * 32 ? b : 65535 * 32);
}

__global__ void BiasActKernel(int rows, int cols, const float* __restrict__ bias, bool relu,
                              float* __restrict__ y, int ldy) {
  const size_t n = static_cast<size_t>(rows) * cols;
  for (size_t e = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const int r = static_cast<int>(e / cols), c = static_cast<int>(e % cols);
    float& v = y[static_cast<size_t>(r) * ldy + c];
    float t = v;
    if (bias != nullptr) t += bias[c];
    if (relu) t = fmaxf(t, 0.0f);
    v = t;
  }
}

// Block (32 columns x 32 row lanes): lane ty takes rows ty, ty + 32, ...;
// then the 32 partial sums of a column are added in lane order.
__global__ void ActBackwardKernel(int rows, int cols, const float* __restrict__ y, int ldy,
                                  bool relu, float* __restrict__ dy, int lddy,
                                  float* __restrict__ db) {
  __shared__ float part[32][33];
  const int c = blockIdx.x * 32 + threadIdx.x;
  float sum = 0.0f;
  if (c < cols) {
    for (int r = threadIdx.y; r < rows; r += 32) {
      float& g = dy[static_cast<size_t>(r) * lddy + c];
      float v = g;
      if (relu && !(y[static_cast<size_t>(r) * ldy + c] > 0.0f)) {
        v = 0.0f;
        g = 0.0f;
      }
      sum += v;
    }
  }
  if (db == nullptr) return;
  part[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float s = 0.0f;
    for (int k = 0; k < 32; ++k) s += part[k][threadIdx.x];
    db[c] = s;
  }
}

__global__ void AddStridedKernel(int rows, int cols, const float* __restrict__ x, int ldx,
                                 float* __restrict__ y, int ldy) {
  const size_t n = static_cast<size_t>(rows) * cols;
  for (size_t e = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t r = e / cols, c = e % cols;
    y[r * ldy + c] += x[r * ldx + c];
  }
}

// One block per sample: Z in shared memory, one thread per pair (i, j).
__global__ void InteractionForwardKernel(int m, int d, const float* __restrict__ z,
                                         float* __restrict__ out, int ldo) {
  extern __shared__ float zs[];
  const float* zr = z + static_cast<size_t>(blockIdx.x) * m * d;
  for (int e = threadIdx.x; e < m * d; e += blockDim.x) zs[e] = zr[e];
  __syncthreads();
  float* o = out + static_cast<size_t>(blockIdx.x) * ldo;
  for (int e = threadIdx.x; e < m * m; e += blockDim.x) {
    const int i = e / m, j = e % m;
    if (j >= i) continue;
    float s = 0.0f;
    for (int k = 0; k < d; ++k) s += zs[i * d + k] * zs[j * d + k];
    o[i * (i - 1) / 2 + j] = s;
  }
}

// One block per sample: Z and the symmetric pair-gradient matrix in shared
// memory, one thread per output element dz[i, k].
__global__ void InteractionBackwardKernel(int m, int d, const float* __restrict__ z,
                                          const float* __restrict__ dtri, int ldd,
                                          float* __restrict__ dz) {
  extern __shared__ float sh[];
  float* zs = sh;
  float* s = sh + m * d;
  const float* zr = z + static_cast<size_t>(blockIdx.x) * m * d;
  const float* g = dtri + static_cast<size_t>(blockIdx.x) * ldd;
  for (int e = threadIdx.x; e < m * d; e += blockDim.x) zs[e] = zr[e];
  for (int e = threadIdx.x; e < m * m; e += blockDim.x) {
    const int i = e / m, j = e % m;
    s[e] = i > j ? g[i * (i - 1) / 2 + j] : (i < j ? g[j * (j - 1) / 2 + i] : 0.0f);
  }
  __syncthreads();
  float* o = dz + static_cast<size_t>(blockIdx.x) * m * d;
  for (int e = threadIdx.x; e < m * d; e += blockDim.x) {
    const int i = e / d, k = e % d;
    float acc = 0.0f;
    for (int j = 0; j < m; ++j) acc += s[i * m + j] * zs[j * d + k];
    o[e] = acc;
  }
}

// out[r] = sum_k a[r, k] b[r, k] (b_row: b is one row shared by all r), one
// block of 128 threads per row, a fixed tree.
__global__ void RowDotKernel(int D, const float* __restrict__ a, const float* __restrict__ b,
                             bool b_row, float* __restrict__ out) {
  __shared__ float part[128];
  const size_t o = static_cast<size_t>(blockIdx.x) * D;
  float acc = 0.0f;
  for (int k = threadIdx.x; k < D; k += 128) acc += a[o + k] * (b_row ? b[k] : b[o + k]);
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int w = 64; w > 0; w /= 2) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = part[0];
}

__global__ void CrossForwardKernel(int rows, int D, const float* __restrict__ x0,
                                   const float* __restrict__ xl, const float* __restrict__ s,
                                   const float* __restrict__ b, float* __restrict__ y) {
  const size_t n = static_cast<size_t>(rows) * D;
  for (size_t e = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t r = e / D, k = e % D;
    y[e] = x0[e] * s[r] + b[k] + xl[e];
  }
}

// dx0 += g * s (per row).
__global__ void CrossDx0Kernel(int rows, int D, const float* __restrict__ g,
                               const float* __restrict__ s, float* __restrict__ dx0) {
  const size_t n = static_cast<size_t>(rows) * D;
  for (size_t e = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<size_t>(gridDim.x) * blockDim.x)
    dx0[e] += g[e] * s[e / D];
}

// dw[k] = sum_r xl[r, k] ds[r], db[k] = sum_r g[r, k] (32 x 32 blocks as in
// ActBackwardKernel), then nothing else: g is updated by CrossGKernel after.
__global__ void CrossParamGradKernel(int rows, int D, const float* __restrict__ xl,
                                     const float* __restrict__ g, const float* __restrict__ ds,
                                     float* __restrict__ dw, float* __restrict__ db) {
  __shared__ float pw[32][33], pb[32][33];
  const int k = blockIdx.x * 32 + threadIdx.x;
  float sw = 0.0f, sb = 0.0f;
  if (k < D) {
    for (int r = threadIdx.y; r < rows; r += 32) {
      const size_t e = static_cast<size_t>(r) * D + k;
      sw += xl[e] * ds[r];
      sb += g[e];
    }
  }
  pw[threadIdx.y][threadIdx.x] = sw;
  pb[threadIdx.y][threadIdx.x] = sb;
  __syncthreads();
  if (threadIdx.y == 0 && k < D) {
    float a = 0.0f, c = 0.0f;
    for (int j = 0; j < 32; ++j) {
      a += pw[j][threadIdx.x];
      c += pb[j][threadIdx.x];
    }
    dw[k] = a;
    db[k] = c;
  }
}

// g += ds * w (outer product).
__global__ void CrossGKernel(int rows, int D, const float* __restrict__ ds,
                             const float* __restrict__ w, float* __restrict__ g) {
  const size_t n = static_cast<size_t>(rows) * D;
  for (size_t e = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<size_t>(gridDim.x) * blockDim.x)
    g[e] += ds[e / D] * w[e % D];
}

// One block: thread t takes elements t, t + 1024, ...; the partial sums are
// added by a fixed tree, so the mean is the same on every run.
constexpr int kBceThreads = 1024;
__global__ void BceKernel(int n, const float* __restrict__ logits, const float* __restrict__ labels,
                          float* __restrict__ dlogits, double* __restrict__ loss) {
  __shared__ double part[kBceThreads];
  const float inv_n = 1.0f / static_cast<float>(n);
  double sum = 0;
  for (int i = threadIdx.x; i < n; i += kBceThreads) {
    const float zi = logits[i], yi = labels[i];
    const float e = expf(-fabsf(zi));
    const float p = zi >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
    dlogits[i] = (p - yi) * inv_n;
    sum += fmaxf(zi, 0.0f) - zi * yi + log1pf(e);
  }
  part[threadIdx.x] = sum;
  __syncthreads();
  for (int w = kBceThreads / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) *loss = n > 0 ? part[0] / n : 0.0;
}

__global__ void AdamKernel(size_t n, AdamConsts c, float* __restrict__ p,
                           const float* __restrict__ g, float* __restrict__ m,
                           float* __restrict__ v) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    // __fmul_rn/__fadd_rn: no contraction into FMAs, the CPU's rounding.
    const float gi = __fadd_rn(g[i], __fmul_rn(c.wd, p[i]));
    const float mi = __fadd_rn(__fmul_rn(c.b1, m[i]), __fmul_rn(c.one_minus_b1, gi));
    const float vi = __fadd_rn(__fmul_rn(c.b2, v[i]), __fmul_rn(c.one_minus_b2, __fmul_rn(gi, gi)));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(__fmul_rn(sqrtf(vi), c.inv_sqrt_bc2), c.eps);
    p[i] = __fsub_rn(p[i], __fmul_rn(c.step_size, __fdiv_rn(mi, denom)));
  }
}

__global__ void SgdKernel(size_t n, float lr, float wd, float* __restrict__ p,
                          const float* __restrict__ g) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    p[i] = __fsub_rn(p[i], __fmul_rn(lr, __fadd_rn(g[i], __fmul_rn(wd, p[i]))));
}

__global__ void AdagradKernel(size_t n, float lr, float wd, float eps, float* __restrict__ p,
                              const float* __restrict__ g, float* __restrict__ s) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float gi = __fadd_rn(g[i], __fmul_rn(wd, p[i]));
    const float si = __fadd_rn(s[i], __fmul_rn(gi, gi));
    s[i] = si;
    p[i] = __fsub_rn(p[i], __fdiv_rn(__fmul_rn(lr, gi), __fadd_rn(sqrtf(si), eps)));
  }
}

}  // namespace

cudaError_t BiasAct(cudaStream_t stream, int rows, int cols, const float* bias, bool relu, float* y,
                    int ldy) {
  const size_t n = static_cast<size_t>(rows) * cols;
  if (n == 0) return cudaSuccess;
  BiasActKernel<<<Blocks(n), kThreads, 0, stream>>>(rows, cols, bias, relu, y, ldy);
  return cudaGetLastError();
}

cudaError_t ActBackward(cudaStream_t stream, int rows, int cols, const float* y, int ldy, bool relu,
                        float* dy, int lddy, float* db) {
  if (cols == 0 || (!relu && db == nullptr)) return cudaSuccess;
  ActBackwardKernel<<<(cols + 31) / 32, dim3(32, 32), 0, stream>>>(rows, cols, y, ldy, relu, dy,
                                                                   lddy, db);
  return cudaGetLastError();
}

cudaError_t AddStrided(cudaStream_t stream, int rows, int cols, const float* x, int ldx, float* y,
                       int ldy) {
  const size_t n = static_cast<size_t>(rows) * cols;
  if (n == 0) return cudaSuccess;
  AddStridedKernel<<<Blocks(n), kThreads, 0, stream>>>(rows, cols, x, ldx, y, ldy);
  return cudaGetLastError();
}

cudaError_t DotInteractionForward(cudaStream_t stream, int rows, int m, int d, const float* z,
                                  float* out, int ldo) {
  const size_t shared = sizeof(float) * (static_cast<size_t>(m) * d);
  if (shared + sizeof(float) * m * m > kMaxShared) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  InteractionForwardKernel<<<rows, 128, shared, stream>>>(m, d, z, out, ldo);
  return cudaGetLastError();
}

cudaError_t DotInteractionBackward(cudaStream_t stream, int rows, int m, int d, const float* z,
                                   const float* dtri, int ldd, float* dz) {
  const size_t shared = sizeof(float) * (static_cast<size_t>(m) * d + static_cast<size_t>(m) * m);
  if (shared > kMaxShared) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  InteractionBackwardKernel<<<rows, 128, shared, stream>>>(m, d, z, dtri, ldd, dz);
  return cudaGetLastError();
}

cudaError_t CrossForward(cudaStream_t stream, int rows, int D, const float* x0, const float* xl,
                         const float* w, const float* b, float* s, float* y) {
  if (rows == 0 || D == 0) return cudaSuccess;
  RowDotKernel<<<rows, 128, 0, stream>>>(D, xl, w, /*b_row=*/true, s);
  const size_t n = static_cast<size_t>(rows) * D;
  CrossForwardKernel<<<Blocks(n), kThreads, 0, stream>>>(rows, D, x0, xl, s, b, y);
  return cudaGetLastError();
}

cudaError_t CrossBackward(cudaStream_t stream, int rows, int D, const float* x0, const float* xl,
                          const float* w, const float* s, float* g, float* dx0, float* ds,
                          float* dw, float* db) {
  if (rows == 0 || D == 0) return cudaSuccess;
  const size_t n = static_cast<size_t>(rows) * D;
  RowDotKernel<<<rows, 128, 0, stream>>>(D, g, x0, /*b_row=*/false, ds);
  CrossDx0Kernel<<<Blocks(n), kThreads, 0, stream>>>(rows, D, g, s, dx0);
  CrossParamGradKernel<<<(D + 31) / 32, dim3(32, 32), 0, stream>>>(rows, D, xl, g, ds, dw, db);
  CrossGKernel<<<Blocks(n), kThreads, 0, stream>>>(rows, D, ds, w, g);
  return cudaGetLastError();
}

cudaError_t BceWithLogits(cudaStream_t stream, int n, const float* logits, const float* labels,
                          float* dlogits, double* loss) {
  BceKernel<<<1, kBceThreads, 0, stream>>>(n, logits, labels, dlogits, loss);
  return cudaGetLastError();
}

cudaError_t AdamStep(cudaStream_t stream, size_t n, const AdamConsts& c, float* p, const float* g,
                     float* m, float* v) {
  if (n == 0) return cudaSuccess;
  AdamKernel<<<Blocks(n), kThreads, 0, stream>>>(n, c, p, g, m, v);
  return cudaGetLastError();
}

cudaError_t SgdStep(cudaStream_t stream, size_t n, float lr, float wd, float* p, const float* g) {
  if (n == 0) return cudaSuccess;
  SgdKernel<<<Blocks(n), kThreads, 0, stream>>>(n, lr, wd, p, g);
  return cudaGetLastError();
}

cudaError_t AdagradStep(cudaStream_t stream, size_t n, float lr, float wd, float eps, float* p,
                        const float* g, float* s) {
  if (n == 0) return cudaSuccess;
  AdagradKernel<<<Blocks(n), kThreads, 0, stream>>>(n, lr, wd, eps, p, g, s);
  return cudaGetLastError();
}

}  // namespace ecps::model::cuda
