#include "worker/data_source.h"

#include <filesystem>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "worker/data/gen_data.h"
#include "worker/data/preprocess.h"

namespace ecps {
namespace {

// The cache name encodes every option that changes its contents.
std::string CacheName(const std::string& stem, const ParamSet& p) {
  return absl::StrFormat("%s.%s-v%g-t%g-m%d.ecache", stem, p.GetString("data.split"),
                         p.GetFloat("data.val_ratio"), p.GetFloat("data.test_ratio"),
                         p.GetInt("data.min_count"));
}

Status BuildCache(const std::vector<std::string>& inputs, const ParamSet& p,
                  const std::string& cache) {
  PreprocessOptions o;
  o.inputs = inputs;
  o.format = p.GetString("data.format");
  o.output = cache;
  o.min_count = static_cast<uint64_t>(p.GetInt("data.min_count"));
  o.split = p.GetString("data.split");
  o.val_ratio = p.GetFloat("data.val_ratio");
  o.test_ratio = p.GetFloat("data.test_ratio");
  o.on_malformed =
      p.GetString("data.on_malformed") == "fail" ? MalformedPolicy::kFail : MalformedPolicy::kSkip;
  ECPS_LOG_INFO("preprocessing {} -> {}", absl::StrJoin(inputs, ","), cache);
  ASSIGN_OR_RETURN(PreprocessReport r, Preprocess(o));
  ECPS_LOG_INFO("preprocessed {} rows ({} train / {} val / {} test), {} features, {:.1f} MB/s",
                r.rows_written, r.train_rows, r.val_rows, r.test_rows, r.features,
                r.seconds > 0 ? r.input_bytes / 1e6 / r.seconds : 0.0);
  if (r.malformed.total() > 0) {
    ECPS_LOG_WARN("skipped {} malformed lines", r.malformed.total());
    for (const auto& e : r.examples) ECPS_LOG_WARN("  {}", e);
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<Dataset>> OpenTrainingData(const TrainConfig& config) {
  const ParamSet& p = config.params;
  const std::string source = p.GetString("data.source");
  if (source == "cache") return Dataset::Open(p.GetString("data.cache"));

  const std::string dir = p.GetString("data.cache_dir");
  RETURN_IF_ERROR(MakeDirs(dir));
  std::vector<std::string> inputs;
  std::string stem;
  if (source == "generate") {
    GenDataOptions g;
    g.format = p.GetString("data.format");
    if (g.format == "libsvm")
      return InvalidArgument(config.origin,
                             ": config key 'data.format': gen-data writes criteo or avazu");
    g.rows = static_cast<uint64_t>(p.GetInt("data.generate.rows"));
    g.features = static_cast<uint64_t>(p.GetInt("data.generate.features"));
    g.seed = static_cast<uint64_t>(p.GetInt("data.generate.seed"));
    g.alpha = p.GetFloat("data.generate.alpha");
    stem = GenDataStem(g);
    std::string text = (std::filesystem::path(dir) / (stem + ".txt")).string();
    if (!FileExists(text)) {
      ECPS_LOG_INFO("generating {} rows of {}-format data -> {}", g.rows, g.format, text);
      ASSIGN_OR_RETURN(GenDataReport r, GenerateData(g, text));
      ECPS_LOG_INFO("generated {} rows in {:.2f}s (positive rate {:.3f}, oracle AUC {:.4f})",
                    r.rows, r.seconds, r.positive_rate, r.oracle_auc);
    }
    inputs.push_back(text);
  } else {
    inputs = absl::StrSplit(p.GetString("data.raw"), ',', absl::SkipEmpty());
    stem = std::filesystem::path(inputs.front()).filename().string();
  }
  std::string cache = (std::filesystem::path(dir) / CacheName(stem, p)).string();
  if (!FileExists(cache)) RETURN_IF_ERROR(BuildCache(inputs, p, cache));
  return Dataset::Open(cache);
}

}  // namespace ecps
