// The embedding layer the trainer talks to: a Compressor (the method) bound to
// a RowStore (where the rows live). It turns a batch's field-local ids into
// [N x dim] vectors and applies the backward pass.
//
// Thread-safety: one trainer thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/status.h"
#include "compressors/compressor.h"
#include "embedding/row_store.h"

namespace ecps {

class EmbeddingLayer {
 public:
  EmbeddingLayer(std::unique_ptr<Compressor> compressor, std::unique_ptr<RowStore> store);

  // Sizes the method and initialises the store.
  Status Init(const CompressorContext& ctx, const ParamSet& method_params);

  // out: [keys.size() x dim]. With training=true, keeps what Backward() needs
  // and lets the method observe the keys (frequency counters).
  void Forward(std::span<const uint32_t> keys, float* out, bool training);

  // grad_out: [N x dim] for the keys of the last training Forward().
  // Applies the sparse optimizer at global step `step` (1-based).
  void Backward(const float* grad_out, int64_t step);

  // Moves to stage `index` of compressor().Stages().
  Status BeginStage(int index);

  MemoryReport Memory() const;
  Compressor& compressor() { return *compressor_; }
  const Compressor& compressor() const { return *compressor_; }
  RowStore& store() { return *store_; }
  int dim() const { return dim_; }

  // Method state + store state, for checkpoints.
  std::string Save() const;
  Status Load(const std::string& blob);

 private:
  std::unique_ptr<Compressor> compressor_;
  std::unique_ptr<RowStore> store_;
  uint64_t seed_ = 0;
  int dim_ = 0;
  LookupPlan plan_;
  FetchedRows values_;
  FetchedRows grads_;
};

}  // namespace ecps
