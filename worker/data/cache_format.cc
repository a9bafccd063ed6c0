#include "worker/data/cache_format.h"

#include <xxhash.h>

#include <cstring>
#include <fstream>

namespace ecps {
namespace {

// Schema flags (version 3).
constexpr uint32_t kSchemaHasValues = 1;

uint64_t AlignUp(uint64_t x) { return (x + kCacheAlign - 1) / kCacheAlign * kCacheAlign; }

void PutU32(std::string* s, uint32_t v) { s->append(reinterpret_cast<const char*>(&v), 4); }
void PutU64(std::string* s, uint64_t v) { s->append(reinterpret_cast<const char*>(&v), 8); }
void PutStr(std::string* s, const std::string& v) {
  PutU32(s, static_cast<uint32_t>(v.size()));
  s->append(v);
}

// Bounds-checked reader over the schema section.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool U32(uint32_t* v) { return Raw(v, 4); }
  bool U64(uint64_t* v) { return Raw(v, 8); }
  bool Str(std::string* v) {
    uint32_t len = 0;
    if (!U32(&len) || len > n_ - i_) return false;
    v->assign(reinterpret_cast<const char*>(p_ + i_), len);
    i_ += len;
    return true;
  }

 private:
  bool Raw(void* v, size_t k) {
    if (k > n_ - i_) return false;
    std::memcpy(v, p_ + i_, k);
    i_ += k;
    return true;
  }
  const uint8_t* p_;
  size_t n_, i_ = 0;
};

}  // namespace

std::string EncodeSchemaSection(const DatasetSchema& schema, uint64_t min_count) {
  std::string s;
  PutStr(&s, schema.format);
  PutU32(&s, static_cast<uint32_t>(schema.num_dense));
  PutU32(&s, static_cast<uint32_t>(schema.num_fields));
  for (int f = 0; f < schema.num_fields; ++f) {
    PutStr(&s, schema.field_names[f]);
    PutU64(&s, schema.cardinalities[f]);
    PutU64(&s, schema.offsets[f]);
  }
  PutU64(&s, min_count);
  PutStr(&s, schema.identity);
  PutU32(&s, schema.has_values ? kSchemaHasValues : 0u);
  return s;
}

Status DecodeSchemaSection(const uint8_t* data, size_t n, const std::string& path,
                           DatasetSchema* schema, uint64_t* min_count) {
  Reader r(data, n);
  uint32_t nd = 0, nf = 0;
  auto bad = [&](const char* what) {
    return DataLoss("data cache '", path, "' has a corrupt schema section: ", what);
  };
  if (!r.Str(&schema->format) || !r.U32(&nd) || !r.U32(&nf)) return bad("truncated");
  if (nd > 100000 || nf > 100000) return bad("implausible field counts");
  schema->num_dense = static_cast<int>(nd);
  schema->num_fields = static_cast<int>(nf);
  schema->field_names.resize(nf);
  schema->cardinalities.resize(nf);
  schema->offsets.resize(nf);
  uint64_t expect_offset = 0;
  for (uint32_t f = 0; f < nf; ++f) {
    if (!r.Str(&schema->field_names[f]) || !r.U64(&schema->cardinalities[f]) ||
        !r.U64(&schema->offsets[f])) {
      return bad("truncated field table");
    }
    if (schema->offsets[f] != expect_offset) return bad("field offsets are not cumulative");
    expect_offset += schema->cardinalities[f];
  }
  uint32_t flags = 0;
  if (!r.U64(min_count) || !r.Str(&schema->identity) || !r.U32(&flags)) return bad("truncated");
  if ((flags & ~kSchemaHasValues) != 0) return bad("unknown flags");
  schema->has_values = (flags & kSchemaHasValues) != 0;
  return OkStatus();
}

StatusOr<DatasetSchema> ReadCacheSchema(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!FileExists(path)) return NotFound("data cache '", path, "' does not exist");
    return IoError("cannot open data cache '", path, "'");
  }
  CacheHeader h{};
  if (!in.read(reinterpret_cast<char*>(&h), sizeof(h)) ||
      std::memcmp(h.magic, kCacheMagic, 8) != 0) {
    return DataLoss("data cache '", path, "' has no valid header");
  }
  if (h.version != kCacheVersion) {
    return FailedPrecondition("data cache '", path, "' has version ", h.version,
                              "; this build reads version ", kCacheVersion);
  }
  if (h.schema_offset != sizeof(CacheHeader) || h.rows_offset < h.schema_offset + h.schema_bytes ||
      h.rows_offset > (64u << 20)) {
    return DataLoss("data cache '", path, "' has an inconsistent header");
  }
  std::string meta(h.rows_offset, '\0');
  in.seekg(0);
  if (!in.read(meta.data(), static_cast<std::streamsize>(meta.size()))) {
    return DataLoss("data cache '", path, "' is truncated in its schema section");
  }
  CacheFooter footer{};
  if (h.file_bytes < h.rows_offset + sizeof(CacheFooter) ||
      !in.seekg(static_cast<std::streamoff>(h.file_bytes - sizeof(CacheFooter))) ||
      !in.read(reinterpret_cast<char*>(&footer), sizeof(footer))) {
    return DataLoss("data cache '", path, "' is truncated (no footer at ", h.file_bytes, ")");
  }
  if (footer.meta_checksum != Checksum64(meta.data(), meta.size())) {
    return DataLoss("data cache '", path, "' fails its header/schema checksum");
  }
  DatasetSchema schema;
  uint64_t min_count = 0;
  RETURN_IF_ERROR(
      DecodeSchemaSection(reinterpret_cast<const uint8_t*>(meta.data()) + h.schema_offset,
                          h.schema_bytes, path, &schema, &min_count));
  return schema;
}

StatusOr<std::unique_ptr<CacheWriter>> CacheWriter::Open(const std::string& path,
                                                         const DatasetSchema& schema,
                                                         const Layout& layout) {
  std::unique_ptr<CacheWriter> w(new CacheWriter());
  w->path_ = path;
  ASSIGN_OR_RETURN(w->file_, AtomicFileWriter::Open(path));
  std::string schema_bytes = EncodeSchemaSection(schema, layout.min_count);
  CacheHeader& h = w->header_;
  std::memcpy(h.magic, kCacheMagic, 8);
  h.version = kCacheVersion;
  h.header_bytes = sizeof(CacheHeader);
  h.num_rows = layout.num_rows;
  h.num_dense = static_cast<uint32_t>(schema.num_dense);
  h.num_fields = static_cast<uint32_t>(schema.num_fields);
  h.row_bytes = CacheRowBytes(schema.num_dense, schema.num_fields, schema.has_values);
  h.split_kind = static_cast<uint32_t>(layout.split_kind);
  for (int s = 0; s < 3; ++s) {
    h.split_begin[s] = layout.split_begin[s];
    h.split_rows[s] = layout.split_rows[s];
  }
  h.schema_offset = sizeof(CacheHeader);
  h.schema_bytes = schema_bytes.size();
  h.rows_offset = AlignUp(h.schema_offset + h.schema_bytes);
  w->features_ = schema.total_features();
  h.counts_offset = AlignUp(h.rows_offset + h.num_rows * h.row_bytes);
  h.file_bytes = h.counts_offset + 4 * w->features_ + sizeof(CacheFooter);

  std::string meta(reinterpret_cast<const char*>(&h), sizeof(h));
  meta += schema_bytes;
  meta.resize(h.rows_offset, '\0');
  w->meta_checksum_ = Checksum64(meta.data(), meta.size());
  RETURN_IF_ERROR(w->Write(meta.data(), meta.size()));
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  w->rows_hash_ = st;
  return w;
}

CacheWriter::~CacheWriter() {
  if (rows_hash_ != nullptr) XXH3_freeState(static_cast<XXH3_state_t*>(rows_hash_));
}

Status CacheWriter::Write(const void* data, size_t n) {
  return Annotate(file_->Append(data, n), "writing data cache '" + path_ + "'");
}

Status CacheWriter::AppendRows(const void* rows, uint64_t n) {
  if (rows_written_ + n > header_.num_rows) {
    return FailedPrecondition("data cache '", path_, "': more rows appended than declared (",
                              header_.num_rows, ")");
  }
  size_t bytes = n * header_.row_bytes;
  XXH3_64bits_update(static_cast<XXH3_state_t*>(rows_hash_), rows, bytes);
  rows_written_ += n;
  return Write(rows, bytes);
}

Status CacheWriter::Finish(std::span<const uint32_t> counts) {
  if (rows_written_ != header_.num_rows) {
    return FailedPrecondition("data cache '", path_, "': ", rows_written_,
                              " rows appended, header declares ", header_.num_rows);
  }
  if (counts.size() != features_) {
    return FailedPrecondition("data cache '", path_, "': ", counts.size(), " counts for ",
                              features_, " features");
  }
  uint64_t rows_end = header_.rows_offset + header_.num_rows * header_.row_bytes;
  std::string pad(header_.counts_offset - rows_end, '\0');
  RETURN_IF_ERROR(Write(pad.data(), pad.size()));
  RETURN_IF_ERROR(Write(counts.data(), counts.size_bytes()));
  CacheFooter footer{};
  footer.meta_checksum = meta_checksum_;
  footer.rows_checksum = XXH3_64bits_digest(static_cast<XXH3_state_t*>(rows_hash_));
  footer.counts_checksum = Checksum64(counts.data(), counts.size_bytes());
  std::memcpy(footer.magic, kCacheEndMagic, 8);
  RETURN_IF_ERROR(Write(&footer, sizeof(footer)));
  if (file_->bytes_written() != header_.file_bytes) {
    return FailedPrecondition("data cache '", path_, "': wrote ", file_->bytes_written(),
                              " bytes, header declares ", header_.file_bytes);
  }
  return Annotate(file_->Commit(), "committing data cache '" + path_ + "'");
}

}  // namespace ecps
