#include "worker/data/preprocess.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "worker/data/avazu_parser.h"
#include "worker/data/cache_format.h"
#include "worker/data/cache_identity.h"
#include "worker/data/row_parser.h"
#include "worker/data/text_reader.h"
#include "worker/data/vocabulary.h"
#include "worker/data/vocabulary_table.h"

namespace ecps {
namespace {

// The provisional-row spill file between the text pass and the final write.
// Record: f32 label, f32 dense[nd], u32 nf_row, u32 provisional_id[nf_row]
// [, f32 value[nf_row] when the format's values are kept].
// nf_row varies only for libSVM, whose field count grows while reading; fields
// at or above nf_row are missing on that row. Removed on destruction.
class SpillFile {
 public:
  static StatusOr<std::unique_ptr<SpillFile>> Create(const std::string& output) {
    std::unique_ptr<SpillFile> s(new SpillFile());
    s->path_ = absl::StrCat(output, ".rows.tmp.", ::getpid());
    s->fd_ = ::open(s->path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (s->fd_ < 0) {
      return IoError("preprocess: cannot create temporary file '", s->path_,
                     "': ", std::strerror(errno));
    }
    s->buf_.reserve(kBufBytes);
    return s;
  }
  ~SpillFile() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  void Put(const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    buf_.insert(buf_.end(), c, c + n);
  }
  bool NeedsFlush() const { return buf_.size() >= kBufBytes - (1 << 16); }
  Status Flush() {
    size_t off = 0;
    while (off < buf_.size()) {
      ssize_t w = ::write(fd_, buf_.data() + off, buf_.size() - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return IoError("write failed for '", path_, "': ", std::strerror(errno));
      off += static_cast<size_t>(w);
    }
    written_ += buf_.size();
    buf_.clear();
    return OkStatus();
  }
  // Reads up to n bytes at `offset`; returns the count.
  StatusOr<size_t> Read(uint64_t offset, void* dst, size_t n) {
    size_t got = 0;
    while (got < n) {
      ssize_t r =
          ::pread(fd_, static_cast<char*>(dst) + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return IoError("read failed for '", path_, "': ", std::strerror(errno));
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  }
  uint64_t size() const { return written_; }

 private:
  static constexpr size_t kBufBytes = 8 << 20;
  SpillFile() = default;
  std::string path_;
  int fd_ = -1;
  std::vector<char> buf_;
  uint64_t written_ = 0;
};

// Calls fn(row_index, record, nf_row) for the first `rows` provisional rows of
// the spill file (label, nd dense floats, nf_row, nf_row provisional ids, and
// nf_row values if `values`), reading it sequentially in large blocks.
Status ForEachSpillRow(SpillFile* spill, uint64_t rows, int nd, bool values,
                       const std::function<Status(uint64_t, const uint8_t*, uint32_t)>& fn) {
  std::vector<uint8_t> in(16 << 20);
  size_t in_have = 0;
  uint64_t in_offset = 0, row_index = 0;
  const size_t fixed = 4 * (2 + static_cast<size_t>(nd));
  while (row_index < rows) {
    ASSIGN_OR_RETURN(size_t got, spill->Read(in_offset, in.data() + in_have, in.size() - in_have));
    in_offset += got;
    in_have += got;
    size_t pos = 0;
    while (row_index < rows && in_have - pos >= fixed) {
      const uint8_t* rec = in.data() + pos;
      uint32_t nf_row;
      std::memcpy(&nf_row, rec + 4 * (1 + nd), 4);
      const size_t rec_bytes = fixed + 4 * static_cast<size_t>(nf_row) * (values ? 2 : 1);
      if (in_have - pos < rec_bytes) break;
      RETURN_IF_ERROR(fn(row_index, rec, nf_row));
      pos += rec_bytes;
      ++row_index;
    }
    if (got == 0 && row_index < rows) {
      return DataLoss("preprocess: temporary row file ended early (", row_index, " of ", rows,
                      " rows)");
    }
    std::memmove(in.data(), in.data() + pos, in_have - pos);
    in_have -= pos;
  }
  return OkStatus();
}

Status ValidateOptions(const PreprocessOptions& o) {
  if (o.output.empty()) return InvalidArgument("preprocess: no output path");
  if (o.split != "days" && o.split != "ratio" && o.split != "files") {
    return InvalidArgument("preprocess: split must be 'days', 'ratio' or 'files', got '", o.split,
                           "'");
  }
  const bool lists = !o.train_inputs.empty() || !o.val_inputs.empty() || !o.test_inputs.empty();
  if (o.split == "files") {
    if (o.train_inputs.empty()) {
      return InvalidArgument("preprocess: split 'files' needs train files (data.train, --train)");
    }
    if (!o.inputs.empty()) {
      return InvalidArgument("preprocess: split 'files' takes its files from the train, ",
                             "validation and test lists, not from the inputs (data.raw, --input)");
    }
  } else {
    if (lists) {
      return InvalidArgument("preprocess: train/validation/test file lists need split 'files', ",
                             "not '", o.split, "'");
    }
    if (o.inputs.empty()) return InvalidArgument("preprocess: no input files");
  }
  if (o.split == "days" && o.format != "criteo" && o.format != "avazu") {
    return InvalidArgument("preprocess: split 'days' needs data with days (criteo's 7-day ",
                           "layout, avazu's hour column); format ", o.format,
                           " has none: use split 'ratio' (data.split=ratio) or separate ",
                           "train/validation/test files (data.train, data.validation, data.test)");
  }
  if (!(o.val_ratio >= 0 && o.val_ratio < 1) || !(o.test_ratio >= 0 && o.test_ratio < 1) ||
      !(o.val_ratio + o.test_ratio < 1)) {
    return InvalidArgument("preprocess: need 0 <= val_ratio, test_ratio and val_ratio + ",
                           "test_ratio < 1 (got ", o.val_ratio, ", ", o.test_ratio, ")");
  }
  if (o.report_first < 0) return InvalidArgument("preprocess: report_first must be >= 0");
  return OkStatus();
}

// Rows of a share of n, rounded to the nearest count: a ratio computed as
// k / n gives back k (truncation turned 5772 / 57722 * 57722 into 5771 and
// moved a row into train).
uint64_t ShareOf(uint64_t n, double ratio) {
  const double x = std::nearbyint(static_cast<double>(n) * ratio);
  return std::min(n, static_cast<uint64_t>(std::max(0.0, x)));
}

// Computes split ranges (indexed by Split) over `n` rows in file order.
// `file_split_rows`: rows per split for split "files".
void ComputeSplits(const PreprocessOptions& o, uint64_t n, uint64_t last_day_rows,
                   const uint64_t file_split_rows[3], CacheWriter::Layout* layout) {
  const int kTrain = 0, kVal = 1, kTest = 2;
  uint64_t train = 0, val = 0, test = 0;
  if (o.split == "files") {
    layout->split_kind = SplitKind::kFiles;
    train = file_split_rows[kTrain];
    val = file_split_rows[kVal];
    test = file_split_rows[kTest];
    layout->split_begin[kTrain] = 0;
    layout->split_begin[kVal] = train;
    layout->split_begin[kTest] = train + val;
  } else if (o.split == "ratio") {
    layout->split_kind = SplitKind::kRatio;
    test = ShareOf(n, o.test_ratio);
    val = std::min(ShareOf(n, o.val_ratio), n - test);
    train = n - val - test;
    layout->split_begin[kTrain] = 0;
    layout->split_begin[kVal] = train;
    layout->split_begin[kTest] = train + val;
  } else {
    // docs/methods.md §1.1: 7 equal days, the first n % 7 days one row longer (so
    // day 7 has n / 7 rows); day 7 is cut in half, test first (it gets the odd
    // row, as numpy.array_split does), validation second.
    layout->split_kind = SplitKind::kDays;
    uint64_t last = last_day_rows > 0 ? std::min(last_day_rows, n) : n / 7;
    train = n - last;
    test = (last + 1) / 2;
    val = last - test;
    layout->split_begin[kTrain] = 0;
    layout->split_begin[kTest] = train;
    layout->split_begin[kVal] = train + test;
  }
  layout->split_rows[kTrain] = train;
  layout->split_rows[kVal] = val;
  layout->split_rows[kTest] = test;
}

// An empty train split is an error naming the split and why (it used to
// surface as "batch size exceeds the 0 training rows"); an empty validation
// or test split that was asked for, and a days split where the rows cannot be
// days, are warnings.
Status CheckSplits(const PreprocessOptions& o, uint64_t n, const CacheWriter::Layout& layout,
                   const std::set<std::string>& avazu_days, const std::string& last_day,
                   PreprocessReport* report) {
  const uint64_t* rows = layout.split_rows;
  if (o.split == "days" && o.format == "avazu" && o.last_day_rows == 0 && avazu_days.size() < 2) {
    return InvalidArgument("preprocess: the train split is empty: split 'days' trains on every ",
                           "day before the last one, but the ", n,
                           " rows have one day in column hour (", last_day,
                           "); use split 'ratio' (data.split=ratio) or separate files ",
                           "(data.train, data.validation, data.test)");
  }
  if (rows[0] == 0) {
    std::string why = o.split == "files"
                          ? "its files (data.train) have no valid rows"
                          : absl::StrCat("split '", o.split, "' leaves no train rows of ", n);
    return InvalidArgument("preprocess: the train split is empty: ", why);
  }
  const bool val_wanted = o.split == "ratio" ? o.val_ratio > 0 : o.split == "days";
  const bool test_wanted = o.split == "ratio" ? o.test_ratio > 0 : o.split == "days";
  if (val_wanted && rows[1] == 0) {
    report->warnings.push_back(absl::StrCat("the validation split is empty (split '", o.split,
                                            "' over ", n,
                                            " rows): no evaluation, no best "
                                            "checkpoint by validation"));
  }
  if (test_wanted && rows[2] == 0) {
    report->warnings.push_back(
        absl::StrCat("the test split is empty (split '", o.split, "' over ", n, " rows)"));
  }
  if (o.split == "days" && o.format == "criteo" && !o.days_by_construction &&
      n != kCriteoKaggleRows) {
    report->warnings.push_back(absl::StrCat(
        "split 'days' cuts these ", n, " rows into 7 equal parts by row order, the layout of ",
        "the Criteo Kaggle file (", kCriteoKaggleRows, " rows, one day per part); for a sample ",
        "or another file the parts are row ranges, not days: consider data.split=ratio or ",
        "separate train/validation/test files"));
  }
  return OkStatus();
}

// Every row stores every field, so one line with a high field number (libFFM
// field 4095, or a libSVM line with thousands of tokens) multiplies the cache:
// a 1.5 MB file became a 328 MB cache without a word (issue 14). Warns when
// the cache is over 10 times the text and over 1 MiB, naming the fields that
// cost it.
void MaybeWarnCacheSize(const PreprocessOptions& o, uint64_t rows, uint64_t text_bytes,
                        const DatasetSchema& schema, const std::vector<uint64_t>& present,
                        PreprocessReport* report) {
  const uint64_t cache_bytes =
      rows * CacheRowBytes(schema.num_dense, schema.num_fields, schema.has_values) +
      4 * schema.total_features();
  if (cache_bytes <= (1u << 20) || cache_bytes <= 10 * text_bytes) return;
  // Fields on fewer than 1% of the rows are what a dense numbering would save.
  int rare = 0, last = -1;
  for (int f = 0; f < schema.num_fields; ++f) {
    if (present[f] * 100 < rows) ++rare;
    if (present[f] > 0) last = f;
  }
  std::string why = absl::StrCat("every row stores all ", schema.num_fields, " fields");
  if (rare > 0) {
    absl::StrAppend(&why, ", and ", rare, " of them occur on fewer than 1% of the rows");
  }
  if (last >= 0) {
    absl::StrAppend(&why, "; the highest field, ", last, ", occurs on ", present[last], " of ",
                    rows, " rows");
  }
  char sizes[128];
  std::snprintf(sizes, sizeof(sizes), "%.1f MB for %.3f MB of text (%.0fx)", cache_bytes / 1e6,
                text_bytes / 1e6,
                static_cast<double>(cache_bytes) / std::max<uint64_t>(text_bytes, 1));
  report->warnings.push_back(absl::StrCat(
      "the cache will be ", sizes, ": ", why, "; format ", o.format, " numbers fields ",
      o.format == "libffm" ? "by the field of field:feature:value, so number them densely "
                             "(0, 1, 2, ...)"
                           : "by position on the line"));
}

uint64_t* MalformedSlot(MalformedCounts* c, MalformedKind kind) {
  switch (kind) {
    case MalformedKind::kWrongColumnCount:
      return &c->wrong_column_count;
    case MalformedKind::kBadLabel:
      return &c->bad_label;
    case MalformedKind::kBadInteger:
      return &c->bad_integer;
    case MalformedKind::kBadHex:
      return &c->bad_hex;
    case MalformedKind::kBadLibsvmToken:
      return &c->bad_libsvm_token;
  }
  return &c->wrong_column_count;
}

}  // namespace

StatusOr<PreprocessReport> Preprocess(const PreprocessOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(CacheIdentity identity, ComputeCacheIdentity(options));
  ASSIGN_OR_RETURN(std::unique_ptr<RowParser> parser, NewRowParser(options.format));
  auto* avazu = dynamic_cast<AvazuParser*>(parser.get());
  const int nd = parser->num_dense();
  // The formats with feature:value tokens; their values go through the spill
  // file, and into the cache if any is not 1.
  const bool valued_format =
      options.format == "libsvm" || options.format == "libfm" || options.format == "libffm";
  const bool carry_values = valued_format && options.weight_values;
  bool any_value = false;       // a value other than 1 was kept
  uint64_t ignored_values = 0;  // rows with values other than 1, read as 1 (weight_values = false)
  ASSIGN_OR_RETURN(std::unique_ptr<SpillFile> spill, SpillFile::Create(options.output));

  PreprocessReport report;
  std::vector<FieldVocabulary> vocab(parser->num_fields());
  ParsedRow row;
  row.Resize(nd, parser->num_fields());
  ParseError error;
  std::vector<uint32_t> prov(parser->num_fields());
  std::vector<uint64_t> present(parser->num_fields(), 0);  // rows where field f is not missing
  uint64_t rows = 0;
  std::string current_day;  // Avazu: YYMMDD of the current run of rows
  uint64_t day_rows = 0;    // rows since the day last changed
  bool done = false;
  // The first malformed lines of any kind, whatever report_first says: when no
  // line converts they are the only clue to why (a wrong data.format, say).
  constexpr size_t kFirstReasons = 5;
  std::vector<std::string> first_reasons;

  // The files in reading order with the split their rows go to (-1: decided
  // by the split rule afterwards).
  std::vector<std::pair<std::string, int>> files;
  for (const std::string& f : options.inputs) files.emplace_back(f, -1);
  for (const std::string& f : options.train_inputs) files.emplace_back(f, 0);
  for (const std::string& f : options.val_inputs) files.emplace_back(f, 1);
  for (const std::string& f : options.test_inputs) files.emplace_back(f, 2);
  uint64_t file_split_rows[3] = {0, 0, 0};
  std::set<std::string> days_seen;  // Avazu: distinct YYMMDD

  // Pass 1: text -> provisional rows + vocabularies.
  for (const auto& [path, file_split] : files) {
    if (done) break;
    ASSIGN_OR_RETURN(std::unique_ptr<TextReader> reader, TextReader::Open(path));
    std::string_view line;
    bool first = true;
    while (reader->NextLine(&line)) {
      ++report.lines;
      if (first) {
        first = false;
        if (parser->ConsumeHeader(line)) continue;
      }
      if (!parser->Parse(line, &row, &error)) {
        uint64_t* slot = MalformedSlot(&report.malformed, error.kind);
        ++*slot;
        std::string where = absl::StrCat(path, ":", reader->line_number(), ": ",
                                         MalformedKindName(error.kind), ": ", error.what);
        if (error.unsupported) {
          return InvalidArgument("unsupported input line (format ", options.format, "): ", where);
        }
        if (options.on_malformed == MalformedPolicy::kFail) {
          return InvalidArgument("malformed input line (--on-malformed=fail): ", where);
        }
        if (first_reasons.size() < kFirstReasons) first_reasons.push_back(where);
        if (*slot <= static_cast<uint64_t>(options.report_first)) {
          report.examples.push_back(std::move(where));
        }
        continue;
      }
      const int nf = parser->num_fields();
      if (nf > static_cast<int>(vocab.size())) {
        // libSVM: a new field number; every earlier row lacked it.
        int old = static_cast<int>(vocab.size());
        vocab.resize(nf);
        prov.resize(nf);
        present.resize(nf, 0);
        if (rows > 0) {
          for (int f = old; f < nf; ++f) vocab[f].AddMissing(rows);
        }
      }
      for (int f = 0; f < nf; ++f) {
        prov[f] = row.missing[f] ? vocab[f].AddMissing() : vocab[f].Add(row.keys[f]);
        present[f] += row.missing[f] ? 0 : 1;
      }
      uint32_t nf_row = static_cast<uint32_t>(nf);
      spill->Put(&row.label, 4);
      spill->Put(row.dense.data(), 4 * static_cast<size_t>(nd));
      spill->Put(&nf_row, 4);
      spill->Put(prov.data(), 4 * static_cast<size_t>(nf));
      if (valued_format) {
        bool other = false;
        for (int f = 0; f < nf; ++f) other |= row.values[f] != 1.0f;
        if (carry_values) {
          spill->Put(row.values.data(), 4 * static_cast<size_t>(nf));
          any_value |= other;
        } else if (other) {
          ++ignored_values;
        }
      }
      if (spill->NeedsFlush()) RETURN_IF_ERROR(spill->Flush());
      if (avazu != nullptr) {
        std::string_view day = avazu->last_hour().substr(0, 6);
        if (day != current_day) {
          current_day.assign(day);
          days_seen.emplace(day);
          day_rows = 0;
        }
        ++day_rows;
      }
      if (file_split >= 0) ++file_split_rows[file_split];
      ++rows;
      if ((rows & ((1u << 23) - 1)) == 0) {
        ECPS_LOG_INFO("preprocess: {} rows, {:.0f} MB of text", rows,
                      (report.input_bytes + reader->text_bytes()) / 1e6);
      }
      if (options.max_rows > 0 && rows >= options.max_rows) {
        done = true;
        break;
      }
    }
    RETURN_IF_ERROR(reader->status());
    report.input_bytes += reader->text_bytes();
  }
  RETURN_IF_ERROR(spill->Flush());
  if (rows == 0) {
    std::string why;
    for (const std::string& r : first_reasons) absl::StrAppend(&why, "\n  ", r);
    return InvalidArgument("preprocess: no valid rows in the input (", report.lines, " lines, ",
                           report.malformed.total(), " malformed)",
                           first_reasons.empty() ? "" : "; first: ",
                           first_reasons.empty() ? "" : first_reasons.front(),
                           first_reasons.size() > 1 ? "; the first malformed lines:" : "",
                           first_reasons.size() > 1 ? why : "");
  }
  for (size_t f = 0; f < vocab.size(); ++f) {
    if (vocab[f].overflowed()) {
      return InvalidArgument("preprocess: field ", f, " has more than ",
                             FieldVocabulary::kMaxValues, " distinct values");
    }
  }

  // The splits first: a train-only vocabulary needs to know which rows are
  // train (always the first range).
  const int nf = static_cast<int>(vocab.size());
  CacheWriter::Layout layout;
  layout.num_rows = rows;
  layout.min_count = options.min_count;
  uint64_t last_day = options.last_day_rows;
  if (avazu != nullptr && last_day == 0) last_day = day_rows;
  ComputeSplits(options, rows, last_day, file_split_rows, &layout);
  RETURN_IF_ERROR(CheckSplits(options, rows, layout, days_seen, current_day, &report));
  const uint64_t train_end = layout.split_rows[0];

  // Occurrences in the train rows by provisional id (a train-only
  // vocabulary): one more sequential read of the provisional rows. A row
  // shorter than nf (libSVM) lacks the later fields: their missing token.
  std::vector<std::vector<uint32_t>> train_counts;
  if (options.vocabulary_from_train) {
    train_counts.resize(nf);
    for (int f = 0; f < nf; ++f) train_counts[f].assign(vocab[f].size(), 0);
    RETURN_IF_ERROR(ForEachSpillRow(spill.get(), train_end, nd, carry_values,
                                    [&](uint64_t, const uint8_t* rec, uint32_t nf_row) {
                                      const uint8_t* src = rec + 4 * (2 + static_cast<size_t>(nd));
                                      for (int f = 0; f < nf; ++f) {
                                        uint32_t p = static_cast<uint32_t>(vocab[f].missing_id());
                                        if (static_cast<uint32_t>(f) < nf_row)
                                          std::memcpy(&p, src + 4 * f, 4);
                                        uint32_t& c = train_counts[f][p];
                                        if (c != 0xFFFFFFFFu) ++c;
                                      }
                                      return OkStatus();
                                    }));
  }

  // Final ids and the schema.
  DatasetSchema schema;
  schema.format = options.format;
  schema.identity = identity.ToText();
  // Only a value other than 1 makes the cache carry values: a file of 1s
  // gives the cache (and training) of a format without values.
  schema.has_values = any_value;
  schema.num_dense = nd;
  schema.num_fields = nf;
  schema.field_names = parser->field_names();
  schema.field_names.resize(nf);
  std::vector<FieldVocabulary::Mapping> maps(nf);
  std::vector<uint32_t> missing_final(nf, 0);
  uint64_t offset = 0;
  for (int f = 0; f < nf; ++f) {
    maps[f] = vocab[f].Finalize(options.min_count,
                                options.vocabulary_from_train ? &train_counts[f] : nullptr);
    schema.cardinalities.push_back(maps[f].cardinality);
    schema.offsets.push_back(offset);
    offset += maps[f].cardinality;
    report.oov_values += maps[f].num_oov_values;
  }
  for (int f = 0; f < nf; ++f) {
    // A libSVM row shorter than nf lacks fields that first appeared after it;
    // those rows were counted with AddMissing when the field appeared, so the
    // missing token exists wherever a short row needs it.
    const int64_t m = vocab[f].missing_id();
    missing_final[f] = m >= 0 ? maps[f].final_id[m] : 0;
  }
  // The vocabulary kept for serving raw lines (vocabulary_table.h), beside
  // the cache and written first: a cache never exists without the one of
  // its build (an older one is refused by its identity digest).
  VocabularyTable served;
  served.format = options.format;
  served.weight_values = carry_values;
  served.identity_digest = absl::StrFormat("%016x", CacheIdentityDigest(schema.identity));
  served.fields.resize(nf);
  for (int f = 0; f < nf; ++f) {
    VocabularyTable::Field& field = served.fields[f];
    field.oov = maps[f].oov_bucket;
    field.cardinality = maps[f].cardinality;
    field.missing_id = vocab[f].missing_id() >= 0 ? missing_final[f] : field.oov ? 0 : -1;
    field.keys = std::move(maps[f].keys);
  }
  RETURN_IF_ERROR(WriteVocabularyFile(VocabularyPath(options.output), served));
  served = VocabularyTable();
  vocab.clear();
  vocab.shrink_to_fit();
  train_counts.clear();
  train_counts.shrink_to_fit();

  MaybeWarnCacheSize(options, rows, report.input_bytes, schema, present, &report);
  ASSIGN_OR_RETURN(std::unique_ptr<CacheWriter> writer,
                   CacheWriter::Open(options.output, schema, layout));

  // Pass 2: provisional rows -> final rows and train counts.
  std::vector<uint32_t> counts(schema.total_features(), 0);
  const uint32_t row_bytes = CacheRowBytes(nd, nf, schema.has_values);
  constexpr uint64_t kOutRows = 1 << 14;
  std::vector<uint8_t> out(kOutRows * row_bytes);
  uint64_t out_rows = 0;
  RETURN_IF_ERROR(ForEachSpillRow(spill.get(), rows, nd, carry_values,
                                  [&](uint64_t row_index, const uint8_t* rec, uint32_t nf_row) {
                                    uint8_t* dst = out.data() + out_rows * row_bytes;
                                    std::memcpy(dst, rec, 4 * (1 + static_cast<size_t>(nd)));
                                    uint32_t* ids = reinterpret_cast<uint32_t*>(dst + 4 * (1 + nd));
                                    const uint8_t* src = rec + 4 * (2 + static_cast<size_t>(nd));
                                    const bool is_train = row_index < train_end;
                                    for (int f = 0; f < nf; ++f) {
                                      uint32_t id = missing_final[f];
                                      if (static_cast<uint32_t>(f) < nf_row) {
                                        uint32_t p;
                                        std::memcpy(&p, src + 4 * f, 4);
                                        id = maps[f].final_id[p];
                                      }
                                      ids[f] = id;
                                      if (is_train) {
                                        uint32_t& c = counts[schema.offsets[f] + id];
                                        if (c != 0xFFFFFFFFu) ++c;
                                      }
                                    }
                                    if (schema.has_values) {
                                      // A field absent from a short row is missing: value 1.
                                      float* values = reinterpret_cast<float*>(ids + nf);
                                      std::fill(values, values + nf, 1.0f);
                                      std::memcpy(values, src + 4 * static_cast<size_t>(nf_row),
                                                  4 * static_cast<size_t>(nf_row));
                                    }
                                    if (++out_rows == kOutRows) {
                                      RETURN_IF_ERROR(writer->AppendRows(out.data(), out_rows));
                                      out_rows = 0;
                                    }
                                    return OkStatus();
                                  }));
  if (out_rows > 0) RETURN_IF_ERROR(writer->AppendRows(out.data(), out_rows));
  RETURN_IF_ERROR(writer->Finish(counts));

  if (ignored_values > 0) {
    report.warnings.push_back(absl::StrCat(
        ignored_values, " rows have feature values other than 1, read as 1 ",
        "(data.feature_values=ignore): each field is its feature's embedding vector unscaled"));
  }
  report.has_values = schema.has_values;
  report.rows_written = rows;
  report.train_rows = layout.split_rows[0];
  report.val_rows = layout.split_rows[1];
  report.test_rows = layout.split_rows[2];
  report.features = schema.total_features();
  report.cardinalities = schema.cardinalities;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace ecps
