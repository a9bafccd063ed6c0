// `ecps predict` (docs/cli.md): batch scoring of a data cache with a trained
// model (a single-process or cluster checkpoint), the same predictions as
// the training job's own evaluation (worker/bundle.h).
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "tools/checkpoint_verify.h"
#include "tools/commands.h"
#include "worker/bundle.h"
#include "worker/data/cache_identity.h"
#include "worker/data_source.h"
#include "worker/serve_request.h"

namespace ecps::tools {
namespace {

constexpr char kUsage[] =
    "usage: ecps predict --model CHECKPOINT --out FILE [--input CACHE] [--split S]\n"
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
    "  --split S           test (default), validation or train\n"
    "  --max-rows N        the first N rows of the split (default all)\n"
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
  StatusOr<std::unique_ptr<Predictor>> model_or;
  StatusOr<std::unique_ptr<Dataset>> data = InvalidArgument("no data");
  if (is_bundle) {
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
    std::fprintf(stderr, "%spredict: %llu / %llu rows (%.0f%%)%s", bar ? "\r" : "",
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                 total > 0 ? 100.0 * done / total : 100.0, bar && !end ? "" : "\n");
  };
  StatusOr<Predictor::Scores> s = p.Score(**data, split, max_rows, show);
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
                        {"split", SplitName(split)},
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
    std::cout << "predicted " << rows << " rows of the " << SplitName(split) << " split of "
              << data_name << " into " << out << "\n"
              << "  model       " << model << " (" << p.config().method() << ", "
              << mem.inference_bytes << " B of embedding at inference)\n";
    if (rows > 0)
      std::cout << absl::StrFormat("  quality     AUC %.6f, log loss %.6f\n", s->auc, s->logloss);
    std::cout << absl::StrFormat("  throughput  %.0f rows/s (%.3f s)\n", rate, s->seconds);
  }
  return kExitOk;
}

}  // namespace ecps::tools
