#include "tests/compressors/reference/cel_reference.h"

#include <algorithm>
#include <cmath>

namespace ecps::reference {

CelReference::CelReference(const KeyMappingSpec& spec, uint64_t rows, uint64_t keys)
    : spec_(spec),
      parts_(static_cast<uint64_t>(spec.partitions)),
      m_(rows),
      n_(keys),
      d_(static_cast<int>(spec.params[3])),
      b_(spec.params[0]),
      every_(spec.params[1]),
      half_life_(spec.params[2]),
      offsets_(spec.field_offsets),
      rows_(rows) {
  for (Row& r : rows_) {
    r.mean.assign(d_, 0.0f);
    r.dir.assign(d_, 0.0f);
  }
}

namespace {
uint64_t RowsOf(uint64_t m, uint64_t parts, uint64_t p) {
  return m > p ? (m - p + parts - 1) / parts : 0;
}
}  // namespace

uint64_t CelReference::Root(uint64_t k) const {
  const uint64_t p = k % parts_;
  const uint64_t fields = std::max<uint64_t>(1, offsets_.size());
  const uint64_t roots = std::min(fields, RowsOf(m_, parts_, p));
  uint64_t f = 0;
  while (f + 1 < fields && k >= offsets_[f + 1]) ++f;
  return (f % roots) * parts_ + p;
}

bool CelReference::Used(uint64_t r) const {
  const uint64_t p = r % parts_;
  return Local(r) <
             std::min<uint64_t>(std::max<uint64_t>(1, offsets_.size()), RowsOf(m_, parts_, p)) ||
         rows_[r].used;
}

uint64_t CelReference::RowOf(uint64_t k) const {
  auto it = keys_.find(k);
  if (it == keys_.end() || it->second.row < 0) return Root(k);
  return static_cast<uint64_t>(it->second.row);
}

const CelReference::Key& CelReference::key(uint64_t k) const {
  static const Key kNone;
  auto it = keys_.find(k);
  return it == keys_.end() ? kNone : it->second;
}

void CelReference::Push(const std::vector<uint64_t>& keys, const std::vector<uint32_t>& counts,
                        const std::vector<float>& grads, const std::vector<float>& e,
                        int64_t step) {
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint64_t k = keys[i];
    const float* g = grads.data() + i * d_;
    Key& ks = keys_[k];
    ks.count = static_cast<float>(DecayedCount(ks.count, ks.last, step, half_life_) + counts[i]);
    ks.last = static_cast<float>(step);
    const uint64_t r = RowOf(k);
    Row& rs = rows_[r];
    if (!rs.done) {
      if (rs.inter < b_) {
        // Learning the cluster's mean gradient and first component.
        const double t = static_cast<double>(rs.pushes) + 1;
        rs.pushes = static_cast<float>(t);
        double vv = 0;
        for (int j = 0; j < d_; ++j) {
          rs.mean[j] = static_cast<float>(rs.mean[j] + (g[j] - rs.mean[j]) / t);
          vv += static_cast<double>(rs.dir[j]) * rs.dir[j];
        }
        if (vv == 0) {
          KeyInitialRow(spec_.seed ^ 0x6370636164697231ull, r, 1.0, d_, rs.dir.data());
          double norm = 0;
          for (float x : rs.dir) norm += static_cast<double>(x) * x;
          for (float& x : rs.dir) x = static_cast<float>(x * (1.0 / std::sqrt(norm)));
        }
        double cc = 0, cv = 0;
        for (int j = 0; j < d_; ++j) {
          const double c = static_cast<double>(g[j]) - rs.mean[j];
          cc += c * c;
          cv += c * rs.dir[j];
        }
        if (cc > 0) {
          const double s = 0.1 * cv / cc;
          double norm = 0;
          for (int j = 0; j < d_; ++j) {
            rs.dir[j] =
                static_cast<float>(rs.dir[j] + s * (static_cast<double>(g[j]) - rs.mean[j]));
            norm += static_cast<double>(rs.dir[j]) * rs.dir[j];
          }
          for (float& x : rs.dir) x = static_cast<float>(x * (1.0 / std::sqrt(norm)));
        }
      } else {
        double proj = 0;
        for (int j = 0; j < d_; ++j) proj += (static_cast<double>(g[j]) - rs.mean[j]) * rs.dir[j];
        ks.proj = static_cast<float>(ks.proj + proj);
      }
      rs.inter = static_cast<float>(static_cast<double>(rs.inter) + counts[i]);
    }
    if (every_ >= 1 && ks.alt >= 0) {
      double gain = 0;
      for (int j = 0; j < d_; ++j)
        gain += static_cast<double>(g[j]) *
                (static_cast<double>(e[r * d_ + j]) - e[static_cast<uint64_t>(ks.alt) * d_ + j]);
      ks.gain = static_cast<float>(ks.gain + gain);
    }
  }
}

void CelReference::EndStep(int64_t step) {
  if (every_ >= 1 && step % static_cast<int64_t>(every_) == 0) {
    for (auto& [k, ks] : keys_) {
      if (ks.alt < 0) continue;
      if (ks.gain > 0) {
        const int64_t from = static_cast<int64_t>(RowOf(k));
        ks.row = ks.alt;
        ks.alt = from;
        ks.proj = 0;
        rows_[static_cast<uint64_t>(ks.row)].done = false;
        ++moves_;
      }
      ks.gain = 0;
    }
  }
  for (uint64_t p = 0; p < parts_; ++p) {
    std::vector<std::pair<float, uint64_t>> due;  // (-interactions, row)
    std::vector<uint64_t> free;
    for (uint64_t r = p; r < m_; r += parts_) {
      if (!Used(r)) {
        free.push_back(r);
      } else if (!rows_[r].done && rows_[r].inter > 2 * b_) {
        due.push_back({-rows_[r].inter, r});
      }
    }
    if (due.empty() || free.empty()) continue;
    std::sort(due.begin(), due.end());
    due.resize(std::min(due.size(), free.size()));
    std::map<uint64_t, size_t> child;  // due row -> index
    for (size_t i = 0; i < due.size(); ++i) child[due[i].second] = i;
    // Every feature of the partition, seen or not, is a member of its row.
    std::vector<uint64_t> pos(due.size(), 0), neg(due.size(), 0);
    for (uint64_t k = p; k < n_; k += parts_) {
      auto it = child.find(RowOf(k));
      if (it == child.end()) continue;
      (key(k).proj > 0 ? pos : neg)[it->second]++;
    }
    std::vector<bool> split(due.size());
    for (size_t i = 0; i < due.size(); ++i) {
      const uint64_t r = due[i].second;
      split[i] = pos[i] > 0 && neg[i] > 0;
      if (split[i]) {
        rows_[free[i]].used = true;
        ++splits_;
      } else if (pos[i] + neg[i] <= 1) {
        rows_[r].done = true;
      }
      rows_[r].inter = 0;
      rows_[r].pushes = 0;
      rows_[r].mean.assign(d_, 0.0f);
      rows_[r].dir.assign(d_, 0.0f);
    }
    for (uint64_t k = p; k < n_; k += parts_) {
      const uint64_t r = RowOf(k);
      auto it = child.find(r);
      if (it == child.end()) continue;
      Key& ks = keys_[k];
      if (split[it->second]) {
        const uint64_t c = free[it->second];
        const bool moves = ks.proj > 0;
        ks.row = static_cast<int64_t>(moves ? c : r);
        ks.alt = static_cast<int64_t>(moves ? r : c);
        ks.gain = 0;
      }
      ks.proj = 0;
    }
  }
}

}  // namespace ecps::reference
