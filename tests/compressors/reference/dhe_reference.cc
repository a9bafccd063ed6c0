#include "tests/compressors/reference/dhe_reference.h"

#include <cmath>

namespace ecps::dhe_ref {

uint64_t Hash(const DheEmbedding& m, int f, int i, uint64_t x) {
  const DheEmbedding::FieldHashes& h = m.hashes(f);
  return ((h.a[i] * x + h.b[i]) % h.p[i]) % m.num_buckets();
}

std::vector<double> Encoding(const DheEmbedding& m, int f, uint64_t x) {
  const int k = m.num_hash();
  const double big_m = static_cast<double>(m.num_buckets());
  std::vector<double> u(k);
  if (!m.gaussian()) {
    for (int i = 0; i < k; ++i)
      u[i] = 2.0 * static_cast<double>(Hash(m, f, i, x)) / (big_m - 1) - 1;
    return u;
  }
  const double pi = std::acos(-1.0);
  for (int i = 0; i + 1 < k; i += 2) {
    const double u1 = (static_cast<double>(Hash(m, f, i, x)) + 1) / big_m;
    const double u2 = static_cast<double>(Hash(m, f, i + 1, x)) / big_m;
    u[i] = std::sqrt(-2 * std::log(u1)) * std::cos(2 * pi * u2);
    u[i + 1] = std::sqrt(-2 * std::log(u1)) * std::sin(2 * pi * u2);
  }
  return u;
}

namespace {

double Mish(double y) { return y > 40 ? y : y * std::tanh(std::log1p(std::exp(y))); }

using Matrix = std::vector<std::vector<double>>;

}  // namespace

std::vector<double> Lookup(const DheEmbedding& m, const FeatureSpace& s,
                           const std::vector<std::vector<float>>& tables,
                           std::span<const double> params, std::span<const double> buffers,
                           std::span<const uint32_t> keys, bool training,
                           std::vector<double>* batch_stats) {
  const int nf = s.num_fields();
  const int d = s.dim;
  const int k = m.num_hash();
  const int layers = m.layers();
  std::vector<double> out(keys.size() * d, 0.0);
  if (batch_stats != nullptr) batch_stats->assign(buffers.size(), 0.0);
  for (int f = 0; f < nf; ++f) {
    std::vector<size_t> idx;  // positions of field f's keys
    for (size_t i = f; i < keys.size(); i += nf) idx.push_back(i);
    if (m.width(f) == 0) {
      for (size_t i : idx)
        for (int c = 0; c < d; ++c)
          out[i * d + c] = tables[0][(m.full_offset(f) + keys[i]) * d + c];
      continue;
    }
    if (idx.empty()) continue;
    const int h = m.width(f);
    const size_t n = idx.size();
    Matrix in(n);
    for (size_t j = 0; j < n; ++j) in[j] = Encoding(m, f, keys[idx[j]]);
    size_t p = m.param_offset(f);
    const size_t q = m.buffer_offset(f);
    int in_w = k;
    for (int l = 0; l < layers; ++l) {
      // W [h x in_w], b, gamma, beta.
      Matrix z(n, std::vector<double>(h));
      for (size_t j = 0; j < n; ++j)
        for (int c = 0; c < h; ++c) {
          double acc = params[p + static_cast<size_t>(h) * in_w + c];
          for (int i = 0; i < in_w; ++i)
            acc += params[p + static_cast<size_t>(c) * in_w + i] * in[j][i];
          z[j][c] = acc;
        }
      const size_t gamma = p + static_cast<size_t>(h) * in_w + h, beta = gamma + h;
      for (int c = 0; c < h; ++c) {
        double mean = 0, var = 0;
        if (training) {
          for (size_t j = 0; j < n; ++j) mean += z[j][c];
          mean /= static_cast<double>(n);
          for (size_t j = 0; j < n; ++j) var += (z[j][c] - mean) * (z[j][c] - mean);
          if (batch_stats != nullptr) {
            (*batch_stats)[q + 2 * l * h + c] = mean;
            (*batch_stats)[q + (2 * l + 1) * h + c] =
                n > 1 ? var / static_cast<double>(n - 1) : var;
          }
          var /= static_cast<double>(n);
        } else {
          mean = buffers[q + 2 * l * h + c];
          var = buffers[q + (2 * l + 1) * h + c];
        }
        for (size_t j = 0; j < n; ++j) {
          const double xhat = (z[j][c] - mean) / std::sqrt(var + 1e-5);
          z[j][c] = Mish(params[gamma + c] * xhat + params[beta + c]);
        }
      }
      in = std::move(z);
      p = beta + h;
      in_w = h;
    }
    for (size_t j = 0; j < n; ++j)
      for (int c = 0; c < d; ++c) {
        double acc = params[p + static_cast<size_t>(d) * h + c];
        for (int i = 0; i < h; ++i) acc += params[p + static_cast<size_t>(c) * h + i] * in[j][i];
        out[idx[j] * d + c] = acc;
      }
  }
  return out;
}

}  // namespace ecps::dhe_ref
