// Whether a method reached its memory budget: the one rule `ecps train`
// (results' budget_reached, its warning) and `ecps bench` (reports, the
// runner's unreachable groups) both apply.
//
// Thread-safety: pure functions.
#pragma once

namespace ecps {

// A budget solver rounds to whole rows, ranks or bits, so a ratio up to 2%
// over the budget still counts as reaching it.
inline constexpr double kBudgetSlack = 1.02;

// True when the real inference-memory ratio (inference_memory_ratio) is
// within `budget`; an unknown (NaN) ratio or budget counts as reached.
inline bool ReachesBudget(double ratio, double budget) { return !(ratio > budget * kBudgetSlack); }

}  // namespace ecps
