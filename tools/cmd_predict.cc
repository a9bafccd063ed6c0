// `ecps predict` (docs/cli.md): batch scoring of a data cache with a trained
// model (a single-process or cluster checkpoint), the same predictions as
// the training job's own evaluation (worker/bundle.h).
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "tools/checkpoint_verify.h"
#include "tools/commands.h"
#include "tools/load_model.h"
#include "worker/bundle.h"
#include "worker/data/cache_format.h"
#include "worker/data/cache_identity.h"
#include "worker/data/text_reader.h"
#include "worker/data/vocabulary_table.h"
#include "worker/data_source.h"
#include "worker/serve_request.h"

namespace ecps::tools {
namespace {

constexpr char kUsage[] =
    "usage: ecps predict --model CHECKPOINT --out FILE [--input CACHE|FILE] [--split S]\n"
    "                    [--max-rows N] [--json] [--progress auto|bar|log|none]\n"
    "\n"
    "Scores rows of a data cache with a trained model and writes one probability per\n"
    "line to FILE, in row order. CHECKPOINT is a single-process checkpoint, a cluster's\n"
    "manifest (last.ckpt / best.ckpt) or a bundle (ecps checkpoint convert). The scores equal the "
    "training job's own evaluation\n"
    "of the same rows; AUC and log loss against the cache's labels are printed with the\n"
    "throughput.\n"
    "\n"
    "options:\n"
    "  --model CHECKPOINT  the trained model\n"
    "  --input CACHE       a data cache (ecps preprocess) in the model's feature space;\n"
    "                      default: the model's own training data (its config's data.*)\n"
    "  --input FILE        or a raw data file of the model's format (Criteo TSV, Avazu CSV,\n"
    "                      libSVM; .gz read as is): every line scored in file order, mapped\n"
    "                      through the vocabulary of the model's data (unseen values: their\n"
    "                      field's OOV id); a line that does not parse is an error\n"
    "  --split S           test (default), validation or train (a cache only)\n"
    "  --max-rows N        the first N rows of the split or file (default all)\n"
    "  --out FILE          where the probabilities go (written atomically)\n"
    "  --json              print the summary as one JSON object\n"
    "  --progress MODE     a progress line on stderr: auto (default: a line redrawn on a\n"
    "                      terminal, else one every few seconds), bar, log, none\n"
    "  -h, --help          print this help\n"
    "\n"
    "exit codes: 0 scored, 1 runtime failure (a damaged model, data of another feature\n"
    "space), 2 bad usage or a missing model or input.\n";

int Fail(const Status& st) {
  std::cerr << "ecps: " << st.message() << "\n";
  const auto code = st.code();
  return code == absl::StatusCode::kNotFound || code == absl::StatusCode::kInvalidArgument
             ? kExitUsage
             : kExitFailure;
}

// Whether `path` is a data cache (its magic), rather than a raw data file.
bool IsCache(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string magic(8, '\0');
  f.read(magic.data(), 8);
  return f.gcount() == 8 && magic == std::string(kCacheMagic, 8);
}

// Every line of the raw data file `path` (up to `max_rows` rows; 0: all)
// scored in the trainer's evaluation batches from its first line, as
// Predictor::Score scores a split: the file's lines are parsed by the
// preprocessor's parser and mapped through the model's vocabulary.
StatusOr<Predictor::Scores> ScoreRawFile(Predictor& p, const std::string& path, uint64_t max_rows,
                                         const std::function<void(uint64_t)>& progress) {
  const std::shared_ptr<const VocabularyTable>& vocabulary = p.vocabulary();
  if (vocabulary == nullptr)
    return FailedPrecondition(
        "--input '", path,
        "' is a raw data file, but the model has no vocabulary of its data (its cache was "
        "written before vocabularies were kept): rebuild the cache with this build (ecps "
        "preprocess) and convert the model again, or give a cache");
  const DatasetSchema& schema = p.schema();
  ASSIGN_OR_RETURN(std::unique_ptr<RawRowMapper> mapper, RawRowMapper::Create(*vocabulary, schema));
  ASSIGN_OR_RETURN(std::unique_ptr<TextReader> reader, TextReader::Open(path));
  const int nd = schema.num_dense, nf = schema.num_fields;
  const int eb = static_cast<int>(p.config().params.GetInt("train.eval_batch_size"));
  Predictor::Scores out;
  Batch batch;
  std::vector<float> values(static_cast<size_t>(nf));
  double seconds = 0;
  int filled = 0;  // rows of `batch` mapped so far
  auto flush = [&]() -> Status {
    if (filled == 0) return OkStatus();
    if (filled < batch.size) batch.Resize(filled, nd, nf, vocabulary->weight_values);
    const auto t0 = std::chrono::steady_clock::now();
    const size_t at = out.logits.size();
    out.logits.resize(at + static_cast<size_t>(filled));
    RETURN_IF_ERROR(p.Logits(batch, out.logits.data() + at));
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out.labels.insert(out.labels.end(), batch.labels.begin(), batch.labels.end());
    if (progress) progress(out.logits.size());
    filled = 0;
    return OkStatus();
  };
  std::string_view line;
  uint64_t rows = 0;
  while ((max_rows == 0 || rows < max_rows) && reader->NextLine(&line)) {
    // Rows are laid out row-major, so shrinking a batch keeps its first rows.
    if (filled == 0) batch.Resize(eb, nd, nf, vocabulary->weight_values);
    const size_t r = static_cast<size_t>(filled);
    StatusOr<bool> mapped = mapper->Map(
        line, &batch.labels[r], batch.dense.data() + r * nd, batch.sparse.data() + r * nf,
        vocabulary->weight_values ? batch.values.data() + r * nf : values.data());
    if (!mapped.ok())
      return Annotate(mapped.status(), absl::StrCat(path, ":", reader->line_number()));
    if (!*mapped) continue;  // the header
    ++rows;
    if (++filled == eb) RETURN_IF_ERROR(flush());
  }
  RETURN_IF_ERROR(reader->status());
  RETURN_IF_ERROR(flush());
  out.seconds = seconds;
  if (!out.logits.empty()) {
    out.auc = RocAuc(out.logits, out.labels);
    out.logloss = LogLossFromLogits(out.logits, out.labels);
  }
  std::cerr << "predict: " << mapper->oov_values()
            << " values of the file were not in the model's vocabulary (scored as their "
               "field's OOV id)\n";
  return out;
}

}  // namespace

int RunPredict(const std::vector<std::string>& args) {
  std::string model, input, out, split_name = "test", progress = "auto", max_rows_text = "0";
  bool json = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (a == "--json") {
      json = true;
      continue;
    }
    std::string* value = a == "--model"      ? &model
                         : a == "--input"    ? &input
                         : a == "--out"      ? &out
                         : a == "--split"    ? &split_name
                         : a == "--max-rows" ? &max_rows_text
                         : a == "--progress" ? &progress
                                             : nullptr;
    if (value == nullptr) {
      std::cerr << "ecps predict: unknown argument '" << a << "' (see --help)\n";
      return kExitUsage;
    }
    if (i + 1 >= args.size()) {
      std::cerr << "ecps predict: " << a << " needs a value\n";
      return kExitUsage;
    }
    *value = args[++i];
  }
  if (model.empty() || out.empty()) {
    std::cerr << "ecps predict: needs --model and --out (see --help)\n";
    return kExitUsage;
  }
  Split split;
  if (split_name == "test") {
    split = Split::kTest;
  } else if (split_name == "validation") {
    split = Split::kValidation;
  } else if (split_name == "train") {
    split = Split::kTrain;
  } else {
    std::cerr << "ecps predict: --split '" << split_name
              << "' is not one of test, validation, train\n";
    return kExitUsage;
  }
  uint64_t max_rows = 0;
  if (!absl::SimpleAtoi(max_rows_text, &max_rows) || max_rows_text[0] == '-') {
    std::cerr << "ecps predict: --max-rows '" << max_rows_text << "' is not a row count\n";
    return kExitUsage;
  }
  if (progress != "auto" && progress != "bar" && progress != "log" && progress != "none") {
    std::cerr << "ecps predict: --progress '" << progress << "' is not one of auto|bar|log|none\n";
    return kExitUsage;
  }
  const bool bar = progress == "bar" || (progress == "auto" && isatty(STDERR_FILENO));
  const bool log_lines = progress == "log" || (progress == "auto" && !bar);

  // A bundle (ecps checkpoint convert) or a checkpoint, by the first bytes.
  std::string magic(8, '\0');
  {
    std::ifstream f(model, std::ios::binary);
    if (!f) return Fail(NotFound("model '", model, "' does not exist or cannot be read"));
    f.read(magic.data(), 8);
    magic.resize(static_cast<size_t>(f.gcount()));
  }
  const bool is_bundle = magic == std::string(kBundleMagic, 8);
  if (!input.empty() && !FileExists(input))
    return Fail(NotFound("--input '", input, "' does not exist"));
  // A raw data file rather than a cache: scored through the vocabulary.
  const bool raw = !input.empty() && !IsCache(input);
  StatusOr<std::unique_ptr<Predictor>> model_or;
  StatusOr<std::unique_ptr<Dataset>> data = InvalidArgument("no data");
  if (raw) {
    StatusOr<LoadedModel> loaded = LoadModel(model, "");
    if (!loaded.ok()) return Fail(loaded.status());
    model_or = std::move(loaded->predictor);
  } else if (is_bundle) {
    model_or = Predictor::FromBundle(model);
    if (!model_or.ok()) return Fail(model_or.status());
    data = input.empty() ? OpenTrainingData((*model_or)->config()) : Dataset::Open(input);
    if (!data.ok()) return Fail(data.status());
    // Without --input the bundle's config names its training data: it must
    // still be that data (a cache rebuilt since would map ids to other rows).
    if (input.empty() && !(*model_or)->data_identity().empty()) {
      std::string trained;
      try {
        trained = nlohmann::json::parse((*model_or)->data_identity())
                      .at("identity_digest")
                      .get<std::string>();
      } catch (const std::exception& e) {
        return Fail(DataLoss("bundle '", model, "': its DATA is unreadable: ", e.what()));
      }
      const std::string now =
          absl::StrFormat("%016x", CacheIdentityDigest((*data)->schema().identity));
      if (now != trained)
        return Fail(FailedPrecondition("the data of bundle '", model, "''s config (identity ", now,
                                       ") is not the data it was trained on (identity ", trained,
                                       "); name a cache with --input"));
    }
    const DatasetSchema& want = (*model_or)->schema();
    const DatasetSchema& have = (*data)->schema();
    if (have.num_dense != want.num_dense || have.cardinalities != want.cardinalities)
      return Fail(FailedPrecondition(
          "the data ", input.empty() ? "of the bundle's config" : "'" + input + "'", " (",
          have.num_dense, " dense, ", have.num_fields, " fields, ", have.total_features(),
          " features) is not in the feature space of bundle '", model, "' (", want.num_dense,
          " dense, ", want.num_fields, " fields, ", want.total_features(),
          " features; every field's cardinality must match)"));
  } else {
    StatusOr<CheckpointContents> c = ReadCheckpointContents(model);
    if (!c.ok()) return Fail(c.status());
    StatusOr<TrainConfig> config =
        TrainConfigFromYaml(c->summary.config, "checkpoint '" + model + "' config");
    if (!config.ok()) return Fail(config.status());
    data = input.empty() ? OpenTrainingData(*config) : Dataset::Open(input);
    if (!data.ok()) return Fail(data.status());
    // Without --input: the model's own training data, which must still be
    // that data (a cache rebuilt since would map ids to other rows).
    model_or = PredictorFromCheckpoint(model, *c, *config, **data, /*same_data=*/input.empty());
  }
  if (!model_or.ok()) return Fail(model_or.status());
  Predictor& p = **model_or;

  using Clock = std::chrono::steady_clock;
  Clock::time_point last = Clock::now();
  auto show = [&](uint64_t done, uint64_t total) {
    const Clock::time_point now = Clock::now();
    const bool end = done == total;
    if (!end && now - last < std::chrono::milliseconds(bar ? 200 : 5000)) return;
    if (!bar && !log_lines) return;
    last = now;
    if (total == 0) {  // a raw file: its row count is not known before the end
      std::fprintf(stderr, "%spredict: %llu rows%s", bar ? "\r" : "",
                   static_cast<unsigned long long>(done), bar ? "" : "\n");
      return;
    }
    std::fprintf(stderr, "%spredict: %llu / %llu rows (%.0f%%)%s", bar ? "\r" : "",
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                 total > 0 ? 100.0 * done / total : 100.0, bar && !end ? "" : "\n");
  };
  StatusOr<Predictor::Scores> s =
      raw ? ScoreRawFile(p, input, max_rows, [&](uint64_t done) { show(done, 0); })
          : p.Score(**data, split, max_rows, show);
  if (!s.ok()) return Fail(s.status());
  std::string text;
  text.reserve(s->logits.size() * 12);
  for (float z : s->logits) absl::StrAppendFormat(&text, "%.9g\n", Probability(z));
  Status st = AtomicWriteFile(out, text);
  if (!st.ok()) return Fail(Annotate(st, "--out"));

  const uint64_t rows = s->logits.size();
  const double rate = s->seconds > 0 ? rows / s->seconds : 0;
  const MemoryReport mem = p.Memory();
  const std::string data_name = input.empty() ? std::string("the model's training data") : input;
  if (json) {
    nlohmann::json j = {{"model", model},
                        {"input", input.empty() ? nlohmann::json() : nlohmann::json(input)},
                        {"split", raw ? nlohmann::json() : nlohmann::json(SplitName(split))},
                        {"raw_lines", raw},
                        {"out", out},
                        {"method", p.config().method()},
                        {"rows", rows},
                        {"auc", rows > 0 ? nlohmann::json(s->auc) : nlohmann::json()},
                        {"logloss", rows > 0 ? nlohmann::json(s->logloss) : nlohmann::json()},
                        {"seconds", s->seconds},
                        {"rows_per_s", rate},
                        {"inference_memory_bytes", mem.inference_bytes},
                        {"dense_parameter_bytes", p.dense_bytes()}};
    std::cout << j.dump(2) << "\n";
  } else {
    if (raw)
      std::cout << "predicted " << rows << " raw lines of " << input << " into " << out << "\n";
    else
      std::cout << "predicted " << rows << " rows of the " << SplitName(split) << " split of "
                << data_name << " into " << out << "\n";
    std::cout << "  model       " << model << " (" << p.config().method() << ", "
              << mem.inference_bytes << " B of embedding at inference)\n";
    if (rows > 0)
      std::cout << absl::StrFormat("  quality     AUC %.6f, log loss %.6f\n", s->auc, s->logloss);
    std::cout << absl::StrFormat("  throughput  %.0f rows/s (%.3f s)\n", rate, s->seconds);
  }
  return kExitOk;
}

}  // namespace ecps::tools
