#include "worker/data_source.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "worker/data/cache_format.h"
#include "worker/data/cache_identity.h"
#include "worker/data/gen_data.h"
#include "worker/data/preprocess.h"

namespace ecps {
namespace {

std::vector<std::string> FileList(const ParamSet& p, const std::string& key) {
  return absl::StrSplit(p.GetString(key), ',', absl::SkipEmpty());
}

// data.train makes the split "files" (LoadTrainConfig refuses another explicit data.split).
std::string EffectiveSplit(const ParamSet& p) {
  return p.GetString("data.train").empty() ? p.GetString("data.split") : "files";
}

// The cache name: the common options, so that runs differing in them keep
// their own caches; the identity inside decides whether one can be reused.
std::string CacheName(const std::string& stem, const ParamSet& p) {
  return absl::StrFormat("%s.%s-v%g-t%g-m%d%s.ecache", stem, EffectiveSplit(p),
                         p.GetFloat("data.val_ratio"), p.GetFloat("data.test_ratio"),
                         p.GetInt("data.min_count"),
                         p.GetString("data.vocabulary") == "all" ? "-all" : "");
}

PreprocessOptions CacheOptions(const std::vector<std::string>& inputs, const ParamSet& p,
                               const std::string& cache) {
  PreprocessOptions o;
  o.format = p.GetString("data.format");
  o.output = cache;
  o.min_count = static_cast<uint64_t>(p.GetInt("data.min_count"));
  o.vocabulary_from_train = p.GetString("data.vocabulary") == "train";
  o.weight_values = p.GetString("data.feature_values") == "weight";
  o.split = EffectiveSplit(p);
  if (o.split == "files") {
    o.train_inputs = FileList(p, "data.train");
    o.val_inputs = FileList(p, "data.validation");
    o.test_inputs = FileList(p, "data.test");
  } else {
    o.inputs = inputs;
  }
  o.val_ratio = p.GetFloat("data.val_ratio");
  o.test_ratio = p.GetFloat("data.test_ratio");
  o.on_malformed =
      p.GetString("data.on_malformed") == "fail" ? MalformedPolicy::kFail : MalformedPolicy::kSkip;
  return o;
}

Status BuildCache(const PreprocessOptions& o) {
  std::vector<std::string> all = o.inputs;
  for (const auto* list : {&o.train_inputs, &o.val_inputs, &o.test_inputs})
    all.insert(all.end(), list->begin(), list->end());
  ECPS_LOG_INFO("preprocessing {} -> {}", absl::StrJoin(all, ","), o.output);
  ASSIGN_OR_RETURN(PreprocessReport r, Preprocess(o));
  ECPS_LOG_INFO("preprocessed {} rows ({} train / {} val / {} test), {} features, {:.1f} MB/s",
                r.rows_written, r.train_rows, r.val_rows, r.test_rows, r.features,
                r.seconds > 0 ? r.input_bytes / 1e6 / r.seconds : 0.0);
  if (r.malformed.total() > 0) {
    ECPS_LOG_WARN("skipped {} malformed lines", r.malformed.total());
    for (const auto& e : r.examples) ECPS_LOG_WARN("  {}", e);
  }
  for (const auto& w : r.warnings) ECPS_LOG_WARN("{}", w);
  return OkStatus();
}

// Why the cache at o.output cannot serve this run ("" = it can). A cache is
// reused only when its stored identity equals the one of the inputs and
// options now, so another data set sharing data.cache_dir, a changed file
// list or format, or an input rewritten in place never trains on old rows.
StatusOr<std::string> StaleReason(const PreprocessOptions& o) {
  ASSIGN_OR_RETURN(CacheIdentity want, ComputeCacheIdentity(o));
  StatusOr<DatasetSchema> have = ReadCacheSchema(o.output);
  if (!have.ok()) return std::string(have.status().message());
  const std::string now = want.ToText();
  if (have->identity == now) return std::string();
  return absl::StrCat("it was built from other inputs or options: ",
                      DescribeIdentityChange(have->identity, now));
}

}  // namespace

StatusOr<std::unique_ptr<Dataset>> OpenTrainingData(const TrainConfig& config) {
  const ParamSet& p = config.params;
  const std::string source = p.GetString("data.source");
  if (source == "cache") {
    ASSIGN_OR_RETURN(std::unique_ptr<Dataset> d, Dataset::Open(p.GetString("data.cache")));
    // A given cache is used as it is: its values cannot be dropped here.
    if (d->schema().has_values && p.GetString("data.feature_values") == "ignore") {
      return InvalidArgument(config.origin, ": config key 'data.feature_values' is ignore, but '",
                             p.GetString("data.cache"),
                             "' carries feature values; rebuild it with `ecps preprocess "
                             "--feature-values ignore` or use data.feature_values=weight");
    }
    if (d->NumRows(Split::kTrain) == 0) {
      return InvalidArgument(config.origin, ": config key 'data.cache': the train split of '",
                             p.GetString("data.cache"), "' is empty");
    }
    return d;
  }

  const std::string dir = p.GetString("data.cache_dir");
  RETURN_IF_ERROR(MakeDirs(dir));
  std::vector<std::string> inputs;
  std::string stem;
  if (source == "generate") {
    GenDataOptions g;
    g.format = p.GetString("data.format");
    if (g.format != "criteo" && g.format != "avazu")
      return InvalidArgument(config.origin, ": config key 'data.format' is '", g.format,
                             "': data.source=generate writes criteo or avazu (for libsvm, libfm "
                             "or libffm write the file with `ecps gen-data --format ",
                             g.format, "` and train on it with data.source=raw)");
    g.rows = static_cast<uint64_t>(p.GetInt("data.generate.rows"));
    g.features = static_cast<uint64_t>(p.GetInt("data.generate.features"));
    g.seed = static_cast<uint64_t>(p.GetInt("data.generate.seed"));
    g.alpha = p.GetFloat("data.generate.alpha");
    g.drift = p.GetFloat("data.generate.drift");
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
    inputs = FileList(p, EffectiveSplit(p) == "files" ? "data.train" : "data.raw");
    stem = std::filesystem::path(inputs.front()).filename().string();
  }
  std::string cache = (std::filesystem::path(dir) / CacheName(stem, p)).string();
  PreprocessOptions o = CacheOptions(inputs, p, cache);
  // gen-data lays its rows out as the 7 days by construction.
  o.days_by_construction = source == "generate";
  if (FileExists(cache)) {
    ASSIGN_OR_RETURN(std::string stale, StaleReason(o));
    if (stale.empty()) return Dataset::Open(cache);
    if (p.GetString("data.cache_mismatch") == "fail") {
      return FailedPrecondition("data cache '", cache, "' does not match this run (",
                                "data.cache_mismatch=fail): ", stale);
    }
    ECPS_LOG_WARN("data cache {} is not reused: {}; rebuilding it", cache, stale);
  }
  RETURN_IF_ERROR(BuildCache(o));
  return Dataset::Open(cache);
}

StatusOr<std::string> TrainingCachePath(const TrainConfig& config) {
  const ParamSet& p = config.params;
  const std::string source = p.GetString("data.source");
  if (source == "cache") return p.GetString("data.cache");
  std::string stem;
  if (source == "generate") {
    // The generated file's stem depends only on these options (GenDataStem).
    GenDataOptions g;
    g.format = p.GetString("data.format");
    g.rows = static_cast<uint64_t>(p.GetInt("data.generate.rows"));
    g.features = static_cast<uint64_t>(p.GetInt("data.generate.features"));
    g.seed = static_cast<uint64_t>(p.GetInt("data.generate.seed"));
    g.alpha = p.GetFloat("data.generate.alpha");
    g.drift = p.GetFloat("data.generate.drift");
    stem = GenDataStem(g);
  } else {
    const std::vector<std::string> inputs =
        FileList(p, EffectiveSplit(p) == "files" ? "data.train" : "data.raw");
    if (inputs.empty())
      return InvalidArgument(config.origin, ": config key 'data.raw': no input files");
    stem = std::filesystem::path(inputs.front()).filename().string();
  }
  return (std::filesystem::path(p.GetString("data.cache_dir")) / CacheName(stem, p)).string();
}

}  // namespace ecps
