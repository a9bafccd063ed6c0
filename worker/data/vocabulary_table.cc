#include "worker/data/vocabulary_table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/blob.h"
#include "common/file_util.h"

namespace ecps {

int64_t VocabularyTable::Lookup(size_t f, uint64_t key, bool missing, bool* oov) const {
  const Field& field = fields[f];
  *oov = false;
  if (missing) {
    if (field.missing_id >= 0) return field.missing_id;
  } else {
    const auto it = std::lower_bound(field.keys.begin(), field.keys.end(), key);
    if (it != field.keys.end() && *it == key)
      return static_cast<int64_t>(field.cardinality - field.keys.size() +
                                  static_cast<uint64_t>(it - field.keys.begin()));
  }
  if (!field.oov) return -1;
  *oov = true;
  return 0;
}

std::string VocabularyTable::Encode() const {
  BlobWriter w(kVocabularyMagic, kVocabularyVersion);
  w.Str(format);
  w.Pod<uint8_t>(weight_values ? 1 : 0);
  w.Str(identity_digest);
  w.Pod<uint64_t>(fields.size());
  for (const Field& f : fields) {
    w.Pod<uint8_t>(f.oov ? 1 : 0);
    w.Pod<int64_t>(f.missing_id);
    w.Pod<uint64_t>(f.cardinality);
    w.Vec(f.keys);
  }
  return w.Finish();
}

StatusOr<VocabularyTable> VocabularyTable::Decode(std::string_view blob, const std::string& what) {
  BlobReader r;
  RETURN_IF_ERROR(r.Open(blob, kVocabularyMagic, kVocabularyVersion, what));
  VocabularyTable t;
  uint8_t weight = 0;
  uint64_t nf = 0;
  if (!r.Str(&t.format) || !r.Pod(&weight) || !r.Str(&t.identity_digest) || !r.Pod(&nf) ||
      nf > 100000)
    return r.Truncated();
  t.weight_values = weight != 0;
  t.fields.resize(nf);
  for (uint64_t f = 0; f < nf; ++f) {
    Field& field = t.fields[f];
    uint8_t oov = 0;
    if (!r.Pod(&oov) || !r.Pod(&field.missing_id) || !r.Pod(&field.cardinality) ||
        !r.Vec(&field.keys))
      return r.Truncated();
    field.oov = oov != 0;
    // The ids before the keys: the OOV bucket, then the missing token's own
    // id (Finalize's order); anything else is not a table Preprocess wrote.
    const uint64_t base = field.cardinality - std::min(field.cardinality, field.keys.size());
    const bool consistent =
        field.keys.size() <= field.cardinality &&
        (field.oov ? (field.missing_id == 0 && base == 1) || (field.missing_id == 1 && base == 2)
                   : (field.missing_id == -1 && base == 0) || (field.missing_id == 0 && base == 1));
    if (!consistent)
      return DataLoss(what, ": field ", f, " is inconsistent (", field.keys.size(),
                      " keys for cardinality ", field.cardinality, ", missing id ",
                      field.missing_id, field.oov ? ", an OOV bucket)" : ", no OOV bucket)");
    for (size_t i = 1; i < field.keys.size(); ++i)
      if (field.keys[i - 1] >= field.keys[i])
        return DataLoss(what, ": field ", f, ": keys are not ascending at ", i);
  }
  if (!r.AtEnd()) return r.Truncated();
  return t;
}

Status VocabularyTable::CheckSchema(const DatasetSchema& schema, const std::string& what) const {
  if (format != schema.format || fields.size() != static_cast<size_t>(schema.num_fields))
    return FailedPrecondition(what, " is the vocabulary of ", format, " data with ", fields.size(),
                              " fields, not of the model's ", schema.format, " data with ",
                              schema.num_fields);
  for (size_t f = 0; f < fields.size(); ++f)
    if (fields[f].cardinality != schema.cardinalities[f])
      return FailedPrecondition(what, ": field ", f, " has ", fields[f].cardinality,
                                " ids; the model's has ", schema.cardinalities[f],
                                " (the vocabulary of other data)");
  return OkStatus();
}

uint64_t VocabularyTable::bytes() const {
  uint64_t n = 0;
  for (const Field& f : fields) n += 8 * f.keys.size();
  return n;
}

std::string VocabularyPath(const std::string& cache_path) { return cache_path + ".vocab"; }

Status WriteVocabularyFile(const std::string& path, const VocabularyTable& table) {
  return Annotate(AtomicWriteFile(path, table.Encode()), "writing vocabulary '" + path + "'");
}

StatusOr<VocabularyTable> ReadVocabularyFile(const std::string& path) {
  if (!FileExists(path)) return NotFound("vocabulary '", path, "' does not exist");
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return VocabularyTable::Decode(bytes, "vocabulary '" + path + "'");
}

StatusOr<std::unique_ptr<RawRowMapper>> RawRowMapper::Create(const VocabularyTable& table,
                                                             const DatasetSchema& schema) {
  RETURN_IF_ERROR(table.CheckSchema(schema, "the vocabulary"));
  std::unique_ptr<RawRowMapper> m(new RawRowMapper());
  m->table_ = &table;
  m->schema_ = &schema;
  ASSIGN_OR_RETURN(m->parser_, NewRowParser(table.format));
  if (m->parser_->num_dense() != schema.num_dense)
    return InvalidArgument(table.format, " lines have ", m->parser_->num_dense(),
                           " dense values; the model has ", schema.num_dense);
  return m;
}

StatusOr<bool> RawRowMapper::Map(std::string_view line, float* label, float* dense, uint32_t* ids,
                                 float* values) {
  if (first_) {
    first_ = false;
    if (parser_->ConsumeHeader(line)) return false;
  }
  ParseError error;
  if (!parser_->Parse(line, &row_, &error))
    return InvalidArgument(MalformedKindName(error.kind), ": ", error.what);
  // libSVM numbers fields by position: a line may name fewer (the rest are
  // missing) but not more than the model was trained with.
  const int parsed = parser_->num_fields();
  const int nf = schema_->num_fields;
  if (parsed > nf) return InvalidArgument("the line has ", parsed, " fields; the model has ", nf);
  *label = row_.label;
  std::copy(row_.dense.begin(), row_.dense.end(), dense);
  for (int f = 0; f < nf; ++f) {
    const bool missing = f >= parsed || row_.missing[f] != 0;
    bool oov = false;
    const int64_t id =
        table_->Lookup(static_cast<size_t>(f), missing ? 0 : row_.keys[f], missing, &oov);
    if (id < 0)
      return InvalidArgument("field ", f, " (",
                             static_cast<size_t>(f) < schema_->field_names.size()
                                 ? schema_->field_names[f]
                                 : std::string("?"),
                             "): ", missing ? "an empty value" : "a value",
                             " the training data did not have, and the field has no OOV id "
                             "(a cache built with data.vocabulary=all and min_count 0)");
    oov_values_ += oov ? 1 : 0;
    ids[f] = static_cast<uint32_t>(id);
    values[f] = table_->weight_values && f < parsed ? row_.values[f] : 1.0f;
  }
  return true;
}

}  // namespace ecps
