#include "worker/data/text_reader.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

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
    // gzdopen takes ownership of the descriptor.
    gzFile gz = gzdopen(r->fd_, "rb");
    if (gz == nullptr) return IoError("cannot open gzip stream '", path, "'");
    r->fd_ = -1;
    gzbuffer(gz, 1 << 20);
    r->gz_ = gz;
  }
  r->buf_.resize(buffer_bytes < 64 ? 64 : buffer_bytes);
  return r;
}

TextReader::~TextReader() {
  if (gz_ != nullptr) gzclose(static_cast<gzFile>(gz_));
  if (fd_ >= 0) ::close(fd_);
}

long TextReader::Fill() {
  char* dst = buf_.data() + end_;
  size_t room = buf_.size() - end_;
  if (gz_ != nullptr) {
    gzFile gz = static_cast<gzFile>(gz_);
    // gzread takes an unsigned count; cap it well below 4 GiB.
    unsigned want = room > (1u << 30) ? (1u << 30) : static_cast<unsigned>(room);
    int n = gzread(gz, dst, want);
    if (n < 0) {
      int errnum = 0;
      const char* msg = gzerror(gz, &errnum);
      status_ = DataLoss("corrupt gzip stream in '", path_, "': ", msg);
      return -1;
    }
    if (n == 0) {
      // zlib reports a stream cut short as Z_BUF_ERROR only through gzerror.
      int errnum = 0;
      const char* msg = gzerror(gz, &errnum);
      if (errnum != Z_OK) {
        status_ = DataLoss("corrupt or truncated gzip stream in '", path_, "': ", msg);
        return -1;
      }
    }
    return n;
  }
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
