// MagPQ and MagSVD: PQ or SVD per group of rows of similar L2 norm, more
// capacity for the large rows (docs/methods.md §6.4).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "vectors/internal/methods.h"
#include "vectors/internal/pq_core.h"

namespace ecps::vectors::internal {

MagnitudeGroups SplitByMagnitude(const VectorSet& x, int groups) {
  std::vector<double> norm(x.n);
  for (uint64_t i = 0; i < x.n; ++i) {
    double s = 0;
    for (int j = 0; j < x.dim; ++j) s += static_cast<double>(x.row(i)[j]) * x.row(i)[j];
    norm[i] = std::sqrt(s);
  }
  MagnitudeGroups g;
  g.order.resize(x.n);
  std::iota(g.order.begin(), g.order.end(), 0u);
  std::stable_sort(g.order.begin(), g.order.end(),
                   [&](uint32_t a, uint32_t b) { return norm[a] > norm[b]; });
  double total = 0;
  for (double v : norm) total += v;
  // Group k ends where the cumulative norm first exceeds (k + 1)/g of the
  // total: equal total norm per group, so the high-norm group has fewer rows.
  g.begin.assign(groups + 1, x.n);
  g.begin[0] = 0;
  double cum = 0;
  int k = 1;
  for (uint64_t p = 0; p < x.n && k < groups; ++p) {
    cum += norm[g.order[p]];
    while (k < groups && cum > total * k / groups) g.begin[k++] = p + 1;
  }
  return g;
}

VectorSet Gather(const VectorSet& x, const uint32_t* rows, uint64_t count) {
  VectorSet v;
  v.n = count;
  v.dim = x.dim;
  v.values.resize(count * x.dim);
  for (uint64_t i = 0; i < count; ++i)
    std::memcpy(v.values.data() + i * x.dim, x.row(rows[i]), x.dim * sizeof(float));
  return v;
}

namespace {

// The remap (row -> sorted position, 4 B per row, charged) and the groups'
// first positions that both methods keep.
struct GroupMap {
  std::vector<uint32_t> remap;
  std::vector<uint64_t> begin;
  static GroupMap From(const MagnitudeGroups& g) {
    GroupMap m;
    m.remap.resize(g.order.size());
    for (uint64_t p = 0; p < g.order.size(); ++p) m.remap[g.order[p]] = static_cast<uint32_t>(p);
    m.begin = g.begin;
    return m;
  }
  int groups() const { return static_cast<int>(begin.size()) - 1; }
  // The group and the position within it of row `id`.
  std::pair<int, uint64_t> Locate(uint64_t id) const {
    const uint64_t p = remap[id];
    const int g =
        static_cast<int>(std::upper_bound(begin.begin(), begin.end(), p) - begin.begin()) - 1;
    return {g, p - begin[g]};
  }
  uint64_t Bytes() const { return remap.size() * 4; }
  void Save(BlobWriter* w) const {
    w->Vec(remap);
    w->Vec(begin);
  }
  Status Load(BlobReader* r, uint64_t n) {
    if (!r->Vec(&remap) || !r->Vec(&begin)) return r->Truncated();
    if (remap.size() != n || begin.size() < 2 || begin.front() != 0 || begin.back() != n)
      return DataLoss("magnitude groups of ", remap.size(), " rows / ", begin.size(),
                      " bounds for ", n, " rows");
    for (size_t g = 0; g + 1 < begin.size(); ++g)
      if (begin[g] > begin[g + 1]) return DataLoss("magnitude group bounds decrease");
    std::vector<bool> seen(n, false);
    for (uint32_t p : remap) {
      if (p >= n || seen[p]) return DataLoss("the remap is not a permutation");
      seen[p] = true;
    }
    return OkStatus();
  }
};

class MagPqCodec final : public VectorCodec {
 public:
  MagPqCodec(uint64_t n, int dim, GroupMap map, std::vector<PqCore> pq)
      : VectorCodec(n, dim), map_(std::move(map)), pq_(std::move(pq)) {}
  std::string_view method() const override { return "magpq"; }
  void Decode(std::span<const uint64_t> ids, float* out) const override {
    for (size_t k = 0; k < ids.size(); ++k) {
      const auto [g, p] = map_.Locate(ids[k]);
      pq_[g].DecodeRow(p, out + k * dim());
    }
  }
  uint64_t MemoryBytes() const override {
    uint64_t b = map_.Bytes();
    for (const PqCore& q : pq_) b += q.MemoryBytes();
    return b;
  }
  std::string Params() const override {
    std::string s =
        "groups=" + std::to_string(pq_.size()) + " m=" + std::to_string(pq_[0].m) + " bits=";
    for (size_t g = 0; g < pq_.size(); ++g) s += (g ? "," : "") + std::to_string(pq_[g].bits);
    return s;
  }
  void Save(BlobWriter* w) const override {
    map_.Save(w);
    for (const PqCore& q : pq_) q.Save(w);
  }

 private:
  GroupMap map_;
  std::vector<PqCore> pq_;
};

class MagSvdCodec final : public VectorCodec {
 public:
  MagSvdCodec(uint64_t n, int dim, GroupMap map, std::vector<LowRank> f)
      : VectorCodec(n, dim), map_(std::move(map)), f_(std::move(f)) {}
  std::string_view method() const override { return "magsvd"; }
  void Decode(std::span<const uint64_t> ids, float* out) const override {
    for (size_t k = 0; k < ids.size(); ++k) {
      const auto [g, p] = map_.Locate(ids[k]);
      const LowRank& f = f_[g];
      ProjectRow(f.us.data() + p * f.rank, f.vt.data(), f.rank, dim(), out + k * dim());
    }
  }
  uint64_t MemoryBytes() const override {
    uint64_t b = map_.Bytes();
    for (const LowRank& f : f_) b += (f.us.size() + f.vt.size()) * 4;
    return b;
  }
  std::string Params() const override {
    std::string s = "groups=" + std::to_string(f_.size()) + " ranks=";
    for (size_t g = 0; g < f_.size(); ++g) s += (g ? "," : "") + std::to_string(f_[g].rank);
    return s;
  }
  void Save(BlobWriter* w) const override {
    map_.Save(w);
    for (const LowRank& f : f_) {
      w->Pod<int32_t>(f.rank);
      w->Vec(f.us);
      w->Vec(f.vt);
    }
  }

 private:
  GroupMap map_;
  std::vector<LowRank> f_;
};

// Parses "9,8" into one bit width per group; default 8 + (groups - 1 - g).
StatusOr<std::vector<int>> GroupBits(const CodecParams& p, int groups) {
  std::vector<int> bits;
  auto it = p.values().find("bits");
  if (it == p.values().end()) {
    for (int g = 0; g < groups; ++g) bits.push_back(8 + groups - 1 - g);
  } else {
    std::string_view s = it->second;
    while (!s.empty()) {
      const size_t c = s.find(',');
      const std::string one(s.substr(0, c));
      char* end = nullptr;
      const long b = std::strtol(one.c_str(), &end, 10);
      if (one.empty() || *end != '\0' || b < 1 || b > 16)
        return InvalidArgument("--param bits=", it->second,
                               ": one width in [1, 16] per group, comma-separated");
      bits.push_back(static_cast<int>(b));
      s.remove_prefix(c == std::string_view::npos ? s.size() : c + 1);
    }
    if (static_cast<int>(bits.size()) != groups)
      return InvalidArgument("--param bits=", it->second, ": ", bits.size(), " widths for ", groups,
                             " groups");
  }
  return bits;
}

}  // namespace

CodecOr CompressMagPq(const VectorSet& x, const CompressOptions& o) {
  RETURN_IF_ERROR(o.params.OnlyKnown("magpq", {"groups", "m", "bits", "iters", "sample"}));
  ASSIGN_OR_RETURN(const int64_t groups, o.params.Int("groups", 2, 1, 64));
  ASSIGN_OR_RETURN(const std::vector<int> bits, GroupBits(o.params, static_cast<int>(groups)));
  ASSIGN_OR_RETURN(const int64_t iters, o.params.Int("iters", 25, 1, 1000));
  ASSIGN_OR_RETURN(const int64_t sample_per_centroid, o.params.Int("sample", 256, 1, 1 << 20));
  ASSIGN_OR_RETURN(int64_t m, o.params.Int("m", 0, 0, x.dim));
  if (m > 0 && x.dim % m != 0)
    return InvalidArgument("--param m=", m, ": must divide the dimension ", x.dim);
  const MagnitudeGroups split = SplitByMagnitude(x, static_cast<int>(groups));
  if (m == 0) {
    // The largest m dividing d at which every group's codes and codebooks
    // and the remap fit; m = 1 if none (unreachable: real ratio).
    const double cap = o.budget * 4.0 * x.n * x.dim;
    m = 1;
    for (int c = x.dim; c >= 1; --c) {
      if (x.dim % c != 0) continue;
      double b = 4.0 * x.n;
      for (int g = 0; g < groups; ++g)
        b += PqBytes(split.begin[g + 1] - split.begin[g], x.dim, c, bits[g]);
      if (b <= cap) {
        m = c;
        break;
      }
    }
  }
  std::unique_ptr<ForkJoinPool> pool;
  if (o.threads > 1) pool = std::make_unique<ForkJoinPool>(o.threads);
  std::vector<PqCore> pq;
  for (int g = 0; g < groups; ++g) {
    const uint64_t b = split.begin[g], e = split.begin[g + 1];
    const VectorSet part = Gather(x, split.order.data() + b, e - b);
    auto progress = [&](double f) {
      if (o.progress) o.progress((g + f) / groups);
    };
    pq.push_back(TrainPq(part, static_cast<int>(m), bits[g],
                         static_cast<uint64_t>(sample_per_centroid) << bits[g],
                         static_cast<int>(iters), o.seed + g, pool.get(), progress));
  }
  return std::unique_ptr<VectorCodec>(
      new MagPqCodec(x.n, x.dim, GroupMap::From(split), std::move(pq)));
}

CodecOr LoadMagPq(BlobReader* r, uint64_t n, int dim) {
  GroupMap map;
  RETURN_IF_ERROR(map.Load(r, n));
  std::vector<PqCore> pq(map.groups());
  for (int g = 0; g < map.groups(); ++g) {
    RETURN_IF_ERROR(pq[g].Load(r, dim));
    if (pq[g].n != map.begin[g + 1] - map.begin[g])
      return DataLoss("group ", g, " holds ", pq[g].n, " PQ rows, its bounds ",
                      map.begin[g + 1] - map.begin[g]);
  }
  return std::unique_ptr<VectorCodec>(new MagPqCodec(n, dim, std::move(map), std::move(pq)));
}

CodecOr CompressMagSvd(const VectorSet& x, const CompressOptions& o) {
  RETURN_IF_ERROR(o.params.OnlyKnown("magsvd", {"groups"}));
  ASSIGN_OR_RETURN(const int64_t groups, o.params.Int("groups", 2, 1, 64));
  const MagnitudeGroups split = SplitByMagnitude(x, static_cast<int>(groups));
  // M' = n·d·CR − n words after the remap; r_g = round(max(1, λ·n_g^-0.3))
  // with λ = M' / Σ_g n_g^-0.3·(n_g + d): smaller groups (the large rows)
  // get higher ranks.
  const double words = o.budget * x.n * x.dim - static_cast<double>(x.n);
  double denom = 0;
  for (int g = 0; g < groups; ++g) {
    const double ng = static_cast<double>(split.begin[g + 1] - split.begin[g]);
    if (ng > 0) denom += std::pow(ng, -0.3) * (ng + x.dim);
  }
  const double lambda = std::max(0.0, words) / denom;
  std::vector<LowRank> f;
  for (int g = 0; g < groups; ++g) {
    const uint64_t b = split.begin[g], e = split.begin[g + 1];
    const double ng = static_cast<double>(e - b);
    LowRank lr;
    if (e > b) {
      const int rank =
          static_cast<int>(std::clamp(std::round(std::max(1.0, lambda * std::pow(ng, -0.3))), 1.0,
                                      std::min<double>(x.dim, ng)));
      ASSIGN_OR_RETURN(lr, TruncatedSvd(Gather(x, split.order.data() + b, e - b), rank));
    } else {
      lr.rank = 1;  // an empty group: no rows, a rank-1 Vᵀ of zeros
      lr.vt.assign(x.dim, 0.0f);
    }
    f.push_back(std::move(lr));
    if (o.progress) o.progress(static_cast<double>(g + 1) / groups);
  }
  return std::unique_ptr<VectorCodec>(
      new MagSvdCodec(x.n, x.dim, GroupMap::From(split), std::move(f)));
}

CodecOr LoadMagSvd(BlobReader* r, uint64_t n, int dim) {
  GroupMap map;
  RETURN_IF_ERROR(map.Load(r, n));
  std::vector<LowRank> f(map.groups());
  for (int g = 0; g < map.groups(); ++g)
    RETURN_IF_ERROR(LoadLowRank(r, map.begin[g + 1] - map.begin[g], dim, &f[g]));
  return std::unique_ptr<VectorCodec>(new MagSvdCodec(n, dim, std::move(map), std::move(f)));
}

}  // namespace ecps::vectors::internal
