// A deliberately naive reference of OptEmbed's supernet lookup
// (docs/methods.md §2.22), a test oracle (style.md rule 13; linked by tests
// only): one row in double, the row mask by its L1 norm, then dims 0..k.
//
// Thread-safety: pure functions.
#pragma once

#include <vector>

namespace ecps::optembed_ref {

// e = step(||v||₁ − t)·(v_0..v_k, 0, …).
std::vector<double> Supernet(const std::vector<double>& v, double t, int k);

}  // namespace ecps::optembed_ref
