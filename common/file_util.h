// File helpers shared by the data cache, checkpoints and reports.
//
// AtomicWriteFile is the only way ecps writes a file that another run will
// read back (caches, checkpoints, results): it writes a temporary file in the
// same directory, fsyncs it, renames it over the target and fsyncs the
// directory, so a crash leaves either the old file or the new one, never a
// torn one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ecps {

Status AtomicWriteFile(const std::string& path, std::string_view contents);

// Streams a large file atomically: write through Append(), then Commit().
// Destroying an uncommitted writer removes the temporary file.
class AtomicFileWriter {
 public:
  static StatusOr<std::unique_ptr<AtomicFileWriter>> Open(const std::string& path);
  ~AtomicFileWriter();
  Status Append(const void* data, size_t n);
  Status Commit();
  uint64_t bytes_written() const { return bytes_; }

 private:
  AtomicFileWriter(std::string path, std::string tmp, int fd)
      : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {}
  std::string path_, tmp_;
  int fd_;
  uint64_t bytes_ = 0;
  bool committed_ = false;
};

// Reads a whole regular file. A directory or another non-regular file is an
// error naming the path (an input stream "opens" a directory and reads
// nothing, which would pass as an empty file).
StatusOr<std::string> ReadFile(const std::string& path);
bool FileExists(const std::string& path);
// Whether `a` and `b` are one existing file (the same inode: also through a
// symlink, a hard link or another spelling of the path). False when either
// does not exist.
bool SameFile(const std::string& a, const std::string& b);
Status MakeDirs(const std::string& path);

// A job's exclusive claim on its output directory (output.dir): two jobs
// writing one directory would mix their checkpoints and results. Acquire()
// creates `dir` if needed, takes an exclusive flock(2) on `dir/.ecps-lock`
// (released by the kernel when the process dies, however it dies) and records
// the holder in it (host, pid, start time). Then, as the owner, it checks that
// `dir` is writable (a file is created and removed: before any work, not at
// the first checkpoint) and removes the temporaries that AtomicFileWriter
// leaves when a process dies mid-write ("<name>.tmp.<pid>.<n>", from processes
// no longer running on this host).
//
// A record whose process no longer holds the lock (it was killed) is taken
// over with a warning naming it. Destruction empties the record and releases.
// Thread-safety: one owner; the lock excludes other processes and other
// Acquire() calls in this process alike.
class OutputDirLock {
 public:
  // Errors: FailedPrecondition naming the holder's host, pid and start time
  // and the lock file when another job holds it; IoError naming the path
  // when `dir` cannot be created, is not a directory, or is not writable.
  static StatusOr<std::unique_ptr<OutputDirLock>> Acquire(const std::string& dir);
  ~OutputDirLock();
  OutputDirLock(const OutputDirLock&) = delete;
  OutputDirLock& operator=(const OutputDirLock&) = delete;

  const std::string& lock_path() const { return path_; }
  // The holder a killed job left in the lock file ("" when the lock was free
  // and clean), e.g. "pid 123 on host a, started 2026-01-02T03:04:05Z".
  const std::string& taken_over() const { return taken_over_; }
  // The orphaned temporaries removed by Acquire() (file names).
  const std::vector<std::string>& removed_temporaries() const { return removed_; }

 private:
  OutputDirLock() = default;
  std::string path_;
  int fd_ = -1;
  bool held_ = false;  // the record is ours: the flock is (or cannot be had here)
  std::string taken_over_;
  std::vector<std::string> removed_;
};

// Removes from `dir` (not recursively) the temporaries AtomicFileWriter and
// the preprocessor name "<name>.tmp.<pid>.<n>" and "<cache>.rows.tmp.<pid>"
// whose pid is not a running
// process on this host. Returns the removed names. Only the owner of `dir`
// (OutputDirLock) may call it: another job's temporaries on another host
// cannot be told from orphans.
StatusOr<std::vector<std::string>> RemoveOrphanedTemporaries(const std::string& dir);

// A read-only memory map of a whole file. Move-only.
class MappedFile {
 public:
  static StatusOr<MappedFile> Open(const std::string& path);
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  ~MappedFile();
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// 64-bit checksum (XXH3) of a byte range; used by every on-disk format.
uint64_t Checksum64(const void* data, size_t n, uint64_t seed = 0);

}  // namespace ecps
