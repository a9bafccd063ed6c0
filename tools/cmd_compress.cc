// `ecps compress` (docs/cli.md): post-training compression of a trained
// full-table model into a servable bundle, with a method that derives its
// tables from the trained rows (Predictor::Recompress): int8/int16 codes on a
// scale fitted to the trained values, fp16, or Post4Bits' per-row 4-bit
// range search. With --eval, both models score the same rows.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/budget.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "compressors/registry.h"
#include "tools/commands.h"
#include "tools/load_model.h"

namespace ecps::tools {
namespace {

// The methods whose tables follow from the trained fp32 rows alone.
const std::vector<std::string>& PostTrainingMethods() {
  static const std::vector<std::string> m = {"int8", "int16", "fp16", "post4bits"};
  return m;
}

constexpr char kUsage[] =
    "usage: ecps compress --model CHECKPOINT_OR_BUNDLE --method M --budget B --out BUNDLE\n"
    "                     [--data CACHE] [--eval CACHE] [--split S] [--max-rows N] [--json]\n"
    "\n"
    "Compresses a trained full-table model after training (no retraining) into a servable\n"
    "bundle (docs/formats.md \"Servable bundle\"; ecps serve and ecps predict load it):\n"
    "  int8, int16  codes on one global scale fitted to the trained values (nothing clips),\n"
    "               nearest rounding (25% / 50% of the fp32 table)\n"
    "  fp16         the rows rounded to the nearest half (50%)\n"
    "  post4bits    4-bit codes with a per-row fp16 scale and bias from FBGEMM's greedy\n"
    "               range search (18.75% at d = 16)\n"
    "Methods whose tables are learned (hash, tt_rec, ...) need training: ecps train.\n"
    "\n"
    "options:\n"
    "  --model PATH   a checkpoint or bundle of a 'full' model (--in is the same)\n"
    "  --method M     int8, int16, fp16 or post4bits\n"
    "  --budget B     the memory budget, a fraction of the fp32 table (0.25) or a percentage\n"
    "                 (25%); the method's ratio is fixed, a budget it exceeds is reported\n"
    "  --out BUNDLE   the compressed model (written atomically)\n"
    "  --data CACHE   a checkpoint's training data, when its config no longer names it\n"
    "  --eval CACHE   score both models on this data cache and print AUC and log loss\n"
    "  --split S      the split --eval scores: test (default), validation or train\n"
    "  --max-rows N   the first N rows of that split (default all)\n"
    "  --json         print the summary as one JSON object\n"
    "  -h, --help     print this help\n"
    "\n"
    "exit codes: 0 written, 1 runtime failure (a damaged model, data of another feature\n"
    "space), 2 bad usage, a missing model, a method that needs training, a model that is\n"
    "not 'full'.\n";

int Fail(const Status& st) {
  std::cerr << "ecps compress: " << st.message() << "\n";
  const auto code = st.code();
  return code == absl::StatusCode::kNotFound || code == absl::StatusCode::kInvalidArgument
             ? kExitUsage
             : kExitFailure;
}

std::string Exact(double v) { return absl::StrFormat("%.17g", v); }

struct Quality {
  uint64_t rows = 0;
  double auc = 0, logloss = 0;
};

StatusOr<Quality> Evaluate(Predictor& p, const Dataset& data, Split split, uint64_t max_rows) {
  ASSIGN_OR_RETURN(Predictor::Scores s, p.Score(data, split, max_rows));
  return Quality{s.logits.size(), s.auc, s.logloss};
}

}  // namespace

int RunCompress(const std::vector<std::string>& args) {
  SetLogLevel("info");  // warnings (a clipped code) to stderr: stdout is the summary
  std::string model, method, budget, out, data_path, eval, split_name = "test", max_rows_text = "0";
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
    std::string* value = a == "--model" || a == "--in" ? &model
                         : a == "--method"             ? &method
                         : a == "--budget"             ? &budget
                         : a == "--out"                ? &out
                         : a == "--data"               ? &data_path
                         : a == "--eval"               ? &eval
                         : a == "--split"              ? &split_name
                         : a == "--max-rows"           ? &max_rows_text
                                                       : nullptr;
    if (value == nullptr) {
      std::cerr << "ecps compress: unknown argument '" << a << "' (see --help)\n";
      return kExitUsage;
    }
    if (i + 1 >= args.size()) {
      std::cerr << "ecps compress: " << a << " needs a value\n";
      return kExitUsage;
    }
    *value = args[++i];
  }
  if (model.empty() || method.empty() || budget.empty() || out.empty()) {
    std::cerr << "ecps compress: needs --model, --method, --budget and --out (see --help)\n";
    return kExitUsage;
  }
  const std::vector<std::string>& can = PostTrainingMethods();
  if (std::find(can.begin(), can.end(), method) == can.end()) {
    std::cerr << "ecps compress: --method '" << method << "' "
              << (FindCompressor(method) != nullptr
                      ? "learns its tables in training (ecps train --set embedding.method=" +
                            method + ")"
                      : "is not a registered method")
              << "; after training ecps compress can apply: " << absl::StrJoin(can, ", ") << "\n";
    return kExitUsage;
  }
  Split split = Split::kTest;
  if (split_name == "validation") {
    split = Split::kValidation;
  } else if (split_name == "train") {
    split = Split::kTrain;
  } else if (split_name != "test") {
    std::cerr << "ecps compress: --split '" << split_name
              << "' is not one of test, validation, train\n";
    return kExitUsage;
  }
  uint64_t max_rows = 0;
  if (!absl::SimpleAtoi(max_rows_text, &max_rows) || max_rows_text[0] == '-') {
    std::cerr << "ecps compress: --max-rows '" << max_rows_text << "' is not a row count\n";
    return kExitUsage;
  }

  const auto t0 = std::chrono::steady_clock::now();
  StatusOr<LoadedModel> loaded = LoadModel(model, data_path);
  if (!loaded.ok()) return Fail(loaded.status());
  Predictor& original = *loaded->predictor;
  if (original.config().method() != "full")
    return Fail(InvalidArgument("model '", model, "' is a '", original.config().method(),
                                "' model; ecps compress starts from a 'full' one (its fp32 rows)"));

  // The method's parameters for post-training use: nearest rounding (no
  // optimizer steps follow to average stochastic rounding out) and, for the
  // integer codes, the scale and centre that span the trained values.
  std::vector<std::string> sets = {"embedding.method=" + method, "embedding.budget=" + budget};
  if (method == "int8" || method == "int16") {
    const std::vector<RowTableSpec> specs = original.embedding().store().StoredTables();
    std::vector<float> rows(specs.at(0).rows * static_cast<size_t>(specs[0].width));
    if (!rows.empty()) {
      Status st = original.embedding().store().ReadRows(0, 0, specs[0].rows, rows.data());
      if (!st.ok()) return Fail(st);
    }
    const auto [lo_it, hi_it] = std::minmax_element(rows.begin(), rows.end());
    const double lo = rows.empty() ? 0 : *lo_it, hi = rows.empty() ? 0 : *hi_it;
    const int bits = method == "int8" ? 8 : 16;
    // value = q * scale + zero, zero = middle - 2^(bits-1) * scale: codes
    // 0 .. 2^bits - 1 cover [lo, lo + (2^bits - 1) scale] = [lo, hi]; the
    // step is widened by a part in 10^6 so rounding of the pair clips nothing.
    double scale = (hi - lo) / (std::ldexp(1.0, bits) - 1) * (1 + 1e-6);
    if (!(scale > 0)) scale = 1e-6;
    const double middle = lo + std::ldexp(scale, bits - 1);
    sets.insert(
        sets.end(),
        {"embedding.params.digit=" + std::to_string(bits), "embedding.params.scale=" + Exact(scale),
         "embedding.params.middle=" + Exact(middle), "embedding.params.rounding=nearest"});
  } else if (method == "fp16") {
    sets.push_back("embedding.params.rounding=nearest");
  }
  StatusOr<TrainConfig> config =
      TrainConfigFromYaml(original.config().ToYaml(), "model '" + model + "' config", sets,
                          /*drop_method_params=*/true);
  if (!config.ok()) return Fail(config.status());
  StatusOr<std::unique_ptr<Predictor>> compressed = original.Recompress(*config);
  if (!compressed.ok()) return Fail(compressed.status());
  nlohmann::json source = {{"compressed_from", model}, {"method", "full"}};
  if (!loaded->is_bundle)
    source.update({{"format", loaded->summary.format},
                   {"step", loaded->summary.step},
                   {"stage", loaded->summary.stage},
                   {"data_identity_digest", loaded->summary.data_digest}});
  StatusOr<std::string> bundle = (*compressed)->EncodeBundle(source);
  if (!bundle.ok()) return Fail(bundle.status());
  Status st = AtomicWriteFile(out, *bundle);
  if (!st.ok()) return Fail(Annotate(st, "--out"));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // The bytes reported are the bundle's own (its header, read back after
  // its checksum verified) against the original's fp32 table.
  StatusOr<nlohmann::json> header = Predictor::ReadBundleHeader(out);
  if (!header.ok()) return Fail(header.status());
  const uint64_t table_bytes = header->at("table_bytes").get<uint64_t>();
  const MemoryReport before = original.Memory(), after = (*compressed)->Memory();
  const double fraction = config->params.GetFloat("embedding.budget");
  const double ratio =
      before.inference_bytes > 0 ? static_cast<double>(table_bytes) / before.inference_bytes : 0;
  const bool within = ReachesBudget(ratio, fraction);
  nlohmann::json j = {{"model", model},
                      {"out", out},
                      {"method", method},
                      {"budget", fraction},
                      {"bytes", bundle->size()},
                      {"original_table_bytes", before.inference_bytes},
                      {"table_bytes", table_bytes},
                      {"ratio", ratio},
                      {"within_budget", within},
                      {"inference_memory_bytes", after.inference_bytes},
                      {"seconds", seconds}};
  if (!eval.empty()) {
    StatusOr<std::unique_ptr<Dataset>> data = Dataset::Open(eval);
    if (!data.ok()) return Fail(Annotate(data.status(), "--eval"));
    StatusOr<Quality> a = Evaluate(original, **data, split, max_rows);
    if (!a.ok()) return Fail(Annotate(a.status(), "--eval"));
    StatusOr<Quality> b = Evaluate(**compressed, **data, split, max_rows);
    if (!b.ok()) return Fail(Annotate(b.status(), "--eval"));
    j["eval"] = {{"input", eval},
                 {"split", SplitName(split)},
                 {"rows", a->rows},
                 {"original", {{"auc", a->auc}, {"logloss", a->logloss}}},
                 {"compressed", {{"auc", b->auc}, {"logloss", b->logloss}}},
                 {"auc_change", b->auc - a->auc}};
  }
  if (json) {
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << absl::StrFormat(
      "wrote bundle %s (%d B): %s of %s, %d B of tables (%.2f%% of the fp32 table's %d B; "
      "budget %.4g%%%s) in %.2f s\n",
      out, bundle->size(), method, model, table_bytes, 100 * ratio, before.inference_bytes,
      100 * fraction, within ? "" : ", NOT reached", seconds);
  if (j.contains("eval"))
    std::cout << absl::StrFormat(
        "  %s split of %s, %d rows:\n"
        "    original    AUC %.6f, log loss %.6f\n"
        "    compressed  AUC %.6f, log loss %.6f (AUC %+.6f)\n",
        SplitName(split), eval, j["eval"]["rows"].get<uint64_t>(),
        j["eval"]["original"]["auc"].get<double>(), j["eval"]["original"]["logloss"].get<double>(),
        j["eval"]["compressed"]["auc"].get<double>(),
        j["eval"]["compressed"]["logloss"].get<double>(), j["eval"]["auc_change"].get<double>());
  return kExitOk;
}

}  // namespace ecps::tools
