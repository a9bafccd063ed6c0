// Row codecs of the local store: how one row of a RowTableSpec is laid out in
// bytes and converted to and from fp32 (docs/methods.md §2.16-§2.19b).
//
// Layout: every row occupies RowBytes(dtype, width) bytes, rows back to back;
// a row never shares a byte with the next one (packed 4-bit rows of odd width
// waste half a byte). Element j of a row:
//   kF16            IEEE binary16 at bytes [2j, 2j+2)
//   kI8 / kU8       one byte, two's complement / unsigned
//   kI16 / kU16     two bytes, little-endian
//   kU4             low nibble of byte j/2 for even j, high nibble for odd j
// Value of an integer code q: q * scale + zero, with (scale, zero) the
// table's global pair (QuantScheme::kGlobal) or the row's (kPerRow).
//
// Rounding. A value x is written as a code by
//   q = clamp(floor((x - zero) / scale + u), qmin, qmax)
// with u = the rounding draw in [0, 1) (stochastic rounding: E[q] = (x -
// zero) / scale whenever x is in range) or nearest rounding (ties to even)
// when no draw is given. fp16 stochastic rounding picks the upper of the two
// bracketing fp16 values lo <= x <= hi with probability (x - lo) / (hi - lo).
//
// What a write could not represent is reported, not hidden: EncodeRow()
// returns how many values it clipped to the code range (an INT16 table's
// automatic step 2^-15 covers only [-1, 1)) and how many were not finite
// (NaN or +-Inf weights, which have no code: casting them to an integer was
// undefined behaviour). A store keeps one WriteStats per table, adds every
// EncodeRow() result and calls Check() after each write batch: it fails on
// non-finite values and warns once per table about clipping.
//
// Thread-safety: the free functions are pure; WriteStats is not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "compressors/storage.h"

namespace ecps::row_codec {

// Bytes of one stored row. REQUIRES: width > 0.
size_t RowBytes(DType dtype, int width);

// Integer code range of a code dtype (kI8, kI16, kU8, kU16, kU4).
struct CodeRange {
  int32_t qmin = 0, qmax = 0;
};
CodeRange Range(DType dtype);
bool IsIntegerCode(DType dtype);

// IEEE binary16 conversions (round to nearest even; overflow saturates to
// +-65504 instead of becoming infinite, NaN stays NaN).
uint16_t FloatToHalf(float x);
float HalfToFloat(uint16_t h);
// Stochastic rounding to fp16 with draw u in [0, 1): unbiased for finite x
// within +-65504.
uint16_t FloatToHalfStochastic(float x, float u);
// Largest fp16 value <= x, smallest fp16 value >= x (x finite, |x| <= 65504).
float HalfFloor(float x);
float HalfCeil(float x);

// out[0..width) = the decoded row. For kF16 scale/zero are ignored.
void DecodeRow(DType dtype, int width, const uint8_t* row, float scale, float zero, float* out);

// What one EncodeRow() could not represent.
struct EncodeStats {
  // Finite values outside the representable range, written as the nearest
  // end: integer codes clamped to [qmin, qmax]; fp16 values beyond +-65504.
  uint32_t clipped = 0;
  // NaN or +-Inf values, and values whose (x - zero) / scale is not finite
  // (a non-finite per-row scale): integer codes get the code nearest to 0.0
  // (qmin if that is not finite either), fp16 keeps NaN and saturates +-Inf
  // to +-65504, fp32 stores them as they are. A caller must refuse the write.
  uint32_t non_finite = 0;
  EncodeStats& operator+=(const EncodeStats& o) {
    clipped += o.clipped;
    non_finite += o.non_finite;
    return *this;
  }
};

// Encodes in[0..width) into `row`. `u` holds the rounding draws: nullptr for
// nearest rounding, otherwise u[j * u_stride] is element j's draw (stride 0:
// one draw for the whole row). scale == 0 writes qmin for every element (a
// constant row; only non-finite inputs are counted then).
EncodeStats EncodeRow(DType dtype, int width, const float* in, float scale, float zero,
                      const float* u, int u_stride, uint8_t* row);

// The running tally of one table's writes (EncodeStats summed), for a store.
// Cheap on the hot path: Add() is two additions, Check() two compares.
class WriteStats {
 public:
  void Add(const EncodeStats& s) {
    clipped_ += s.clipped;
    pending_non_finite_ += s.non_finite;
  }
  // InvalidArgument naming the table if non-finite values were written since
  // the last Check() (the count is then cleared, so the next write batch is
  // judged on its own). The first time clipped values are seen, logs one
  // warning (ECPS_LOG_WARN) naming the table, the count so far and, for a
  // global-scale table, its representable range -- once per table name in
  // the process (a server's virtual shards each hold a store of the table).
  Status Check(const RowTableSpec& spec);
  // Values clipped since the table was created.
  uint64_t clipped() const { return clipped_; }

 private:
  uint64_t clipped_ = 0, pending_non_finite_ = 0;
  bool warned_ = false;
};

// Per-row (scale, zero) covering the row's [min, max] with the code range
// of `dtype`: scale = (max - min) / (qmax - qmin), zero = min - qmin * scale.
// With `f16` both are made fp16-representable *outward* (zero rounded down,
// scale rounded up), so no element of the row is clipped and stochastic
// rounding stays unbiased. A constant row gets scale 0 and zero = min.
void RowMinMaxParams(DType dtype, int width, const float* in, bool f16, float* scale, float* zero);

// ALPT's LSQ gradient of the loss w.r.t. a row's scale (docs/methods.md §2.18),
// before the factor g = 1/sqrt(N d qmax): with v_j = w_j / scale,
//   sum_j grad_j * (round(v_j) - v_j   if qmin < v_j < qmax,
//                   qmin              if v_j <= qmin,
//                   qmax              if v_j >= qmax).
// This is d/d(scale) of clamp(round(v), qmin, qmax) * scale with round()
// passed straight through. w, grad: [width]. REQUIRES: scale > 0.
double LsqScaleGrad(const float* w, const float* grad, int width, float scale, CodeRange range);

}  // namespace ecps::row_codec
