// File helpers shared by the data cache, checkpoints and reports.
//
// AtomicWriteFile is the only way ecps writes a file that another run will
// read back (caches, checkpoints, results): it writes a temporary file in the
// same directory, fsyncs it, renames it over the target and fsyncs the
// directory, so a crash leaves either the old file or the new one, never a
// torn one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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

StatusOr<std::string> ReadFile(const std::string& path);
bool FileExists(const std::string& path);
Status MakeDirs(const std::string& path);

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
