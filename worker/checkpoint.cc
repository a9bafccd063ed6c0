#include "worker/checkpoint.h"

#include <cstring>

#include "common/byte_io.h"
#include "common/check.h"
#include "common/file_util.h"

namespace ecps {
namespace {

using bytes::Put;
using bytes::Take;

}  // namespace

void CheckpointWriter::Add(const std::string& tag, std::string payload) {
  ECPS_CHECK_EQ(tag.size(), 4u) << tag;
  ECPS_CHECK(!sections_.count(tag)) << "duplicate checkpoint section " << tag;
  sections_[tag] = std::move(payload);
}

Status CheckpointWriter::Write(const std::string& path) const {
  return AtomicWriteFile(path, Encode());
}

std::string CheckpointWriter::Encode() const {
  // Layout (little-endian): magic[8] version:u32 count:u32
  //   count x { tag[4] length:u64 checksum:u64 payload[length] }
  //   file_checksum:u64 (over everything before it)
  std::string out;
  size_t total = 16 + 8;
  for (const auto& [tag, payload] : sections_) total += 20 + payload.size();
  out.reserve(total);
  out.append(kCheckpointMagic, 8);
  Put<uint32_t>(&out, kCheckpointVersion);
  Put<uint32_t>(&out, static_cast<uint32_t>(sections_.size()));
  for (const auto& [tag, payload] : sections_) {
    out.append(tag);
    Put<uint64_t>(&out, payload.size());
    Put<uint64_t>(&out, Checksum64(payload.data(), payload.size()));
    out.append(payload);
  }
  Put<uint64_t>(&out, Checksum64(out.data(), out.size()));
  return out;
}

StatusOr<CheckpointReader> CheckpointReader::Open(const std::string& path) {
  auto data = ReadFile(path);
  if (!data.ok()) return NotFound("checkpoint '", path, "': ", data.status().message());
  return Parse(path, *data);
}

StatusOr<CheckpointReader> CheckpointReader::Parse(const std::string& path,
                                                   const std::string& bytes) {
  auto corrupt = [&](const std::string& what) {
    return DataLoss("checkpoint '", path, "' is corrupted: ", what);
  };
  if (bytes.size() < 24)
    return corrupt("file is too short (" + std::to_string(bytes.size()) + " bytes)");
  if (bytes.compare(0, 8, "ECPSMANI") == 0)
    return FailedPrecondition("checkpoint '", path,
                              "' is the manifest of a cluster checkpoint (servers wrote the "
                              "rows): resume it as a cluster (--simulate or mpirun)");
  if (std::memcmp(bytes.data(), kCheckpointMagic, 8) != 0)
    return corrupt("bad magic (not an ecps checkpoint)");
  uint64_t stored_sum = 0;
  std::memcpy(&stored_sum, bytes.data() + bytes.size() - 8, 8);
  std::string_view in(bytes.data() + 8, bytes.size() - 16);
  CheckpointReader r;
  r.path_ = path;
  uint32_t count = 0;
  Take(&in, &r.version_);
  Take(&in, &count);
  if (r.version_ != kCheckpointVersion)
    return FailedPrecondition("checkpoint '", path, "' has format version ", r.version_,
                              "; this ecps reads version ", kCheckpointVersion);
  for (uint32_t i = 0; i < count; ++i) {
    if (in.size() < 20) return corrupt("truncated in section header " + std::to_string(i));
    std::string tag(in.data(), 4);
    in.remove_prefix(4);
    uint64_t len = 0, sum = 0;
    Take(&in, &len);
    Take(&in, &sum);
    if (len > in.size()) return corrupt("section '" + tag + "' is truncated");
    if (Checksum64(in.data(), len) != sum)
      return corrupt("checksum mismatch in section '" + tag + "'");
    r.sections_[tag] = std::string(in.substr(0, len));
    in.remove_prefix(len);
  }
  if (!in.empty()) return corrupt("trailing bytes after the last section");
  if (Checksum64(bytes.data(), bytes.size() - 8) != stored_sum)
    return corrupt("file checksum mismatch");
  return r;
}

StatusOr<std::string_view> CheckpointReader::Get(const std::string& tag) const {
  auto it = sections_.find(tag);
  if (it == sections_.end()) return NotFound("checkpoint '", path_, "' has no section '", tag, "'");
  return std::string_view(it->second);
}

}  // namespace ecps
