// Element-wise and per-sample kernels of the CPU dense layers: everything that
// is not a matrix product (those go to BLAS, blas.h).
//
// Every kernel is a template (the double instantiation backs the gradient
// checks) with a float overload defined in cpu_kernels.cc that is compiled
// twice, for AVX2 and for baseline x86-64, and picked at load time (GCC
// target_clones). The loops contain no reductions that the compiler would have
// to reorder, so both clones and the double version compute every element with
// the same operations in the same order: results do not depend on the ISA.
//
// Layout conventions: matrices are row-major with an explicit leading
// dimension (ld*, in elements). Pointers must not alias unless stated.
// Thread-safety: all kernels are pure functions of their arguments.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace ecps::model {

// The Impl templates are inlined into each target clone of cpu_kernels.cc;
// one left out of line would be compiled once, for the baseline ISA.
#if defined(__GNUC__)
#define ECPS_KERNEL inline __attribute__((always_inline))
#else
#define ECPS_KERNEL inline
#endif

namespace internal {

template <typename T>
ECPS_KERNEL void BiasActImpl(int rows, int cols, const T* bias, bool relu, T* y, int ldy) {
  for (int r = 0; r < rows; ++r) {
    T* __restrict yr = y + static_cast<size_t>(r) * ldy;
    if (bias != nullptr && relu) {
      for (int c = 0; c < cols; ++c) yr[c] = std::max(yr[c] + bias[c], T(0));
    } else if (bias != nullptr) {
      for (int c = 0; c < cols; ++c) yr[c] += bias[c];
    } else if (relu) {
      for (int c = 0; c < cols; ++c) yr[c] = std::max(yr[c], T(0));
    }
  }
}

template <typename T>
ECPS_KERNEL void ActBackwardImpl(int rows, int cols, const T* y, int ldy, bool relu, T* dy,
                                 int lddy, T* db) {
  if (db != nullptr) std::fill(db, db + cols, T(0));
  for (int r = 0; r < rows; ++r) {
    T* __restrict dr = dy + static_cast<size_t>(r) * lddy;
    if (relu) {
      const T* __restrict yr = y + static_cast<size_t>(r) * ldy;
      for (int c = 0; c < cols; ++c) dr[c] = yr[c] > T(0) ? dr[c] : T(0);
    }
    // Column sums accumulate row by row: a fixed order, and vectorised across
    // columns rather than by reassociating the sum.
    if (db != nullptr) {
      T* __restrict dbr = db;
      for (int c = 0; c < cols; ++c) dbr[c] += dr[c];
    }
  }
}

template <typename T>
ECPS_KERNEL void AddToImpl(size_t n, const T* __restrict x, T* __restrict y) {
  for (size_t i = 0; i < n; ++i) y[i] += x[i];
}

// Padded width of the transposed block used by the interaction kernel.
inline int InteractionPad(int m) { return (m + 7) / 8 * 8; }

// acc[0..8V) = sum over k < d of zi[k] * zt[k * mp + 0..8V), summed over k in
// order. V vectors of 8 lanes with a fixed trip count, so the compiler keeps
// the sums in registers across k (a runtime-length loop reloaded and stored
// them for every k: most of the kernel's time went to those stores).
template <int V, typename T>
ECPS_KERNEL void InteractionRowBlock(int d, int mp, const T* __restrict zi, const T* __restrict zt,
                                     T* __restrict acc) {
  T a[8 * V];
  for (int j = 0; j < 8 * V; ++j) a[j] = T(0);
  for (int k = 0; k < d; ++k) {
    const T zik = zi[k];
    const T* __restrict ztk = zt + k * mp;
    for (int j = 0; j < 8 * V; ++j) a[j] += zik * ztk[j];
  }
  for (int j = 0; j < 8 * V; ++j) acc[j] = a[j];
}

template <typename T>
ECPS_KERNEL void DotInteractionForwardImpl(int rows, int m, int d, const T* z, T* out, int ldo,
                                           T* scratch) {
  const int mp = InteractionPad(m);
  T* __restrict zt = scratch;            // [d x mp], Zᵀ zero-padded
  T* __restrict acc = scratch + d * mp;  // [mp]
  std::fill(zt, zt + d * mp, T(0));
  for (int r = 0; r < rows; ++r) {
    const T* __restrict zr = z + static_cast<size_t>(r) * m * d;
    T* __restrict o = out + static_cast<size_t>(r) * ldo;
    for (int i = 0; i < m; ++i)
      for (int k = 0; k < d; ++k) zt[k * mp + i] = zr[i * d + k];
    // Row i of the strict lower triangle: acc[j] = sum_k z_i[k] z_j[k] for
    // j < i, summed over k in order and vectorised across j (the padded
    // width keeps the vector loop free of a scalar tail), 32 j at a time.
    int pos = 0;
    for (int i = 1; i < m; ++i) {
      const int len = std::min((i + 7) / 8 * 8, mp);
      const T* zi = zr + i * d;
      for (int j0 = 0; j0 < len; j0 += 32) {
        switch (std::min(32, len - j0) / 8) {
          case 1:
            InteractionRowBlock<1>(d, mp, zi, zt + j0, acc + j0);
            break;
          case 2:
            InteractionRowBlock<2>(d, mp, zi, zt + j0, acc + j0);
            break;
          case 3:
            InteractionRowBlock<3>(d, mp, zi, zt + j0, acc + j0);
            break;
          default:
            InteractionRowBlock<4>(d, mp, zi, zt + j0, acc + j0);
            break;
        }
      }
      for (int j = 0; j < i; ++j) o[pos + j] = acc[j];
      pos += i;
    }
  }
}

template <typename T>
ECPS_KERNEL void DotInteractionBackwardImpl(int rows, int m, int d, const T* z, const T* dtri,
                                            int ldd, T* dz, T* scratch) {
  T* __restrict s = scratch;  // [m x m] symmetric pair gradients, zero diagonal
  for (int r = 0; r < rows; ++r) {
    const T* __restrict zr = z + static_cast<size_t>(r) * m * d;
    const T* __restrict g = dtri + static_cast<size_t>(r) * ldd;
    T* __restrict dzr = dz + static_cast<size_t>(r) * m * d;
    int pos = 0;
    for (int i = 0; i < m; ++i) {
      s[i * m + i] = T(0);
      for (int j = 0; j < i; ++j) {
        s[i * m + j] = g[pos + j];
        s[j * m + i] = g[pos + j];
      }
      pos += i;
    }
    // dz_i = sum_j s_ij z_j, j in order, vectorised across the d lanes.
    for (int i = 0; i < m; ++i) {
      T* __restrict dzi = dzr + i * d;
      for (int k = 0; k < d; ++k) dzi[k] = T(0);
      for (int j = 0; j < m; ++j) {
        const T sij = s[i * m + j];
        const T* __restrict zj = zr + j * d;
        for (int k = 0; k < d; ++k) dzi[k] += sij * zj[k];
      }
    }
  }
}

}  // namespace internal

// y[r, c] = act(y[r, c] + bias[c]) for r < rows, c < cols. bias may be null;
// act is ReLU when relu, else identity.
inline void BiasAct(int rows, int cols, const double* bias, bool relu, double* y, int ldy) {
  internal::BiasActImpl(rows, cols, bias, relu, y, ldy);
}
void BiasAct(int rows, int cols, const float* bias, bool relu, float* y, int ldy);

// Backward of BiasAct given its output y: when relu, dy[r, c] = 0 where
// y[r, c] <= 0 (in place); then, when db is non-null, db[c] = sum_r dy[r, c]
// (overwritten, summed in row order). y is not read when !relu (may be null).
inline void ActBackward(int rows, int cols, const double* y, int ldy, bool relu, double* dy,
                        int lddy, double* db) {
  internal::ActBackwardImpl(rows, cols, y, ldy, relu, dy, lddy, db);
}
void ActBackward(int rows, int cols, const float* y, int ldy, bool relu, float* dy, int lddy,
                 float* db);

// y[i] += x[i] for i < n.
inline void AddTo(size_t n, const double* x, double* y) { internal::AddToImpl(n, x, y); }
void AddTo(size_t n, const float* x, float* y);

// Scratch elements the interaction kernels need for m vectors of dimension d.
inline size_t InteractionScratchSize(int m, int d) {
  const size_t mp = internal::InteractionPad(m);
  return std::max(static_cast<size_t>(d) * mp + mp, static_cast<size_t>(m) * m);
}

// Pairwise dot products: for each row r, z[r] is [m x d] and out[r, :] gets
// the strict lower triangle of z[r]·z[r]ᵀ, (i, j) with i > j in row-major
// order, m(m-1)/2 values. scratch: InteractionScratchSize(m, d) elements.
inline void DotInteractionForward(int rows, int m, int d, const double* z, double* out, int ldo,
                                  double* scratch) {
  internal::DotInteractionForwardImpl(rows, m, d, z, out, ldo, scratch);
}
void DotInteractionForward(int rows, int m, int d, const float* z, float* out, int ldo,
                           float* scratch);

// Backward of DotInteractionForward: dz[r] ([m x d], overwritten) from the
// triangle gradients dtri[r, :] (leading dimension ldd).
inline void DotInteractionBackward(int rows, int m, int d, const double* z, const double* dtri,
                                   int ldd, double* dz, double* scratch) {
  internal::DotInteractionBackwardImpl(rows, m, d, z, dtri, ldd, dz, scratch);
}
void DotInteractionBackward(int rows, int m, int d, const float* z, const float* dtri, int ldd,
                            float* dz, float* scratch);

}  // namespace ecps::model
