#include "compressors/codebook/product_codes.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/check.h"

namespace ecps::codebook {

int CodeBits(int64_t choices) {
  ECPS_CHECK(choices >= 1) << "CodeBits: " << choices << " choices";
  int b = 1;
  while ((int64_t{1} << b) < choices) ++b;
  return b;
}

int CodeBytes(int parts, int bits) { return (parts * bits + 7) / 8; }

void PackCodes(const int32_t* codes, int parts, int bits, uint8_t* bytes) {
  std::memset(bytes, 0, CodeBytes(parts, bits));
  for (int p = 0; p < parts; ++p) {
    const uint32_t c = static_cast<uint32_t>(codes[p]);
    ECPS_DCHECK(c < (1u << bits));
    for (int k = 0; k < bits; ++k) {
      const int at = p * bits + k;
      bytes[at >> 3] |= static_cast<uint8_t>(((c >> k) & 1u) << (at & 7));
    }
  }
}

void UnpackCodes(const float* bytes, int parts, int bits, int32_t* codes) {
  for (int p = 0; p < parts; ++p) {
    uint32_t c = 0;
    for (int k = 0; k < bits; ++k) {
      const int at = p * bits + k;
      const uint32_t byte = static_cast<uint32_t>(bytes[at >> 3]);
      c |= ((byte >> (at & 7)) & 1u) << k;
    }
    codes[p] = static_cast<int32_t>(c);
  }
}

namespace {

// s[p·K + j] = -||q_p - C[p][j]||².
void Scores(const PqShape& shape, const float* codebook, const float* q, float* s) {
  const int pd = shape.part_dim();
  const int k = shape.choices;
  for (int p = 0; p < shape.parts; ++p) {
    const float* qp = q + p * pd;
    for (int j = 0; j < k; ++j) {
      const float* c = codebook + static_cast<size_t>(p * k + j) * pd;
      float dist = 0;
      for (int e = 0; e < pd; ++e) {
        const float diff = qp[e] - c[e];
        dist += diff * diff;
      }
      s[p * k + j] = -dist;
    }
  }
}

}  // namespace

void ScoreMatrix(const PqShape& shape, const float* codebook, const float* q,
                 std::span<const uint32_t> members, std::vector<float>* s) {
  const size_t cols = static_cast<size_t>(shape.rows());
  s->resize(members.size() * cols);
  for (size_t i = 0; i < members.size(); ++i)
    Scores(shape, codebook, q + static_cast<size_t>(members[i]) * shape.dim, s->data() + i * cols);
}

size_t MomentsSize(const PqShape& shape) { return 2 * static_cast<size_t>(shape.rows()) + 1; }

void AddMoments(const PqShape& shape, const float* s, size_t m, double* moments) {
  const size_t cols = static_cast<size_t>(shape.rows());
  // Sums in double: the scores of the tiny init are ~1e-7, and the variance
  // is a small difference of their squares' mean and the squared mean.
  for (size_t i = 0; i < m; ++i)
    for (size_t c = 0; c < cols; ++c) {
      const double v = s[i * cols + c];
      moments[c] += v;
      moments[cols + c] += v * v;
    }
  moments[2 * cols] += static_cast<double>(m);
}

void MomentsToStats(const PqShape& shape, const double* moments, float* mean, float* var) {
  const size_t cols = static_cast<size_t>(shape.rows());
  const double m = moments[2 * cols];
  for (size_t c = 0; c < cols; ++c) {
    if (m <= 0) {
      mean[c] = var[c] = 0.0f;
      continue;
    }
    const double mu = moments[c] / m;
    mean[c] = static_cast<float>(mu);
    var[c] = static_cast<float>(std::max(0.0, moments[cols + c] / m - mu * mu));
  }
}

void ArgmaxCodes(const PqShape& shape, const float* s, size_t m, std::span<const uint16_t> limits,
                 const float* mean, const float* var, int32_t* codes) {
  ECPS_CHECK(limits.empty() || limits.size() == m);
  const int cols = shape.rows();
  const int k = shape.choices;
  // The normalisation as a shift and a factor per column.
  std::vector<float> shift(cols, 0.0f), factor(cols, 1.0f);
  if (mean != nullptr) {
    for (int c = 0; c < cols; ++c) {
      shift[c] = mean[c];
      factor[c] = 1.0f / std::sqrt(std::max(var[c], 0.0f) + kBnEps);
    }
  }
  for (size_t i = 0; i < m; ++i) {
    const int limit = limits.empty() ? k : std::clamp<int>(limits[i], 1, k);
    const float* si = s + i * cols;
    for (int p = 0; p < shape.parts; ++p) {
      int best = 0;
      float best_v = (si[p * k] - shift[p * k]) * factor[p * k];
      for (int j = 1; j < limit; ++j) {
        const float v = (si[p * k + j] - shift[p * k + j]) * factor[p * k + j];
        if (v > best_v) {
          best_v = v;
          best = j;
        }
      }
      codes[i * shape.parts + p] = best;
    }
  }
}

void AssignCodes(const PqShape& shape, const float* codebook, const float* q,
                 std::span<const uint32_t> members, std::span<const uint16_t> limits,
                 ScoreNorm norm, const float* running_mean, const float* running_var,
                 float* batch_mean, float* batch_var, int32_t* codes) {
  std::vector<float> s;
  ScoreMatrix(shape, codebook, q, members, &s);
  const size_t m = members.size();
  if (norm == ScoreNorm::kBatch) {
    ECPS_CHECK(m > 0) << "AssignCodes: batch statistics of no queries";
    std::vector<double> moments(MomentsSize(shape), 0.0);
    AddMoments(shape, s.data(), m, moments.data());
    MomentsToStats(shape, moments.data(), batch_mean, batch_var);
    ArgmaxCodes(shape, s.data(), m, limits, batch_mean, batch_var, codes);
  } else if (norm == ScoreNorm::kRunning) {
    ArgmaxCodes(shape, s.data(), m, limits, running_mean, running_var, codes);
  } else {
    ArgmaxCodes(shape, s.data(), m, limits, nullptr, nullptr, codes);
  }
}

void Reconstruct(const PqShape& shape, const float* codebook, const int32_t* codes, float* out) {
  const int pd = shape.part_dim();
  for (int p = 0; p < shape.parts; ++p)
    std::memcpy(out + p * pd, codebook + static_cast<size_t>(p * shape.choices + codes[p]) * pd,
                pd * sizeof(float));
}

void AddRegulariserGrad(const PqShape& shape, const float* codebook, const int32_t* codes,
                        const float* q, float coef, float* dcodebook) {
  const int pd = shape.part_dim();
  for (int p = 0; p < shape.parts; ++p) {
    const size_t row = static_cast<size_t>(p * shape.choices + codes[p]) * pd;
    for (int e = 0; e < pd; ++e)
      dcodebook[row + e] += 2.0f * coef * (codebook[row + e] - q[p * pd + e]);
  }
}

void UpdateRunning(int columns, uint64_t m, const float* batch_mean, const float* batch_var,
                   float* running_mean, float* running_var) {
  const float unbias = m > 1 ? static_cast<float>(m) / static_cast<float>(m - 1) : 1.0f;
  for (int c = 0; c < columns; ++c) {
    running_mean[c] = (1 - kBnMomentum) * running_mean[c] + kBnMomentum * batch_mean[c];
    running_var[c] = (1 - kBnMomentum) * running_var[c] + kBnMomentum * batch_var[c] * unbias;
  }
}

}  // namespace ecps::codebook
