// Naive references of AutoSrh (docs/methods.md §2.25): the frequency groups
// by sorting (count, id) pairs, the search's lookup E ⊙ α[group], and α's
// normalised SGD step.
#pragma once

#include <cstdint>
#include <vector>

namespace ecps::reference {

// Group of every id: ids ascending by (count, id), `groups` groups of
// max(1, remaining / groups left) ids each, a group extended to the end of
// its last id's tie block, the last group taking the rest.
std::vector<int> AutoSrhGroups(const std::vector<uint32_t>& counts, int groups);

// rows (n x dim) scaled element-wise by alpha[group[row]] (alpha: groups x dim).
std::vector<float> AutoSrhScaled(const std::vector<float>& rows, const std::vector<int>& group,
                                 const std::vector<float>& alpha, int dim);

// One step of α: g = grad + l1 where α > 0, per group with members divided by
// mean |g| + 1e-8, α − lr·g clipped to [0, 1].
std::vector<float> AutoSrhAlphaStep(const std::vector<float>& alpha,
                                    const std::vector<double>& grad,
                                    const std::vector<uint64_t>& group_sizes, double l1, double lr,
                                    int dim);

}  // namespace ecps::reference
