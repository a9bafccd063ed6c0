// The vocabulary of a data cache kept for serving: per field, which raw value
// became which field-local id when Preprocess() built the cache (vocabulary.h
// assigns them), so that raw data lines can be scored by a model trained on
// that cache (`ecps serve` raw-line bodies, `ecps predict --input` of a text
// file). Preprocess writes it beside the cache (VocabularyPath: "<cache>.vocab");
// `ecps checkpoint convert` and `ecps compress` copy it into the servable
// bundle (docs/formats.md "Vocabulary").
//
// Per field only the keys that own an id are stored, ascending (8 B per
// feature): their ids are consecutive and end at the cardinality, after the
// OOV bucket (id 0, when the field has one) and the missing token's own id
// (when it has one). A value the table does not hold is the field's OOV id;
// a field without an OOV bucket (data.vocabulary=all with min_count 0) has
// no id for it, and such a line is refused naming the field.
//
// Thread-safety: a VocabularyTable is immutable after it is built or read;
// a RawRowMapper is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "worker/data/batch.h"
#include "worker/data/row_parser.h"

namespace ecps {

// The first 8 bytes of a vocabulary blob (common/blob.h framing).
inline constexpr char kVocabularyMagic[9] = "ECPSVOCB";
inline constexpr uint32_t kVocabularyVersion = 1;

struct VocabularyTable {
  struct Field {
    bool oov = false;         // id 0 is the field's OOV bucket
    int64_t missing_id = -1;  // the empty cell's id (0: the OOV bucket); -1: none
    uint64_t cardinality = 0;
    std::vector<uint64_t> keys;  // ascending; keys[i] has id cardinality - keys.size() + i
  };
  std::string format;  // the parser's format (row_parser.h)
  // libSVM/libFM/libFFM: a line's feature values scale its fields' vectors,
  // as Preprocess kept them (data.feature_values=weight); false: read as 1.
  bool weight_values = false;
  // CacheIdentityDigest of the cache's identity, "%016x": the cache (and
  // so the checkpoint DATA section) this vocabulary belongs to.
  std::string identity_digest;
  std::vector<Field> fields;

  // The id of `key` in field `f` (`missing`: the empty cell), or -1 when the
  // table has none for it (no OOV bucket). `*oov` is set when the value was
  // unknown and went to the OOV bucket. REQUIRES: f < fields.size().
  int64_t Lookup(size_t f, uint64_t key, bool missing, bool* oov) const;

  // The blob (common/blob.h, magic kVocabularyMagic) and back. Decode errors
  // are DataLoss starting with `what`: a damaged blob, or a table whose ids
  // are inconsistent (keys not ascending, a cardinality they do not end at).
  std::string Encode() const;
  static StatusOr<VocabularyTable> Decode(std::string_view blob, const std::string& what);

  // FailedPrecondition naming `what` unless this is the vocabulary of data
  // in `schema`'s feature space: its format, field count and every field's
  // cardinality.
  Status CheckSchema(const DatasetSchema& schema, const std::string& what) const;
  uint64_t bytes() const;  // the keys' bytes (8 per stored key)
};

// "<cache>.vocab".
std::string VocabularyPath(const std::string& cache_path);
// Written atomically.
Status WriteVocabularyFile(const std::string& path, const VocabularyTable& table);
// NotFound when there is no file; DataLoss naming it when it is damaged or not
// a vocabulary.
StatusOr<VocabularyTable> ReadVocabularyFile(const std::string& path);

// Raw data lines of the table's format to model rows, through the parser
// Preprocess used (NewRowParser) and the table. One mapper per stream of
// lines (a file, a request body): the stream's first line may be a header
// (Avazu's "id,click,...", consumed as Preprocess consumes it).
class RawRowMapper {
 public:
  // InvalidArgument when `schema` (the model's) is not the table's space.
  // REQUIRES: `table` and `schema` outlive the mapper.
  static StatusOr<std::unique_ptr<RawRowMapper>> Create(const VocabularyTable& table,
                                                        const DatasetSchema& schema);
  // Parses `line` into one row: `label`, `dense` (num_dense floats, log(1 + x)
  // as the cache holds them), `ids` and `values` (num_fields each; values 1
  // unless the table weights them). Returns false (and writes nothing) for
  // the stream's header line. Errors: InvalidArgument with the parser's
  // reason, or naming the field whose value has no id.
  StatusOr<bool> Map(std::string_view line, float* label, float* dense, uint32_t* ids,
                     float* values);
  // Values of mapped lines that were not in the vocabulary (their field's OOV id).
  uint64_t oov_values() const { return oov_values_; }

 private:
  RawRowMapper() = default;
  const VocabularyTable* table_ = nullptr;
  const DatasetSchema* schema_ = nullptr;
  std::unique_ptr<RowParser> parser_;
  ParsedRow row_;
  bool first_ = true;
  uint64_t oov_values_ = 0;
};

}  // namespace ecps
