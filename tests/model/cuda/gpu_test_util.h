// Helpers of the GPU tests: the skip when no CUDA device is present (the
// suite runs on CI machines that have the toolkit but no GPU) and a device
// copy of a host vector.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <vector>

#include "worker/model/cuda/cuda_dense_model.h"

// Skips the test, printing why (no driver, no device), without a GPU.
#define ECPS_SKIP_WITHOUT_GPU()                                         \
  do {                                                                  \
    const ::ecps::Status gpu = ::ecps::model::cuda::CudaDeviceStatus(); \
    if (!gpu.ok()) GTEST_SKIP() << "no CUDA device: " << gpu.message(); \
  } while (0)

namespace ecps::model::cuda::testing {

class DeviceVector {
 public:
  explicit DeviceVector(const std::vector<float>& host) : n_(host.size()) {
    EXPECT_EQ(cudaMalloc(&p_, sizeof(float) * (n_ + 1)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(p_, host.data(), sizeof(float) * n_, cudaMemcpyHostToDevice), cudaSuccess);
  }
  explicit DeviceVector(size_t n) : DeviceVector(std::vector<float>(n, 0.0f)) {}
  ~DeviceVector() { cudaFree(p_); }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;

  float* get() { return p_; }
  std::vector<float> ToHost() const {
    std::vector<float> h(n_);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(h.data(), p_, sizeof(float) * n_, cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }

 private:
  size_t n_;
  float* p_ = nullptr;
};

}  // namespace ecps::model::cuda::testing
