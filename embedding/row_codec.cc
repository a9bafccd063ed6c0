#include "embedding/row_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <string>

#include "common/check.h"
#include "common/logging.h"
#include "common/mutex.h"

namespace ecps::row_codec {
namespace {

constexpr float kHalfMax = 65504.0f;

// GCC's _Float16 converts with IEEE round-to-nearest-even (F16C or libgcc);
// the naive bit-level oracle of
// tests/compressors/reference/quantization_reference.cc checks it.
inline uint16_t HalfBits(_Float16 h) {
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}
inline _Float16 BitsHalf(uint16_t b) {
  _Float16 h;
  std::memcpy(&h, &b, 2);
  return h;
}

// The fp16 neighbours of a finite half towards +inf / -inf.
uint16_t NextUp(uint16_t h) {
  if (h == 0x8000) return 0x0001;       // -0 -> smallest positive subnormal
  return (h & 0x8000) ? h - 1 : h + 1;  // negative: magnitude shrinks
}
uint16_t NextDown(uint16_t h) {
  if (h == 0x0000) return 0x8001;
  return (h & 0x8000) ? h + 1 : h - 1;
}

inline int32_t LoadCode(DType dtype, const uint8_t* row, int j) {
  switch (dtype) {
    case DType::kI8:
      return static_cast<int8_t>(row[j]);
    case DType::kU8:
      return row[j];
    case DType::kI16: {
      int16_t v;
      std::memcpy(&v, row + 2 * j, 2);
      return v;
    }
    case DType::kU16: {
      uint16_t v;
      std::memcpy(&v, row + 2 * j, 2);
      return v;
    }
    case DType::kU4:
      return (row[j >> 1] >> ((j & 1) * 4)) & 0xF;
    default:
      return 0;
  }
}

// Decodes with the element loop inside each dtype case, so the switch is
// taken once per row and every loop body is branch-free (vectorisable).
template <typename T>
void DecodeInts(const uint8_t* row, int width, float scale, float zero, float* out) {
  for (int j = 0; j < width; ++j) {
    T v;
    std::memcpy(&v, row + j * sizeof(T), sizeof(T));
    out[j] = static_cast<float>(v) * scale + zero;
  }
}

template <typename T>
void StoreInt(uint8_t* row, int j, int32_t q) {
  const T v = static_cast<T>(q);
  std::memcpy(row + j * sizeof(T), &v, sizeof(T));
}

}  // namespace

size_t RowBytes(DType dtype, int width) {
  return (static_cast<size_t>(width) * DTypeBits(dtype) + 7) / 8;
}

bool IsIntegerCode(DType dtype) {
  return dtype == DType::kI8 || dtype == DType::kI16 || dtype == DType::kU8 ||
         dtype == DType::kU16 || dtype == DType::kU4;
}

CodeRange Range(DType dtype) {
  switch (dtype) {
    case DType::kI8:
      return {-128, 127};
    case DType::kI16:
      return {-32768, 32767};
    case DType::kU8:
      return {0, 255};
    case DType::kU16:
      return {0, 65535};
    case DType::kU4:
      return {0, 15};
    default:
      return {0, 0};
  }
}

uint16_t FloatToHalf(float x) {
  if (std::isnan(x)) return 0x7E00;
  x = std::clamp(x, -kHalfMax, kHalfMax);
  return HalfBits(static_cast<_Float16>(x));
}

float HalfToFloat(uint16_t h) { return static_cast<float>(BitsHalf(h)); }

uint16_t FloatToHalfStochastic(float x, float u) {
  if (std::isnan(x)) return 0x7E00;
  x = std::clamp(x, -kHalfMax, kHalfMax);
  const uint16_t h = HalfBits(static_cast<_Float16>(x));
  const float f = HalfToFloat(h);
  if (f == x) return h;
  // Bracket x by two adjacent halves; the nearest one is one of them.
  const uint16_t lo = f < x ? h : NextDown(h);
  const uint16_t hi = f < x ? NextUp(h) : h;
  const double flo = HalfToFloat(lo), fhi = HalfToFloat(hi);
  const double p = (static_cast<double>(x) - flo) / (fhi - flo);
  return static_cast<double>(u) < p ? hi : lo;
}

float HalfFloor(float x) {
  const uint16_t h = FloatToHalf(x);
  const float f = HalfToFloat(h);
  return f <= x ? f : HalfToFloat(NextDown(h));
}

float HalfCeil(float x) {
  const uint16_t h = FloatToHalf(x);
  const float f = HalfToFloat(h);
  return f >= x ? f : HalfToFloat(NextUp(h));
}

void DecodeRow(DType dtype, int width, const uint8_t* row, float scale, float zero, float* out) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(out, row, width * sizeof(float));
      return;
    case DType::kF16:
      for (int j = 0; j < width; ++j) {
        uint16_t h;
        std::memcpy(&h, row + 2 * j, 2);
        out[j] = HalfToFloat(h);
      }
      return;
    case DType::kI8:
      return DecodeInts<int8_t>(row, width, scale, zero, out);
    case DType::kU8:
      return DecodeInts<uint8_t>(row, width, scale, zero, out);
    case DType::kI16:
      return DecodeInts<int16_t>(row, width, scale, zero, out);
    case DType::kU16:
      return DecodeInts<uint16_t>(row, width, scale, zero, out);
    case DType::kU4:
      for (int j = 0; j < width; ++j)
        out[j] = static_cast<float>(LoadCode(dtype, row, j)) * scale + zero;
      return;
    default:
      ECPS_CHECK(false) << "DecodeRow: unsupported dtype " << DTypeName(dtype);
  }
}

EncodeStats EncodeRow(DType dtype, int width, const float* in, float scale, float zero,
                      const float* u, int u_stride, uint8_t* row) {
  EncodeStats st;
  if (dtype == DType::kF32) {
    std::memcpy(row, in, width * sizeof(float));
    for (int j = 0; j < width; ++j) st.non_finite += std::isfinite(in[j]) ? 0 : 1;
    return st;
  }
  if (dtype == DType::kF16) {
    for (int j = 0; j < width; ++j) {
      const float x = in[j];
      if (!std::isfinite(x)) {
        ++st.non_finite;
      } else if (std::fabs(x) > kHalfMax) {
        ++st.clipped;
      }
      const uint16_t h = u ? FloatToHalfStochastic(x, u[j * u_stride]) : FloatToHalf(x);
      std::memcpy(row + 2 * j, &h, 2);
    }
    return st;
  }
  ECPS_CHECK(IsIntegerCode(dtype)) << "EncodeRow: unsupported dtype " << DTypeName(dtype);
  const CodeRange r = Range(dtype);
  const double qmin = r.qmin, qmax = r.qmax;
  // The code of a value that has none (NaN, +-Inf): the one nearest to 0.0,
  // so that a caller that ignores the report at least adds nothing.
  auto neutral = [&] {
    const double z = scale != 0.0f ? std::nearbyint(-static_cast<double>(zero) / scale) : qmin;
    return std::isfinite(z) ? static_cast<int32_t>(std::clamp(z, qmin, qmax)) : r.qmin;
  };
  if (dtype == DType::kU4) std::memset(row, 0, RowBytes(dtype, width));
  for (int j = 0; j < width; ++j) {
    int32_t q = r.qmin;
    if (!std::isfinite(in[j])) {
      ++st.non_finite;
      q = neutral();
    } else if (scale != 0.0f) {
      // Double keeps (x - zero) / scale exact enough that the rounding draw,
      // not the arithmetic, decides between the two neighbouring codes.
      const double v = (static_cast<double>(in[j]) - zero) / scale;
      const double qd = u ? std::floor(v + u[j * u_stride]) : std::nearbyint(v);
      if (!std::isfinite(qd)) {  // a non-finite scale or zero
        ++st.non_finite;
        q = neutral();
      } else {
        st.clipped += (qd < qmin) | (qd > qmax);
        q = static_cast<int32_t>(std::clamp(qd, qmin, qmax));
      }
    }
    switch (dtype) {
      case DType::kI8:
        StoreInt<int8_t>(row, j, q);
        break;
      case DType::kU8:
        StoreInt<uint8_t>(row, j, q);
        break;
      case DType::kI16:
        StoreInt<int16_t>(row, j, q);
        break;
      case DType::kU16:
        StoreInt<uint16_t>(row, j, q);
        break;
      default:  // kU4
        row[j >> 1] |= static_cast<uint8_t>(q << ((j & 1) * 4));
        break;
    }
  }
  return st;
}

namespace {

// A parameter server holds each table as many virtual-shard stores, each
// with its own WriteStats: the warning is given once per table name in the
// process, not once per store.
bool FirstClipWarning(const std::string& table) {
  static Mutex mu;
  static std::set<std::string>* const warned = new std::set<std::string>;
  MutexLock l(&mu);
  return warned->insert(table).second;
}

void WarnClipped(const RowTableSpec& spec, uint64_t clipped) {
  if (spec.quant == QuantScheme::kGlobal) {
    const CodeRange r = Range(spec.dtype);
    ECPS_LOG_WARN(
        "table '{}' ({}): {} written value(s) fell outside the representable range [{:g}, "
        "{:g}] and were clipped (global step {:g}); set a larger scale if this keeps growing "
        "(reported once per table)",
        spec.name, DTypeName(spec.dtype), clipped, r.qmin * spec.scale + spec.zero,
        r.qmax * spec.scale + spec.zero, spec.scale);
  } else {
    ECPS_LOG_WARN(
        "table '{}' ({}): {} written value(s) fell outside their code range and were clipped "
        "(reported once per table)",
        spec.name, DTypeName(spec.dtype), clipped);
  }
}

}  // namespace

Status WriteStats::Check(const RowTableSpec& spec) {
  if (clipped_ > 0 && !warned_) {
    warned_ = true;  // this store asks the process-wide list once
    if (FirstClipWarning(spec.name)) WarnClipped(spec, clipped_);
  }
  if (pending_non_finite_ == 0) return OkStatus();
  const uint64_t n = pending_non_finite_;
  pending_non_finite_ = 0;
  return InvalidArgument("table '", spec.name, "' (", DTypeName(spec.dtype), "): ", n,
                         " non-finite value(s) (NaN or Inf) written; the weights diverged "
                         "(lower the learning rate?)");
}

void RowMinMaxParams(DType dtype, int width, const float* in, bool f16, float* scale, float* zero) {
  float lo = in[0], hi = in[0];
  for (int j = 1; j < width; ++j) {
    lo = std::min(lo, in[j]);
    hi = std::max(hi, in[j]);
  }
  const CodeRange r = Range(dtype);
  const float steps = static_cast<float>(r.qmax - r.qmin);
  if (!(hi > lo)) {
    *scale = 0.0f;
    *zero = f16 ? HalfToFloat(FloatToHalf(lo)) : lo;
    return;
  }
  float s = (hi - lo) / steps;
  float z = lo - static_cast<float>(r.qmin) * s;
  if (f16) {
    s = HalfCeil(s);
    z = HalfFloor(lo - static_cast<float>(r.qmin) * s);
    // Grow the scale until the top code reaches the row's max (a step or two).
    for (int i = 0; i < 64 && static_cast<float>(r.qmax) * s + z < hi; ++i)
      s = HalfToFloat(NextUp(FloatToHalf(s)));
  }
  *scale = s;
  *zero = z;
}

double LsqScaleGrad(const float* w, const float* grad, int width, float scale, CodeRange range) {
  double sum = 0;
  for (int j = 0; j < width; ++j) {
    const double v = static_cast<double>(w[j]) / scale;
    double d;
    if (v <= range.qmin) {
      d = range.qmin;
    } else if (v >= range.qmax) {
      d = range.qmax;
    } else {
      d = std::nearbyint(v) - v;
    }
    sum += static_cast<double>(grad[j]) * d;
  }
  return sum;
}

}  // namespace ecps::row_codec
