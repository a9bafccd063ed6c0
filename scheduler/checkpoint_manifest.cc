#include "scheduler/checkpoint_manifest.h"

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "common/file_util.h"
#include "common/logging.h"

namespace ecps::scheduler {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kMagic[] = "ECPSMANI";

std::string Hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

bool ParseHex(const std::string& s, uint64_t* v) {
  if (s.size() != 16) return false;
  char* end = nullptr;
  *v = std::strtoull(s.c_str(), &end, 16);
  return end == s.c_str() + 16;
}

json ToJson(const CheckpointManifest& m) {
  json parts = json::array();
  for (const CheckpointPart& p : m.parts) {
    json j = {
        {"file", p.file}, {"kind", p.kind}, {"bytes", p.bytes}, {"checksum", Hex(p.checksum)}};
    if (p.kind == "shard") j["vshard"] = p.vshard;
    parts.push_back(std::move(j));
  }
  return {{"name", m.name},       {"generation", m.generation},         {"servers", m.servers},
          {"workers", m.workers}, {"virtual_shards", m.virtual_shards}, {"config", m.config},
          {"parts", parts}};
}

// Throws nlohmann exceptions on a malformed object (callers convert).
CheckpointManifest FromJson(const json& j) {
  CheckpointManifest m;
  m.name = j.at("name").get<std::string>();
  m.generation = j.at("generation").get<uint64_t>();
  m.servers = j.at("servers").get<int>();
  m.workers = j.at("workers").get<int>();
  m.virtual_shards = j.at("virtual_shards").get<int>();
  m.config = j.at("config").get<std::string>();
  for (const json& pj : j.at("parts")) {
    CheckpointPart p;
    p.file = pj.at("file").get<std::string>();
    p.kind = pj.at("kind").get<std::string>();
    p.vshard = pj.value("vshard", -1);
    p.bytes = pj.at("bytes").get<uint64_t>();
    if (!ParseHex(pj.at("checksum").get<std::string>(), &p.checksum))
      throw std::invalid_argument("bad checksum of part " + p.file);
    m.parts.push_back(std::move(p));
  }
  return m;
}

// The generation of a part file name "ckpt.g<N>.<rest>" (temporary files of
// AtomicWriteFile included); false for any other name.
bool PartGeneration(const std::string& file, uint64_t* gen) {
  if (file.rfind("ckpt.g", 0) != 0) return false;
  size_t i = 6, n = 0;
  uint64_t g = 0;
  while (i < file.size() && file[i] >= '0' && file[i] <= '9' && n < 19) {
    g = g * 10 + static_cast<uint64_t>(file[i] - '0');
    ++i;
    ++n;
  }
  if (n == 0 || i >= file.size() || file[i] != '.') return false;
  *gen = g;
  return true;
}

bool IsPlainName(const std::string& f) {
  return !f.empty() && f != "." && f != ".." && f.find('/') == std::string::npos;
}

// Every manifest in `dir`: the files <name>.ckpt that start with the magic
// (the single-process trainer's one-file checkpoints do not). False if one
// of them is unreadable: then nothing may be deleted.
bool ReadManifests(const std::string& dir, std::vector<CheckpointManifest>* out) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".ckpt") continue;
    auto bytes = ReadFile(e.path().string());
    if (!bytes.ok()) return false;
    if (bytes->compare(0, 8, kMagic) != 0) continue;
    auto m = DecodeManifest(e.path().string(), *bytes);
    if (!m.ok()) {
      ECPS_LOG_WARN("checkpoint cleanup skipped: {}", m.status().ToString());
      return false;
    }
    out->push_back(std::move(*m));
  }
  return !ec;
}

}  // namespace

std::string ManifestPath(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / (name + ".ckpt")).string();
}

std::string PartStem(uint64_t generation) { return "ckpt.g" + std::to_string(generation); }

std::string EncodeManifest(const CheckpointManifest& m) {
  const std::string body = ToJson(m).dump(1) + "\n";
  return absl::StrCat(kMagic, " ", kManifestVersion, " ", Hex(Checksum64(body.data(), body.size())),
                      "\n", body);
}

StatusOr<CheckpointManifest> DecodeManifest(const std::string& path, const std::string& bytes) {
  auto corrupt = [&](const std::string& what) {
    return DataLoss("checkpoint manifest '", path, "' is corrupted: ", what);
  };
  const size_t eol = bytes.find('\n');
  if (bytes.compare(0, 8, kMagic) != 0 || eol == std::string::npos)
    return corrupt("bad magic (not an ecps checkpoint manifest)");
  int version = 0;
  char sum_hex[17] = {0};
  if (std::sscanf(bytes.c_str() + 8, " %d %16[0-9a-f]", &version, sum_hex) != 2)
    return corrupt("bad header line");
  if (version != kManifestVersion)
    return FailedPrecondition("checkpoint manifest '", path, "' has format version ", version,
                              "; this ecps reads version ", kManifestVersion);
  uint64_t sum = 0;
  if (!ParseHex(sum_hex, &sum)) return corrupt("bad checksum field");
  const std::string_view body(bytes.data() + eol + 1, bytes.size() - eol - 1);
  if (Checksum64(body.data(), body.size()) != sum) return corrupt("checksum mismatch");
  try {
    return FromJson(json::parse(body));
  } catch (const std::exception& e) {
    return corrupt(e.what());
  }
}

StatusOr<CheckpointManifest> ReadManifest(const std::string& path) {
  auto bytes = ReadFile(path);
  if (!bytes.ok()) return NotFound("checkpoint manifest '", path, "': ", bytes.status().message());
  return DecodeManifest(path, *bytes);
}

StatusOr<std::string> ReadPart(const std::string& dir, const CheckpointPart& part) {
  const std::string path = (fs::path(dir) / part.file).string();
  auto bytes = ReadFile(path);
  if (!bytes.ok())
    return DataLoss("checkpoint part '", path,
                    "' named by the manifest is unreadable: ", bytes.status().message());
  if (bytes->size() != part.bytes)
    return DataLoss("checkpoint part '", path, "' has ", bytes->size(),
                    " bytes; the manifest says ", part.bytes);
  if (Checksum64(bytes->data(), bytes->size()) != part.checksum)
    return DataLoss("checkpoint part '", path, "' is corrupted: checksum mismatch");
  return bytes;
}

uint64_t NextGeneration(const std::string& dir) {
  uint64_t top = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    uint64_t g = 0;
    if (PartGeneration(f, &g)) {
      top = std::max(top, g);
    } else if (e.path().extension() == ".ckpt") {
      auto m = ReadManifest(e.path().string());
      if (m.ok()) top = std::max(top, m->generation);
    }
  }
  return top + 1;
}

std::string EncodeCommitRequest(const std::string& dir, const std::vector<std::string>& names,
                                const CheckpointManifest& m) {
  return json{{"dir", dir}, {"names", names}, {"manifest", ToJson(m)}}.dump();
}

Status CommitCheckpoint(const std::string& request) {
  std::string dir;
  std::vector<std::string> names;
  CheckpointManifest m;
  try {
    json j = json::parse(request);
    dir = j.at("dir").get<std::string>();
    names = j.at("names").get<std::vector<std::string>>();
    m = FromJson(j.at("manifest"));
  } catch (const std::exception& e) {
    return InvalidArgument("checkpoint commit: malformed request: ", e.what());
  }
  // Everything the manifest will name must be in place: the manifest is the
  // commit point, so it may never name a part that is not (yet) there.
  if (names.empty()) return InvalidArgument("checkpoint commit: no checkpoint names");
  for (const std::string& n : names)
    if (!IsPlainName(n) || n.find('.') != std::string::npos)
      return InvalidArgument("checkpoint commit: bad checkpoint name '", n, "'");
  if (m.virtual_shards <= 0) return InvalidArgument("checkpoint commit: no virtual shards");
  std::vector<int> shards(m.virtual_shards, 0);
  int dense = 0;
  for (const CheckpointPart& p : m.parts) {
    uint64_t g = 0;
    if (!IsPlainName(p.file) || !PartGeneration(p.file, &g) || g != m.generation)
      return InvalidArgument("checkpoint commit: part '", p.file, "' is not a part of generation ",
                             m.generation);
    if (p.kind == "dense") {
      ++dense;
    } else if (p.kind == "shard" && p.vshard >= 0 && p.vshard < m.virtual_shards) {
      ++shards[p.vshard];
    } else {
      return InvalidArgument("checkpoint commit: part '", p.file, "' has kind '", p.kind,
                             "' / virtual shard ", p.vshard);
    }
    std::error_code ec;
    const uint64_t size = fs::file_size(fs::path(dir) / p.file, ec);
    if (ec)
      return FailedPrecondition("checkpoint commit: part '", p.file, "' is missing in '", dir,
                                "': ", ec.message());
    if (size != p.bytes)
      return FailedPrecondition("checkpoint commit: part '", p.file, "' has ", size,
                                " bytes, expected ", p.bytes);
  }
  if (dense != 1) return InvalidArgument("checkpoint commit: ", dense, " dense parts");
  for (int v = 0; v < m.virtual_shards; ++v)
    if (shards[v] != 1)
      return InvalidArgument("checkpoint commit: virtual shard ", v, " has ", shards[v], " parts");
  for (const std::string& n : names) {
    m.name = n;
    RETURN_IF_ERROR(
        Annotate(AtomicWriteFile(ManifestPath(dir, n), EncodeManifest(m)), "checkpoint commit"));
  }
  // Only now may older generations go: every manifest names its parts.
  std::vector<CheckpointManifest> all;
  if (!ReadManifests(dir, &all)) return OkStatus();
  std::set<std::string> live;
  for (const auto& mm : all)
    for (const auto& p : mm.parts) live.insert(p.file);
  std::vector<fs::path> stale;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    uint64_t g = 0;
    if (PartGeneration(f, &g) && g < m.generation && !live.count(f)) stale.push_back(e.path());
  }
  for (const fs::path& p : stale) {
    std::error_code rm;
    fs::remove(p, rm);
    if (rm) ECPS_LOG_WARN("checkpoint cleanup: cannot remove '{}': {}", p.string(), rm.message());
  }
  return OkStatus();
}

}  // namespace ecps::scheduler
