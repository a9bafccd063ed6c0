// `ecps allocation` (docs/cli.md): the parameters a trained model keeps per
// feature against the feature's train count -- the data of the survey's
// Figure 6 (issue 17 item 4; scripts/plot_allocation.sh plots it). A
// feature's parameters are the nonzero elements of its embedding as the
// model looks it up (the evaluation lookup of the layer), which for the
// pruning methods (autosrh, deeplight, pep) are exactly its kept elements.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "tools/commands.h"
#include "tools/load_model.h"
#include "worker/bundle.h"
#include "worker/data_source.h"

namespace ecps::tools {
namespace {

constexpr char kUsage[] =
    "usage: ecps allocation --model CHECKPOINT --out FILE [--data CACHE] [--json]\n"
    "\n"
    "Writes, for every feature of the model's feature space, its train count and the\n"
    "parameters the model keeps for it: the nonzero elements of its embedding as the\n"
    "model looks it up (the kept elements of a pruning method: autosrh, deeplight, pep).\n"
    "FILE is a tab-separated table with a header line: field, id, train_count, params.\n"
    "Prints the features, the parameters kept in all and their mean per feature.\n"
    "\n"
    "options:\n"
    "  --model CHECKPOINT  a single-process checkpoint, a cluster's manifest or a bundle\n"
    "  --data CACHE        the data cache the model was trained on (its train counts);\n"
    "                      default: the model's own training data (its config's data.*)\n"
    "  --out FILE          where the table goes (written atomically)\n"
    "  --json              print the summary as one JSON object\n"
    "  -h, --help          print this help\n"
    "\n"
    "exit codes: 0 written, 1 runtime failure (a damaged model, data of another feature\n"
    "space), 2 bad usage or a missing model or data.\n";

// Samples per lookup: sample s looks up id min(s, n_f - 1) of every field f.
constexpr uint64_t kSamplesPerLookup = 4096;

int Fail(const Status& st) {
  std::cerr << "ecps allocation: " << st.message() << "\n";
  const auto code = st.code();
  return code == absl::StatusCode::kNotFound || code == absl::StatusCode::kInvalidArgument
             ? kExitUsage
             : kExitFailure;
}

struct Summary {
  uint64_t features = 0;
  uint64_t params = 0;
};

// The table of every feature into `text`.
Status Allocation(Predictor& p, const Dataset& data, std::string* text, Summary* summary) {
  const DatasetSchema& schema = p.schema();
  const std::span<const uint32_t> counts = data.train_counts();
  if (counts.size() != schema.total_features())
    return FailedPrecondition("the data has ", counts.size(), " train counts, the model ",
                              schema.total_features(), " features: not the data it was trained on");
  const int nf = schema.num_fields;
  const int d = static_cast<int>(p.config().params.GetInt("embedding.dim"));
  uint64_t widest = 0;
  for (uint64_t c : schema.cardinalities) widest = std::max(widest, c);
  // One row of nonzero counts per field, filled lookup by lookup.
  std::vector<std::vector<uint32_t>> params(nf);
  for (int f = 0; f < nf; ++f) params[f].assign(schema.cardinalities[f], 0);
  std::vector<uint32_t> keys;
  std::vector<float> out;
  for (uint64_t begin = 0; begin < widest; begin += kSamplesPerLookup) {
    const uint64_t samples = std::min(kSamplesPerLookup, widest - begin);
    keys.resize(samples * nf);
    for (uint64_t s = 0; s < samples; ++s)
      for (int f = 0; f < nf; ++f)
        keys[s * nf + f] = static_cast<uint32_t>(std::min(begin + s, schema.cardinalities[f] - 1));
    out.resize(keys.size() * d);
    RETURN_IF_ERROR(p.embedding().Forward(keys, out.data(), /*training=*/false));
    for (uint64_t s = 0; s < samples; ++s)
      for (int f = 0; f < nf; ++f) {
        if (begin + s >= schema.cardinalities[f]) continue;
        const float* e = out.data() + (s * nf + f) * d;
        params[f][begin + s] =
            static_cast<uint32_t>(std::count_if(e, e + d, [](float v) { return v != 0.0f; }));
      }
  }
  *text = "field\tid\ttrain_count\tparams\n";
  for (int f = 0; f < nf; ++f)
    for (uint64_t x = 0; x < schema.cardinalities[f]; ++x) {
      absl::StrAppend(text,
                      schema.field_names.size() == static_cast<size_t>(nf) ? schema.field_names[f]
                                                                           : absl::StrCat(f),
                      "\t", x, "\t", counts[schema.offsets[f] + x], "\t", params[f][x], "\n");
      ++summary->features;
      summary->params += params[f][x];
    }
  return OkStatus();
}

}  // namespace

int RunAllocation(const std::vector<std::string>& args) {
  std::string model, data_path, out;
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
    std::string* value = a == "--model"  ? &model
                         : a == "--data" ? &data_path
                         : a == "--out"  ? &out
                                         : nullptr;
    if (value == nullptr) {
      std::cerr << "ecps allocation: unknown argument '" << a << "' (see --help)\n";
      return kExitUsage;
    }
    if (i + 1 >= args.size()) {
      std::cerr << "ecps allocation: " << a << " needs a value\n";
      return kExitUsage;
    }
    *value = args[++i];
  }
  if (model.empty() || out.empty()) {
    std::cerr << "ecps allocation: needs --model and --out (see --help)\n";
    return kExitUsage;
  }
  if (!data_path.empty() && !FileExists(data_path))
    return Fail(NotFound("--data '", data_path, "' does not exist"));
  StatusOr<LoadedModel> loaded = LoadModel(model, data_path);
  if (!loaded.ok()) return Fail(loaded.status());
  Predictor& p = *loaded->predictor;
  StatusOr<std::unique_ptr<Dataset>> data =
      data_path.empty() ? OpenTrainingData(p.config()) : Dataset::Open(data_path);
  if (!data.ok()) return Fail(data.status());
  std::string text;
  Summary summary;
  if (Status st = Allocation(p, **data, &text, &summary); !st.ok()) return Fail(st);
  if (Status st = AtomicWriteFile(out, text); !st.ok()) return Fail(st);
  const double mean = summary.features > 0 ? static_cast<double>(summary.params) /
                                                 static_cast<double>(summary.features)
                                           : 0.0;
  if (json) {
    nlohmann::json j = {{"model", model},
                        {"out", out},
                        {"method", p.config().method()},
                        {"features", summary.features},
                        {"params", summary.params},
                        {"mean_params", mean}};
    std::cout << j.dump() << "\n";
  } else {
    std::printf("%s: %llu features, %llu parameters kept (%.4f per feature) -> %s\n",
                p.config().method().c_str(), static_cast<unsigned long long>(summary.features),
                static_cast<unsigned long long>(summary.params), mean, out.c_str());
  }
  return kExitOk;
}

}  // namespace ecps::tools
