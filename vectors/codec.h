// Compression of fixed, generated embedding matrices (retrieval vectors:
// docs/methods.md §6): the codec interface, the method table, and the
// compressed file (docs/formats.md "Compressed vectors").
//
// A codec is built once from the whole matrix (Compress), then only decodes
// rows: no training, no updates. Memory is exact: MemoryBytes() counts every
// byte a decoder holds (codes, codebooks, maps, scalars), and the ratio is
// MemoryBytes() / (4·n·d).
//
// Thread-safety: a built codec is immutable; Decode() may run concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/blob.h"
#include "common/status.h"
#include "vectors/vector_io.h"

namespace ecps::vectors {

class VectorCodec {
 public:
  VectorCodec(uint64_t n, int dim) : n_(n), dim_(dim) {}
  virtual ~VectorCodec() = default;
  virtual std::string_view method() const = 0;
  uint64_t rows() const { return n_; }
  int dim() const { return dim_; }
  // Writes the rows `ids` decoded into out [ids.size() x dim()].
  // REQUIRES: every id < rows().
  virtual void Decode(std::span<const uint64_t> ids, float* out) const = 0;
  // Every byte a decoder holds.
  virtual uint64_t MemoryBytes() const = 0;
  // The method's chosen parameters, "key=value" separated by spaces (the
  // budget solver's result: "m=16 bits=8", "rank=37").
  virtual std::string Params() const = 0;
  // The method's payload of the compressed file (docs/formats.md).
  virtual void Save(BlobWriter* w) const = 0;
  double Ratio() const { return static_cast<double>(MemoryBytes()) / (4.0 * n_ * dim_); }

 private:
  uint64_t n_;
  int dim_;
};

// `--param key=value` settings of a method, checked against what it takes.
class CodecParams {
 public:
  CodecParams() = default;
  explicit CodecParams(std::map<std::string, std::string> kv) : kv_(std::move(kv)) {}
  // Parses "key=value"; the error names the flag.
  Status Add(std::string_view key_value);
  StatusOr<int64_t> Int(std::string_view key, int64_t def, int64_t lo, int64_t hi) const;
  StatusOr<double> Double(std::string_view key, double def) const;
  // One of `allowed` (the first is the default).
  StatusOr<std::string> Choice(std::string_view key, const std::vector<std::string>& allowed) const;
  // Every key set must be one of `known`; the error names the method.
  Status OnlyKnown(std::string_view method, const std::vector<std::string>& known) const;
  const std::map<std::string, std::string>& values() const { return kv_; }

 private:
  std::map<std::string, std::string> kv_;
};

struct CompressOptions {
  // Fraction of the float32 size, in (0, 1]. A budget a method cannot reach
  // is not an error: the codec is built at its nearest ratio (Ratio()).
  double budget = 0.25;
  CodecParams params;
  uint64_t seed = 1;
  int threads = 1;
  // Called now and then with the done fraction in [0, 1] (a progress bar).
  std::function<void(double)> progress;
};

// One compression method: docs/methods.md §6.
struct CodecInfo {
  std::string_view name;
  std::string_view description;
  StatusOr<std::unique_ptr<VectorCodec>> (*compress)(const VectorSet& x,
                                                     const CompressOptions& options);
  // Reads the payload Save() wrote for an n x dim matrix.
  StatusOr<std::unique_ptr<VectorCodec>> (*load)(BlobReader* r, uint64_t n, int dim);
};

// Every method, in the order of docs/methods.md §6.
const std::vector<CodecInfo>& Codecs();
const CodecInfo* FindCodec(std::string_view name);

// Compresses x with `method`; InvalidArgument names an unknown method or a
// bad --param.
StatusOr<std::unique_ptr<VectorCodec>> Compress(const VectorSet& x, std::string_view method,
                                                const CompressOptions& options);

// What a compressed file records besides the codec (docs/formats.md).
struct CompressedHeader {
  std::string method;
  uint64_t n = 0;
  int dim = 0;
  double budget = 0;
  double compress_seconds = 0;
  // Checksum64 of the original values: eval refuses other vectors.
  uint64_t source_checksum = 0;
};

// The checksum of x's values that a compressed file records.
uint64_t SourceChecksum(const VectorSet& x);

Status WriteCompressed(const std::string& path, const CompressedHeader& header,
                       const VectorCodec& codec);
struct CompressedFile {
  CompressedHeader header;
  std::unique_ptr<VectorCodec> codec;
};
StatusOr<CompressedFile> ReadCompressed(const std::string& path);

}  // namespace ecps::vectors
