// A deliberately naive reference of the codebook family's product
// quantisation (docs/methods.md §2.11 DPQ, §2.12 MGQE), a test oracle
// (style.md rule 13; linked by tests only): scores, BatchNorm and the
// regulariser in double, one key, part and codeword at a time, codes kept as
// plain integers (no packing).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

namespace ecps::codebook_ref {

// How the scores are normalised (compressors/codebook/product_codes.h).
enum class Norm { kNone, kBatch, kRunning };

// The codes [m x parts] of the queries q ([m x dim]) against a codebook
// ([parts·choices x dim/parts], row p·choices + j = codeword j of part p):
// argmax over j < limit[i] (limit empty: all) of -||q_p - C_pj||², normalised
// per column over the m queries (kBatch, biased variance, eps 1e-5) or by
// mean/var (kRunning).
std::vector<int> Codes(const std::vector<float>& q, int dim, const std::vector<float>& codebook,
                       int parts, int choices, const std::vector<int>& limit, Norm norm,
                       const std::vector<float>& mean = {}, const std::vector<float>& var = {});

// The lookup [m x dim]: each key's codewords, concatenated.
std::vector<float> Decode(const std::vector<float>& codebook, const std::vector<int>& codes,
                          int dim, int parts, int choices);

// Σ over keys, parts and elements of (C[p][code] - q)², in double.
double SquaredError(const std::vector<float>& q, const std::vector<float>& codebook,
                    const std::vector<int>& codes, int dim, int parts, int choices);

}  // namespace ecps::codebook_ref
