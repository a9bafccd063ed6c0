// The one tagged, versioned binary framing of ecps' opaque state blobs:
// embedding checkpoints (embedding/embedding_layer.cc), row-store
// checkpoints (embedding/local_row_store.cc) and every compression method's
// SaveState()/LoadState() (compressors/). A blob is
//   8-byte magic | uint32 version | payload | uint64 XXH3 checksum
// where the checksum covers everything before it. The magic names the kind
// of blob (one per method: "ECPSHASH", "ECPSROBE", ...), so a blob of
// another kind is refused by its magic, a truncated or corrupted one by its
// checksum, and one written by a newer build by its version. Integers and
// floats are written in the machine's (little-endian) byte order.
//
// Errors are DataLoss and start with the `what` given to Open() ("hash
// state", "embedding checkpoint"), so they name the reader.
//
// Thread-safety: none; one writer/reader per blob.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "common/file_util.h"
#include "common/status.h"

namespace ecps {

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
  // Length-prefixed (uint64 element count) vector of trivially copyable T.
  template <typename T>
  void Vec(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    Pod<uint64_t>(v.size());
    out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
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
  // Checks magic, checksum and version (1 <= version <= max_version); `what`
  // names the blob in every error.
  Status Open(std::string_view blob, const char (&magic)[9], uint32_t max_version,
              std::string_view what) {
    what_ = std::string(what);
    if (blob.size() < 8 + 4 + 8)
      return DataLoss(what_, ": blob too short (", blob.size(), " B; at least 20 expected)");
    if (std::memcmp(blob.data(), magic, 8) != 0)
      return DataLoss(what_, ": bad magic '", absl::CHexEscape(absl::string_view(blob.data(), 8)),
                      "', expected '", std::string(magic, 8), "' (a blob of another kind)");
    uint64_t stored;
    std::memcpy(&stored, blob.data() + blob.size() - 8, 8);
    if (Checksum64(blob.data(), blob.size() - 8) != stored)
      return DataLoss(what_, ": checksum mismatch (corrupt or truncated)");
    p_ = blob.data() + 8;
    end_ = blob.data() + blob.size() - 8;
    if (!Pod(&version_)) return Truncated();
    if (version_ == 0 || version_ > max_version)
      return DataLoss(what_, ": unsupported version ", version_,
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
  template <typename T>
  bool Vec(std::vector<T>* v) {
    static_assert(std::is_trivially_copyable_v<T>);
    uint64_t n;
    if (!Pod(&n) || n > static_cast<uint64_t>(end_ - p_) / sizeof(T)) return false;
    v->resize(n);
    if (n > 0) std::memcpy(v->data(), p_, n * sizeof(T));
    p_ += n * sizeof(T);
    return true;
  }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  bool AtEnd() const { return p_ == end_; }
  Status Truncated() const { return DataLoss(what_, ": payload truncated or malformed"); }
  const std::string& what() const { return what_; }

 private:
  const char* p_ = nullptr;
  const char* end_ = nullptr;
  uint32_t version_ = 0;
  std::string what_;
};

}  // namespace ecps
