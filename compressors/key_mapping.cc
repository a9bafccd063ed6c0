#include "compressors/key_mapping.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/blob.h"
#include "common/rng.h"

namespace ecps {

// Each family with keyed tables lists its kinds in its family.cc.
void AddDynamicKeyMappingKinds(std::vector<const KeyMappingKind*>* out);

const KeyMappingKind* FindKeyMappingKind(const std::string& name) {
  static const std::vector<const KeyMappingKind*>* const kKinds = [] {
    auto* k = new std::vector<const KeyMappingKind*>;
    AddDynamicKeyMappingKinds(k);
    return k;
  }();
  for (const KeyMappingKind* k : *kKinds)
    if (name == k->Name()) return k;
  return nullptr;
}

namespace {
// Local ids are stored as fp32 values: exact up to 2^24.
constexpr uint64_t kMaxLocalIds = uint64_t{1} << 24;
}  // namespace

Status CheckKeyMappings(const std::vector<KeyMappingSpec>& specs,
                        const std::vector<uint64_t>& table_rows,
                        const std::vector<bool>& f32_untrained) {
  const int nt = static_cast<int>(table_rows.size());
  std::vector<bool> used(table_rows.size(), false);
  for (size_t i = 0; i < specs.size(); ++i) {
    const KeyMappingSpec& s = specs[i];
    const KeyMappingKind* kind = FindKeyMappingKind(s.kind);
    if (kind == nullptr) return InvalidArgument("key mapping ", i, ": unknown kind '", s.kind, "'");
    for (int t : {s.data_table, s.key_table, s.row_table}) {
      if (t < 0 || t >= nt)
        return InvalidArgument("key mapping ", i, " (", s.kind, "): table ", t, " not in [0, ", nt,
                               ")");
      if (used[t])
        return InvalidArgument("key mapping ", i, " (", s.kind, "): table ", t,
                               " is used twice by the key mappings");
      used[t] = true;
    }
    if (s.partitions < 1)
      return InvalidArgument("key mapping ", i, " (", s.kind, "): partitions must be >= 1, got ",
                             s.partitions);
    if (!f32_untrained[s.key_table] || !f32_untrained[s.row_table])
      return InvalidArgument("key mapping ", i, " (", s.kind,
                             "): its key and row tables must be fp32 and not trainable");
    if (table_rows[s.row_table] != table_rows[s.data_table])
      return InvalidArgument("key mapping ", i, " (", s.kind, "): row table has ",
                             table_rows[s.row_table], " rows, the data table ",
                             table_rows[s.data_table]);
    const uint64_t p = static_cast<uint64_t>(s.partitions);
    if (s.keys != 0 && (s.keys + p - 1) / p >= kMaxLocalIds)
      return InvalidArgument("key mapping ", i, " (", s.kind, "): more than 2^24 keys per ",
                             "partition; use more partitions (cluster.virtual_shards)");
    if ((table_rows[s.key_table] + p - 1) / p >= kMaxLocalIds ||
        (table_rows[s.data_table] + p - 1) / p >= kMaxLocalIds)
      return InvalidArgument("key mapping ", i, " (", s.kind, "): more than 2^24 keys or rows per ",
                             "partition; use more partitions (cluster.virtual_shards)");
    RETURN_IF_ERROR(Annotate(kind->Check(s), "key mapping " + s.kind));
  }
  return OkStatus();
}

uint64_t KeyHash(uint64_t seed, uint64_t key) {
  uint64_t x = seed ^ (key * 0x9E3779B97F4A7C15ull);
  SplitMix64(x);
  return SplitMix64(x);
}

void KeyInitialRow(uint64_t seed, uint64_t global_key, double bound, int width, float* out) {
  uint64_t x = KeyHash(seed ^ 0x1D8E4E27C47D124Full, global_key);
  for (int j = 0; j < width; ++j) {
    // 24 random bits -> [0, 1): the same float on every machine.
    const double u = static_cast<double>(SplitMix64(x) >> 40) / 16777216.0;
    out[j] = static_cast<float>((2.0 * u - 1.0) * bound);
  }
}

double DecayedCount(double count, double last, int64_t now, double half_life) {
  if (half_life <= 0 || count == 0) return count;
  const double age = static_cast<double>(now) - last;
  return age <= 0 ? count : count * std::exp2(-age / half_life);
}

namespace {
constexpr char kMagic[9] = "ECPSKMAP";
// Version 2: the fields' first keys (KeyMappingSpec::field_offsets).
constexpr uint32_t kVersion = 2;
constexpr uint64_t kMaxSpecs = 1024, kMaxParams = 256, kMaxKindBytes = 256, kMaxFields = 1 << 16;
}  // namespace

std::string EncodeKeyMappings(const std::vector<KeyMappingSpec>& specs) {
  BlobWriter w(kMagic, kVersion);
  w.Pod<uint64_t>(specs.size());
  for (const KeyMappingSpec& s : specs) {
    w.Str(s.kind);
    w.Pod<int32_t>(s.data_table);
    w.Pod<int32_t>(s.key_table);
    w.Pod<int32_t>(s.row_table);
    w.Pod<int32_t>(s.partitions);
    w.Pod(s.keys);
    w.Pod(s.seed);
    w.Pod(s.init_bound);
    w.Vec(s.params);
    w.Vec(s.field_offsets);
  }
  return w.Finish();
}

StatusOr<std::vector<KeyMappingSpec>> DecodeKeyMappings(const std::string& bytes) {
  BlobReader r;
  RETURN_IF_ERROR(r.Open(bytes, kMagic, kVersion, "key mappings"));
  uint64_t n = 0;
  if (!r.Pod(&n)) return r.Truncated();
  if (n > kMaxSpecs) return DataLoss("key mappings: ", n, " specs (at most ", kMaxSpecs, ")");
  std::vector<KeyMappingSpec> specs(n);
  for (KeyMappingSpec& s : specs) {
    uint64_t np = 0;
    int32_t d = 0, k = 0, rt = 0, p = 0;
    if (!r.Str(&s.kind) || s.kind.size() > kMaxKindBytes || !r.Pod(&d) || !r.Pod(&k) ||
        !r.Pod(&rt) || !r.Pod(&p) || !r.Pod(&s.keys) || !r.Pod(&s.seed) || !r.Pod(&s.init_bound) ||
        !r.Pod(&np) || np > kMaxParams || r.remaining() < np * sizeof(double))
      return r.Truncated();
    s.data_table = d;
    s.key_table = k;
    s.row_table = rt;
    s.partitions = p;
    s.params.resize(np);
    if (!r.Bytes(s.params.data(), np * sizeof(double))) return r.Truncated();
    uint64_t nf = 0;
    if (!r.Pod(&nf) || nf > kMaxFields || r.remaining() < nf * sizeof(uint64_t))
      return r.Truncated();
    s.field_offsets.resize(nf);
    if (!r.Bytes(s.field_offsets.data(), nf * sizeof(uint64_t))) return r.Truncated();
    if (!std::is_sorted(s.field_offsets.begin(), s.field_offsets.end()) ||
        (nf > 0 && s.field_offsets[0] != 0))
      return DataLoss("key mappings: field offsets of '", s.kind, "' are not ascending from 0");
  }
  if (r.remaining() != 0) return r.Truncated();
  return specs;
}

KeyStats::KeyStats(std::string kind, std::vector<uint64_t> field_offsets, int top)
    : kind_(std::move(kind)), offsets_(std::move(field_offsets)), top_(std::max(0, top)) {
  if (offsets_.empty()) offsets_.push_back(0);
  fields_.resize(offsets_.size());
}

// A min-heap of the top_ hottest under `colder` while gathering; Json()
// sorts. Ties go to the lower key, so the result is the same whichever part
// or order a key arrives from.
namespace {
bool Colder(const std::pair<double, uint64_t>& a, const std::pair<double, uint64_t>& b) {
  return a.first != b.first ? a.first > b.first : a.second < b.second;
}
}  // namespace

void KeyStats::Offer(Group* g, double f, uint64_t key) const {
  if (top_ == 0) return;
  const std::pair<double, uint64_t> e{f, key};
  if (g->top.size() < static_cast<size_t>(top_)) {
    g->top.push_back(e);
    std::push_heap(g->top.begin(), g->top.end(), Colder);
  } else if (Colder(e, g->top.front())) {
    std::pop_heap(g->top.begin(), g->top.end(), Colder);
    g->top.back() = e;
    std::push_heap(g->top.begin(), g->top.end(), Colder);
  }
}

void KeyStats::Add(uint64_t global_key, double f, bool own_row) {
  if (!(f > 0)) return;
  const int b = f < 1 ? 0 : std::min(kBins - 1, 1 + static_cast<int>(std::floor(std::log2(f))));
  const size_t field =
      std::upper_bound(offsets_.begin(), offsets_.end(), global_key) - offsets_.begin() - 1;
  for (Group* g : {&total_, &fields_[field]}) {
    ++g->seen;
    if (own_row) ++g->own;
    ++g->hist[b];
    Offer(g, f, global_key);
  }
}

Status KeyStats::Merge(const KeyStats& other) {
  if (other.kind_ != kind_ || other.offsets_ != offsets_)
    return InvalidArgument("key statistics of '", other.kind_, "' with ", other.offsets_.size(),
                           " fields do not merge into '", kind_, "' with ", offsets_.size());
  auto add = [&](Group* to, const Group& from) {
    to->seen += from.seen;
    to->own += from.own;
    for (int b = 0; b < kBins; ++b) to->hist[b] += from.hist[b];
    for (const auto& [f, k] : from.top) Offer(to, f, k);
  };
  add(&total_, other.total_);
  for (size_t i = 0; i < fields_.size(); ++i) add(&fields_[i], other.fields_[i]);
  return OkStatus();
}

std::string KeyStats::Json() const {
  auto group = [](const Group& g) {
    std::string out = "\"keys_seen\":" + std::to_string(g.seen) +
                      ",\"keys_with_own_row\":" + std::to_string(g.own) + ",\"log2_histogram\":[";
    for (int b = 0; b < kBins; ++b) out += (b ? "," : "") + std::to_string(g.hist[b]);
    std::vector<std::pair<double, uint64_t>> top = g.top;
    std::sort(top.begin(), top.end(), Colder);
    out += "],\"top\":[";
    for (size_t j = 0; j < top.size(); ++j) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%s[%llu,%.9g]", j ? "," : "",
                    static_cast<unsigned long long>(top[j].second), top[j].first);
      out += buf;
    }
    return out + "]";
  };
  std::string out = "{\"kind\":\"" + kind_ + "\"," + group(total_) + ",\"fields\":[";
  for (size_t i = 0; i < fields_.size(); ++i)
    out += std::string(i ? "," : "") + "{\"field\":" + std::to_string(i) +
           ",\"first_key\":" + std::to_string(offsets_[i]) + "," + group(fields_[i]) + "}";
  return out + "]}";
}

Status MergeKeyStats(NamedKeyStats* into, const NamedKeyStats& part) {
  for (const auto& [name, stats] : part) {
    auto it =
        std::find_if(into->begin(), into->end(), [&](const auto& e) { return e.first == name; });
    if (it == into->end()) {
      into->emplace_back(name, stats);
    } else {
      RETURN_IF_ERROR(Annotate(it->second.Merge(stats), "table '" + name + "'"));
    }
  }
  return OkStatus();
}

std::string KeyStatsJson(const NamedKeyStats& stats) {
  std::string out = "{";
  for (size_t i = 0; i < stats.size(); ++i)
    out += std::string(i ? "," : "") + "\"" + stats[i].first + "\":" + stats[i].second.Json();
  return out + "}";
}

namespace {
constexpr char kStatsMagic[9] = "ECPSKSTA";
constexpr uint32_t kStatsVersion = 1;
constexpr uint64_t kMaxStatsTop = 1 << 16;
}  // namespace

std::string EncodeKeyStats(const NamedKeyStats& stats) {
  BlobWriter w(kStatsMagic, kStatsVersion);
  w.Pod<uint64_t>(stats.size());
  auto group = [&](const KeyStats::Group& g) {
    w.Pod(g.seen);
    w.Pod(g.own);
    w.Vec(g.hist);
    std::vector<double> counts;
    std::vector<uint64_t> keys;
    for (const auto& [f, k] : g.top) {
      counts.push_back(f);
      keys.push_back(k);
    }
    w.Vec(counts);
    w.Vec(keys);
  };
  for (const auto& [name, s] : stats) {
    w.Str(name);
    w.Str(s.kind_);
    w.Vec(s.offsets_);
    w.Pod<int32_t>(s.top_);
    group(s.total_);
    for (const KeyStats::Group& g : s.fields_) group(g);
  }
  return w.Finish();
}

StatusOr<NamedKeyStats> DecodeKeyStats(const std::string& bytes) {
  BlobReader r;
  RETURN_IF_ERROR(r.Open(bytes, kStatsMagic, kStatsVersion, "key statistics"));
  uint64_t n = 0;
  if (!r.Pod(&n) || n > kMaxSpecs) return r.Truncated();
  NamedKeyStats out;
  for (uint64_t i = 0; i < n; ++i) {
    std::string name, kind;
    std::vector<uint64_t> offsets;
    int32_t top = 0;
    if (!r.Str(&name) || !r.Str(&kind) || kind.size() > kMaxKindBytes || !r.Vec(&offsets) ||
        offsets.empty() || offsets.size() > kMaxFields || offsets[0] != 0 ||
        !std::is_sorted(offsets.begin(), offsets.end()) || !r.Pod(&top) || top < 0 ||
        static_cast<uint64_t>(top) > kMaxStatsTop)
      return r.Truncated();
    KeyStats s(kind, offsets, top);
    auto group = [&](KeyStats::Group* g) {
      std::vector<double> counts;
      std::vector<uint64_t> keys;
      if (!r.Pod(&g->seen) || !r.Pod(&g->own) || !r.Vec(&g->hist) ||
          g->hist.size() != KeyStats::kBins || !r.Vec(&counts) || !r.Vec(&keys) ||
          counts.size() != keys.size() || keys.size() > static_cast<size_t>(top))
        return false;
      for (size_t j = 0; j < keys.size(); ++j) g->top.emplace_back(counts[j], keys[j]);
      return true;
    };
    if (!group(&s.total_)) return r.Truncated();
    for (KeyStats::Group& g : s.fields_)
      if (!group(&g)) return r.Truncated();
    // Back into heap order: Merge() offers into these.
    std::make_heap(s.total_.top.begin(), s.total_.top.end(), Colder);
    for (KeyStats::Group& g : s.fields_) std::make_heap(g.top.begin(), g.top.end(), Colder);
    out.emplace_back(std::move(name), std::move(s));
  }
  if (!r.AtEnd()) return r.Truncated();
  return out;
}

}  // namespace ecps
