// The product-quantisation core of the codebook family (docs/methods.md
// §2.11 DPQ, §2.12 MGQE): a d-vector is split into `parts` sub-vectors of
// part_dim = d / parts elements, and part p is replaced by one of `choices`
// codewords of its own codebook. One codebook is a block of parts·choices
// rows of width part_dim in a row table: row p·choices + j is codeword j of
// part p.
//
//   score     s[p][j] = -||q_p - C[p][j]||² (vq mode: key = value)
//   norm      BatchNorm of every score column (p, j) without affine
//             parameters: over the batch's queries (training), by running
//             statistics (evaluation, the switch to codes), or none
//   code      code[p] = argmax over j < limit of the normalised score (the
//             first of equal maxima); limit = choices, or MGQE's fewer choices
//             for rare features
//   output    concat_p C[p][code[p]]
//
// A feature's codes are stored packed: code p takes bits [p·b, (p+1)·b) of
// the row's byte string (bit k at byte k / 8, bit k mod 8), b = CodeBits(
// choices), in CodeBytes(parts, b) bytes: log2(choices) bits per part, the
// row padded to a whole byte (a row never shares a byte with the next,
// embedding/row_codec.h). The store keeps those bytes as a u8 table with the
// identity code map, so a fetched row holds each byte as a float.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace ecps::codebook {

// Bits of one code of `choices` codewords: ceil(log2(choices)), at least 1.
// REQUIRES: choices >= 1.
int CodeBits(int64_t choices);
// Bytes of one feature's packed codes: ceil(parts·bits / 8).
int CodeBytes(int parts, int bits);
// codes[0..parts) (each < 2^bits) into bytes[0..CodeBytes(parts, bits)).
void PackCodes(const int32_t* codes, int parts, int bits, uint8_t* bytes);
// The inverse, from a fetched row whose elements hold the bytes as floats.
void UnpackCodes(const float* bytes, int parts, int bits, int32_t* codes);

// The shape of one product quantiser.
struct PqShape {
  int dim = 0;
  int parts = 0;
  int choices = 0;
  int part_dim() const { return dim / parts; }
  // Rows of one codebook block.
  int rows() const { return parts * choices; }
};

// How the scores are normalised before the argmax (above).
enum class ScoreNorm : uint8_t { kNone = 0, kBatch = 1, kRunning = 2 };

// BatchNorm's epsilon and the running statistics' momentum (PyTorch's
// defaults, as DHE's BatchNorm: running = (1 - m)·running + m·batch, with the
// unbiased batch variance).
inline constexpr float kBnEps = 1e-5f;
inline constexpr float kBnMomentum = 0.1f;

// The scores of the queries members[i] (rows of q, [* x dim]) against the
// codebook block `codebook` ([shape.rows() x part_dim]): s gets
// members.size() x shape.rows().
void ScoreMatrix(const PqShape& shape, const float* codebook, const float* q,
                 std::span<const uint32_t> members, std::vector<float>* s);

// BatchNorm over several workers' shares of a batch is computed from sums,
// which add up over the shares (the caller all-reduces them): moments has
// 2·shape.rows() + 1 doubles, [Σ s per column | Σ s² per column | count].
size_t MomentsSize(const PqShape& shape);
// Adds the m score rows of s to moments.
void AddMoments(const PqShape& shape, const float* s, size_t m, double* moments);
// The batch's per-column mean and biased variance from moments (a count of
// 0 gives mean 0 and variance 0).
void MomentsToStats(const PqShape& shape, const double* moments, float* mean, float* var);

// The codes (m x parts) of the m score rows of s: code p = argmax over
// j < limits[i] (empty: all choices) of (s - mean)·(var + kBnEps)^-1/2, or
// of s with mean = var = null (no normalisation); the first of equal maxima.
void ArgmaxCodes(const PqShape& shape, const float* s, size_t m, std::span<const uint16_t> limits,
                 const float* mean, const float* var, int32_t* codes);

// ScoreMatrix + ArgmaxCodes: kBatch normalises by the members' own
// statistics (written to batch_mean/batch_var, [shape.rows()] each), kRunning
// by running_mean/running_var, kNone not at all.
void AssignCodes(const PqShape& shape, const float* codebook, const float* q,
                 std::span<const uint32_t> members, std::span<const uint16_t> limits,
                 ScoreNorm norm, const float* running_mean, const float* running_var,
                 float* batch_mean, float* batch_var, int32_t* codes);

// out[0..dim) = concat_p codebook[p·choices + codes[p]].
void Reconstruct(const PqShape& shape, const float* codebook, const int32_t* codes, float* out);

// The gradient of coef · Σ_p ||C[p][code_p] - sg(q_p)||² with respect to the
// codebook, added to dcodebook ([shape.rows() x part_dim]).
void AddRegulariserGrad(const PqShape& shape, const float* codebook, const int32_t* codes,
                        const float* q, float coef, float* dcodebook);

// running <- (1 - kBnMomentum)·running + kBnMomentum·batch for the mean and,
// with the batch variance made unbiased (× m / (m - 1); m <= 1 keeps it),
// the variance, m the batch's count (over every worker's share). Every array
// has `columns` entries.
void UpdateRunning(int columns, uint64_t m, const float* batch_mean, const float* batch_var,
                   float* running_mean, float* running_var);

}  // namespace ecps::codebook
