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
// A blob of any size can also be streamed (BlobStreamWriter/BlobStreamReader
// below: the same bytes, produced and consumed in bounded pieces through a
// ByteSink/ByteSource), so a table-sized blob (a row store's) goes between its
// arrays and a file without a table-sized buffer.
//
// Thread-safety: none; one writer/reader per blob.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
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

// Where streamed bytes go, in order: a file being written atomically
// (AtomicFileSink), a string (StringSink), a counter (CountingSink: the length
// a producer will write, before it writes it).
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Status Write(const void* data, size_t n) = 0;
  // Whether the bytes are only counted (CountingSink): a writer then skips
  // its checksum, which nobody reads (a table is hashed once per write, not
  // also in the counting pass).
  virtual bool discards() const { return false; }
};

// Where streamed bytes come from, in order, with a known end.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Exactly `n` bytes, or an error (DataLoss when fewer than `n` remain).
  virtual Status Read(void* data, size_t n) = 0;
  virtual uint64_t remaining() const = 0;
};

class StringSink final : public ByteSink {
 public:
  explicit StringSink(std::string* out) : out_(out) {}
  Status Write(const void* data, size_t n) override {
    out_->append(static_cast<const char*>(data), n);
    return OkStatus();
  }

 private:
  std::string* out_;
};

class CountingSink final : public ByteSink {
 public:
  Status Write(const void*, size_t n) override {
    bytes_ += n;
    return OkStatus();
  }
  bool discards() const override { return true; }
  uint64_t bytes() const { return bytes_; }

 private:
  uint64_t bytes_ = 0;
};

// Reads a byte range held in memory (not owned).
class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string_view bytes) : in_(bytes) {}
  Status Read(void* data, size_t n) override;
  uint64_t remaining() const override { return in_.size(); }

 private:
  std::string_view in_;
};

// XXH3-64 computed piecewise: Digest() equals Checksum64() of the
// concatenation of everything Update()d (so a streamed file's checksum is the
// one a whole-file read computes).
class Checksum64Stream {
 public:
  explicit Checksum64Stream(uint64_t seed = 0);
  ~Checksum64Stream();
  Checksum64Stream(Checksum64Stream&&) noexcept;
  Checksum64Stream& operator=(Checksum64Stream&&) noexcept;
  void Update(const void* data, size_t n);
  uint64_t Digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The chunk size of every streamed file (AtomicFileSink, FileSource): the
// most a checkpoint's writer or reader holds of the file at a time.
inline constexpr size_t kStreamChunkBytes = 4 << 20;

// A ByteSink over AtomicFileWriter (common/file_util.h) that buffers
// kStreamChunkBytes and checksums everything written: write, then Commit()
// (flush, fsync, rename, fsync of the directory). Destroying an uncommitted
// sink removes the temporary file, so a failed or interrupted write leaves
// the previous file in place.
class AtomicFileSink final : public ByteSink {
 public:
  static StatusOr<std::unique_ptr<AtomicFileSink>> Open(const std::string& path);
  Status Write(const void* data, size_t n) override;
  Status Commit();
  // Bytes written so far and their XXH3-64 (Checksum64 of the whole file
  // once committed).
  uint64_t bytes() const { return bytes_; }
  uint64_t checksum() const { return sum_.Digest(); }

 private:
  AtomicFileSink(std::string path, std::unique_ptr<AtomicFileWriter> file)
      : path_(std::move(path)), file_(std::move(file)) {}
  Status Flush();
  std::string path_;
  std::unique_ptr<AtomicFileWriter> file_;
  std::string buffer_;
  Checksum64Stream sum_;
  uint64_t bytes_ = 0;
};

// Reads a byte range of a file in chunks of at most kStreamChunkBytes (pread):
// a table-sized file is read without a table-sized buffer. Errors name the
// file. Move-only.
class FileSource final : public ByteSource {
 public:
  // The whole file.
  static StatusOr<std::unique_ptr<FileSource>> Open(const std::string& path);
  ~FileSource() override;
  Status Read(void* data, size_t n) override;
  uint64_t remaining() const override { return end_ - pos_; }
  uint64_t position() const { return pos_; }
  uint64_t file_size() const { return size_; }
  // Restricts reading to [offset, offset + length) of the file (within it).
  Status Seek(uint64_t offset, uint64_t length);
  // Skips `n` bytes (within the range).
  Status Skip(uint64_t n);
  const std::string& path() const { return path_; }

 private:
  FileSource(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size), end_(size) {}
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0, pos_ = 0, end_ = 0;
  std::string buffer_;  // bytes [buffer_pos_, buffer_pos_ + buffer_.size()) of the file
  uint64_t buffer_pos_ = 0;
};

// The size and XXH3-64 (Checksum64) of a whole file, read in chunks.
struct FileDigest {
  uint64_t bytes = 0;
  uint64_t checksum = 0;
};
StatusOr<FileDigest> DigestFile(const std::string& path);

// The streaming form of BlobWriter: the same bytes (magic, version, payload,
// checksum), written to `sink` as they are produced. The first sink error is
// kept and returned by Finish(); writes after it are dropped.
class BlobStreamWriter {
 public:
  BlobStreamWriter(ByteSink* sink, const char (&magic)[9], uint32_t version) : sink_(sink) {
    Bytes(magic, 8);
    Pod(version);
  }
  template <typename T>
  void Pod(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    Bytes(&v, sizeof(T));
  }
  void Bytes(const void* p, size_t n);
  void Str(std::string_view s) {
    Pod<uint64_t>(s.size());
    Bytes(s.data(), s.size());
  }
  template <typename T>
  void Vec(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    Pod<uint64_t>(v.size());
    Bytes(v.data(), v.size() * sizeof(T));
  }
  // A sink whose bytes become part of this blob's payload (a nested blob
  // streamed by another writer, e.g. a row store's inside the embedding
  // layer's).
  ByteSink* payload_sink() { return &payload_; }
  // Appends the checksum; the first error of the sink, if any.
  Status Finish();

 private:
  class Payload final : public ByteSink {
   public:
    explicit Payload(BlobStreamWriter* w) : w_(w) {}
    Status Write(const void* data, size_t n) override {
      w_->Bytes(data, n);
      return w_->status_;
    }
    bool discards() const override { return w_->sink_->discards(); }

   private:
    BlobStreamWriter* w_;
  };
  ByteSink* sink_;
  Checksum64Stream sum_;
  Status status_;
  Payload payload_{this};
};

// The streaming form of BlobReader over a source that holds exactly one blob
// (its remaining() bytes). The checksum is at the end, so it is checked by
// Finish(), after the payload was read: callers that must not act on
// unverified bytes read from a source that verifies as it reads (a checkpoint
// section: worker/checkpoint.h) or verify the file first.
class BlobStreamReader {
 public:
  Status Open(ByteSource* src, const char (&magic)[9], uint32_t max_version, std::string_view what);
  uint32_t version() const { return version_; }
  template <typename T>
  bool Pod(T* v) {
    static_assert(std::is_trivially_copyable_v<T>);
    return Bytes(v, sizeof(T));
  }
  bool Bytes(void* dst, size_t n);
  bool Str(std::string* s);
  template <typename T>
  bool Vec(std::vector<T>* v) {
    static_assert(std::is_trivially_copyable_v<T>);
    uint64_t n;
    if (!Pod(&n) || n > remaining() / sizeof(T)) return false;
    v->resize(n);
    return Bytes(v->data(), n * sizeof(T));
  }
  // Skips `n` payload bytes (still checksummed).
  bool Skip(uint64_t n);
  // Payload bytes left (the checksum excluded).
  uint64_t remaining() const { return left_; }
  // A source of the next `n` payload bytes, read through this reader (so
  // they are checksummed): a nested blob for another reader.
  ByteSource* Nested(uint64_t n);
  // Reads the checksum and compares it; DataLoss naming `what` otherwise.
  Status Finish();
  // DataLoss naming `what`: the source's error when it failed, otherwise
  // "payload truncated or malformed".
  Status Truncated() const;
  const std::string& what() const { return what_; }

 private:
  class Sub final : public ByteSource {
   public:
    explicit Sub(BlobStreamReader* r) : r_(r) {}
    Status Read(void* data, size_t n) override {
      if (n > left_ || !r_->Bytes(data, n)) return r_->Truncated();
      left_ -= n;
      return OkStatus();
    }
    uint64_t remaining() const override { return left_; }
    uint64_t left_ = 0;

   private:
    BlobStreamReader* r_;
  };
  ByteSource* src_ = nullptr;
  Checksum64Stream sum_;
  uint64_t left_ = 0;
  uint32_t version_ = 0;
  std::string what_;
  Status error_;
  Sub sub_{this};
};

}  // namespace ecps
