// Naive references of the pruning family (docs/methods.md §1.8, §2.23): the
// dense lookup of a pruned table, and the classic one-threshold-per-step
// bisection of a global magnitude threshold by brute-force counting.
#pragma once

#include <cstdint>
#include <vector>

namespace ecps::reference {

// rows x dim values with the elements whose keep is 0 set to 0; row x of the
// result is what a sparse lookup of x must return.
std::vector<float> MaskedDense(const std::vector<float>& values, const std::vector<uint8_t>& keep);

// Elements with |v| < tau (brute force, in double).
uint64_t CountBelow(const std::vector<float>& values, double tau);

// DeepLight's bisection (§2.23): tau on [0, 100], halving the interval up to
// 100 times until |frac(|w| < tau) - s| < min(1e-4, 1e-3 (1 - s)).
double BisectThreshold(const std::vector<float>& values, double s);

}  // namespace ecps::reference
