#include "compressors/key_mapping.h"

#include <cmath>

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
constexpr uint32_t kVersion = 1;
constexpr uint64_t kMaxSpecs = 1024, kMaxParams = 256, kMaxKindBytes = 256;
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
  }
  if (r.remaining() != 0) return r.Truncated();
  return specs;
}

}  // namespace ecps
