#include "common/blob.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>

namespace ecps {

Status StringSource::Read(void* data, size_t n) {
  if (n > in_.size())
    return DataLoss("stream truncated: ", n, " bytes wanted, ", in_.size(), " left");
  std::memcpy(data, in_.data(), n);
  in_.remove_prefix(n);
  return OkStatus();
}

struct Checksum64Stream::State {
  XXH3_state_t* s = XXH3_createState();
  ~State() { XXH3_freeState(s); }
};

Checksum64Stream::Checksum64Stream(uint64_t seed) : state_(std::make_unique<State>()) {
  XXH3_64bits_reset_withSeed(state_->s, seed);
}
Checksum64Stream::~Checksum64Stream() = default;
Checksum64Stream::Checksum64Stream(Checksum64Stream&&) noexcept = default;
Checksum64Stream& Checksum64Stream::operator=(Checksum64Stream&&) noexcept = default;

void Checksum64Stream::Update(const void* data, size_t n) {
  if (n > 0) XXH3_64bits_update(state_->s, data, n);
}

uint64_t Checksum64Stream::Digest() const { return XXH3_64bits_digest(state_->s); }

StatusOr<std::unique_ptr<AtomicFileSink>> AtomicFileSink::Open(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> file, AtomicFileWriter::Open(path));
  auto sink = std::unique_ptr<AtomicFileSink>(new AtomicFileSink(path, std::move(file)));
  sink->buffer_.reserve(kStreamChunkBytes);
  return sink;
}

Status AtomicFileSink::Write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  sum_.Update(p, n);
  bytes_ += n;
  // A large write goes straight to the file once the buffer is empty: no copy.
  while (n > 0) {
    if (buffer_.empty() && n >= kStreamChunkBytes) return file_->Append(p, n);
    const size_t take = std::min(n, kStreamChunkBytes - buffer_.size());
    buffer_.append(p, take);
    p += take;
    n -= take;
    if (buffer_.size() == kStreamChunkBytes) RETURN_IF_ERROR(Flush());
  }
  return OkStatus();
}

Status AtomicFileSink::Flush() {
  RETURN_IF_ERROR(file_->Append(buffer_.data(), buffer_.size()));
  buffer_.clear();
  return OkStatus();
}

Status AtomicFileSink::Commit() {
  RETURN_IF_ERROR(Flush());
  return file_->Commit();
}

StatusOr<std::unique_ptr<FileSource>> FileSource::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFound("cannot open '", path, "': ", std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument("'", path, "' is not a regular file that can be read");
  }
  return std::unique_ptr<FileSource>(new FileSource(path, fd, static_cast<uint64_t>(st.st_size)));
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

Status FileSource::Seek(uint64_t offset, uint64_t length) {
  if (offset > size_ || length > size_ - offset)
    return OutOfRange("'", path_, "': range [", offset, ", +", length, ") is past its end (", size_,
                      " bytes)");
  pos_ = offset;
  end_ = offset + length;
  return OkStatus();
}

Status FileSource::Skip(uint64_t n) {
  if (n > remaining())
    return DataLoss("'", path_, "' is truncated: ", n, " bytes to skip at offset ", pos_, ", ",
                    remaining(), " left");
  pos_ += n;
  return OkStatus();
}

Status FileSource::Read(void* data, size_t n) {
  if (n > remaining())
    return DataLoss("'", path_, "' is truncated: ", n, " bytes wanted at offset ", pos_, ", ",
                    remaining(), " left");
  char* out = static_cast<char*>(data);
  while (n > 0) {
    if (pos_ >= buffer_pos_ && pos_ < buffer_pos_ + buffer_.size()) {
      const size_t off = pos_ - buffer_pos_;
      const size_t take = std::min(n, buffer_.size() - off);
      std::memcpy(out, buffer_.data() + off, take);
      out += take;
      pos_ += take;
      n -= take;
      continue;
    }
    // A large read goes straight into the caller's memory; a small one
    // through one chunk of buffer (many small reads, one system call).
    const bool direct = n >= kStreamChunkBytes;
    const size_t want = direct ? n : std::min<uint64_t>(kStreamChunkBytes, end_ - pos_);
    char* dst = out;
    if (!direct) {
      buffer_.resize(want);
      dst = buffer_.data();
    }
    size_t got = 0;
    while (got < want) {
      const ssize_t r = ::pread(fd_, dst + got, want - got, static_cast<off_t>(pos_ + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return IoError("read failed for '", path_, "': ", std::strerror(errno));
      if (r == 0)
        return DataLoss("'", path_, "' was truncated while being read (offset ", pos_ + got, ")");
      got += static_cast<size_t>(r);
    }
    if (direct) {
      pos_ += n;
      return OkStatus();
    }
    buffer_pos_ = pos_;
  }
  return OkStatus();
}

StatusOr<FileDigest> DigestFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileSource> f, FileSource::Open(path));
  FileDigest d;
  d.bytes = f->file_size();
  Checksum64Stream sum;
  std::string chunk;
  while (f->remaining() > 0) {
    chunk.resize(std::min<uint64_t>(kStreamChunkBytes, f->remaining()));
    RETURN_IF_ERROR(f->Read(chunk.data(), chunk.size()));
    sum.Update(chunk.data(), chunk.size());
  }
  d.checksum = sum.Digest();
  return d;
}

void BlobStreamWriter::Bytes(const void* p, size_t n) {
  if (!status_.ok() || n == 0) return;
  if (!sink_->discards()) sum_.Update(p, n);
  status_ = sink_->Write(p, n);
}

Status BlobStreamWriter::Finish() {
  const uint64_t sum = sum_.Digest();
  if (status_.ok()) status_ = sink_->Write(&sum, sizeof(sum));
  return status_;
}

Status BlobStreamReader::Open(ByteSource* src, const char (&magic)[9], uint32_t max_version,
                              std::string_view what) {
  src_ = src;
  what_ = std::string(what);
  const uint64_t size = src->remaining();
  if (size < 8 + 4 + 8)
    return DataLoss(what_, ": blob too short (", size, " B; at least 20 expected)");
  left_ = size - 8;
  char head[8];
  if (!Bytes(head, 8)) return Truncated();
  if (std::memcmp(head, magic, 8) != 0)
    return DataLoss(what_, ": bad magic '", absl::CHexEscape(absl::string_view(head, 8)),
                    "', expected '", std::string(magic, 8), "' (a blob of another kind)");
  if (!Pod(&version_)) return Truncated();
  if (version_ == 0 || version_ > max_version)
    return DataLoss(what_, ": unsupported version ", version_,
                    " (this build reads <= ", max_version, ")");
  return OkStatus();
}

bool BlobStreamReader::Bytes(void* dst, size_t n) {
  if (!error_.ok() || n > left_) return false;
  if (n == 0) return true;
  error_ = src_->Read(dst, n);
  if (!error_.ok()) return false;
  sum_.Update(dst, n);
  left_ -= n;
  return true;
}

bool BlobStreamReader::Str(std::string* s) {
  uint64_t n;
  if (!Pod(&n) || n > left_) return false;
  s->resize(n);
  return Bytes(s->data(), n);
}

bool BlobStreamReader::Skip(uint64_t n) {
  if (n > left_) return false;
  char chunk[64 << 10];
  while (n > 0) {
    const size_t take = std::min<uint64_t>(n, sizeof(chunk));
    if (!Bytes(chunk, take)) return false;
    n -= take;
  }
  return true;
}

ByteSource* BlobStreamReader::Nested(uint64_t n) {
  sub_.left_ = std::min(n, left_);
  return &sub_;
}

Status BlobStreamReader::Finish() {
  if (left_ != 0) return Truncated();
  RETURN_IF_ERROR(error_);
  uint64_t stored = 0;
  RETURN_IF_ERROR(src_->Read(&stored, sizeof(stored)));
  if (stored != sum_.Digest()) return DataLoss(what_, ": checksum mismatch (corrupt or truncated)");
  return OkStatus();
}

Status BlobStreamReader::Truncated() const {
  if (!error_.ok()) return DataLoss(what_, ": ", error_.message());
  return DataLoss(what_, ": payload truncated or malformed");
}

}  // namespace ecps
