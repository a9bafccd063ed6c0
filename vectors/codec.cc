#include "vectors/codec.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "vectors/internal/methods.h"

namespace ecps::vectors {

Status CodecParams::Add(std::string_view key_value) {
  const size_t eq = key_value.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == key_value.size())
    return InvalidArgument("--param '", std::string(key_value), "': expected key=value");
  const std::string key(key_value.substr(0, eq));
  // Two values for one key: refused rather than one of them silently kept.
  if (kv_.count(key))
    return InvalidArgument("--param ", key, " given twice (", kv_[key], " and ",
                           std::string(key_value.substr(eq + 1)), ")");
  kv_[key] = std::string(key_value.substr(eq + 1));
  return OkStatus();
}

StatusOr<int64_t> CodecParams::Int(std::string_view key, int64_t def, int64_t lo,
                                   int64_t hi) const {
  auto it = kv_.find(std::string(key));
  if (it == kv_.end()) return def;
  int64_t v = 0;
  const std::string& s = it->second;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    return InvalidArgument("--param ", std::string(key), "=", s, ": not an integer");
  if (v < lo || v > hi)
    return InvalidArgument("--param ", std::string(key), "=", s, ": out of range [", lo, ", ", hi,
                           "]");
  return v;
}

StatusOr<double> CodecParams::Double(std::string_view key, double def) const {
  auto it = kv_.find(std::string(key));
  if (it == kv_.end()) return def;
  double v = 0;
  const std::string& s = it->second;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v))
    return InvalidArgument("--param ", std::string(key), "=", s, ": not a number");
  return v;
}

StatusOr<std::string> CodecParams::Choice(std::string_view key,
                                          const std::vector<std::string>& allowed) const {
  auto it = kv_.find(std::string(key));
  if (it == kv_.end()) return allowed.front();
  for (const std::string& a : allowed)
    if (it->second == a) return a;
  return InvalidArgument("--param ", std::string(key), "=", it->second, ": one of ",
                         absl::StrJoin(allowed, ", "));
}

Status CodecParams::OnlyKnown(std::string_view method,
                              const std::vector<std::string>& known) const {
  for (const auto& [k, v] : kv_) {
    bool ok = false;
    for (const std::string& n : known) ok = ok || n == k;
    if (!ok)
      return InvalidArgument("--param ", k, ": method ", std::string(method), " takes ",
                             known.empty() ? "no parameters" : absl::StrJoin(known, ", "));
  }
  return OkStatus();
}

const std::vector<CodecInfo>& Codecs() {
  using namespace internal;  // NOLINT: the table below names every entry point
  static const std::vector<CodecInfo> kCodecs = {
      {"int8", "8-bit stochastic scalar quantisation (docs/methods.md §6.1)", &CompressInt8,
       &LoadScalar},
      {"int16", "16-bit stochastic scalar quantisation (docs/methods.md §6.1)", &CompressInt16,
       &LoadScalar},
      {"pq", "product quantisation, k-means codebooks per subspace (docs/methods.md §6.2)",
       &CompressPq, &LoadPq},
      {"svd", "truncated SVD, U·Σ and Vᵀ in float32 (docs/methods.md §6.3)", &CompressSvd,
       &LoadSvd},
      {"pruning", "global magnitude pruning to CSR or COO (docs/methods.md §6.5)", &CompressPruning,
       &LoadPruning},
      {"magpq", "PQ per magnitude group, more bits for the large rows (docs/methods.md §6.4)",
       &CompressMagPq, &LoadMagPq},
      {"magsvd", "truncated SVD per magnitude group (docs/methods.md §6.4)", &CompressMagSvd,
       &LoadMagSvd},
      {"tt", "tensor train of three cores by TT-SVD (docs/methods.md §6.6)", &CompressTt, &LoadTt},
      {"rabitq",
       "RaBitQ: one bit per rotated dimension, two scalars per vector (docs/methods.md §6.7)",
       &CompressRaBitQ, &LoadRaBitQ},
      {"dedup",
       "near-duplicate blocks of rows x columns stored once, found by L2LSH (docs/methods.md "
       "§6.8)",
       &CompressDedup, &LoadDedup},
  };
  return kCodecs;
}

const CodecInfo* FindCodec(std::string_view name) {
  for (const CodecInfo& c : Codecs())
    if (c.name == name) return &c;
  return nullptr;
}

StatusOr<std::unique_ptr<VectorCodec>> Compress(const VectorSet& x, std::string_view method,
                                                const CompressOptions& options) {
  const CodecInfo* info = FindCodec(method);
  if (info == nullptr) {
    std::vector<std::string> names;
    for (const CodecInfo& c : Codecs()) names.emplace_back(c.name);
    return InvalidArgument("--method ", std::string(method), ": unknown (one of ",
                           absl::StrJoin(names, ", "), ")");
  }
  if (!(options.budget > 0 && options.budget <= 1))
    return InvalidArgument("--budget ", options.budget, ": must be in (0, 1] (or (0%, 100%])");
  if (x.n == 0 || x.dim <= 0) return InvalidArgument("no vectors to compress");
  if (x.n > (uint64_t{1} << 32) - 1)
    return InvalidArgument(x.n, " vectors: at most 2^32 - 1 are supported (row ids are 32-bit)");
  return info->compress(x, options);
}

uint64_t SourceChecksum(const VectorSet& x) {
  const uint64_t shape[2] = {x.n, static_cast<uint64_t>(x.dim)};
  return Checksum64(x.values.data(), x.values.size() * sizeof(float),
                    Checksum64(shape, sizeof(shape)));
}

namespace {
constexpr char kMagic[9] = "ECPSVECS";
constexpr uint32_t kVersion = 1;
}  // namespace

Status WriteCompressed(const std::string& path, const CompressedHeader& h,
                       const VectorCodec& codec) {
  BlobWriter w(kMagic, kVersion);
  w.Str(codec.method());
  w.Pod<uint64_t>(codec.rows());
  w.Pod<int32_t>(codec.dim());
  w.Pod<double>(h.budget);
  w.Pod<double>(h.compress_seconds);
  w.Pod<uint64_t>(h.source_checksum);
  w.Str(codec.Params());
  w.Pod<uint64_t>(codec.MemoryBytes());
  codec.Save(&w);
  return AtomicWriteFile(path, w.Finish());
}

StatusOr<CompressedFile> ReadCompressed(const std::string& path) {
  if (!FileExists(path)) return NotFound(path, ": no such file");
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  BlobReader r;
  RETURN_IF_ERROR(r.Open(bytes, kMagic, kVersion, path + ": compressed vectors"));
  CompressedFile f;
  CompressedHeader& h = f.header;
  int32_t dim = 0;
  std::string params;
  uint64_t memory = 0;
  if (!r.Str(&h.method) || !r.Pod(&h.n) || !r.Pod(&dim) || !r.Pod(&h.budget) ||
      !r.Pod(&h.compress_seconds) || !r.Pod(&h.source_checksum) || !r.Str(&params) ||
      !r.Pod(&memory))
    return r.Truncated();
  h.dim = dim;
  const CodecInfo* info = FindCodec(h.method);
  if (info == nullptr)
    return DataLoss(path, ": method '", h.method, "' is not one this build knows");
  if (h.n == 0 || dim <= 0) return DataLoss(path, ": empty matrix ", h.n, " x ", dim);
  StatusOr<std::unique_ptr<VectorCodec>> codec = info->load(&r, h.n, dim);
  if (!codec.ok()) return Annotate(codec.status(), path + ": " + h.method);
  if ((*codec)->method() != h.method)
    return DataLoss(path, ": header names ", h.method, ", payload is ",
                    std::string((*codec)->method()));
  if (!r.AtEnd()) return DataLoss(path, ": ", r.remaining(), " B after the ", h.method, " payload");
  // The recorded memory is a cross-check of the payload against the header.
  if ((*codec)->MemoryBytes() != memory)
    return DataLoss(path, ": payload holds ", (*codec)->MemoryBytes(), " B, header says ", memory);
  f.codec = *std::move(codec);
  return f;
}

}  // namespace ecps::vectors
