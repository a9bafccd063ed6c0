#include "compressors/dynamic/cel.h"

#include <algorithm>
#include <cmath>

#include "common/blob.h"

namespace ecps {

namespace dynamic_internal {

std::vector<double> CelParams::Encode() const { return {split_b, reassign_every, half_life, dim}; }

CelParams CelParams::Decode(const std::vector<double>& p) {
  CelParams c;
  if (p.size() < kCount) return c;
  c.split_b = p[0];
  c.reassign_every = p[1];
  c.half_life = p[2];
  c.dim = p[3];
  return c;
}

namespace {

// Key state columns: [cluster + 1 (0: the field's root), decayed count, last
// step, GPCA projection, reassignment gain, other cluster of the last split + 1].
constexpr int kRow = 0, kCount = 1, kLast = 2, kProj = 3, kGain = 4, kAlt = 5;
// Row state columns: [interactions since the last split, pushes counted into
// the statistics, in use (a split's new cluster), done (one member: nothing
// to split), gradient mean (d), principal direction (d)].
constexpr int kInter = 0, kPushes = 1, kUsed = 2, kDone = 3, kMean = 4;
// Oja's rule step on the normalised centred gradient (a power iteration
// with I + eta c c^T per push): small enough that the direction averages
// over the window's pushes, large enough to settle within b of them.
constexpr double kOjaRate = 0.1;

class CelMapping final : public KeyMappingKind {
 public:
  const char* Name() const override { return "cel"; }
  int KeyWidth(const KeyMappingSpec&) const override { return kCelKeyWidth; }
  int RowWidth(const KeyMappingSpec& spec) const override {
    return spec.params.size() != CelParams::kCount ? 0 : CelRowWidth(static_cast<int>(Dim(spec)));
  }

  Status Check(const KeyMappingSpec& spec) const override {
    if (spec.params.size() != CelParams::kCount)
      return InvalidArgument(spec.params.size(), " parameters, expected ", CelParams::kCount);
    const CelParams p = CelParams::Decode(spec.params);
    if (!(p.split_b >= 1))
      return InvalidArgument("split_interactions must be >= 1, got ", p.split_b);
    if (!(p.reassign_every >= 0)) return InvalidArgument("reassign_every must be >= 0");
    if (!(p.half_life >= 0)) return InvalidArgument("half-life must be >= 0");
    if (!(p.dim >= 1 && p.dim <= 65536 && p.dim == std::floor(p.dim)))
      return InvalidArgument("dim must be an integer in [1, 65536], got ", p.dim);
    const std::vector<uint64_t>& f = spec.field_offsets;
    if (!f.empty() && (f[0] != 0 || !std::is_sorted(f.begin(), f.end())))
      return InvalidArgument("field offsets must ascend from 0");
    return OkStatus();
  }

  uint64_t Resolve(const KeyMappingSpec& spec, const KeyPartition& part,
                   uint64_t key) const override {
    const float row = part.key_state(key)[kRow];
    if (row > 0) return static_cast<uint64_t>(row) - 1;
    return Root(spec, part, key);
  }

  void Count(const KeyMappingSpec& spec, KeyPartition* part, uint64_t key, uint32_t n,
             std::span<const float> grad, int64_t step) const override {
    const size_t d = static_cast<size_t>(Dim(spec));
    if (grad.size() != d) return;  // not this kind's table (the store checks the widths)
    float* ks = part->mutable_key_state(key);
    ks[kCount] = static_cast<float>(DecayedCount(ks[kCount], ks[kLast], step, HalfLife(spec)) + n);
    ks[kLast] = static_cast<float>(step);
    const uint64_t r = Resolve(spec, *part, key);
    float* rs = part->mutable_row_state(r);
    float* mean = rs + kMean;
    float* dir = rs + kMean + d;
    if (rs[kDone] == 0) {
      if (rs[kInter] < SplitB(spec)) {
        // First half of the window: the members' gradient mean and the first
        // principal component of their centred gradients (Oja's rule).
        const double t = static_cast<double>(rs[kPushes]) + 1;
        rs[kPushes] = static_cast<float>(t);
        double cc = 0, cv = 0, vv = 0;
        for (size_t j = 0; j < d; ++j) {
          mean[j] = static_cast<float>(mean[j] + (grad[j] - mean[j]) / t);
          vv += static_cast<double>(dir[j]) * dir[j];
        }
        if (vv == 0) InitDirection(spec, part->GlobalKey(r), d, dir);
        for (size_t j = 0; j < d; ++j) {
          const double c = static_cast<double>(grad[j]) - mean[j];
          cc += c * c;
          cv += c * dir[j];
        }
        if (cc > 0) {
          const double s = kOjaRate * cv / cc;  // eta (c^ . v) c^ = eta (c . v) c / |c|^2
          double norm = 0;
          for (size_t j = 0; j < d; ++j) {
            dir[j] = static_cast<float>(dir[j] + s * (static_cast<double>(grad[j]) - mean[j]));
            norm += static_cast<double>(dir[j]) * dir[j];
          }
          if (norm > 0) {
            const double in = 1.0 / std::sqrt(norm);
            for (size_t j = 0; j < d; ++j) dir[j] = static_cast<float>(dir[j] * in);
          }
        }
      } else {
        // Second half: the member's projection on the frozen component.
        double proj = 0;
        for (size_t j = 0; j < d; ++j) proj += (static_cast<double>(grad[j]) - mean[j]) * dir[j];
        ks[kProj] = static_cast<float>(ks[kProj] + proj);
      }
      rs[kInter] = static_cast<float>(static_cast<double>(rs[kInter]) + n);
    }
    if (Reassigns(spec) && ks[kAlt] > 0) {
      // To first order, moving to the other cluster changes the key's loss
      // by g . (w_other - w_own): the gain is its negative, summed until
      // the next reassignment round.
      const float* own = part->data_row(r);
      const float* other = part->data_row(static_cast<uint64_t>(ks[kAlt]) - 1);
      double gain = 0;
      for (size_t j = 0; j < d; ++j)
        gain += static_cast<double>(grad[j]) * (static_cast<double>(own[j]) - other[j]);
      ks[kGain] = static_cast<float>(ks[kGain] + gain);
    }
  }

  void EndStep(const KeyMappingSpec& spec, KeyPartition* part, int64_t step) const override {
    const uint64_t keys = part->keys(), rows = part->rows();
    if (rows == 0) return;
    const size_t d = static_cast<size_t>(Dim(spec));
    const uint64_t roots = Roots(spec, *part);
    // Reassignment round: a key whose gains say the other cluster of its
    // last split fits its interactions better moves there.
    if (Reassigns(spec) && step % static_cast<int64_t>(ReassignEvery(spec)) == 0) {
      for (uint64_t k = 0; k < keys; ++k) {
        float* ks = part->mutable_key_state(k);
        if (ks[kAlt] <= 0) continue;
        if (ks[kGain] > 0) {
          const uint64_t from = Resolve(spec, *part, k);
          const uint64_t to = static_cast<uint64_t>(ks[kAlt]) - 1;
          ks[kRow] = static_cast<float>(to + 1);
          ks[kAlt] = static_cast<float>(from + 1);
          ks[kProj] = 0;  // its projection was on the old cluster's component
          part->mutable_row_state(to)[kDone] = 0;
        }
        ks[kGain] = 0;
      }
    }
    // Splits: clusters past 2b interactions, the busiest first, as long as
    // free rows last.
    const double b = SplitB(spec);
    std::vector<std::pair<double, uint64_t>> due;
    std::vector<uint64_t> free;
    for (uint64_t r = 0; r < rows; ++r) {
      const float* rs = part->row_state(r);
      const bool used = r < roots || rs[kUsed] > 0;
      if (!used) {
        free.push_back(r);
      } else if (rs[kDone] == 0 && rs[kInter] > 2 * b) {
        due.push_back({-static_cast<double>(rs[kInter]), r});
      }
    }
    if (due.empty() || free.empty()) return;
    std::sort(due.begin(), due.end());
    due.resize(std::min(due.size(), free.size()));
    std::vector<int> sel(rows, -1);
    for (size_t i = 0; i < due.size(); ++i) sel[due[i].second] = static_cast<int>(i);
    // Members on either side of the component (a key never pushed since the
    // split projects to 0: it stays).
    std::vector<uint64_t> pos(due.size(), 0), neg(due.size(), 0);
    for (uint64_t k = 0; k < keys; ++k) {
      const int i = sel[Resolve(spec, *part, k)];
      if (i < 0) continue;
      if (part->key_state(k)[kProj] > 0) {
        ++pos[i];
      } else {
        ++neg[i];
      }
    }
    std::vector<bool> split(due.size(), false);
    for (size_t i = 0; i < due.size(); ++i) {
      const uint64_t r = due[i].second;
      split[i] = pos[i] > 0 && neg[i] > 0;
      if (split[i]) {
        part->CopyRow(r, free[i]);  // the new cluster starts from the old row
        part->mutable_row_state(free[i])[kUsed] = 1;
      } else if (pos[i] + neg[i] <= 1) {
        part->mutable_row_state(r)[kDone] = 1;  // until a key joins it
      }
      float* rs = part->mutable_row_state(r);
      rs[kInter] = 0;
      rs[kPushes] = 0;
      std::fill_n(rs + kMean, 2 * d, 0.0f);
    }
    for (uint64_t k = 0; k < keys; ++k) {
      const uint64_t r = Resolve(spec, *part, k);
      const int i = sel[r];
      if (i < 0) continue;
      float* ks = part->mutable_key_state(k);
      if (split[i]) {
        const uint64_t child = free[i];
        const bool moves = ks[kProj] > 0;
        ks[kRow] = static_cast<float>((moves ? child : r) + 1);
        ks[kAlt] = static_cast<float>((moves ? r : child) + 1);
        ks[kGain] = 0;
      }
      ks[kProj] = 0;
    }
  }

  void ForEachTracked(const KeyMappingSpec& spec, const KeyPartition& part, int64_t step,
                      const std::function<void(uint64_t, double, bool)>& fn) const override {
    for (uint64_t k = 0; k < part.keys(); ++k) {
      const float* ks = part.key_state(k);
      if (ks[kCount] == 0) continue;
      // "Own row": the key is in a cluster split off a root, not in a root.
      fn(k, DecayedCount(ks[kCount], ks[kLast], step, HalfLife(spec)),
         Resolve(spec, part, k) >= Roots(spec, part));
    }
  }

 private:
  static double SplitB(const KeyMappingSpec& s) { return s.params[0]; }
  static double ReassignEvery(const KeyMappingSpec& s) { return s.params[1]; }
  static bool Reassigns(const KeyMappingSpec& s) { return s.params[1] >= 1; }
  static double HalfLife(const KeyMappingSpec& s) { return s.params[2]; }
  static double Dim(const KeyMappingSpec& s) { return s.params[3]; }
  static size_t Fields(const KeyMappingSpec& s) {
    return std::max<size_t>(1, s.field_offsets.size());
  }
  // Field roots of a partition: local rows [0, min(F, rows)).
  static uint64_t Roots(const KeyMappingSpec& s, const KeyPartition& part) {
    return std::min<uint64_t>(Fields(s), part.rows());
  }
  // The root cluster of local key `key`: its field's, root f mod the roots.
  static uint64_t Root(const KeyMappingSpec& s, const KeyPartition& part, uint64_t key) {
    const uint64_t roots = Roots(s, part);
    if (roots == 0) return 0;
    const std::vector<uint64_t>& off = s.field_offsets;
    const size_t f = static_cast<size_t>(
        std::upper_bound(off.begin(), off.end(), part.GlobalKey(key)) - off.begin());
    return static_cast<uint64_t>(f == 0 ? 0 : f - 1) % roots;
  }
  // A unit starting direction per cluster row, the same wherever it is held.
  static void InitDirection(const KeyMappingSpec& s, uint64_t global_row, size_t d, float* dir) {
    KeyInitialRow(s.seed ^ 0x6370636164697231ull, global_row, 1.0, static_cast<int>(d), dir);
    double norm = 0;
    for (size_t j = 0; j < d; ++j) norm += static_cast<double>(dir[j]) * dir[j];
    if (norm == 0) {
      dir[0] = 1;
      return;
    }
    const double in = 1.0 / std::sqrt(norm);
    for (size_t j = 0; j < d; ++j) dir[j] = static_cast<float>(dir[j] * in);
  }
};

}  // namespace

const KeyMappingKind* CelKind() {
  static const CelMapping k;
  return &k;
}

}  // namespace dynamic_internal

namespace {
constexpr char kStateMagic[9] = "ECPSCEL_";
}  // namespace

ParamSchema CelEmbedding::Schema() {
  ParamSchema s;
  s.Float("split_interactions", 100, 1, 1e12,
          "b: a cluster is split in two (GPCA) once its members had more than 2b interactions "
          "since its last split, while free rows remain");
  // Off by default: a gain reads the rows as they are when the push is
  // counted, and with several workers a co-worker's push of the same step may
  // have moved them already (DynamicTrainTest: 2 + 2 workers 0.017 AUC below
  // one process with reassign_every=10, 0.004 without).
  s.Int("reassign_every", 0, 0, 1000000,
        "steps between reassignment rounds: a feature moves to the other cluster of its last "
        "split when its first-order gains since the last round say that row fits it better "
        "(0: never)");
  s.Float("half_life", 0, 0, 1e15,
          "half-life in steps of the per-feature counts in the statistics (0: no decay)");
  return s;
}

std::unique_ptr<Compressor> CelEmbedding::Create() { return std::make_unique<CelEmbedding>(); }

Status CelEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(method_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  partitions_ = std::max(1, ctx.partitions);
  seed_ = ctx.seed ^ 0x63656C5F6B657973ull;
  init_bound_ = method_internal::InitBound(space_);
  params_ = dynamic_internal::CelParams();
  params_.split_b = params.GetFloat("split_interactions");
  params_.reassign_every = static_cast<double>(params.GetInt("reassign_every"));
  params_.half_life = params.GetFloat("half_life");
  params_.dim = space_.dim;
  KeyMappingSpec probe;
  probe.kind = kName;
  probe.params = params_.Encode();
  RETURN_IF_ERROR(Annotate(dynamic_internal::CelKind()->Check(probe), kName));
  // The largest m whose rows and assignment fit: 4·m·d + 4·n <= budget.
  const uint64_t n = space_.total(), d = static_cast<uint64_t>(space_.dim);
  const uint64_t budget =
      static_cast<uint64_t>(static_cast<double>(method_internal::FullBytes(space_)) * ctx.budget);
  const uint64_t fit = budget > 4 * n ? (budget - 4 * n) / (4 * d) : 0;
  const uint64_t lo = static_cast<uint64_t>(partitions_);
  m_ = std::clamp<uint64_t>(fit, lo, std::max(lo, n));
  return OkStatus();
}

std::vector<RowTableSpec> CelEmbedding::Tables() const {
  RowTableSpec e;
  e.name = "E";
  e.rows = m_;
  e.width = space_.dim;
  e.init_bound = init_bound_;
  RowTableSpec k;
  k.name = "K";
  k.rows = space_.total();
  k.width = dynamic_internal::kCelKeyWidth;
  k.trainable = false;
  RowTableSpec o;
  o.name = "O";
  o.rows = m_;
  o.width = dynamic_internal::CelRowWidth(space_.dim);
  o.trainable = false;
  return {e, k, o};
}

void CelEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  OneTableMethod::Encode(keys, plan);  // rows[0] = global ids
  plan->per_key.resize(3, 0);
  plan->rows.resize(3);
  plan->rows[1].clear();
  plan->rows[2].clear();
}

std::vector<KeyMappingSpec> CelEmbedding::KeyMappings() const {
  KeyMappingSpec s;
  s.kind = kName;
  s.data_table = 0;
  s.key_table = 1;
  s.row_table = 2;
  s.partitions = partitions_;
  s.seed = seed_;
  s.init_bound = init_bound_;
  s.params = params_.Encode();
  s.field_offsets = space_.offsets;  // the field roots, and the statistics per field
  return {s};
}

MemoryReport CelEmbedding::Memory() const {
  MemoryReport r;
  const uint64_t n = space_.total(), d = static_cast<uint64_t>(space_.dim);
  const uint64_t rows = 4 * m_ * d;
  // Training stores every table: the rows, the per-feature state (K) and the
  // clusters' statistics (O); a served model keeps the rows and the
  // assignment, one int32 per feature.
  r.parameter_bytes = rows + 4 * n * dynamic_internal::kCelKeyWidth +
                      4 * m_ * static_cast<uint64_t>(dynamic_internal::CelRowWidth(space_.dim));
  r.mapping_bytes = 4 * n;
  r.inference_bytes = rows + r.mapping_bytes;
  return r;
}

std::string CelEmbedding::SaveState() const {
  BlobWriter w = method_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod(m_);
  w.Pod<int32_t>(partitions_);
  w.Vec(params_.Encode());
  return w.Finish();
}

Status CelEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(method_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  uint64_t m = 0;
  int32_t p = 0;
  std::vector<double> params;
  if (!r.Pod(&m) || !r.Pod(&p) || !r.Vec(&params)) return r.Truncated();
  RETURN_IF_ERROR(method_internal::EndState(r));
  RETURN_IF_ERROR(method_internal::CheckSame(kName, "the row count m", m, m_));
  RETURN_IF_ERROR(method_internal::CheckSame(kName, "the partitions (cluster.virtual_shards)", p,
                                             static_cast<int32_t>(partitions_)));
  return method_internal::CheckSame(kName, "the mapping parameters", params, params_.Encode());
}

}  // namespace ecps
