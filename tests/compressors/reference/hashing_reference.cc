#include "tests/compressors/reference/hashing_reference.h"

#include <algorithm>
#include <map>
#include <string>

namespace ecps::hashing_ref {
namespace {

using u128 = unsigned __int128;

// ((a·x + b) mod P) mod m, computed with a full 128-bit `%`.
uint64_t Universal(const hashing_internal::UniversalHash& h, uint64_t x, uint64_t m) {
  const u128 p = (static_cast<u128>(1) << 61) - 1;
  return static_cast<uint64_t>((static_cast<u128>(h.a) * x + h.b) % p) % m;
}

const float* Row(const TableValues& t, int table, uint64_t row, int width) {
  return t[table].data() + row * static_cast<uint64_t>(width);
}

}  // namespace

std::vector<float> HashLookup(const HashEmbedding& m, const FeatureSpace& s,
                              const TableValues& tables, std::span<const uint32_t> keys) {
  const int d = s.dim, nf = s.num_fields();
  std::vector<float> out;
  for (size_t i = 0; i < keys.size(); ++i) {
    const int f = static_cast<int>(i % nf);
    uint64_t row = (s.offsets[f] + keys[i]) % m.rows();
    if (!m.field_rows().empty()) {
      // Per field: the fields before f, then key mod m_f.
      row = keys[i] % m.field_rows()[f];
      for (int g = 0; g < f; ++g) row += m.field_rows()[g];
    }
    const float* r = Row(tables, 0, row, d);
    out.insert(out.end(), r, r + d);
  }
  return out;
}

std::vector<float> CompoEmbLookup(const CompoEmbedding& m, const FeatureSpace& s,
                                  const TableValues& tables, std::span<const uint32_t> keys) {
  const int d = s.dim, nf = s.num_fields();
  std::vector<float> out;
  for (size_t i = 0; i < keys.size(); ++i) {
    const int f = static_cast<int>(i % nf);
    // Offsets recomputed by walking the fields before f.
    uint64_t q0 = 0, r0 = 0, e0 = 0;
    for (int g = 0; g < f; ++g) {
      const uint64_t n = s.cardinalities[g], c = m.collision(g);
      if (c == 0) {
        e0 += n;
      } else {
        q0 += (n + c - 1) / c;
        r0 += c;
      }
    }
    const uint64_t c = m.collision(f), x = keys[i];
    for (int j = 0; j < d; ++j) {
      if (c == 0) {
        out.push_back(Row(tables, 2, e0 + x, d)[j]);
      } else {
        const float q = Row(tables, 0, q0 + x / c, d)[j];
        const float r = Row(tables, 1, r0 + x % c, d)[j];
        out.push_back(m.multiply() ? q * r : q + r);
      }
    }
  }
  return out;
}

std::vector<float> DoubleHashLookup(const DoubleHashEmbedding& m, const FeatureSpace& s,
                                    std::span<const uint32_t> counts, const TableValues& tables,
                                    std::span<const uint32_t> keys) {
  const int d = s.dim, nf = s.num_fields();
  // Frequent ids: per field, (count desc, id asc), seen ids only.
  std::vector<uint64_t> frequent;
  for (int f = 0; f < nf && !counts.empty(); ++f) {
    std::vector<std::pair<int64_t, uint64_t>> ranked;
    for (uint64_t x = 0; x < s.cardinalities[f]; ++x) {
      const uint32_t c = counts[s.offsets[f] + x];
      if (c > 0) ranked.push_back({-static_cast<int64_t>(c), x});
    }
    std::sort(ranked.begin(), ranked.end());
    const uint64_t k = std::min<uint64_t>(
        ranked.size(), static_cast<uint64_t>(m.frequent_fraction() * s.cardinalities[f]));
    for (uint64_t i = 0; i < k; ++i) frequent.push_back(s.offsets[f] + ranked[i].second);
  }
  std::sort(frequent.begin(), frequent.end());
  std::map<uint64_t, uint64_t> row_of;
  for (size_t r = 0; r < frequent.size(); ++r) row_of[frequent[r]] = r;

  std::vector<float> out;
  for (size_t i = 0; i < keys.size(); ++i) {
    const int f = static_cast<int>(i % nf);
    const uint64_t gid = s.offsets[f] + keys[i];
    auto it = row_of.find(gid);
    // The hash pair, its hashed id and its rows of H.
    const int g = m.per_field() ? f : 0;
    const uint64_t x = m.per_field() ? keys[i] : gid;
    uint64_t first = 0;
    for (int e = 0; e < g; ++e) first += m.hash_size(e);
    for (int j = 0; j < d; ++j) {
      if (it != row_of.end()) {
        out.push_back(Row(tables, 0, it->second, d)[j]);
      } else {
        const uint64_t h1 = first + Universal(m.hash(g, 0), x, m.hash_size(g));
        const uint64_t h2 = first + Universal(m.hash(g, 1), x, m.hash_size(g));
        out.push_back(Row(tables, 1, h1, d)[j] + Row(tables, 1, h2, d)[j]);
      }
    }
  }
  return out;
}

std::vector<float> MemComLookup(const MemComEmbedding& m, const FeatureSpace& s,
                                const TableValues& tables, std::span<const uint32_t> keys) {
  const int d = s.dim, nf = s.num_fields();
  std::vector<float> out;
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint64_t gid = s.offsets[i % nf] + keys[i];
    const float w = tables[1][gid];
    const float b = m.bias() ? tables[2][gid] : 0.0f;
    for (int j = 0; j < d; ++j) out.push_back(Row(tables, 0, gid % m.hash_rows(), d)[j] * w + b);
  }
  return out;
}

std::vector<float> BinaryCodeLookup(const BinaryCodeEmbedding& m, const FeatureSpace& s,
                                    const TableValues& tables, std::span<const uint32_t> keys) {
  const int d = s.dim, nf = s.num_fields();
  std::vector<float> out;
  for (size_t i = 0; i < keys.size(); ++i) {
    const int f = static_cast<int>(i % nf);
    std::vector<uint64_t> rows;
    if (m.full(f)) {
      rows.push_back(m.base(f) + keys[i]);
    } else {
      // The id as a string of L bits, least significant first; block j takes
      // the positions of its split and owns 2^(its bit count) rows after the
      // rows of the blocks before it.
      const int l = m.address_bits(f);
      const int t = m.blocks(f);
      std::string bits;
      for (int b = 0; b < l; ++b) bits.push_back(((keys[i] >> b) & 1) ? '1' : '0');
      const int run = (l + t - 1) / t;  // succession: run length
      uint64_t first = m.base(f);
      for (int j = 0; j < t; ++j) {
        std::vector<int> positions;
        for (int pos = 0; pos < l; ++pos)
          if (m.skip() ? pos % t == j : pos / run == j) positions.push_back(pos);
        uint64_t v = 0;
        for (size_t k = 0; k < positions.size(); ++k)
          if (bits[positions[k]] == '1') v += uint64_t{1} << k;
        rows.push_back(first + v);
        // Block j's rows: the values of its bits that some id < n has.
        uint64_t reachable = 0;
        for (uint64_t x = 0; x < s.cardinalities[f]; ++x) {
          uint64_t w = 0;
          for (size_t k = 0; k < positions.size(); ++k) w |= ((x >> positions[k]) & 1) << k;
          reachable = std::max(reachable, w + 1);
        }
        first += reachable;
      }
    }
    std::vector<float> e(d, 0.0f);
    for (int j = 0; j < d; ++j) {
      e[j] = Row(tables, 0, rows[0], d)[j];
      for (size_t r = 1; r < rows.size(); ++r) e[j] += Row(tables, 0, rows[r], d)[j];
      if (m.mean() && rows.size() > 1) e[j] *= 1.0f / static_cast<float>(rows.size());
    }
    out.insert(out.end(), e.begin(), e.end());
  }
  return out;
}

std::vector<float> RobeLookup(const RobeEmbedding& m, const FeatureSpace& s,
                              const TableValues& tables, std::span<const uint32_t> keys) {
  const int d = s.dim, nf = s.num_fields();
  const u128 p = RobeEmbedding::kPrime;
  const auto& k = m.constants();
  const int w = d / m.chunks();
  std::vector<float> out;
  for (size_t i = 0; i < keys.size(); ++i) {
    const u128 x = s.offsets[i % nf] + keys[i];
    for (int e = 0; e < d; ++e) {
      const u128 z = e / w, pos = e % w;
      const uint64_t idx = static_cast<uint64_t>(
          ((k[RobeEmbedding::kBh] * x + k[RobeEmbedding::kDh] + pos + k[RobeEmbedding::kCh] * z) %
           p) %
          m.length());
      const u128 g = (k[RobeEmbedding::kBg] * x + k[RobeEmbedding::kDg] +
                      k[RobeEmbedding::kCg] * static_cast<u128>(e)) %
                     p;
      const float sign = 2.0f * static_cast<float>(static_cast<uint64_t>(g % 2)) - 1.0f;
      out.push_back(sign * tables[0][idx]);
    }
  }
  return out;
}

}  // namespace ecps::hashing_ref
