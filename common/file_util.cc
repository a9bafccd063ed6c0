#include "common/file_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "common/logging.h"

namespace ecps {
namespace {

Status Errno(const std::string& what, const std::string& path) {
  return IoError(what, " '", path, "': ", std::strerror(errno));
}

Status FsyncDir(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Errno("cannot open directory", dir);
  ::fsync(fd);
  ::close(fd);
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Open(const std::string& path) {
  std::random_device rd;
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  return std::unique_ptr<AtomicFileWriter>(new AtomicFileWriter(path, tmp, fd));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

Status AtomicFileWriter::Append(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Errno("write failed for", tmp_);
    }
    p += w;
    n -= static_cast<size_t>(w);
    bytes_ += static_cast<uint64_t>(w);
  }
  return OkStatus();
}

Status AtomicFileWriter::Commit() {
  if (::fsync(fd_) != 0) return Errno("fsync failed for", tmp_);
  if (::close(fd_) != 0) {
    fd_ = -1;
    return Errno("close failed for", tmp_);
  }
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) return Errno("rename failed for", path_);
  committed_ = true;
  return FsyncDir(path_);
}

Status AtomicWriteFile(const std::string& path, std::string_view contents) {
  ASSIGN_OR_RETURN(auto w, AtomicFileWriter::Open(path));
  RETURN_IF_ERROR(w->Append(contents.data(), contents.size()));
  return w->Commit();
}

StatusOr<std::string> ReadFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return InvalidArgument("'", path, "' is ",
                           S_ISDIR(st.st_mode) ? "a directory" : "not a regular file",
                           ", not a file that can be read");
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open '", path, "': ", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return IoError("read failed for '", path, "'");
  return ss.str();
}

bool FileExists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

bool SameFile(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::equivalent(a, b, ec) && !ec;
}

Status MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return IoError("cannot create directory '", path, "': ", ec.message());
  return OkStatus();
}

namespace {

constexpr char kLockFileName[] = ".ecps-lock";

// The lock record, one line: "host=<h> pid=<p> started=<UTC time>".
std::string LockRecord() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) std::strcpy(host, "?");
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string("host=") + host + " pid=" + std::to_string(::getpid()) + " started=" + when +
         "\n";
}

// A record as a person reads it ("pid 12 on host a, started T"); anything
// else (a foreign or torn file) is shown printable and short.
std::string DescribeLockRecord(const std::string& record) {
  std::string host, pid, started;
  std::istringstream in(record);
  std::string field;
  while (in >> field) {
    auto eq = field.find('=');
    if (eq == std::string::npos) continue;
    const std::string k = field.substr(0, eq), v = field.substr(eq + 1);
    if (k == "host") host = v;
    if (k == "pid") pid = v;
    if (k == "started") started = v;
  }
  if (!pid.empty() && !host.empty())
    return "pid " + pid + " on host " + host + (started.empty() ? "" : ", started " + started);
  std::string shown;
  for (char c : record.substr(0, 120)) shown += (c >= 32 && c < 127) ? c : '?';
  return "holder unrecorded: the lock file holds '" + shown + "'";
}

std::string ReadFd(int fd) {
  std::string out;
  char buf[512];
  off_t off = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof(buf), off);
    if (n <= 0 || out.size() > 4096) break;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return out;
}

// The pid of a temporary named "<name>.tmp.<pid>" or "<name>.tmp.<pid>.<n>"
// (0 when `name` is not one).
int64_t TemporaryPid(const std::string& name) {
  const size_t at = name.rfind(".tmp.");
  if (at == std::string::npos || at == 0) return 0;
  const std::string rest = name.substr(at + 5);
  const size_t dot = rest.find('.');
  const std::string pid = rest.substr(0, dot),
                    tail = dot == std::string::npos ? "" : rest.substr(dot + 1);
  auto digits = [](const std::string& t) {
    return !t.empty() && t.find_first_not_of("0123456789") == std::string::npos;
  };
  if (!digits(pid) || pid.size() > 9) return 0;
  // Exactly the two writers' names: AtomicFileWriter's "<name>.tmp.<pid>.<n>"
  // and the preprocessor's "<cache>.rows.tmp.<pid>"; a user's "notes.tmp.2"
  // is not ours to remove.
  const bool atomic_writer = dot != std::string::npos && digits(tail);
  const bool rows_file =
      dot == std::string::npos && at >= 5 && name.compare(at - 5, 5, ".rows") == 0;
  if (!atomic_writer && !rows_file) return 0;
  int64_t v = 0;
  std::from_chars(pid.data(), pid.data() + pid.size(), v);
  return v;
}

bool ProcessRunning(int64_t pid) {
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

StatusOr<std::vector<std::string>> RemoveOrphanedTemporaries(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const int64_t pid = TemporaryPid(name);
    if (pid <= 0 || ProcessRunning(pid)) continue;
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec)) continue;
    if (std::filesystem::remove(it->path(), file_ec)) removed.push_back(name);
  }
  if (ec) return IoError("cannot list directory '", dir, "': ", ec.message());
  return removed;
}

StatusOr<std::unique_ptr<OutputDirLock>> OutputDirLock::Acquire(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec))
    return IoError("output.dir '", dir, "' exists and is not a directory");
  RETURN_IF_ERROR(MakeDirs(dir));
  std::unique_ptr<OutputDirLock> lock(new OutputDirLock());
  lock->path_ = (std::filesystem::path(dir) / kLockFileName).string();
  lock->fd_ = ::open(lock->path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock->fd_ < 0)
    return IoError("output.dir '", dir, "' is not writable: cannot open '", lock->path_,
                   "': ", std::strerror(errno));
  if (::flock(lock->fd_, LOCK_EX | LOCK_NB) == 0) {
    lock->held_ = true;
  } else {
    if (errno == EWOULDBLOCK) {
      const std::string holder = DescribeLockRecord(ReadFd(lock->fd_));
      return FailedPrecondition("output.dir '", dir, "' is in use by another ecps job (", holder,
                                "; lock file '", lock->path_,
                                "'): two jobs in one output.dir would mix their checkpoints and "
                                "results; wait for that job to end or set another output.dir");
    }
    // A file system without locks (some network mounts): say so loudly and
    // go on, as ecps did before it locked.
    ECPS_LOG_WARN(
        "output.dir '{}': cannot lock '{}' ({}); nothing stops another job from "
        "writing into this directory",
        dir, lock->path_, std::strerror(errno));
    lock->held_ = true;  // as far as this file system allows
  }
  // The lock is ours. A record left in the file is a holder that died
  // without releasing it (a clean exit empties it).
  const std::string previous = ReadFd(lock->fd_);
  if (!previous.empty()) {
    lock->taken_over_ = DescribeLockRecord(previous);
    ECPS_LOG_WARN(
        "output.dir '{}': taking over the lock of a job that ended without releasing "
        "it ({})",
        dir, lock->taken_over_);
  }
  const std::string record = LockRecord();
  if (::ftruncate(lock->fd_, 0) != 0 ||
      ::pwrite(lock->fd_, record.data(), record.size(), 0) != static_cast<ssize_t>(record.size()))
    return IoError("output.dir '", dir, "' is not writable: cannot write '", lock->path_,
                   "': ", std::strerror(errno));
  // Creating a file (not only writing the existing lock file) is what every
  // checkpoint and results write needs: check it now, before any work.
  const std::string probe =
      (std::filesystem::path(dir) / (".ecps-write-check.tmp." + std::to_string(::getpid()) + ".0"))
          .string();
  const int pfd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (pfd < 0)
    return IoError("output.dir '", dir, "' is not writable: cannot create '", probe,
                   "': ", std::strerror(errno));
  ::close(pfd);
  ::unlink(probe.c_str());
  ASSIGN_OR_RETURN(lock->removed_, RemoveOrphanedTemporaries(dir));
  for (const std::string& name : lock->removed_)
    ECPS_LOG_INFO(
        "output.dir '{}': removed '{}', a temporary file of a process that no longer "
        "runs",
        dir, name);
  return lock;
}

OutputDirLock::~OutputDirLock() {
  if (fd_ < 0) return;
  // An empty record tells the next job that this one ended cleanly (only the
  // holder may touch it: a refused Acquire() ends here too).
  if (held_ && ::ftruncate(fd_, 0) != 0)
    ECPS_LOG_WARN("cannot empty '{}': {}", path_, std::strerror(errno));
  ::close(fd_);  // releases the flock
}

StatusOr<MappedFile> MappedFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Errno("cannot stat", path);
  }
  MappedFile m;
  m.size_ = static_cast<size_t>(st.st_size);
  if (m.size_ > 0) {
    void* p = ::mmap(nullptr, m.size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      return Errno("cannot mmap", path);
    }
    m.data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return m;
}

MappedFile::MappedFile(MappedFile&& o) noexcept : data_(o.data_), size_(o.size_) {
  o.data_ = nullptr;
  o.size_ = 0;
}
MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}
MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

uint64_t Checksum64(const void* data, size_t n, uint64_t seed) {
  return XXH3_64bits_withSeed(data, n, seed);
}

}  // namespace ecps
