// ps/ internal: payload layouts of the parameter-server messages, shared by
// server.cc and client.cc. Not part of the public API.
//
//   kReset      step = seed; payload 0 = specs (EncodeSpecs)
//   kPull       step = min clock (kNoWait: none), arg = worker; payload t =
//               uint64 global rows of table t -> kPullReply payload t = the
//               rows of table t, either fp32 [rows x width] or, for a
//               CodedPull() table, the codes [rows x RowBytes(dtype, width)]
//               that the table's codec (embedding/row_codec.h, the spec's
//               global scale/zero) decodes bit-exactly to those fp32 rows;
//               payload T = one uint8 per table: 1 coded, 0 fp32
//   kPush       step = optimizer step, arg = worker, arg2 = clock; payloads
//               2t, 2t+1 = rows (uint64) and grads (fp32) of table t -> kAck
//   kSave       step = min clock -> kSaveReply payload 0 = uint32 vshard ids,
//               payload 1+i = that vshard's RowStore blob. With arg =
//               kShardFiles, text = a path prefix: the server writes each
//               blob to ShardFilePath(prefix, vshard) (atomically) and the
//               reply's payload 1 = uint64 (bytes, checksum) per id instead
//   kLoad       payload 0 = specs, 1 = uint32 vshard ids, 2+i = blobs -> kAck.
//               With arg = kShardFiles: payload 2 = uint64 (bytes, checksum)
//               per id, text = the ids' files joined by '\n'; the server
//               reads and verifies each file
//   kReadRows   arg = table, step = min clock, payload 0 = rows -> kReadRowsReply fp32
//   kWriteRows  arg = table, payload 0 = rows, 1 = fp32 values, optional 2 =
//               fp32 per-row (scale, zero) pairs -> kAck
//   kStats      -> kStatsReply text = JSON
#pragma once

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "common/status.h"
#include "compressors/compressor.h"
#include "embedding/row_codec.h"

namespace ecps {

template <class Archive>
void serialize(Archive& ar, RowTableSpec& s) {
  ar(s.name, s.rows, s.width, s.dtype, s.quant, s.rounding, s.scale, s.zero, s.trainable,
     s.init_bound, s.init, s.init_value, s.scale_dtype, s.learn_scale, s.scale_lr);
}

namespace ps::internal {

inline constexpr int64_t kNoWait = std::numeric_limits<int64_t>::min();
// kSave/kLoad arg: the blobs go through files in a shared directory.
inline constexpr int64_t kShardFiles = 1;

// The file of virtual shard `vshard` in a sharded checkpoint whose parts
// start with `prefix` (docs/formats.md "Sharded checkpoint").
inline std::string ShardFilePath(const std::string& prefix, int vshard) {
  return prefix + ".vs" + std::to_string(vshard) + ".shard";
}

// Whether pulls of `s` may carry codes instead of fp32: fp16 tables and
// integer codes with one global (scale, zero). Per-row scales are not
// reachable through RowStore, so those tables travel as fp32.
inline bool CodedPull(const RowTableSpec& s) {
  if (s.dtype == DType::kF16) return s.quant == QuantScheme::kNone;
  return row_codec::IsIntegerCode(s.dtype) && s.quant == QuantScheme::kGlobal;
}

inline std::string EncodeSpecs(const std::vector<RowTableSpec>& specs) {
  std::ostringstream os;
  {
    cereal::PortableBinaryOutputArchive ar(os);
    ar(specs);
  }
  return os.str();
}

inline StatusOr<std::vector<RowTableSpec>> DecodeSpecs(std::string_view bytes) {
  std::vector<RowTableSpec> specs;
  try {
    std::istringstream is{std::string(bytes)};
    cereal::PortableBinaryInputArchive ar(is);
    ar(specs);
  } catch (const std::exception& e) {
    return DataLoss("table specs are truncated or corrupt: ", e.what());
  }
  for (size_t t = 0; t < specs.size(); ++t)
    if (specs[t].width <= 0 || specs[t].width > (1 << 20))
      return DataLoss("table spec ", t, " has width ", specs[t].width);
  return specs;
}

}  // namespace ps::internal
}  // namespace ecps
