// Internal helpers for the embedding folder's checkpoint blobs (not part of
// the public API). Every blob is: 8-byte magic, uint32 version, payload, then
// a uint64 XXH3 checksum of everything before it. Integers and floats are
// written in the machine's (little-endian) byte order.
//
// Thread-safety: none; one writer/reader per blob.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/file_util.h"
#include "common/status.h"

namespace ecps::embedding_internal {

class BlobWriter {
 public:
  BlobWriter(const char (&magic)[9], uint32_t version) {
    out_.append(magic, 8);
    Pod(version);
  }
  template <typename T>
  void Pod(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void Bytes(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  // Length-prefixed (uint64) string.
  void Str(std::string_view s) {
    Pod<uint64_t>(s.size());
    out_.append(s.data(), s.size());
  }
  // Appends the checksum and returns the blob.
  std::string Finish() {
    const uint64_t sum = Checksum64(out_.data(), out_.size());
    Pod(sum);
    return std::move(out_);
  }

 private:
  std::string out_;
};

class BlobReader {
 public:
  // Checks magic, checksum and version; `what` names the blob in errors.
  Status Open(std::string_view blob, const char (&magic)[9], uint32_t max_version,
              const char* what) {
    what_ = what;
    if (blob.size() < 8 + 4 + 8) return DataLoss(what, ": blob too short (", blob.size(), " B)");
    if (std::memcmp(blob.data(), magic, 8) != 0) return DataLoss(what, ": bad magic");
    uint64_t stored;
    std::memcpy(&stored, blob.data() + blob.size() - 8, 8);
    if (Checksum64(blob.data(), blob.size() - 8) != stored)
      return DataLoss(what, ": checksum mismatch (corrupt or truncated)");
    p_ = blob.data() + 8;
    end_ = blob.data() + blob.size() - 8;
    if (!Pod(&version_)) return Truncated();
    if (version_ == 0 || version_ > max_version)
      return DataLoss(what, ": unsupported version ", version_,
                      " (this build reads <= ", max_version, ")");
    return OkStatus();
  }
  uint32_t version() const { return version_; }
  template <typename T>
  bool Pod(T* v) {
    static_assert(std::is_trivially_copyable_v<T>);
    return Bytes(v, sizeof(T));
  }
  bool Bytes(void* dst, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    std::memcpy(dst, p_, n);
    p_ += n;
    return true;
  }
  bool Str(std::string* s) {
    uint64_t n;
    if (!Pod(&n) || static_cast<uint64_t>(end_ - p_) < n) return false;
    s->assign(p_, n);
    p_ += n;
    return true;
  }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  Status Truncated() const { return DataLoss(what_, ": payload truncated or malformed"); }

 private:
  const char* p_ = nullptr;
  const char* end_ = nullptr;
  uint32_t version_ = 0;
  const char* what_ = "";
};

}  // namespace ecps::embedding_internal
