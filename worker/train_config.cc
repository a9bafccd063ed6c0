#include "worker/train_config.h"

#include <charconv>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "compressors/compressor.h"
#include "compressors/registry.h"

namespace ecps {

const ParamSchema& TrainConfigSchema() {
  static const ParamSchema* schema = [] {
    auto* s = new ParamSchema();
    // data.*
    s->String("data.source", "generate",
              "where rows come from: 'generate' (ecps gen-data into data.cache_dir), "
              "'raw' (preprocess data.raw), or 'cache' (an existing cache at data.cache)",
              {"generate", "raw", "cache"});
    s->String("data.cache", "", "preprocessed cache file (data.source=cache)");
    s->String("data.raw", "", "raw text file(s), comma separated (data.source=raw)");
    s->String("data.format", "criteo",
              "raw format: criteo (TSV), avazu (CSV), libsvm or libfm (label feature:value, "
              "field = position on the line), libffm (label field:feature:value); feature "
              "values: data.feature_values (docs/cli.md, \"Data formats\")",
              {"criteo", "avazu", "libsvm", "libfm", "libffm"});
    s->String("data.cache_dir", "runs/data",
              "directory for generated text and caches built by this run");
    s->Int("data.generate.rows", 500000, 1000, 1LL << 40, "rows of generated data");
    s->Int("data.generate.features", 200000, 100, 1LL << 40,
           "distinct categorical values of generated data");
    s->Int("data.generate.seed", 1, 0, 1LL << 62, "seed of generated data");
    s->Float("data.generate.alpha", 1.5, 1.001, 10,
             "tail exponent of the value-frequency law of generated data; lower = more "
             "distinct values, Criteo-like ~ 1.1 (not 1.5 adds -a<alpha> to the file names)");
    s->Float("data.generate.drift", 0, 0, 100,
             "popularity drift of generated data: a fresh hot cohort of values every this "
             "percent of the rows (0 = none; not 0 adds -d<drift> to the file names)");
    s->String("data.split", "days",
              "'days' (docs/methods.md §1.1; criteo and avazu only), 'ratio', or 'files' "
              "(data.train, data.validation, data.test; implied by data.train)",
              {"days", "ratio", "files"});
    s->Float("data.val_ratio", 0.05, 0, 0.9,
             "validation share for split=ratio (rows rounded to the nearest count)");
    s->Float("data.test_ratio", 0.1, 0, 0.9, "test share (last rows) for split=ratio");
    s->String("data.train", "",
              "train file(s), comma separated (data.source=raw, instead of data.raw): the rows "
              "of data.train, data.validation and data.test make those splits");
    s->String("data.validation", "", "validation file(s), comma separated (with data.train)");
    s->String("data.test", "", "test file(s), comma separated (with data.train)");
    s->Int("data.min_count", 0, 0, 1LL << 40,
           "values seen fewer times map to the field's OOV id (0 keeps all)");
    s->String("data.vocabulary", "train",
              "ids for the values of: train (values unseen in the train split map to their "
              "field's OOV id 0) or all (every split's values get their own id, the paper's "
              "setting)",
              {"train", "all"});
    s->String("data.feature_values", "weight",
              "libsvm/libfm/libffm feature values: weight (a value multiplies its field's "
              "embedding vector, in training, evaluation and predict) or ignore (every value "
              "reads as 1)",
              {"weight", "ignore"});
    s->String("data.cache_mismatch", "rebuild",
              "a cache in data.cache_dir built from other inputs or options (docs/cli.md): "
              "rebuild it (with a warning naming what changed) or fail",
              {"rebuild", "fail"});
    s->String("data.on_malformed", "skip", "malformed raw lines: skip (count, report) or fail",
              {"skip", "fail"});
    // model.*
    s->String("model.name", "dlrm", "dense network", {"dlrm", "wdl", "dcn"});
    s->String("model.bottom", "512,256,64",
              "DLRM bottom MLP hidden sizes (output is embedding.dim)");
    s->String("model.top", "512,256", "DLRM top MLP hidden sizes (output is 1)");
    s->String("model.deep", "",
              "WDL/DCN deep part sizes; empty = paper default "
              "(WDL 256,256; DCN 256,256,256)");
    s->Int("model.cross_layers", 3, 1, 64, "DCN cross layers");
    s->Int("model.threads", 0, 0, 1024, "CPU threads for the dense network (0 = all cores)");
    s->String("model.bias_init", "zero",
              "Linear biases: zero (docs/methods.md §1.3) or normal N(0, 1/sqrt(fan_out)) "
              "(the DLRM reference code's)",
              {"zero", "normal"});
    s->String("model.device", "cpu", "device of the dense network", {"cpu", "cuda"});
    // embedding.*
    s->String("embedding.method", "full", "compression method (see `ecps train --list-methods`)");
    s->Int("embedding.dim", 16, 1, 4096, "embedding dimension d");
    s->Float("embedding.budget", 1.0, 1e-6, 1.0,
             "inference-memory budget as a fraction of the full fp32 table (0.5, 0.1, 0.01, ...) "
             "or a percentage (50%, 10%, 1%)");
    // optimizer.*
    s->String("optimizer.name", "adam", "dense optimizer", {"adam", "sgd", "adagrad"});
    s->String("optimizer.sparse", "adam", "embedding-row optimizer (lazy)",
              {"adam", "sgd", "adagrad", "rowwise_adagrad"});
    s->Float("optimizer.lr", 0.001, 0, 100, "learning rate (dense and sparse)");
    s->Float("optimizer.sparse_lr", 0, 0, 100, "embedding learning rate; 0 = optimizer.lr");
    s->Float("optimizer.beta1", 0.9, 0, 1, "Adam beta1");
    s->Float("optimizer.beta2", 0.999, 0, 1, "Adam beta2");
    s->Float("optimizer.eps", 1e-8, 0, 1, "Adam epsilon");
    // train.*
    s->Int("train.batch_size", 128, 1, 1 << 20, "training batch size (drop_last)");
    s->Int("train.epochs", 1, 1, 10000, "maximum epochs per stage");
    s->Int("train.max_steps", 0, 0, 1LL << 50, "stop a stage after this many steps (0 = no limit)");
    s->Int("train.evals_per_epoch", 4, 0, 100000,
           "validation evaluations per epoch (0 = only at the end of each epoch)");
    s->Int("train.early_stop_evals", 10, 0, 100000,
           "stop after this many evaluations without a new best validation value of "
           "train.select_by (0 = never)");
    s->String("train.select_by", "auc",
              "validation metric that selects best.ckpt and drives early stopping: auc "
              "(higher is better) or logloss (lower is better)",
              {"auc", "logloss"});
    s->String("train.shuffle", "once",
              "train order: shuffled once (paper), every epoch, or file order",
              {"once", "epoch", "none"});
    s->Int("train.seed", 1, 0, 1LL << 62, "seed of initialisation, shuffling and rounding");
    s->Bool("train.online_eval", false,
            "progressive validation: score every training batch of the first epoch before it "
            "is trained on and report AUC per window of train.online_window rows as "
            "results.online (needs train.shuffle=none: file order)");
    s->Int("train.online_window", 100000, 1, 1LL << 50,
           "rows per online-evaluation window (a window closes at the first batch end at or "
           "past it)");
    s->Int("train.eval_batch_size", 4096, 1, 1 << 22, "batch size for evaluation");
    s->Int("train.max_eval_rows", 0, 0, 1LL << 50, "cap on rows per evaluation (0 = all)");
    s->Int("train.latency_batches", 200, 1, 1000000,
           "batches timed for the inference-latency median");
    // output.*
    s->String("output.dir", "runs/default", "directory for checkpoints and results");
    s->String("output.results", "results.json", "results file name inside output.dir ('' = none)");
    s->Int("output.checkpoint_every", 0, 0, 1LL << 50,
           "also write a resumable checkpoint every N steps (0 = only at evaluations)");
    s->String("output.progress", "auto", "progress display: bar on a terminal, log lines otherwise",
              {"auto", "bar", "log", "none"});
    // cluster.* (read by launch/ only; docs/architecture.md "Distributed runtime").
    s->Bool("cluster.simulate", false,
            "run servers and workers as threads of this process (same as --simulate)");
    s->Int("cluster.servers", 1, 1, 4096, "parameter-server shards (simulation and mpirun)");
    s->Int("cluster.workers", 1, 1, 4096, "data-parallel workers (simulation and mpirun)");
    s->String("cluster.consistency", "bsp",
              "sparse-update consistency: bsp (deterministic), asp, or ssp (cluster.staleness)",
              {"bsp", "asp", "ssp"});
    s->Int("cluster.staleness", 2, 0, 1 << 20, "SSP bound: clocks a worker may run ahead");
    s->String("cluster.allreduce", "auto",
              "how workers sum dense gradients across processes: mpi (Open MPI, under mpirun), "
              "scheduler (through the scheduler over ZeroMQ, deterministic for any worker "
              "count; the only way for --role launches), auto (mpi under mpirun)",
              {"auto", "mpi", "scheduler"});
    s->String("cluster.prefetch", "ordered",
              "pull the next batch's rows while computing the current one: off; ordered (served "
              "once this step's push is applied: the same rows, BSP stays bit-identical); eager "
              "(asp/ssp only: served at once, may miss the worker's own last push)",
              {"off", "ordered", "eager"});
    s->Int("cluster.virtual_shards", 64, 1, 1 << 20,
           "virtual shards per table (fixed per model; lets a checkpoint move to other server "
           "counts)");
    s->Int("cluster.server_threads", 2, 1, 1024, "request handler threads per server");
    s->Int("cluster.heartbeat_interval_ms", 500, 10, 3600000, "heartbeat period of every node");
    s->Int("cluster.heartbeat_timeout_ms", 10000, 100, 86400000,
           "a node silent this long is declared dead and the job stops");
    s->Int("cluster.register_timeout_ms", 300000, 1000, 86400000,
           "how long a server or worker waits for the scheduler to answer its registration "
           "(it answers once every process registered), saying every 5 s that it waits; then "
           "it gives up naming the scheduler's address (exit 1)");
    s->String("cluster.transport", "tcp",
              "transport between processes (mpirun): tcp (loopback or hosts) or ipc (one host)",
              {"tcp", "ipc"});
    s->String("cluster.host", "127.0.0.1", "address this process binds and advertises (tcp)");
    s->Bool("cluster.encrypt", false,
            "CurveZMQ on every connection of a multi-process job: traffic encrypted and only "
            "processes holding the job token can connect (docs/security.md)");
    s->Int("cluster.max_message_mb", 16384, 1, 1 << 20,
           "largest message (header and payloads, MiB) a process of a cluster accepts; a "
           "larger one is dropped and counted, and no length it announces is allocated "
           "(docs/security.md)");
    s->Int("cluster.server_memory_mb", 0, 0, int64_t{1} << 40,
           "most memory (MiB) a parameter server allocates for its share of the tables a "
           "worker asks for (rows, optimizer state, initial values); larger tables are "
           "refused naming their sizes; 0: the memory of the server's host (docs/security.md)");
    return s;
  }();
  return *schema;
}

StatusOr<std::vector<int>> ParseSizes(const std::string& key, const std::string& text) {
  std::vector<int> out;
  if (text.empty()) return out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v <= 0)
      return InvalidArgument("config key '", key, "': '", text,
                             "' is not a comma-separated list of positive sizes");
    out.push_back(v);
  }
  return out;
}

StatusOr<DenseModelConfig> TrainConfig::ModelConfig(int num_dense, int num_fields) const {
  DenseModelConfig c;
  c.name = params.GetString("model.name");
  c.num_dense = num_dense;
  c.num_fields = num_fields;
  c.dim = static_cast<int>(params.GetInt("embedding.dim"));
  ASSIGN_OR_RETURN(c.bottom, ParseSizes("model.bottom", params.GetString("model.bottom")));
  ASSIGN_OR_RETURN(c.top, ParseSizes("model.top", params.GetString("model.top")));
  ASSIGN_OR_RETURN(auto deep, ParseSizes("model.deep", params.GetString("model.deep")));
  if (deep.empty())
    deep = c.name == "dcn" ? std::vector<int>{256, 256, 256} : std::vector<int>{256, 256};
  // WDL's deep part is `deep`, DCN's `dcn_deep` (DcnNet reads only that one).
  if (c.name == "dcn") {
    c.dcn_deep = deep;
  } else {
    c.deep = deep;
  }
  c.cross_layers = static_cast<int>(params.GetInt("model.cross_layers"));
  c.threads = static_cast<int>(params.GetInt("model.threads"));
  c.bias_init = params.GetString("model.bias_init");
  return c;
}

std::string TrainConfig::ToYaml() const {
  // Method parameters nest under embedding.params, so the output loads back.
  std::map<std::string, std::string> flat = params.EffectiveValues();
  if (method_params.schema() != nullptr)
    for (const auto& [k, v] : method_params.EffectiveValues()) flat["embedding.params." + k] = v;
  return NestedYaml(flat);
}

std::string BudgetFraction(const std::string& value) {
  std::string v(absl::StripAsciiWhitespace(value));
  if (v.empty() || v.back() != '%') return value;
  double percent = 0;
  if (!absl::SimpleAtod(v.substr(0, v.size() - 1), &percent) || !std::isfinite(percent))
    return value;  // not a percentage: the schema's error names the value
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), percent / 100);
  return ec == std::errc() ? std::string(buf, end) : value;
}

StatusOr<TrainConfig> LoadTrainConfig(const std::string& path,
                                      const std::vector<std::string>& overrides) {
  TrainConfig cfg;
  cfg.params = ParamSet(&TrainConfigSchema());
  cfg.origin = path.empty() ? "<defaults>" : path;
  std::map<std::string, std::string> method_values;
  // Where a key's value came from, for messages about it: "--set key=value"
  // for a command-line override (it wins over the file), else the file.
  std::map<std::string, std::string> from_set;
  auto origin = [&](const std::string& key) {
    auto it = from_set.find(key);
    return it != from_set.end() ? it->second : cfg.origin;
  };
  auto route = [&](const std::string& key, const std::string& value,
                   const std::string& where) -> Status {
    static const std::string kPrefix = "embedding.params.";
    if (key.rfind(kPrefix, 0) == 0) {
      method_values[key.substr(kPrefix.size())] = value;
      return OkStatus();
    }
    if (key == "embedding.budget")
      return Annotate(cfg.params.Set(key, BudgetFraction(value)), where);
    return Annotate(cfg.params.Set(key, value), where);
  };
  if (!path.empty()) {
    auto text = ReadFile(path);
    if (!text.ok()) return InvalidArgument("config '", path, "': ", text.status().message());
    ASSIGN_OR_RETURN(auto flat, FlattenYaml(*text, path));
    for (const auto& [k, v] : flat) RETURN_IF_ERROR(route(k, v, path));
  }
  for (const auto& a : overrides) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      return InvalidArgument("--set '", a, "': expected key=value");
    from_set[a.substr(0, eq)] = "--set " + a;
    RETURN_IF_ERROR(route(a.substr(0, eq), a.substr(eq + 1), "--set"));
  }
  RETURN_IF_ERROR(cfg.params.Validate());

  const CompressorInfo* info = FindCompressor(cfg.method());
  if (info == nullptr) {
    // CreateCompressor's error lists every registered method.
    return Annotate(CreateCompressor(cfg.method()).status(),
                    absl::StrCat(origin("embedding.method"), ": config key 'embedding.method'"));
  }
  cfg.method_params = ParamSet(&info->schema);
  for (const auto& [k, v] : method_values) {
    Status s = cfg.method_params.Set(k, v);
    if (!s.ok())
      return InvalidArgument(origin("embedding.params." + k), ": method '", cfg.method(),
                             "' (keys under embedding.params): ", s.message());
  }
  RETURN_IF_ERROR(cfg.method_params.Validate());

  // Cross-key checks.
  const std::string source = cfg.params.GetString("data.source");
  if (source == "cache" && cfg.params.GetString("data.cache").empty())
    return InvalidArgument(origin("data.source"),
                           ": config key 'data.cache' is required when data.source=cache");
  const bool by_files = !cfg.params.GetString("data.train").empty();
  for (const char* key : {"data.validation", "data.test"})
    if (!by_files && !cfg.params.GetString(key).empty())
      return InvalidArgument(origin(key), ": config key '", key,
                             "' needs 'data.train' (the split by files)");
  if (by_files) {
    if (source != "raw")
      return InvalidArgument(origin("data.train"),
                             ": config key 'data.train' needs data.source=raw (is '", source, "')");
    if (!cfg.params.GetString("data.raw").empty())
      return InvalidArgument(cfg.origin,
                             ": config keys 'data.raw' and 'data.train' exclude each other: give "
                             "every file as data.train, data.validation or data.test");
    const auto& set = cfg.params.values();
    auto split = set.find("data.split");
    if (split != set.end() && split->second != "files")
      return InvalidArgument(origin("data.split"), ": config key 'data.split' is '", split->second,
                             "', but data.train gives the split by files (leave data.split "
                             "unset or set it to files)");
  } else if (cfg.params.GetString("data.split") == "files") {
    return InvalidArgument(cfg.origin,
                           ": config key 'data.split' is files, which needs "
                           "'data.train' (and optionally data.validation, data.test)");
  }
  if (source == "raw" && !by_files && cfg.params.GetString("data.raw").empty())
    return InvalidArgument(origin("data.source"),
                           ": config key 'data.raw' (or 'data.train') is required when "
                           "data.source=raw");
  if (cfg.params.GetString("data.split") == "ratio" &&
      cfg.params.GetFloat("data.val_ratio") + cfg.params.GetFloat("data.test_ratio") >= 1.0)
    return InvalidArgument(
        from_set.count("data.val_ratio") ? origin("data.val_ratio") : origin("data.test_ratio"),
        ": config keys 'data.val_ratio' + 'data.test_ratio' must be < 1");
  for (const char* key : {"model.bottom", "model.top", "model.deep"})
    RETURN_IF_ERROR(Annotate(ParseSizes(key, cfg.params.GetString(key)).status(), cfg.origin));
  // Progressive validation follows the stream's time order: a shuffled
  // order would mix the windows (and hide any drift).
  if (cfg.params.GetBool("train.online_eval") && cfg.params.GetString("train.shuffle") != "none")
    return InvalidArgument(origin("train.online_eval"),
                           ": config key 'train.online_eval' needs train.shuffle=none (file "
                           "order), but train.shuffle is '",
                           cfg.params.GetString("train.shuffle"), "'");
  return cfg;
}

}  // namespace ecps
