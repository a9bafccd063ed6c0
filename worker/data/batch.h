// The unit of data that flows from the data pipeline to the trainer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ecps {

// Shape of a preprocessed dataset: what the models and the embedding layer
// need to know about the features. Field ids are field-local, dense in
// [0, cardinalities[f]); global id = offsets[f] + local id.
struct DatasetSchema {
  std::string format;                    // "criteo", "avazu", "libsvm", "libffm"
  int num_dense = 0;                     // 13 for Criteo, 0 for Avazu
  int num_fields = 0;                    // 26 for Criteo, 22 for Avazu
  std::vector<std::string> field_names;  // size num_fields
  std::vector<uint64_t> cardinalities;   // size num_fields (including OOV/missing ids)
  std::vector<uint64_t> offsets;         // size num_fields, cumulative sums
  // What the cache was built from (worker/data/cache_identity.h): inputs with
  // size, mtime and content hash, format and options. Empty when unknown.
  std::string identity;
  // The rows carry a value per field (libSVM/libFM/libFFM values other than
  // 1, data.feature_values=weight): Batch::values, which scale the fields'
  // embedding vectors. False: every value is 1, Batch::values is empty.
  bool has_values = false;
  uint64_t total_features() const {
    return offsets.empty() ? 0 : offsets.back() + cardinalities.back();
  }
};

// B samples, row-major. `sparse[i * num_fields + f]` is the field-local id of
// field f in sample i; `dense[i * num_dense + j]` is already log-transformed.
struct Batch {
  int size = 0;
  int num_dense = 0;
  int num_fields = 0;
  std::vector<float> labels;     // size B, 0 or 1
  std::vector<float> dense;      // size B * num_dense
  std::vector<uint32_t> sparse;  // size B * num_fields
  // Empty (every feature's value is 1), or size B * num_fields like sparse:
  // the value that multiplies that field's embedding vector
  // (EmbeddingLayer::Forward's values).
  std::vector<float> values;

  // with_values: size `values` like `sparse`; otherwise it is emptied.
  void Resize(int b, int nd, int nf, bool with_values = false) {
    size = b;
    num_dense = nd;
    num_fields = nf;
    labels.resize(b);
    dense.resize(static_cast<size_t>(b) * nd);
    sparse.resize(static_cast<size_t>(b) * nf);
    values.resize(with_values ? sparse.size() : 0);
  }
};

enum class Split : uint8_t { kTrain = 0, kValidation = 1, kTest = 2 };
inline const char* SplitName(Split s) {
  return s == Split::kTrain ? "train" : s == Split::kValidation ? "validation" : "test";
}

}  // namespace ecps
