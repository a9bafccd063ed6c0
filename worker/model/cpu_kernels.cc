#include "worker/model/cpu_kernels.h"

// Each float kernel is cloned for AVX2 and the x86-64 baseline; the dynamic
// loader picks the clone once (ifunc). The template bodies are inlined into
// each clone so that they are vectorised for that clone's ISA. No FMA target
// is requested: without contraction both clones round exactly like the double
// reference loops, which keeps results independent of the machine.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ECPS_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define ECPS_MULTIVERSION
#endif

namespace ecps::model {

ECPS_MULTIVERSION void BiasAct(int rows, int cols, const float* bias, bool relu, float* y,
                               int ldy) {
  internal::BiasActImpl(rows, cols, bias, relu, y, ldy);
}

ECPS_MULTIVERSION void ActBackward(int rows, int cols, const float* y, int ldy, bool relu,
                                   float* dy, int lddy, float* db) {
  internal::ActBackwardImpl(rows, cols, y, ldy, relu, dy, lddy, db);
}

ECPS_MULTIVERSION void AddTo(size_t n, const float* x, float* y) { internal::AddToImpl(n, x, y); }

ECPS_MULTIVERSION void DotInteractionForward(int rows, int m, int d, const float* z, float* out,
                                             int ldo, float* scratch) {
  internal::DotInteractionForwardImpl(rows, m, d, z, out, ldo, scratch);
}

ECPS_MULTIVERSION void DotInteractionBackward(int rows, int m, int d, const float* z,
                                              const float* dtri, int ldd, float* dz,
                                              float* scratch) {
  internal::DotInteractionBackwardImpl(rows, m, d, z, dtri, ldd, dz, scratch);
}

}  // namespace ecps::model
