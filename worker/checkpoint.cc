#include "worker/checkpoint.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/byte_io.h"
#include "common/check.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "worker/data/cache_identity.h"

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

std::string EncodeDataIdentity(const Dataset& data) {
  const DatasetSchema& s = data.schema();
  nlohmann::json j = {
      {"format", s.format},
      {"dense", s.num_dense},
      {"fields", s.num_fields},
      {"features", s.total_features()},
      {"train_rows", data.NumRows(Split::kTrain)},
      {"val_rows", data.NumRows(Split::kValidation)},
      {"test_rows", data.NumRows(Split::kTest)},
      {"identity", s.identity},
      {"identity_digest", absl::StrFormat("%016x", CacheIdentityDigest(s.identity))}};
  return j.dump();
}

Status CheckDataIdentity(const std::string& path, const CheckpointReader& r, const Dataset& data) {
  if (!r.Has("DATA")) {
    ECPS_LOG_WARN(
        "checkpoint '{}' was written before ecps recorded the training data in its "
        "checkpoints: the data is not checked against it",
        path);
    return OkStatus();
  }
  ASSIGN_OR_RETURN(std::string_view bytes, r.Get("DATA"));
  nlohmann::json saved, now = nlohmann::json::parse(EncodeDataIdentity(data));
  try {
    saved = nlohmann::json::parse(bytes);
    if (!saved.is_object()) throw std::runtime_error("not a JSON object");
  } catch (const std::exception& e) {
    return DataLoss("checkpoint '", path, "': section DATA is unreadable: ", e.what());
  }
  // What a person compares first: the shape and the rows the position
  // indexes; then the identity (the inputs and options behind the cache).
  std::vector<std::string> changed;
  for (const char* key :
       {"format", "dense", "fields", "features", "train_rows", "val_rows", "test_rows"}) {
    const nlohmann::json before = saved.value(key, nlohmann::json()), after = now[key];
    if (before != after)
      changed.push_back(absl::StrCat(key, " ", before.dump(), " -> ", after.dump()));
  }
  const std::string before_identity = saved.value("identity", std::string());
  const std::string after_identity = now["identity"].get<std::string>();
  if (before_identity != after_identity)
    changed.push_back(before_identity.empty() || after_identity.empty()
                          ? absl::StrCat("data identity ",
                                         before_identity.empty() ? "(none)" : "recorded", " -> ",
                                         after_identity.empty() ? "(none)" : "recorded")
                          : absl::StrCat("data identity: ",
                                         DescribeIdentityChange(before_identity, after_identity)));
  if (changed.empty()) return OkStatus();
  return FailedPrecondition("cannot resume from '", path,
                            "': the training data differs from the data it was trained on (",
                            absl::StrJoin(changed, "; "),
                            "); its position would index other rows. Restore that data, or "
                            "train from the start in another output.dir");
}

}  // namespace ecps
