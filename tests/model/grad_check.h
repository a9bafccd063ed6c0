// Helpers for the dense-model tests: deterministic random arrays and a
// central-difference gradient check in double precision.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "common/rng.h"

namespace ecps::model::testing {

template <typename T = double>
std::vector<T> RandomVector(size_t n, uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(rng.Uniform(-scale, scale));
  return v;
}

// Relative closeness used by every gradient check: |a - b| <= rtol (|a| + |b|)
// + atol. atol only absorbs values that are zero up to rounding.
inline bool Close(double a, double b, double rtol, double atol) {
  return std::abs(a - b) <= rtol * (std::abs(a) + std::abs(b)) + atol;
}

// Compares analytic[i] with (loss(x + h e_i) - loss(x - h e_i)) / 2h for all
// i, perturbing x (which `loss` reads) in place and restoring it.
inline void ExpectGradientMatches(const std::string& what, std::vector<double>& x,
                                  const std::vector<double>& analytic,
                                  const std::function<double()>& loss, double rtol = 1e-6,
                                  double atol = 1e-9, double h = 1e-5) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double lp = loss();
    x[i] = saved - h;
    const double lm = loss();
    x[i] = saved;
    const double numeric = (lp - lm) / (2 * h);
    if (!Close(analytic[i], numeric, rtol, atol) && ++bad <= 5) {
      ADD_FAILURE() << what << "[" << i << "]: analytic " << analytic[i] << " numeric " << numeric;
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << x.size() << " entries differ";
}

// sum_i c[i] y[i]: a loss whose gradient w.r.t. y is c.
inline double Dot(const std::vector<double>& c, const double* y) {
  double s = 0;
  for (size_t i = 0; i < c.size(); ++i) s += c[i] * y[i];
  return s;
}

}  // namespace ecps::model::testing
