// `ecps compress` (docs/cli.md): post-training compression of a trained
// full-table model into a servable bundle, with a method that derives its
// tables from the trained rows (Predictor::Recompress): int8/int16 codes on a
// scale fitted to the trained values, fp16, Post4Bits' per-row 4-bit range
// search, PQ codebooks fitted on the rows, Dedup's merge of similar blocks, or
// DeepLight's global magnitude prune into CSR/COO. With --eval, both models
// score the same rows.
#include <algorithm>
#include <chrono>
#include <cmath>
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

// A method whose tables follow from the trained fp32 rows alone: the
// registered method that stores them and its stages entered without their
// training steps (Predictor::Recompress).
struct PostTraining {
  std::string name;             // --method
  std::string method;           // embedding.method of the bundle
  std::string untrained_stage;  // "" when every later stage is post_training
};

const std::vector<PostTraining>& PostTrainingMethods() {
  static const std::vector<PostTraining> m = {
      {"int8", "int8", ""},
      {"int16", "int16", ""},
      {"fp16", "fp16", ""},
      {"post4bits", "post4bits", ""},
      {"pq", "pq", ""},
      // Dedup's block merge runs in BeginStage(finetune); DeepLight's prune
      // stage, without steps, leaves the whole prune to its sparse stage.
      {"dedup", "dedup", "finetune"},
      {"prune", "deeplight", "prune"}};
  return m;
}

std::string PostTrainingNames() {
  std::vector<std::string> names;
  for (const PostTraining& m : PostTrainingMethods()) names.push_back(m.name);
  return absl::StrJoin(names, ", ");
}

// --budget as embedding.budget takes it: a fraction or a percentage, in (0, 1].
bool ParseBudget(const std::string& text, double* fraction) {
  std::string t = text;
  const bool percent = !t.empty() && t.back() == '%';
  if (percent) t.pop_back();
  double v = 0;
  if (!absl::SimpleAtod(t, &v) || !std::isfinite(v)) return false;
  if (percent) v /= 100;
  *fraction = v;
  return v > 0 && v <= 1;
}

constexpr char kUsage[] =
    "usage: ecps compress --model CHECKPOINT_OR_BUNDLE --method M --budget B --out BUNDLE\n"
    "                     [--param KEY=VALUE ...] [--data CACHE] [--eval CACHE] [--split S]\n"
    "                     [--max-rows N] [--json]\n"
    "\n"
    "Compresses a trained full-table model after training (no retraining) into a servable\n"
    "bundle (docs/formats.md \"Servable bundle\"; ecps serve and ecps predict load it):\n"
    "  int8, int16  codes on one global scale fitted to the trained values (nothing clips),\n"
    "               nearest rounding (25% / 50% of the fp32 table)\n"
    "  fp16         the rows rounded to the nearest half (50%)\n"
    "  post4bits    4-bit codes with a per-row fp16 scale and bias from FBGEMM's greedy\n"
    "               range search (18.75% at d = 16)\n"
    "  pq           product quantisation: per subspace a 256-centroid k-means codebook\n"
    "               fitted on the trained rows, a byte code per row and subspace (the\n"
    "               largest m dividing d that fits: 25% at d = 16, then 12.5%, 6.25%, ...)\n"
    "  dedup        blocks of rows merged onto similar ones (L2LSH candidates, values\n"
    "               within fp); stops once the budget is met (methods.md 2.10)\n"
    "  prune        global magnitude pruning to the budget's nonzeros, stored as CSR\n"
    "               (budget x d >= 3) or COO (DeepLight's sparse layout, methods.md 1.8)\n"
    "Methods whose tables are learned (hash, tt_rec, ...) need training: ecps train.\n"
    "\n"
    "options:\n"
    "  --model PATH   a checkpoint or bundle of a 'full' model (--in is the same)\n"
    "  --method M     int8, int16, fp16, post4bits, pq, dedup or prune\n"
    "  --budget B     the memory budget, a fraction of the fp32 table (0.25) or a percentage\n"
    "                 (25%) in (0, 1]; a budget the method does not reach is refused\n"
    "  --param K=V    a parameter of the method (embedding.params.K: pq's m, dedup's fp\n"
    "                 and sim, ...; docs/methods.md), repeatable\n"
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
    "not 'full', a budget the method does not reach.\n";

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
  std::vector<std::string> method_params;
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
    if (a == "--param") {
      if (i + 1 >= args.size() || args[i + 1].find('=') == std::string::npos ||
          args[i + 1][0] == '=') {
        std::cerr << "ecps compress: --param needs KEY=VALUE\n";
        return kExitUsage;
      }
      method_params.push_back("embedding.params." + args[++i]);
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
  const std::vector<PostTraining>& can = PostTrainingMethods();
  const auto chosen =
      std::find_if(can.begin(), can.end(), [&](const PostTraining& m) { return m.name == method; });
  if (chosen == can.end()) {
    std::cerr << "ecps compress: --method '" << method << "' "
              << (FindCompressor(method) != nullptr
                      ? "learns its tables in training (ecps train --set embedding.method=" +
                            method + ")"
                      : "is not a registered method")
              << "; after training ecps compress can apply: " << PostTrainingNames() << "\n";
    return kExitUsage;
  }
  double fraction = 0;
  if (!ParseBudget(budget, &fraction)) {
    std::cerr << "ecps compress: --budget '" << budget
              << "' is not a fraction in (0, 1] of the fp32 table nor a percentage (25%)\n";
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
  std::vector<std::string> sets = {"embedding.method=" + chosen->method,
                                   "embedding.budget=" + budget};
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
  sets.insert(sets.end(), method_params.begin(), method_params.end());
  StatusOr<TrainConfig> config =
      TrainConfigFromYaml(original.config().ToYaml(), "model '" + model + "' config", sets,
                          /*drop_method_params=*/true);
  if (!config.ok()) return Fail(config.status());
  std::vector<std::string> untrained;
  if (!chosen->untrained_stage.empty()) untrained.push_back(chosen->untrained_stage);
  StatusOr<std::unique_ptr<Predictor>> compressed = original.Recompress(*config, untrained);
  if (!compressed.ok()) return Fail(compressed.status());
  // A budget the method does not reach is refused before anything is
  // written: the inference bytes (tables and what a lookup needs besides
  // them: a sparse index, PQ's codebooks, Dedup's block map) against the
  // original fp32 table.
  const MemoryReport before = original.Memory(), after = (*compressed)->Memory();
  const double ratio = before.inference_bytes > 0 ? static_cast<double>(after.inference_bytes) /
                                                        static_cast<double>(before.inference_bytes)
                                                  : 0;
  if (!ReachesBudget(ratio, fraction))
    return Fail(InvalidArgument(
        "--budget ", budget, ": ", method, " of this model takes ", after.inference_bytes, " B, ",
        absl::StrFormat("%.4f%%", 100 * ratio), " of the fp32 table's ", before.inference_bytes,
        " B; nothing written",
        method == "dedup" ? " (too few similar blocks: a higher --param fp or lower --param sim "
                            "merges more)"
                          : ""));
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
  const uint64_t inference_bytes = header->at("inference_memory_bytes").get<uint64_t>();
  nlohmann::json j = {{"model", model},
                      {"out", out},
                      {"method", method},
                      {"bundle_method", chosen->method},
                      {"budget", config->params.GetFloat("embedding.budget")},
                      {"bytes", bundle->size()},
                      {"original_table_bytes", before.inference_bytes},
                      {"table_bytes", table_bytes},
                      {"inference_memory_bytes", inference_bytes},
                      {"ratio", ratio},
                      {"within_budget", ReachesBudget(ratio, fraction)},
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
      "wrote bundle %s (%d B): %s of %s, %d B of tables + %d B of index, codebooks or maps = %d B "
      "(%.2f%% of the fp32 table's %d B; budget %.4g%%) in %.2f s\n",
      out, bundle->size(), method, model, table_bytes, inference_bytes - table_bytes,
      inference_bytes, 100 * ratio, before.inference_bytes, 100 * fraction, seconds);
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
