#include "worker/data/text_reader.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ecps {
namespace {

Status OpenError(const std::string& path) {
  if (errno == ENOENT) return NotFound("cannot open '", path, "': ", std::strerror(errno));
  return IoError("cannot open '", path, "': ", std::strerror(errno));
}

// Reads up to 2 bytes from the start of fd and rewinds it.
bool HasGzipMagic(int fd) {
  unsigned char magic[2] = {0, 0};
  ssize_t n = ::pread(fd, magic, 2, 0);
  return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

}  // namespace

StatusOr<bool> IsGzipFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return OpenError(path);
  bool gz = HasGzipMagic(fd);
  ::close(fd);
  return gz;
}

StatusOr<std::unique_ptr<TextReader>> TextReader::Open(const std::string& path,
                                                       size_t buffer_bytes) {
  std::unique_ptr<TextReader> r(new TextReader());
  r->path_ = path;
  r->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (r->fd_ < 0) return OpenError(path);
  ::posix_fadvise(r->fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  if (HasGzipMagic(r->fd_)) {
    // Our own inflate loop rather than gzread: gzread ends the stream silently
    // at bytes that do not start a member, losing the rest of a file whose
    // later member is damaged (issue 14).
    auto* z = new z_stream{};
    if (inflateInit2(z, 16 + MAX_WBITS) != Z_OK) {
      delete z;
      return IoError("cannot start gzip decompression of '", path, "'");
    }
    r->gz_ = z;
    // A small buffer_bytes (tests) also makes the input buffer small, so that
    // member boundaries fall across reads.
    r->in_.resize(std::clamp<size_t>(buffer_bytes, 64, 1 << 20));
  }
  r->buf_.resize(buffer_bytes < 64 ? 64 : buffer_bytes);
  return r;
}

TextReader::~TextReader() {
  if (gz_ != nullptr) {
    auto* z = static_cast<z_stream*>(gz_);
    inflateEnd(z);
    delete z;
  }
  if (fd_ >= 0) ::close(fd_);
}

bool TextReader::ReadInput() {
  auto* z = static_cast<z_stream*>(gz_);
  if (in_have_ > 0 && z->next_in != in_.data()) std::memmove(in_.data(), z->next_in, in_have_);
  while (in_have_ < in_.size()) {
    ssize_t n = ::read(fd_, in_.data() + in_have_, in_.size() - in_have_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status_ = IoError("read failed for '", path_, "': ", std::strerror(errno));
      return false;
    }
    if (n == 0) {
      in_eof_ = true;
      break;
    }
    in_have_ += static_cast<size_t>(n);
    in_offset_ += static_cast<uint64_t>(n);
    break;
  }
  z->next_in = in_.data();
  z->avail_in = static_cast<uInt>(in_have_);
  return true;
}

int TextReader::NextMember() {
  auto* z = static_cast<z_stream*>(gz_);
  while (true) {
    if (in_have_ < 2 && !in_eof_) {
      if (!ReadInput()) return -1;
      continue;
    }
    if (in_have_ == 0) return 0;  // the file ends after a member
    const unsigned char* p = z->next_in;
    if (in_have_ >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
      member_start_ = compressed_offset();
      member_done_ = false;
      inflateReset(z);
      return 1;
    }
    // Zero padding to the end of the file is not data (gzip(1) ignores it
    // too); anything else is a member whose header is damaged.
    size_t zeros = 0;
    while (zeros < in_have_ && p[zeros] == 0) ++zeros;
    if (zeros < in_have_) {
      status_ = DataLoss("damaged gzip member in '", path_, "' at byte offset ",
                         compressed_offset() + zeros,
                         ": the bytes after the member that ends there do not start another "
                         "(no gzip magic); the rest of the file cannot be read");
      return -1;
    }
    z->next_in += zeros;
    z->avail_in -= static_cast<uInt>(zeros);
    in_have_ = 0;
    if (in_eof_) return 0;
    if (!ReadInput()) return -1;
  }
}

long TextReader::FillGzip(char* dst, size_t room) {
  auto* z = static_cast<z_stream*>(gz_);
  // inflate takes an unsigned count; cap it well below 4 GiB.
  const uInt want = room > (1u << 30) ? (1u << 30) : static_cast<uInt>(room);
  while (true) {
    if (member_done_) {
      const int next = NextMember();
      if (next <= 0) return next;
    }
    if (in_have_ == 0 && !in_eof_ && !ReadInput()) return -1;
    z->next_out = reinterpret_cast<Bytef*>(dst);
    z->avail_out = want;
    const int rc = inflate(z, Z_NO_FLUSH);
    const long produced = static_cast<long>(want - z->avail_out);
    in_have_ = z->avail_in;
    if (rc == Z_STREAM_END) {
      member_done_ = true;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      status_ = DataLoss("corrupt gzip stream in '", path_, "' at byte offset ",
                         compressed_offset(), " (in the member starting at byte ", member_start_,
                         "): ", z->msg != nullptr ? z->msg : zError(rc));
      return -1;
    } else if (produced == 0 && in_have_ == 0 && in_eof_) {
      status_ = DataLoss("corrupt or truncated gzip stream in '", path_, "': the member starting ",
                         "at byte ", member_start_, " ends at byte ", compressed_offset(),
                         " before its end");
      return -1;
    }
    if (produced > 0) return produced;
  }
}

long TextReader::Fill() {
  char* dst = buf_.data() + end_;
  size_t room = buf_.size() - end_;
  if (gz_ != nullptr) return FillGzip(dst, room);
  while (true) {
    ssize_t n = ::read(fd_, dst, room);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status_ = IoError("read failed for '", path_, "': ", std::strerror(errno));
      return -1;
    }
    return static_cast<long>(n);
  }
}

std::string_view TextReader::StripBom(std::string_view line) const {
  // A UTF-8 byte-order mark (what some Windows tools write first) is not
  // data: left in, it became part of the first field's first value and any
  // error about that line showed it invisibly.
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (line_number_ == 0 && line.substr(0, kBom.size()) == kBom) line.remove_prefix(kBom.size());
  return line;
}

bool TextReader::NextLine(std::string_view* line) {
  if (!status_.ok()) return false;
  size_t scan_from = begin_;
  while (true) {
    const char* start = buf_.data() + begin_;
    const char* nl =
        static_cast<const char*>(std::memchr(buf_.data() + scan_from, '\n', end_ - scan_from));
    if (nl != nullptr) {
      size_t len = static_cast<size_t>(nl - start);
      text_bytes_ += len + 1;
      begin_ += len + 1;
      if (len > 0 && start[len - 1] == '\r') --len;
      *line = StripBom(std::string_view(start, len));
      ++line_number_;
      return true;
    }
    if (eof_) {
      if (begin_ == end_) return false;
      // Last line without a terminator.
      size_t len = end_ - begin_;
      text_bytes_ += len;
      begin_ = end_;
      if (start[len - 1] == '\r') --len;
      *line = StripBom(std::string_view(start, len));
      ++line_number_;
      return true;
    }
    // No complete line buffered: move the partial line to the front, grow the
    // buffer if the partial line fills it, and read more.
    size_t pending = end_ - begin_;
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, pending);
      begin_ = 0;
      end_ = pending;
    }
    if (end_ == buf_.size()) buf_.resize(buf_.size() * 2);
    scan_from = end_;
    long n = Fill();
    if (n < 0) return false;
    if (n == 0) eof_ = true;
    end_ += static_cast<size_t>(n);
  }
}

}  // namespace ecps
