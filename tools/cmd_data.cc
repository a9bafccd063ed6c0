// `ecps gen-data` and `ecps preprocess` (docs/cli.md). Parsing and printing
// only; the work is in worker/data.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "tools/commands.h"
#include "tools/flag_values.h"  // unsigned flags refuse "-5"
#include "worker/data/gen_data.h"
#include "worker/data/preprocess.h"

namespace ecps::tools {
namespace {

namespace po = boost::program_options;

// Parses `args` into `vm`; returns -1 to continue, or an exit code (help or
// usage error already printed).
int ParseArgs(const std::vector<std::string>& args, const po::options_description& desc,
              const char* usage, po::variables_map* vm) {
  try {
    po::store(po::command_line_parser(args).options(desc).run(), *vm);
    if (vm->count("help")) {
      std::cout << usage << "\n" << desc << "\n";
      return kExitOk;
    }
    po::notify(*vm);
  } catch (const std::exception& e) {
    std::cerr << "ecps: " << e.what() << " (see --help)\n";
    return kExitUsage;
  }
  return -1;
}

// InvalidArgument / NotFound are bad input (2); everything else is a runtime failure (1).
int ExitCodeFor(const Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument || s.code() == absl::StatusCode::kNotFound
             ? kExitUsage
             : kExitFailure;
}

}  // namespace

int RunGenData(const std::vector<std::string>& args) {
  GenDataOptions o;
  std::string out;
  po::options_description desc("gen-data options");
  desc.add_options()("help,h", "print this help")(
      "format", po::value(&o.format)->default_value(o.format),
      "text format to write: criteo (TSV), avazu (CSV with header), libsvm or libfm (label "
      "feature:value, one feature per field at its position) or libffm (label "
      "field:feature:value, missing cells left out); the libSVM family holds the criteo "
      "file's rows of the same seed as one-hot features")(
      "rows", po::value(&o.rows)->default_value(o.rows), "number of data rows")(
      "features", po::value(&o.features)->default_value(o.features),
      "target total number of distinct categorical values over all fields; per-field "
      "cardinalities are the real ones scaled to this total")(
      "seed", po::value(&o.seed)->default_value(o.seed),
      "random seed; the same options give a byte-identical file")(
      "alpha", po::value(&o.alpha)->default_value(o.alpha, "1.5"),
      "tail exponent of the value-frequency law; lower = more distinct values, Criteo-like "
      "≈ 1.1 (in (1, 10]; 1.5 is the original law)")(
      "drift", po::value(&o.drift)->default_value(o.drift, "0"),
      "popularity drift: every this percent of the rows a fresh cohort of values becomes the "
      "hot set of every field (in [0, 100]; 0 = none; docs/cli.md)")(
      "missing-rate", po::value(&o.missing_rate)->default_value(o.missing_rate, "0.02"),
      "fraction of empty categorical and integer cells, in [0, 1)")(
      "gzip", po::bool_switch(&o.gzip), "gzip the output (concatenated gzip members)")(
      "values", po::bool_switch(&o.values),
      "libsvm/libfm/libffm: also write Criteo's 13 integer columns, first, as valued features "
      "(feature j, value log(x+1)); without it only the 26 categorical fields are written")(
      "signed-labels", po::bool_switch(&o.signed_labels),
      "libsvm/libfm/libffm: labels -1/+1 instead of 0/1")("crlf", po::bool_switch(&o.crlf),
                                                          "end lines with CR LF (Windows style)")(
      "threads", po::value(&o.threads)->default_value(0),
      "generator threads (0 = all cores); does not change the output")(
      "out", po::value(&out)->required(), "output file (written atomically)");
  po::variables_map vm;
  int rc = ParseArgs(args, desc,
                     "usage: ecps gen-data --format criteo|avazu|libsvm|libfm|libffm --rows N "
                     "--features F --seed S [--alpha A] [--drift K] [--values] [--signed-labels] "
                     "[--crlf] --out FILE [--gzip]\nWrites deterministic synthetic CTR data with a "
                     "planted signal in the real text format.",
                     &vm);
  if (rc >= 0) return rc;
  if (o.threads < 0) {
    std::cerr << "ecps gen-data: --threads " << o.threads << " must be >= 0 (0 = all cores)\n";
    return kExitUsage;
  }
  StatusOr<GenDataReport> r = GenerateData(o, out);
  if (!r.ok()) {
    std::cerr << "ecps: " << r.status().message() << "\n";
    return ExitCodeFor(r.status());
  }
  std::printf("wrote %s: %llu rows, %.1f MB in %.2f s (%.0f rows/s)\n", out.c_str(),
              static_cast<unsigned long long>(r->rows), r->bytes / 1e6, r->seconds,
              r->rows_per_s());
  uint64_t total = 0;
  std::ostringstream cards;
  for (size_t f = 0; f < r->cardinalities.size(); ++f) {
    cards << (f ? "," : "") << r->cardinalities[f];
    total += r->cardinalities[f];
  }
  std::printf("fields: %zu, cardinalities (sum %llu): %s\n", r->cardinalities.size(),
              static_cast<unsigned long long>(total), cards.str().c_str());
  std::printf(
      "distinct values that occur: %llu (the power-law tail of large fields is only "
      "partly sampled; more rows cover more of it)\n",
      static_cast<unsigned long long>(r->observed_features));
  std::printf("positive rate: %.4f, oracle AUC: %.4f\n", r->positive_rate, r->oracle_auc);
  if (r->drift_period_rows > 0)
    std::printf("drift: a new hot cohort every %llu rows (%llu cohorts)\n",
                static_cast<unsigned long long>(r->drift_period_rows),
                static_cast<unsigned long long>((r->rows + r->drift_period_rows - 1) /
                                                r->drift_period_rows));
  return kExitOk;
}

int RunPreprocess(const std::vector<std::string>& args) {
  PreprocessOptions o;
  std::string on_malformed = "skip";
  std::string vocabulary = "train";
  std::string feature_values = "weight";
  po::options_description desc("preprocess options");
  desc.add_options()("help,h", "print this help")(
      "input", po::value(&o.inputs)->multitoken(),
      "input text file(s), read in order as one stream; .gz detected by content (repeatable)")(
      "train", po::value(&o.train_inputs)->multitoken(),
      "train file(s) instead of --input: with --validation and --test the files are the "
      "split (--split files is implied)")("validation", po::value(&o.val_inputs)->multitoken(),
                                          "validation file(s) (with --train)")(
      "test", po::value(&o.test_inputs)->multitoken(), "test file(s) (with --train)")(
      "format", po::value(&o.format)->default_value(o.format),
      "input format: criteo (TSV), avazu (CSV with header), libsvm or libfm (label "
      "feature:value, field = position on the line) or libffm (label field:feature:value)")(
      "out", po::value(&o.output)->required(), "output cache file (written atomically)")(
      "split", po::value(&o.split)->default_value(o.split),
      "days: Criteo 7 equal days, days 1-6 train, day 7 halved into test then validation "
      "(Avazu: the last calendar day of `hour`; other formats have no days); ratio: train, "
      "then --val-ratio validation, then --test-ratio test, in file order, counts rounded to "
      "the nearest row; files: --train/--validation/--test (implied by --train)")(
      "val-ratio", po::value(&o.val_ratio)->default_value(o.val_ratio, "0.05"),
      "validation fraction for --split ratio")(
      "test-ratio", po::value(&o.test_ratio)->default_value(o.test_ratio, "0.1"),
      "test fraction for --split ratio")(
      "min-count", po::value(&o.min_count)->default_value(o.min_count),
      "values seen fewer times map to the field's OOV id 0 (0 keeps every value, as the paper)")(
      "vocabulary", po::value(&vocabulary)->default_value(vocabulary),
      "ids for the values of: train (values unseen in the train split map to their field's "
      "OOV id 0) or all (every split's values get their own id, the paper's setting); "
      "data.vocabulary of ecps train")(
      "feature-values", po::value(&feature_values)->default_value(feature_values),
      "libsvm/libfm/libffm values: weight (a value other than 1 is stored and multiplies its "
      "field's embedding vector) or ignore (every value reads as 1); data.feature_values")(
      "on-malformed", po::value(&on_malformed)->default_value(on_malformed),
      "skip: count, report and drop malformed lines; fail: stop at the first one")(
      "report-first", po::value(&o.report_first)->default_value(o.report_first),
      "malformed lines printed as file:line: reason, per kind")(
      "max-rows", po::value(&o.max_rows)->default_value(o.max_rows),
      "stop after this many valid rows (0 = all)")(
      "last-day-rows", po::value(&o.last_day_rows)->default_value(o.last_day_rows),
      "Avazu --split days: rows of the last day (0 = detect from the hour column)");
  po::variables_map vm;
  int rc = ParseArgs(
      args, desc,
      "usage: ecps preprocess --input FILE [--input FILE2 ...] --format "
      "criteo|avazu|libsvm|libfm|libffm --out CACHE [options]\nConverts raw text into the "
      "binary cache that `ecps train` memory-maps.",
      &vm);
  if (rc >= 0) return rc;
  if (!o.train_inputs.empty() && vm["split"].defaulted()) o.split = "files";
  if (o.inputs.empty() && o.train_inputs.empty()) {
    std::cerr << "ecps preprocess: give the input as --input FILE or as --train FILE "
                 "[--validation FILE] [--test FILE] (see --help)\n";
    return kExitUsage;
  }
  // The cache replaces --out by a rename: were it an input, the raw data
  // would be gone.
  for (const auto* list : {&o.inputs, &o.train_inputs, &o.val_inputs, &o.test_inputs})
    for (const std::string& in : *list)
      if (SameFile(in, o.output)) {
        std::cerr << "ecps preprocess: --out '" << o.output << "' is the input '" << in
                  << "': writing the cache there would destroy it; choose another --out\n";
        return kExitUsage;
      }
  if (on_malformed == "skip") {
    o.on_malformed = MalformedPolicy::kSkip;
  } else if (on_malformed == "fail") {
    o.on_malformed = MalformedPolicy::kFail;
  } else {
    std::cerr << "ecps preprocess: --on-malformed must be skip or fail, got '" << on_malformed
              << "'\n";
    return kExitUsage;
  }
  if (vocabulary != "train" && vocabulary != "all") {
    std::cerr << "ecps preprocess: --vocabulary must be train or all, got '" << vocabulary << "'\n";
    return kExitUsage;
  }
  o.vocabulary_from_train = vocabulary == "train";
  if (feature_values != "weight" && feature_values != "ignore") {
    std::cerr << "ecps preprocess: --feature-values must be weight or ignore, got '"
              << feature_values << "'\n";
    return kExitUsage;
  }
  o.weight_values = feature_values == "weight";
  StatusOr<PreprocessReport> r = Preprocess(o);
  if (!r.ok()) {
    std::cerr << "ecps: " << r.status().message() << "\n";
    return ExitCodeFor(r.status());
  }
  const auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "wrote %s: %llu rows (train %llu, validation %llu, test %llu), %d fields, "
      "%llu features\n",
      o.output.c_str(), u(r->rows_written), u(r->train_rows), u(r->val_rows), u(r->test_rows),
      static_cast<int>(r->cardinalities.size()), u(r->features));
  if (r->has_values) std::printf("feature values other than 1 stored (--feature-values weight)\n");
  if (o.min_count > 0) {
    std::printf("min-count %llu: %llu rare values mapped to OOV ids\n", u(o.min_count),
                u(r->oov_values));
  }
  const MalformedCounts& m = r->malformed;
  std::printf(
      "lines %llu, malformed %llu (wrong_column_count %llu, bad_label %llu, "
      "bad_integer %llu, bad_hex %llu, bad_libsvm_token %llu)\n",
      u(r->lines), u(m.total()), u(m.wrong_column_count), u(m.bad_label), u(m.bad_integer),
      u(m.bad_hex), u(m.bad_libsvm_token));
  for (const std::string& e : r->examples) std::printf("  %s\n", e.c_str());
  for (const std::string& w : r->warnings)
    std::fprintf(stderr, "ecps preprocess: warning: %s\n", w.c_str());
  std::printf("%.1f MB of text in %.2f s: %.1f MB/s\n", r->input_bytes / 1e6, r->seconds,
              r->mb_per_s());
  return kExitOk;
}

}  // namespace ecps::tools
