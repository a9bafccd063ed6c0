// ps/ internal: payload layouts of the parameter-server messages, shared by
// server.cc and client.cc. Not part of the public API.
//
//   kReset      step = seed; payload 0 = specs (EncodeSpecs)
//   kPull       step = min clock (kNoWait: none), arg = worker, arg2 = the
//               reader's clock (served once this worker's pushes up to it
//               are applied: a prefetch sent before its push); payload t =
//               uint64 global rows of table t -> kPullReply payload t = the
//               n rows of table t, either fp32 [n x width] or, for a
//               CodedPull() table, [n x RowBytes(dtype, width)] codes
//               (embedding/row_codec.h layout) followed, for per-row tables,
//               by [n x CodedParamBytes()] per-row parameters: (scale, zero)
//               in the table's scale_dtype (f32 or f16, native byte order),
//               only the scale for a learned scale (its zero is 0). The codes
//               decode with those parameters (or the spec's global scale/zero)
//               bit-exactly to the server store's fp32 rows; payload T = one
//               uint8 per table: 1 coded, 0 fp32 (what a server sends when a
//               row's stored parameters do not fit scale_dtype)
//   kPush       step = optimizer step, arg = worker, arg2 = clock; payloads
//               2t, 2t+1 = rows (uint64, deduplicated) and summed grads (fp32)
//               of table t; payload 2T = uint64 per table: the lookups of the
//               worker's whole batch (plan.rows[t].size(), ALPT's N); then
//               one payload per key mapping (kKeyMappings order): uint32
//               occurrences of each key of its data table's payload 2t (a
//               keyed table's "rows" are keys) -> kAck
//   kKeyMappings payload 0 = EncodeKeyMappings(specs) (compressors/key_mapping.h):
//               the keyed tables of the current tables; each server hands
//               every virtual shard its partition (partitions must equal the
//               virtual shards). Dropped by every reset, load and reshape
//               -> kAck
//   kSave       step = min clock, text = a path prefix: the server writes
//               each of its virtual shards' RowStore blob to
//               ShardFilePath(prefix, vshard) (atomically) -> kSaveReply
//               payload 0 = uint32 vshard ids, 1 = uint64 (bytes, checksum)
//               per id. The rows never travel in a message
//   kLoad       payload 0 = specs, 1 = uint32 vshard ids, 2 = uint64 (bytes,
//               checksum) per id, text = the ids' files joined by '\n'; the
//               server reads and verifies each file -> kAck
//   kReadRows   arg = table, step = min clock, payload 0 = rows -> kReadRowsReply fp32
//   kWriteRows  arg = table, step = min clock (applied once every worker's
//               pushes reached it, like a read), payload 0 = rows, 1 = fp32
//               values, optional 2 = fp32 per-row (scale, zero) pairs -> kAck
//   kReduceRows step = min clock; payload 0 = the op's fields (EncodeRowReduction),
//               1 = uint64 pairs (kBlockPairAgreement), optional 2 = f64
//               thresholds (kThresholdCounts) -> kReduceRowsReply
//               payload 0 = this server's partial sums, RowReductionSize(op,
//               rows) doubles (docs/architecture.md "Whole-table work where
//               the rows are"). FailedPrecondition: a pair agreement whose
//               block_rows is not a multiple of the virtual shards
//   kReshape    step = min clock, arg = seed, arg2 = worker; payload 0 =
//               specs, 1 = copies (EncodeRowCopies), then from the primary
//               one payload per copy whose source and destination rows are
//               in different virtual shards (an unaligned copy): fp32 values
//               of the copy's destination rows this server holds, grouped by
//               virtual shard (ascending), rows ascending within. Every
//               worker sends one; the server reshapes once all have arrived
//               and then acknowledges each -> kAck
//   kStats      -> kStatsReply text = JSON (Server::StatsJson); arg > 0: also
//               payload 0 = EncodeKeyStats (compressors/key_mapping.h) of the
//               keyed tables at step `step` with the `arg` hottest keys
//   kEcho       payloads -> kEchoReply the same payloads; arg = 1: copied
//               into fresh buffers by the server (bench/ps_bench.cc)
#pragma once

#include <bit>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "comm/message.h"
#include "comm/wire_codec.h"
#include "common/status.h"
#include "compressors/storage.h"
#include "embedding/row_codec.h"

namespace ecps {
namespace ps::internal {

inline constexpr int64_t kNoWait = std::numeric_limits<int64_t>::min();

// Typed accessors of the header's generic fields (comm::Header step, arg,
// arg2), one pair per message: the only code that knows which field carries
// what (the table at the top of this file). Readers never touch the raw
// fields.
//   kPull: the min clock (kNoWait: none), the worker, the reader's clock.
struct PullFields {
  int64_t min_clock = 0;
  int64_t worker = 0;
  int64_t reader_clock = 0;
};
inline void SetPullFields(comm::Header* h, const PullFields& f) {
  h->step = f.min_clock;
  h->arg = f.worker;
  h->arg2 = f.reader_clock;
}
inline PullFields GetPullFields(const comm::Header& h) { return {h.step, h.arg, h.arg2}; }
//   kPush: the 1-based optimizer step, the worker, its clock after the push.
struct PushFields {
  int64_t opt_step = 0;
  int64_t worker = 0;
  int64_t clock = 0;
};
inline void SetPushFields(comm::Header* h, const PushFields& f) {
  h->step = f.opt_step;
  h->arg = f.worker;
  h->arg2 = f.clock;
}
inline PushFields GetPushFields(const comm::Header& h) { return {h.step, h.arg, h.arg2}; }
//   kReset: the initialisation seed.
inline void SetResetSeed(comm::Header* h, uint64_t seed) { h->step = static_cast<int64_t>(seed); }
inline uint64_t GetResetSeed(const comm::Header& h) { return static_cast<uint64_t>(h.step); }
//   kSave, kReadRows, kWriteRows: served once every worker reached the min
//   clock (parked until then, like a pull).
inline void SetMinClock(comm::Header* h, int64_t min_clock) { h->step = min_clock; }
inline int64_t GetMinClock(const comm::Header& h) { return h.step; }
//   kReadRows, kWriteRows: the table.
inline void SetTable(comm::Header* h, int64_t table) { h->arg = table; }
inline int64_t GetTable(const comm::Header& h) { return h.arg; }
//   kReshape: the min clock, the initialisation seed, the sending worker.
struct ReshapeFields {
  int64_t min_clock = 0;
  uint64_t seed = 0;
  int64_t worker = 0;
};
inline void SetReshapeFields(comm::Header* h, const ReshapeFields& f) {
  h->step = f.min_clock;
  h->arg = static_cast<int64_t>(f.seed);
  h->arg2 = f.worker;
}
inline ReshapeFields GetReshapeFields(const comm::Header& h) {
  return {h.step, static_cast<uint64_t>(h.arg), h.arg2};
}
//   kEcho: whether the server copies the payloads into fresh buffers.
inline void SetEchoCopies(comm::Header* h, bool copy) { h->arg = copy ? 1 : 0; }
inline bool GetEchoCopies(const comm::Header& h) { return h.arg == 1; }

// The file of virtual shard `vshard` in a sharded checkpoint whose parts
// start with `prefix` (docs/formats.md "Sharded checkpoint").
inline std::string ShardFilePath(const std::string& prefix, int vshard) {
  return prefix + ".vs" + std::to_string(vshard) + ".shard";
}

// Whether pulls of `s` may carry codes instead of fp32: fp16 tables and
// integer codes with a global or per-row (scale, zero).
inline bool CodedPull(const RowTableSpec& s) {
  if (s.dtype == DType::kF16) return s.quant == QuantScheme::kNone;
  if (!row_codec::IsIntegerCode(s.dtype)) return false;
  if (s.quant == QuantScheme::kGlobal) return true;
  return s.quant == QuantScheme::kPerRow &&
         (s.scale_dtype == DType::kF32 || s.scale_dtype == DType::kF16);
}

// Bytes of one row's parameters in a coded pull reply (0: none per row).
inline size_t CodedParamBytes(const RowTableSpec& s) {
  if (s.quant != QuantScheme::kPerRow) return 0;
  const size_t one = s.scale_dtype == DType::kF16 ? 2 : 4;
  return s.learn_scale ? one : 2 * one;
}

// Bytes of one row in a coded pull reply: codes plus parameters.
inline size_t CodedPullRowBytes(const RowTableSpec& s) {
  return row_codec::RowBytes(s.dtype, s.width) + CodedParamBytes(s);
}

// Writes a stored (scale, zero) pair of a per-row table as CodedParamBytes(s)
// bytes at `dst`; false if the pair does not survive the trip (a value that
// is not exactly representable in scale_dtype, or a learned scale's zero that
// is not 0), in which case the table must travel as fp32.
inline bool PutRowParams(const RowTableSpec& s, float scale, float zero, uint8_t* dst) {
  const float pair[2] = {scale, zero};
  const int n = s.learn_scale ? 1 : 2;
  if (s.learn_scale && std::bit_cast<uint32_t>(zero) != 0) return false;
  for (int i = 0; i < n; ++i) {
    if (s.scale_dtype == DType::kF32) {
      std::memcpy(dst + 4 * i, &pair[i], 4);
      continue;
    }
    const uint16_t h = row_codec::FloatToHalf(pair[i]);
    if (std::bit_cast<uint32_t>(row_codec::HalfToFloat(h)) != std::bit_cast<uint32_t>(pair[i]))
      return false;
    std::memcpy(dst + 2 * i, &h, 2);
  }
  return true;
}

// Reads what PutRowParams() wrote.
inline void GetRowParams(const RowTableSpec& s, const uint8_t* src, float* scale, float* zero) {
  float pair[2] = {0.0f, 0.0f};
  const int n = s.learn_scale ? 1 : 2;
  for (int i = 0; i < n; ++i) {
    if (s.scale_dtype == DType::kF32) {
      std::memcpy(&pair[i], src + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      pair[i] = row_codec::HalfToFloat(h);
    }
  }
  *scale = pair[0];
  *zero = pair[1];
}

// kReduceRows: an op as two or three payloads, fixed-size fields, the pairs
// and (kThresholdCounts) the candidate thresholds as doubles. A
// fixed layout (not cereal) so that a malformed request cannot make the
// decoder allocate more than the message's own bytes.
inline constexpr size_t kRowReductionWords = 9;
inline std::vector<comm::Buffer> EncodeRowReduction(const RowReduction& op) {
  std::vector<uint64_t> f = {static_cast<uint64_t>(op.kind),
                             static_cast<uint64_t>(static_cast<int64_t>(op.table)),
                             op.block_rows,
                             static_cast<uint64_t>(static_cast<int64_t>(op.bands)),
                             op.seed,
                             static_cast<uint64_t>(static_cast<int64_t>(op.bins)),
                             std::bit_cast<uint64_t>(op.lo),
                             std::bit_cast<uint64_t>(op.hi),
                             std::bit_cast<uint64_t>(op.tol)};
  std::vector<comm::Buffer> out;
  out.push_back(comm::Buffer::FromVector(std::move(f)));
  out.push_back(comm::Buffer::FromVector(std::vector<uint64_t>(op.pairs)));
  if (!op.thresholds.empty())
    out.push_back(comm::Buffer::FromVector(std::vector<double>(op.thresholds)));
  return out;
}

// What EncodeRowReduction() wrote; InvalidArgument for another layout or a
// field out of its type's range (the op's own checks are
// ValidateRowReduction's).
inline StatusOr<RowReduction> DecodeRowReduction(const std::vector<comm::Buffer>& p) {
  if (p.size() != 2 && p.size() != 3)
    return InvalidArgument("reduce_rows needs 2 or 3 payloads, got ", p.size());
  ASSIGN_OR_RETURN(size_t nf, comm::ElementsOf<uint64_t>(p[0], "reduction fields"));
  if (nf != kRowReductionWords)
    return InvalidArgument("reduce_rows: ", nf, " fields, expected ", kRowReductionWords);
  RETURN_IF_ERROR(comm::ElementsOf<uint64_t>(p[1], "reduction pairs").status());
  if (p.size() == 3)
    RETURN_IF_ERROR(comm::ElementsOf<double>(p[2], "reduction thresholds").status());
  const auto f = p[0].As<uint64_t>();
  auto as_int = [](uint64_t v, int* out) {
    const int64_t x = static_cast<int64_t>(v);
    if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max()) return false;
    *out = static_cast<int>(x);
    return true;
  };
  RowReduction op;
  if (f[0] > static_cast<uint64_t>(RowReductionKind::kSoftThresholdCounts))
    return InvalidArgument("reduce_rows: unknown kind ", f[0]);
  op.kind = static_cast<RowReductionKind>(f[0]);
  if (!as_int(f[1], &op.table) || !as_int(f[3], &op.bands) || !as_int(f[5], &op.bins))
    return InvalidArgument("reduce_rows: table, bands or bins out of range");
  op.block_rows = f[2];
  op.seed = f[4];
  op.lo = std::bit_cast<double>(f[6]);
  op.hi = std::bit_cast<double>(f[7]);
  op.tol = std::bit_cast<double>(f[8]);
  const auto pairs = p[1].As<uint64_t>();
  op.pairs.assign(pairs.begin(), pairs.end());
  if (p.size() == 3) {
    const auto thresholds = p[2].As<double>();
    op.thresholds.assign(thresholds.begin(), thresholds.end());
  }
  return op;
}

// kReshape: the copies as 5 uint64 each (src_table, src_begin, dst_table,
// dst_begin, count).
inline comm::Buffer EncodeRowCopies(std::span<const RowCopy> copies) {
  std::vector<uint64_t> w;
  w.reserve(5 * copies.size());
  for (const RowCopy& c : copies) {
    w.push_back(static_cast<uint64_t>(static_cast<int64_t>(c.src_table)));
    w.push_back(c.src_begin);
    w.push_back(static_cast<uint64_t>(static_cast<int64_t>(c.dst_table)));
    w.push_back(c.dst_begin);
    w.push_back(c.count);
  }
  return comm::Buffer::FromVector(std::move(w));
}

inline StatusOr<std::vector<RowCopy>> DecodeRowCopies(const comm::Buffer& b) {
  ASSIGN_OR_RETURN(size_t n, comm::ElementsOf<uint64_t>(b, "row copies"));
  if (n % 5 != 0) return InvalidArgument("reshape: ", n, " copy words, not a multiple of 5");
  const auto w = b.As<uint64_t>();
  std::vector<RowCopy> copies(n / 5);
  for (size_t i = 0; i < copies.size(); ++i) {
    const int64_t src = static_cast<int64_t>(w[5 * i]), dst = static_cast<int64_t>(w[5 * i + 2]);
    // Table indices beyond int are out of range whatever the tables.
    if (src < 0 || src > std::numeric_limits<int>::max() || dst < 0 ||
        dst > std::numeric_limits<int>::max())
      return OutOfRange("reshape: copy ", i, " names table ", src, " -> ", dst);
    copies[i] = {static_cast<int>(src), w[5 * i + 1], static_cast<int>(dst), w[5 * i + 3],
                 w[5 * i + 4]};
  }
  return copies;
}

// Whether every row of copy `c` has its source and destination in the same
// virtual shard of V (dst_begin = src_begin mod V): then each server copies
// its own rows.
inline bool AlignedCopy(const RowCopy& c, int virtual_shards) {
  const uint64_t v = static_cast<uint64_t>(virtual_shards);
  return c.count == 0 || c.src_begin % v == c.dst_begin % v;
}

// Table specs: a count, then per spec its fields in declaration order
// (comm/wire_codec.h; the bytes cereal wrote for them, so the specs kept in
// older checkpoints still decode).
inline constexpr uint64_t kMaxSpecs = 1 << 16;
inline constexpr uint64_t kMaxSpecNameBytes = 4096;
// Bytes of a spec with an empty name: the least one can take.
inline constexpr uint64_t kMinSpecBytes = 67;

inline std::string EncodeSpecs(const std::vector<RowTableSpec>& specs) {
  comm::WireWriter w;
  w.Int<uint64_t>(specs.size());
  for (const RowTableSpec& s : specs) {
    w.Str(s.name);
    w.Int(s.rows);
    w.Int(s.width);
    w.Int(s.dtype);
    w.Int(s.quant);
    w.Int(s.rounding);
    w.Double(s.scale);
    w.Double(s.zero);
    w.Bool(s.trainable);
    w.Double(s.init_bound);
    w.Int(s.init);
    w.Double(s.init_value);
    w.Int(s.scale_dtype);
    w.Bool(s.learn_scale);
    w.Double(s.scale_lr);
  }
  return w.Finish();
}

inline StatusOr<std::vector<RowTableSpec>> DecodeSpecs(std::string_view bytes) {
  comm::WireReader r(bytes, "table specs");
  RETURN_IF_ERROR(r.Start());
  uint64_t n = 0;
  RETURN_IF_ERROR(r.Count(&n, kMinSpecBytes, kMaxSpecs, "specs"));
  std::vector<RowTableSpec> specs(n);
  for (RowTableSpec& s : specs) {
    RETURN_IF_ERROR(r.Str(&s.name, kMaxSpecNameBytes, "name"));
    RETURN_IF_ERROR(r.Int(&s.rows, "rows"));
    RETURN_IF_ERROR(r.Int(&s.width, "width"));
    RETURN_IF_ERROR(r.Int(&s.dtype, "dtype"));
    RETURN_IF_ERROR(r.Int(&s.quant, "quant"));
    RETURN_IF_ERROR(r.Int(&s.rounding, "rounding"));
    RETURN_IF_ERROR(r.Double(&s.scale, "scale"));
    RETURN_IF_ERROR(r.Double(&s.zero, "zero"));
    RETURN_IF_ERROR(r.Bool(&s.trainable, "trainable"));
    RETURN_IF_ERROR(r.Double(&s.init_bound, "init_bound"));
    RETURN_IF_ERROR(r.Int(&s.init, "init"));
    RETURN_IF_ERROR(r.Double(&s.init_value, "init_value"));
    RETURN_IF_ERROR(r.Int(&s.scale_dtype, "scale_dtype"));
    RETURN_IF_ERROR(r.Bool(&s.learn_scale, "learn_scale"));
    RETURN_IF_ERROR(r.Double(&s.scale_lr, "scale_lr"));
  }
  RETURN_IF_ERROR(r.Finish());
  for (size_t t = 0; t < specs.size(); ++t)
    if (specs[t].width <= 0 || specs[t].width > (1 << 20))
      return DataLoss("table spec ", t, " has width ", specs[t].width);
  return specs;
}

}  // namespace ps::internal
}  // namespace ecps
