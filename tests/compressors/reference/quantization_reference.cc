#include "tests/compressors/reference/quantization_reference.h"

#include <algorithm>
#include <cmath>

namespace ecps::quant_reference {
namespace {

constexpr double kHalfMax = 65504.0;

// Spacing of fp16 values around |x| (the ulp of the binade of x; subnormal
// spacing below 2^-14).
double HalfUlp(double x) {
  const double a = std::fabs(x);
  int e = a == 0 ? -14 : static_cast<int>(std::floor(std::log2(a)));
  // log2 can be off by one right at a power of two: fix the binade.
  if (a != 0 && std::ldexp(1.0, e) > a) --e;
  if (a != 0 && std::ldexp(1.0, e + 1) <= a) ++e;
  e = std::max(e, -14);
  return std::ldexp(1.0, e - 10);
}

}  // namespace

double HalfBitsToValue(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1F;
  const int man = h & 0x3FF;
  double v;
  if (exp == 0) {
    v = std::ldexp(static_cast<double>(man), -24);
  } else if (exp == 31) {
    v = man == 0 ? INFINITY : NAN;
  } else {
    v = std::ldexp(1.0 + man / 1024.0, exp - 15);
  }
  return sign ? -v : v;
}

double RoundToHalf(double x) {
  if (x >= kHalfMax) return kHalfMax;
  if (x <= -kHalfMax) return -kHalfMax;
  const double ulp = HalfUlp(x);
  const double r = std::nearbyint(x / ulp) * ulp;  // ties to even multiple
  return std::clamp(r, -kHalfMax, kHalfMax);
}

double HalfFloor(double x) {
  const double ulp = HalfUlp(x);
  double r = std::floor(x / ulp) * ulp;
  // Just below a negative power of two the spacing doubles.
  if (RoundToHalf(r) != r) r = std::floor(x / (2 * ulp)) * 2 * ulp;
  return r;
}

double HalfCeil(double x) {
  const double ulp = HalfUlp(x);
  double r = std::ceil(x / ulp) * ulp;
  if (RoundToHalf(r) != r) r = std::ceil(x / (2 * ulp)) * 2 * ulp;
  return r;
}

double StochasticHalf(double x, double u) {
  x = std::clamp(x, -kHalfMax, kHalfMax);
  const double lo = HalfFloor(x), hi = HalfCeil(x);
  if (lo == hi) return lo;
  return u < (x - lo) / (hi - lo) ? hi : lo;
}

double Dequantize(int64_t q, double scale, double zero) {
  return static_cast<double>(q) * scale + zero;
}

int64_t QuantizeNearest(double x, double scale, double zero, int64_t qmin, int64_t qmax) {
  const double v = std::nearbyint((x - zero) / scale);
  return static_cast<int64_t>(std::clamp(v, static_cast<double>(qmin), static_cast<double>(qmax)));
}

int64_t QuantizeStochastic(double x, double scale, double zero, double u, int64_t qmin,
                           int64_t qmax) {
  const double v = std::floor((x - zero) / scale + u);
  return static_cast<int64_t>(std::clamp(v, static_cast<double>(qmin), static_cast<double>(qmax)));
}

double LsqScaleGrad(const std::vector<float>& w, const std::vector<float>& grad, double scale,
                    int64_t qmin, int64_t qmax) {
  double total = 0;
  for (size_t j = 0; j < w.size(); ++j) {
    const double v = w[j] / scale;
    double d;
    if (v <= static_cast<double>(qmin)) {
      d = static_cast<double>(qmin);
    } else if (v >= static_cast<double>(qmax)) {
      d = static_cast<double>(qmax);
    } else {
      d = std::nearbyint(v) - v;
    }
    total += grad[j] * d;
  }
  return total;
}

double UniformLoss(const std::vector<float>& x, int bits, float xmin, float xmax) {
  const float levels = static_cast<float>((1 << bits) - 1);
  const float bias = static_cast<float>(RoundToHalf(xmin));
  const float range = xmax - bias;
  const float scale = range == 0.0f ? 1.0f : static_cast<float>(RoundToHalf(range / levels));
  double sum = 0;
  for (float v : x) {
    float q = std::nearbyint((v - bias) / scale);
    q = std::min(std::max(q, 0.0f), levels);
    const double err = static_cast<double>(v) - (q * scale + bias);
    sum += err * err;
  }
  return std::sqrt(sum);
}

void GreedyRangeSearch(const std::vector<float>& x, int bits, int n_bins, double ratio, float* xmin,
                       float* xmax) {
  const float lo = *std::min_element(x.begin(), x.end());
  const float hi = *std::max_element(x.begin(), x.end());
  const float stepsize = (hi - lo) / static_cast<float>(n_bins);
  const float min_bins = static_cast<float>(n_bins) * (1.0f - static_cast<float>(ratio));
  struct Solution {
    float left, right;
    double loss;
  };
  std::vector<Solution> solutions;
  float cur_min = lo, cur_max = hi;
  double cur_loss = UniformLoss(x, bits, lo, hi);
  const float thr = min_bins * stepsize;
  while (cur_min + thr < cur_max) {
    const double loss1 = UniformLoss(x, bits, cur_min + stepsize, cur_max);
    const double loss2 = UniformLoss(x, bits, cur_min, cur_max - stepsize);
    if (cur_loss < loss1 && cur_loss < loss2) solutions.push_back({cur_min, cur_max, cur_loss});
    if (loss1 < loss2) {
      cur_min = cur_min + stepsize;
      cur_loss = loss1;
    } else {
      cur_max = cur_max - stepsize;
      cur_loss = loss2;
    }
  }
  if (solutions.empty()) {
    *xmin = lo;
    *xmax = hi;
    return;
  }
  Solution best = solutions[0];
  for (const Solution& s : solutions)
    if (s.loss < best.loss) best = s;
  *xmin = best.left;
  *xmax = best.right;
}

}  // namespace ecps::quant_reference
