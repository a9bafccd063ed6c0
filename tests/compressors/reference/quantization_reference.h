// Naive reference implementations of the quantization family's arithmetic,
// written for clarity (plain loops, doubles, no bit tricks shared with the
// real code) and used only as test oracles (style.md rule 13): fp16
// conversion and stochastic rounding, integer quantise/dequantise with
// nearest and stochastic rounding, ALPT's LSQ scale gradient, and FBGEMM's
// greedy 4-bit range search.
//
// Thread-safety: all functions are pure.
#pragma once

#include <cstdint>
#include <vector>

namespace ecps::quant_reference {

// Value of IEEE binary16 bits h (sign, 5-bit exponent, 10-bit mantissa).
double HalfBitsToValue(uint16_t h);
// Nearest fp16 value to x (ties to even mantissa), saturating at +-65504.
double RoundToHalf(double x);
// Largest / smallest fp16 value <= x / >= x (|x| <= 65504).
double HalfFloor(double x);
double HalfCeil(double x);
// Stochastic fp16 rounding: hi with probability (x - lo) / (hi - lo).
double StochasticHalf(double x, double u);

// value = q * scale + zero.
double Dequantize(int64_t q, double scale, double zero);
// clamp(round_half_even((x - zero) / scale), qmin, qmax).
int64_t QuantizeNearest(double x, double scale, double zero, int64_t qmin, int64_t qmax);
// clamp(floor((x - zero) / scale + u), qmin, qmax).
int64_t QuantizeStochastic(double x, double scale, double zero, double u, int64_t qmin,
                           int64_t qmax);

// d/dΔ of Σ_j grad_j · clamp(round(w_j/Δ), qmin, qmax)·Δ with round passed
// straight through (LSQ).
double LsqScaleGrad(const std::vector<float>& w, const std::vector<float>& grad, double scale,
                    int64_t qmin, int64_t qmax);

// FBGEMM's _compress_uniform_simplified loss with fp16 (scale, bias):
// bias = fp16(xmin), scale = fp16((xmax - bias) / (2^bits - 1)) (1 for an
// empty range), q = clamp(round((x - bias) / scale)); returns sqrt(Σ err^2).
double UniformLoss(const std::vector<float>& x, int bits, float xmin, float xmax);
// FBGEMM's param_search_greedy (n_bins, ratio) -> (xmin, xmax).
void GreedyRangeSearch(const std::vector<float>& x, int bits, int n_bins, double ratio, float* xmin,
                       float* xmax);

}  // namespace ecps::quant_reference
