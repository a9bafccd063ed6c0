#include "worker/checkpoint.h"

#include <algorithm>
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
  sections_[tag].bytes = std::move(payload);
}

void CheckpointWriter::AddStream(const std::string& tag, Producer produce) {
  ECPS_CHECK_EQ(tag.size(), 4u) << tag;
  ECPS_CHECK(!sections_.count(tag)) << "duplicate checkpoint section " << tag;
  ECPS_CHECK(produce != nullptr) << tag;
  sections_[tag].produce = std::move(produce);
}

namespace {

// Passes bytes on to `out` and checksums them (the whole-file checksum).
class HashingSink final : public ByteSink {
 public:
  explicit HashingSink(ByteSink* out) : out_(out) {}
  Status Write(const void* data, size_t n) override {
    sum_.Update(data, n);
    return out_->Write(data, n);
  }
  uint64_t Digest() const { return sum_.Digest(); }

 private:
  ByteSink* out_;
  Checksum64Stream sum_;
};

// A section's payload on its way to the file: passed through, with the
// checksum of each chunk written after it and the section's at the end.
class ChunkingSink final : public ByteSink {
 public:
  ChunkingSink(ByteSink* out, uint64_t length) : out_(out), left_(length) {}
  Status Write(const void* data, size_t n) override {
    if (n > left_)
      return FailedPrecondition("checkpoint section produced more bytes than it counted");
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const size_t take = std::min<uint64_t>(n, kStreamChunkBytes - in_chunk_);
      RETURN_IF_ERROR(out_->Write(p, take));
      chunk_.Update(p, take);
      section_.Update(p, take);
      p += take;
      n -= take;
      in_chunk_ += take;
      left_ -= take;
      if (in_chunk_ == kStreamChunkBytes || left_ == 0) RETURN_IF_ERROR(EndChunk());
    }
    return OkStatus();
  }
  // After the payload: the section's checksum.
  Status Finish() {
    if (left_ != 0)
      return FailedPrecondition("checkpoint section produced ", left_,
                                " bytes fewer than it counted");
    const uint64_t sum = section_.Digest();
    return out_->Write(&sum, sizeof(sum));
  }

 private:
  Status EndChunk() {
    const uint64_t sum = chunk_.Digest();
    chunk_ = Checksum64Stream();
    in_chunk_ = 0;
    return out_->Write(&sum, sizeof(sum));
  }
  ByteSink* out_;
  uint64_t left_;
  uint64_t in_chunk_ = 0;
  Checksum64Stream chunk_, section_;
};

// The number of chunks of a payload of `length` bytes.
uint64_t NumChunks(uint64_t length, uint64_t chunk) { return (length + chunk - 1) / chunk; }

}  // namespace

Status CheckpointWriter::WriteTo(ByteSink* out) const {
  // Layout, version 2 (little-endian): magic[8] version:u32 count:u32 chunk_bytes:u32
  //   count x { tag[4] length:u64
  //             ceil(length / chunk_bytes) x { payload chunk, checksum:u64 of the chunk }
  //             checksum:u64 of the whole payload }
  //   file_checksum:u64 (over everything before it)
  HashingSink sink(out);
  std::string head(kCheckpointMagic, 8);
  Put<uint32_t>(&head, kCheckpointVersion);
  Put<uint32_t>(&head, static_cast<uint32_t>(sections_.size()));
  Put<uint32_t>(&head, static_cast<uint32_t>(kStreamChunkBytes));
  RETURN_IF_ERROR(sink.Write(head.data(), head.size()));
  for (const auto& [tag, section] : sections_) {
    uint64_t length = section.bytes.size();
    if (section.produce != nullptr) {
      CountingSink count;
      RETURN_IF_ERROR(Annotate(section.produce(&count), "checkpoint section " + tag));
      length = count.bytes();
    }
    std::string header = tag;
    Put<uint64_t>(&header, length);
    RETURN_IF_ERROR(sink.Write(header.data(), header.size()));
    ChunkingSink chunks(&sink, length);
    if (section.produce != nullptr) {
      RETURN_IF_ERROR(Annotate(section.produce(&chunks), "checkpoint section " + tag));
    } else {
      RETURN_IF_ERROR(chunks.Write(section.bytes.data(), section.bytes.size()));
    }
    RETURN_IF_ERROR(Annotate(chunks.Finish(), "checkpoint section " + tag));
  }
  const uint64_t sum = sink.Digest();
  return out->Write(&sum, sizeof(sum));
}

Status CheckpointWriter::Write(const std::string& path) const {
  ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileSink> file, AtomicFileSink::Open(path));
  RETURN_IF_ERROR(WriteTo(file.get()));
  return file->Commit();
}

std::string CheckpointWriter::Encode() const {
  std::string out;
  StringSink sink(&out);
  const Status st = WriteTo(&sink);
  ECPS_CHECK(st.ok()) << "encoding a checkpoint in memory: " << st;
  return out;
}

namespace {

Status Corrupt(const std::string& path, const std::string& what) {
  return DataLoss("checkpoint '", path, "' is corrupted: ", what);
}

// Version 1 (one checksum before each payload), read whole from memory.
Status ParseV1(const std::string& path, const std::string& bytes,
               std::map<std::string, std::string>* sections) {
  auto corrupt = [&](const std::string& what) { return Corrupt(path, what); };
  uint64_t stored_sum = 0;
  std::memcpy(&stored_sum, bytes.data() + bytes.size() - 8, 8);
  std::string_view in(bytes.data() + 16, bytes.size() - 24);
  uint32_t count = 0;
  std::memcpy(&count, bytes.data() + 12, 4);
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
    (*sections)[tag] = std::string(in.substr(0, len));
    in.remove_prefix(len);
  }
  if (!in.empty()) return corrupt("trailing bytes after the last section");
  if (Checksum64(bytes.data(), bytes.size() - 8) != stored_sum)
    return corrupt("file checksum mismatch");
  return OkStatus();
}

// Reads from a source, counting the offset.
class Scanner {
 public:
  explicit Scanner(ByteSource* src) : src_(src) {}
  Status Read(void* data, size_t n) {
    RETURN_IF_ERROR(src_->Read(data, n));
    offset_ += n;
    return OkStatus();
  }
  uint64_t offset() const { return offset_; }
  uint64_t remaining() const { return src_->remaining(); }

 private:
  ByteSource* src_;
  uint64_t offset_ = 0;
};

// The largest chunk a version 2 reader accepts (what it may buffer).
constexpr uint32_t kMaxChunkBytes = 64 << 20;

// Version 2 from `src` (the whole file after its 8-byte magic, already read):
// every chunk verified; sections up to `keep_bytes` kept in memory.
Status ParseV2(const std::string& path, ByteSource* src, uint64_t keep_bytes, uint32_t* chunk_bytes,
               std::map<std::string, uint64_t>* lengths, std::map<std::string, uint64_t>* offsets,
               std::map<std::string, std::string>* kept) {
  auto corrupt = [&](const std::string& what) { return Corrupt(path, what); };
  const uint64_t file_size = src->remaining() + 8;
  char magic[8];
  std::memcpy(magic, kCheckpointMagic, 8);
  if (src->remaining() < 4 + 4 + 4 + 8)
    return corrupt("file is too short (" + std::to_string(file_size) + " bytes)");
  Scanner in(src);
  uint32_t version = 0, count = 0;
  Checksum64Stream file_sum;
  file_sum.Update(magic, 8);
  auto read = [&](void* p, size_t n) -> Status {
    RETURN_IF_ERROR(in.Read(p, n));
    file_sum.Update(p, n);
    return OkStatus();
  };
  RETURN_IF_ERROR(read(&version, 4));
  RETURN_IF_ERROR(read(&count, 4));
  RETURN_IF_ERROR(read(chunk_bytes, 4));
  if (*chunk_bytes == 0 || *chunk_bytes > kMaxChunkBytes)
    return corrupt("chunk size " + std::to_string(*chunk_bytes) + " is not in [1, " +
                   std::to_string(kMaxChunkBytes) + "]");
  std::string chunk;
  for (uint32_t i = 0; i < count; ++i) {
    if (in.remaining() < 4 + 8 + 8 + 8)
      return corrupt("truncated in section header " + std::to_string(i));
    std::string tag(4, '\0');
    uint64_t len = 0;
    RETURN_IF_ERROR(read(tag.data(), 4));
    RETURN_IF_ERROR(read(&len, 8));
    if (lengths->count(tag)) return corrupt("section '" + tag + "' appears twice");
    const uint64_t chunks = NumChunks(len, *chunk_bytes);
    // The payload, a checksum per chunk and the section's.
    if (len > in.remaining() || (in.remaining() - len) / 8 < chunks + 1 + 1)
      return corrupt("section '" + tag + "' is truncated");
    (*lengths)[tag] = len;
    (*offsets)[tag] = 8 + in.offset();
    const bool keep = len <= keep_bytes;
    std::string* payload = keep ? &(*kept)[tag] : nullptr;
    if (keep) payload->reserve(len);
    Checksum64Stream section_sum;
    for (uint64_t c = 0, left = len; c < chunks; ++c) {
      chunk.resize(std::min<uint64_t>(left, *chunk_bytes));
      uint64_t sum = 0;
      RETURN_IF_ERROR(read(chunk.data(), chunk.size()));
      RETURN_IF_ERROR(read(&sum, 8));
      if (Checksum64(chunk.data(), chunk.size()) != sum)
        return corrupt("checksum mismatch in section '" + tag + "' chunk " + std::to_string(c) +
                       " (of " + std::to_string(chunks) + ")");
      section_sum.Update(chunk.data(), chunk.size());
      if (keep) payload->append(chunk);
      left -= chunk.size();
    }
    uint64_t sum = 0;
    RETURN_IF_ERROR(read(&sum, 8));
    if (section_sum.Digest() != sum) return corrupt("checksum mismatch in section '" + tag + "'");
  }
  if (in.remaining() != 8) return corrupt("trailing bytes after the last section");
  uint64_t stored = 0;
  RETURN_IF_ERROR(in.Read(&stored, 8));
  if (file_sum.Digest() != stored) return corrupt("file checksum mismatch");
  return OkStatus();
}

// The first bytes of a checkpoint: the magic, and whether it is one at all.
Status CheckMagic(const std::string& path, std::string_view head, uint64_t size) {
  if (size < 24) return Corrupt(path, "file is too short (" + std::to_string(size) + " bytes)");
  if (head.substr(0, 8) == "ECPSMANI")
    return FailedPrecondition("checkpoint '", path,
                              "' is the manifest of a cluster checkpoint (servers wrote the "
                              "rows): resume it as a cluster (--simulate or mpirun)");
  if (std::memcmp(head.data(), kCheckpointMagic, 8) != 0)
    return Corrupt(path, "bad magic (not an ecps checkpoint)");
  return OkStatus();
}

Status UnknownVersion(const std::string& path, uint32_t version) {
  return FailedPrecondition("checkpoint '", path, "' has format version ", version,
                            "; this ecps reads versions 1 to ", kCheckpointVersion);
}

// A version 2 section read from its file a chunk at a time, each chunk
// verified before any of its bytes are handed out.
class SectionSource final : public ByteSource {
 public:
  SectionSource(std::unique_ptr<FileSource> file, std::string tag, uint64_t length,
                uint32_t chunk_bytes)
      : file_(std::move(file)), tag_(std::move(tag)), left_(length), chunk_bytes_(chunk_bytes) {}
  Status Read(void* data, size_t n) override {
    if (n > left_)
      return DataLoss("checkpoint '", file_->path(), "' section '", tag_, "': ", n,
                      " bytes wanted, ", left_, " left");
    char* out = static_cast<char*>(data);
    while (n > 0) {
      if (pos_ == chunk_.size()) RETURN_IF_ERROR(NextChunk());
      const size_t take = std::min<size_t>(n, chunk_.size() - pos_);
      std::memcpy(out, chunk_.data() + pos_, take);
      out += take;
      pos_ += take;
      n -= take;
      left_ -= take;
    }
    return OkStatus();
  }
  uint64_t remaining() const override { return left_; }

 private:
  Status NextChunk() {
    const uint64_t unread = left_ - (chunk_.size() - pos_);  // == left_ here
    chunk_.resize(std::min<uint64_t>(unread, chunk_bytes_));
    uint64_t sum = 0;
    RETURN_IF_ERROR(file_->Read(chunk_.data(), chunk_.size()));
    RETURN_IF_ERROR(file_->Read(&sum, 8));
    if (Checksum64(chunk_.data(), chunk_.size()) != sum)
      return DataLoss("checkpoint '", file_->path(), "' changed while it was read: checksum ",
                      "mismatch in section '", tag_, "' chunk ", index_);
    ++index_;
    pos_ = 0;
    return OkStatus();
  }
  std::unique_ptr<FileSource> file_;
  std::string tag_;
  uint64_t left_;
  uint32_t chunk_bytes_;
  std::string chunk_;
  size_t pos_ = 0;
  uint64_t index_ = 0;
};

// A source that owns nothing over a section kept in memory.
class ViewSource final : public ByteSource {
 public:
  explicit ViewSource(std::string_view v) : in_(v) {}
  Status Read(void* data, size_t n) override { return in_.Read(data, n); }
  uint64_t remaining() const override { return in_.remaining(); }

 private:
  StringSource in_;
};

}  // namespace

StatusOr<CheckpointReader> CheckpointReader::Open(const std::string& path) {
  auto file = FileSource::Open(path);
  if (!file.ok()) return NotFound("checkpoint '", path, "': ", file.status().message());
  FileSource& f = **file;
  char head[12] = {};
  const uint64_t size = f.file_size();
  RETURN_IF_ERROR(f.Read(head, std::min<uint64_t>(size, sizeof(head))));
  RETURN_IF_ERROR(CheckMagic(path, std::string_view(head, 12), size));
  uint32_t version = 0;
  std::memcpy(&version, head + 8, 4);
  if (version == 1) {  // small by construction (one in-memory string when written)
    ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
    return Parse(path, bytes);
  }
  if (version != kCheckpointVersion) return UnknownVersion(path, version);
  RETURN_IF_ERROR(f.Seek(8, size - 8));
  CheckpointReader r;
  r.path_ = path;
  r.version_ = version;
  std::map<std::string, uint64_t> lengths, offsets;
  std::map<std::string, std::string> kept;
  RETURN_IF_ERROR(
      ParseV2(path, &f, kCheckpointInMemoryBytes, &r.chunk_bytes_, &lengths, &offsets, &kept));
  for (const auto& [tag, length] : lengths) {
    Section& s = r.sections_[tag];
    s.length = length;
    s.offset = offsets[tag];
    s.in_memory = kept.count(tag) > 0;
    if (s.in_memory) s.bytes = std::move(kept[tag]);
  }
  return r;
}

StatusOr<CheckpointReader> CheckpointReader::Parse(const std::string& path,
                                                   const std::string& bytes) {
  RETURN_IF_ERROR(CheckMagic(path, std::string_view(bytes).substr(0, 12), bytes.size()));
  CheckpointReader r;
  r.path_ = path;
  std::memcpy(&r.version_, bytes.data() + 8, 4);
  std::map<std::string, std::string> kept;
  if (r.version_ == 1) {
    RETURN_IF_ERROR(ParseV1(path, bytes, &kept));
  } else if (r.version_ == kCheckpointVersion) {
    StringSource src(std::string_view(bytes).substr(8));
    std::map<std::string, uint64_t> lengths, offsets;
    RETURN_IF_ERROR(ParseV2(path, &src, UINT64_MAX, &r.chunk_bytes_, &lengths, &offsets, &kept));
  } else {
    return UnknownVersion(path, r.version_);
  }
  for (auto& [tag, payload] : kept) {
    Section& s = r.sections_[tag];
    s.length = payload.size();
    s.in_memory = true;
    s.bytes = std::move(payload);
  }
  return r;
}

StatusOr<std::string_view> CheckpointReader::Get(const std::string& tag) const {
  auto it = sections_.find(tag);
  if (it == sections_.end()) return NotFound("checkpoint '", path_, "' has no section '", tag, "'");
  Section& s = it->second;
  if (!s.in_memory) {
    ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> src, OpenSection(tag));
    std::string bytes(s.length, '\0');
    RETURN_IF_ERROR(src->Read(bytes.data(), bytes.size()));
    s.bytes = std::move(bytes);
    s.in_memory = true;
  }
  return std::string_view(s.bytes);
}

StatusOr<std::unique_ptr<ByteSource>> CheckpointReader::OpenSection(const std::string& tag) const {
  auto it = sections_.find(tag);
  if (it == sections_.end()) return NotFound("checkpoint '", path_, "' has no section '", tag, "'");
  const Section& s = it->second;
  if (s.in_memory) return std::unique_ptr<ByteSource>(new ViewSource(s.bytes));
  ASSIGN_OR_RETURN(std::unique_ptr<FileSource> file, FileSource::Open(path_));
  const uint64_t stored = s.length + 8 * NumChunks(s.length, chunk_bytes_);
  RETURN_IF_ERROR(file->Seek(s.offset, stored));
  return std::unique_ptr<ByteSource>(
      new SectionSource(std::move(file), tag, s.length, chunk_bytes_));
}

uint64_t CheckpointReader::SectionSize(const std::string& tag) const {
  auto it = sections_.find(tag);
  return it == sections_.end() ? 0 : it->second.length;
}

std::map<std::string, std::string> CheckpointReader::sections() const {
  std::map<std::string, std::string> out;
  for (const auto& [tag, s] : sections_) {
    auto bytes = Get(tag);
    ECPS_CHECK(bytes.ok()) << bytes.status();
    out[tag] = std::string(*bytes);
  }
  return out;
}

std::vector<std::string> CheckpointReader::tags() const {
  std::vector<std::string> out;
  for (const auto& [tag, s] : sections_) out.push_back(tag);
  return out;
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
