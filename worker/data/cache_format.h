// The binary data cache written by Preprocess() and memory-mapped by
// Dataset::Open() (spec: docs/formats.md, "Data cache"). Little-endian.
//
//   [0, 128)                      CacheHeader
//   [128, schema_end)             schema section (length-prefixed, see .cc)
//   [rows_offset, +rows*row_bytes) rows, 64-byte aligned, in file order:
//                                 f32 label, f32 dense[num_dense], u32 sparse[num_fields]
//                                 [, f32 value[num_fields] when schema.has_values]
//   [counts_offset, +4*features)  u32 train counts by global id, 64-byte aligned
//   [file_bytes-32, file_bytes)   CacheFooter: checksums + end magic
//
// Splits are contiguous row ranges (split_begin/split_rows, indexed by Split).
#pragma once

#include <bit>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/status.h"
#include "worker/data/batch.h"

static_assert(std::endian::native == std::endian::little, "the data cache is little-endian");

namespace ecps {

inline constexpr char kCacheMagic[8] = {'E', 'C', 'P', 'S', 'D', 'A', 'T', 'A'};
inline constexpr char kCacheEndMagic[8] = {'E', 'C', 'P', 'S', 'E', 'N', 'D', '1'};
// 2: the schema section ends with the identity; 3: then u32 flags (bit 0:
// has_values, the rows end with a value per field).
inline constexpr uint32_t kCacheVersion = 3;
inline constexpr uint64_t kCacheAlign = 64;

// How the splits were cut (informational; stored in the header).
enum class SplitKind : uint32_t { kDays = 0, kRatio = 1, kFiles = 2 };

struct CacheHeader {
  char magic[8];          // kCacheMagic
  uint32_t version;       // kCacheVersion
  uint32_t header_bytes;  // sizeof(CacheHeader) = 128
  uint64_t file_bytes;    // total size; a shorter file is truncated
  uint64_t num_rows;
  uint32_t num_dense;
  uint32_t num_fields;
  uint32_t row_bytes;       // CacheRowBytes(num_dense, num_fields, has_values)
  uint32_t split_kind;      // SplitKind
  uint64_t split_begin[3];  // first row of train, validation, test
  uint64_t split_rows[3];   // rows of train, validation, test
  uint64_t schema_offset;   // = 128
  uint64_t schema_bytes;
  uint64_t rows_offset;
  uint64_t counts_offset;
};
static_assert(sizeof(CacheHeader) == 128);

struct CacheFooter {
  uint64_t meta_checksum;    // Checksum64 of [0, rows_offset): header, schema, padding
  uint64_t rows_checksum;    // Checksum64 of the rows section
  uint64_t counts_checksum;  // Checksum64 of the counts section
  char magic[8];             // kCacheEndMagic
};
static_assert(sizeof(CacheFooter) == 32);

inline uint32_t CacheRowBytes(int num_dense, int num_fields, bool has_values = false) {
  return 4u * static_cast<uint32_t>(1 + num_dense + num_fields * (has_values ? 2 : 1));
}

// Reads only the header and schema section of the cache at `path` (verifying
// magic, version and the meta checksum), e.g. to compare its identity before
// deciding to reuse it. FailedPrecondition for another version, DataLoss for a
// corrupt file, NotFound if there is none.
StatusOr<DatasetSchema> ReadCacheSchema(const std::string& path);

// Schema section codec (schema.identity and has_values included). Decode errors are DataLoss naming
// `path`.
std::string EncodeSchemaSection(const DatasetSchema& schema, uint64_t min_count);
Status DecodeSchemaSection(const uint8_t* data, size_t n, const std::string& path,
                           DatasetSchema* schema, uint64_t* min_count);

// Streams one cache file: Open() fixes the header, AppendRows() writes the
// rows (exactly num_rows in total, each row_bytes as laid out above), Finish()
// writes the counts and footer and atomically renames the file into place.
// An unfinished writer leaves no file behind. Not thread-safe.
class CacheWriter {
 public:
  struct Layout {
    uint64_t num_rows = 0;
    SplitKind split_kind = SplitKind::kDays;
    uint64_t split_begin[3] = {0, 0, 0};
    uint64_t split_rows[3] = {0, 0, 0};
    uint64_t min_count = 0;
  };
  static StatusOr<std::unique_ptr<CacheWriter>> Open(const std::string& path,
                                                     const DatasetSchema& schema,
                                                     const Layout& layout);
  ~CacheWriter();
  // REQUIRES: `rows` holds n * row_bytes bytes.
  Status AppendRows(const void* rows, uint64_t n);
  // REQUIRES: counts.size() == schema.total_features().
  Status Finish(std::span<const uint32_t> counts);

 private:
  CacheWriter() = default;
  Status Write(const void* data, size_t n);
  std::string path_;
  std::unique_ptr<AtomicFileWriter> file_;
  CacheHeader header_{};
  uint64_t features_ = 0;
  uint64_t rows_written_ = 0;
  uint64_t meta_checksum_ = 0;
  void* rows_hash_ = nullptr;  // XXH3_state_t*, kept out of this header
};

}  // namespace ecps
