#include "worker/data/dataset.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "common/check.h"
#include "common/file_util.h"
#include "worker/data/cache_format.h"

namespace ecps {
namespace {

class MappedDataset : public Dataset {
 public:
  MappedDataset(MappedFile file, const CacheHeader& header, DatasetSchema schema)
      : file_(std::move(file)), header_(header), schema_(std::move(schema)) {
    rows_ = file_.data() + header_.rows_offset;
    counts_ = reinterpret_cast<const uint32_t*>(file_.data() + header_.counts_offset);
  }

  const DatasetSchema& schema() const override { return schema_; }
  uint64_t NumRows(Split split) const override {
    return header_.split_rows[static_cast<int>(split)];
  }

  void Gather(Split split, std::span<const uint64_t> rows, Batch* out) const override {
    const int s = static_cast<int>(split);
    const int nd = schema_.num_dense, nf = schema_.num_fields;
    const bool values = schema_.has_values;
    out->Resize(static_cast<int>(rows.size()), nd, nf, values);
    const uint64_t begin = header_.split_begin[s];
    const uint64_t limit = header_.split_rows[s];
    const size_t row_bytes = header_.row_bytes;
    for (size_t i = 0; i < rows.size(); ++i) {
      ECPS_CHECK_LT(rows[i], limit) << "row index out of range for split " << SplitName(split);
      const uint8_t* r = rows_ + (begin + rows[i]) * row_bytes;
      std::memcpy(&out->labels[i], r, 4);
      std::memcpy(out->dense.data() + i * nd, r + 4, 4 * nd);
      std::memcpy(out->sparse.data() + i * nf, r + 4 + 4 * nd, 4 * nf);
      if (values) std::memcpy(out->values.data() + i * nf, r + 4 + 4 * (nd + nf), 4 * nf);
    }
  }

  std::span<const uint32_t> train_counts() const override {
    return {counts_, schema_.total_features()};
  }

 private:
  MappedFile file_;
  CacheHeader header_;
  DatasetSchema schema_;
  const uint8_t* rows_ = nullptr;
  const uint32_t* counts_ = nullptr;
};

// Every id below its field's cardinality and every value finite, whatever
// the checksum says: a crafted cache with a valid checksum must not index
// past an embedding table (issue 14) or feed NaN to training. One pass over
// the rows, like the checksum's.
Status CheckRows(const std::string& path, const CacheHeader& h, const DatasetSchema& schema,
                 const uint8_t* rows) {
  const int nd = schema.num_dense, nf = schema.num_fields;
  std::vector<uint32_t> ids(nf);
  std::vector<float> values(schema.has_values ? nf : 0);
  for (uint64_t r = 0; r < h.num_rows; ++r) {
    const uint8_t* row = rows + r * h.row_bytes;
    std::memcpy(ids.data(), row + 4 * (1 + nd), 4 * static_cast<size_t>(nf));
    bool ok = true;
    for (int f = 0; f < nf; ++f) ok &= ids[f] < schema.cardinalities[f];
    if (!values.empty()) {
      std::memcpy(values.data(), row + 4 * (1 + nd + nf), 4 * static_cast<size_t>(nf));
      for (int f = 0; f < nf; ++f) ok &= std::isfinite(values[f]);
    }
    if (ok) continue;
    for (int f = 0; f < nf; ++f) {
      if (ids[f] >= schema.cardinalities[f]) {
        return DataLoss("data cache '", path, "' is corrupt: row ", r, " has id ", ids[f],
                        " in field ", f, " (", schema.field_names[f],
                        "), beyond the field's cardinality ", schema.cardinalities[f],
                        " (re-run `ecps preprocess`)");
      }
      if (!values.empty() && !std::isfinite(values[f])) {
        return DataLoss("data cache '", path, "' is corrupt: row ", r, " has the non-finite value ",
                        values[f], " in field ", f, " (", schema.field_names[f],
                        ") (re-run `ecps preprocess`)");
      }
    }
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<Dataset>> Dataset::Open(const std::string& cache_path) {
  return Open(cache_path, /*verify_row_checksum=*/true);
}

StatusOr<std::unique_ptr<Dataset>> Dataset::Open(const std::string& path,
                                                 bool verify_row_checksum) {
  ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  const uint8_t* p = file.data();
  const uint64_t size = file.size();
  auto corrupt = [&](const auto&... what) {
    return DataLoss("data cache '", path, "' is corrupt or truncated: ", what...,
                    " (re-run `ecps preprocess`)");
  };
  if (size < sizeof(CacheHeader) + sizeof(CacheFooter)) {
    return corrupt("only ", size, " bytes");
  }
  CacheHeader h;
  std::memcpy(&h, p, sizeof(h));
  if (std::memcmp(h.magic, kCacheMagic, 8) != 0) {
    return DataLoss("'", path, "' is not an ecps data cache (bad magic)");
  }
  if (h.version != kCacheVersion) {
    return FailedPrecondition("data cache '", path, "' has version ", h.version,
                              "; this build reads version ", kCacheVersion,
                              " (re-run `ecps preprocess`)");
  }
  if (h.file_bytes != size) {
    return corrupt("header says ", h.file_bytes, " bytes, file has ", size);
  }
  CacheFooter footer;
  std::memcpy(&footer, p + size - sizeof(footer), sizeof(footer));
  if (std::memcmp(footer.magic, kCacheEndMagic, 8) != 0) return corrupt("bad end magic");
  // Validate the layout before trusting any offset; the meta checksum covers
  // the header, so a mismatch also catches flipped header bits.
  if (h.header_bytes != sizeof(CacheHeader) || h.schema_offset != sizeof(CacheHeader) ||
      h.rows_offset < h.schema_offset + h.schema_bytes || h.rows_offset > size ||
      h.rows_offset % kCacheAlign != 0 || h.counts_offset % kCacheAlign != 0 ||
      (h.row_bytes !=
           CacheRowBytes(static_cast<int>(h.num_dense), static_cast<int>(h.num_fields), false) &&
       h.row_bytes !=
           CacheRowBytes(static_cast<int>(h.num_dense), static_cast<int>(h.num_fields), true)) ||
      h.num_rows > (size - h.rows_offset) / h.row_bytes ||
      h.counts_offset < h.rows_offset + h.num_rows * h.row_bytes ||
      h.counts_offset > size - sizeof(CacheFooter)) {
    return corrupt("inconsistent header");
  }
  if (Checksum64(p, h.rows_offset) != footer.meta_checksum) {
    return corrupt("header/schema checksum mismatch");
  }
  for (int s = 0; s < 3; ++s) {
    if (h.split_begin[s] > h.num_rows || h.split_rows[s] > h.num_rows - h.split_begin[s]) {
      return corrupt("split ranges out of bounds");
    }
  }
  DatasetSchema schema;
  uint64_t min_count = 0;
  RETURN_IF_ERROR(
      DecodeSchemaSection(p + h.schema_offset, h.schema_bytes, path, &schema, &min_count));
  if (schema.num_dense != static_cast<int>(h.num_dense) ||
      schema.num_fields != static_cast<int>(h.num_fields)) {
    return corrupt("schema disagrees with header");
  }
  if (h.row_bytes != CacheRowBytes(schema.num_dense, schema.num_fields, schema.has_values)) {
    return corrupt("row size ", h.row_bytes, " disagrees with the schema's fields",
                   schema.has_values ? " and values" : "");
  }
  const uint64_t counts_bytes = 4 * schema.total_features();
  if (h.counts_offset + counts_bytes + sizeof(CacheFooter) != size) {
    return corrupt("counts section size mismatch");
  }
  if (Checksum64(p + h.counts_offset, counts_bytes) != footer.counts_checksum) {
    return corrupt("train counts checksum mismatch");
  }
  if (verify_row_checksum &&
      Checksum64(p + h.rows_offset, h.num_rows * h.row_bytes) != footer.rows_checksum) {
    return corrupt("rows checksum mismatch");
  }
  RETURN_IF_ERROR(CheckRows(path, h, schema, p + h.rows_offset));
  return std::unique_ptr<Dataset>(new MappedDataset(std::move(file), h, std::move(schema)));
}

}  // namespace ecps
