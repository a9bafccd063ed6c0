// `ecps train`: validate the config, prepare data, train, print results.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "compressors/compressor.h"
#include "compressors/registry.h"
#include "launch/node.h"
#include "launch/simulate.h"
#include "tools/bench/results.h"
#include "tools/commands.h"
#include "tools/train_plan.h"
#include "worker/data_source.h"
#include "worker/trainer.h"

namespace po = boost::program_options;

namespace ecps::tools {
namespace {

int Fail(const Status& s) {
  std::fprintf(stderr, "ecps train: %s\n", std::string(s.message()).c_str());
  return s.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
}

std::string Bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    ++u;
  }
  return absl::StrFormat("%.2f %s", b, units[u]);
}

void PrintTable(const nlohmann::json& r) {
  auto num = [](const nlohmann::json& v, const char* fmt) {
    return v.is_number() ? absl::StrFormat(fmt, v.get<double>()) : std::string("n/a");
  };
  std::printf("\n%-34s %s\n", "method", r["method"].get<std::string>().c_str());
  std::printf("%-34s %s\n", "model", r["model"].get<std::string>().c_str());
  std::printf("%-34s %.4g\n", "budget", r["budget"].get<double>());
  std::printf("%-34s %s / %s / %s rows, %s features\n", "data (train/val/test)",
              std::to_string(r["dataset"]["train_rows"].get<uint64_t>()).c_str(),
              std::to_string(r["dataset"]["val_rows"].get<uint64_t>()).c_str(),
              std::to_string(r["dataset"]["test_rows"].get<uint64_t>()).c_str(),
              std::to_string(r["dataset"]["features"].get<uint64_t>()).c_str());
  std::printf("%-34s %s\n", "validation AUC / logloss",
              (num(r["val_auc"], "%.5f") + " / " + num(r["val_logloss"], "%.5f")).c_str());
  std::printf("%-34s %s\n", "test AUC / logloss",
              (num(r["test_auc"], "%.5f") + " / " + num(r["test_logloss"], "%.5f")).c_str());
  std::printf("%-34s %s (%.2f%% of full)\n", "inference memory (embedding)",
              Bytes(r["inference_memory_bytes"].get<double>()).c_str(),
              100 * r["inference_memory_ratio"].get<double>());
  const auto& tm = r["training_memory"];
  std::printf("%-34s %s (%.1f%% of full)\n", "training memory (embedding)",
              Bytes(tm["embedding_total_bytes"].get<double>()).c_str(),
              100 * tm["embedding_ratio"].get<double>());
  std::printf("%-34s %s\n", "training memory (total)",
              Bytes(tm["total_bytes"].get<double>()).c_str());
  for (const auto& s : r["stages"]) {
    // A stage change that transforms the tables (Dedup's deduplication, a
    // clustering) is timed apart from the stage's training.
    const double transition = s.value("transition_seconds", 0.0);
    if (transition > 0)
      std::printf("%-34s %.2f s\n",
                  ("transition into stage " + s["name"].get<std::string>()).c_str(), transition);
    std::printf("%-34s %.2f s\n", ("train time, stage " + s["name"].get<std::string>()).c_str(),
                s["seconds"].get<double>());
  }
  std::printf("%-34s %.0f samples/s\n", "training throughput",
              r["throughput_samples_per_s"].get<double>());
  std::printf("%-34s %.3f ms (batch %d)\n", "inference latency (median)",
              r["latency_ms_per_batch_median"].get<double>(), r["batch_size"].get<int>());
  std::printf("%-34s %lld (best at %lld, stopped: %s)\n", "steps",
              static_cast<long long>(r["steps"].get<int64_t>()),
              static_cast<long long>(r["best_step"].get<int64_t>()),
              r["stop_reason"].get<std::string>().c_str());
  if (!r.contains("cluster")) return;
  // A cluster run (--simulate, mpirun, --role): its shape and what the
  // parameter server cost.
  const auto& c = r["cluster"];
  std::printf("%-34s %s: servers %d, workers %d, %s, dense all-reduce %s\n", "cluster",
              c.value("mode", "").c_str(), c.value("servers", 0), c.value("workers", 0),
              c.value("consistency", "").c_str(), c.value("allreduce", "").c_str());
  if (c.contains("prefetch"))
    std::printf("%-34s %s, %lld of %lld steps served ahead (worker 0)\n", "prefetch",
                c["prefetch"].value("mode", "").c_str(),
                static_cast<long long>(c["prefetch"].value("hits", int64_t{0})),
                static_cast<long long>(r["steps"].get<int64_t>()));
  std::printf("%-34s %.0f\n", "network bytes per sample", r.value("network_bytes_per_sample", 0.0));
}

// `--list-methods --json`: one object per registered method, in registry
// order, with its declared parameters (docs/cli.md); keys in the order
// documented there.
nlohmann::ordered_json MethodsJson() {
  // ParamType's values are fixed (params.h): 0 int, 1 float, 2 bool, 3 string.
  constexpr const char* kTypeNames[] = {"int", "float", "bool", "string"};
  // The default as a JSON value of the parameter's type (null: required, none).
  auto default_value = [](const ParamSpec& p) -> nlohmann::ordered_json {
    if (p.required && p.default_value.empty()) return nullptr;
    int64_t i;
    double d;
    if (p.type == ParamType::kInt && absl::SimpleAtoi(p.default_value, &i)) return i;
    if (p.type == ParamType::kFloat && absl::SimpleAtod(p.default_value, &d)) return d;
    if (p.type == ParamType::kBool) return p.default_value == "true";
    return p.default_value;
  };
  nlohmann::ordered_json methods = nlohmann::ordered_json::array();
  for (const auto& m : CompressorRegistry()) {
    nlohmann::ordered_json params = nlohmann::ordered_json::array();
    for (const ParamSpec& p : m.schema.specs()) {
      nlohmann::ordered_json j = {{"name", p.key},
                                  {"type", kTypeNames[static_cast<int>(p.type)]},
                                  {"default", default_value(p)},
                                  {"help", p.description}};
      // Bounds where declared (ints as integers).
      auto bound = [&](double b) -> nlohmann::ordered_json {
        if (p.type == ParamType::kInt && b > -0x1p63 && b < 0x1p63) return static_cast<int64_t>(b);
        return b;
      };
      if (p.type == ParamType::kInt || p.type == ParamType::kFloat) {
        if (p.min > -1e299) j["min"] = bound(p.min);
        if (p.max < 1e299) j["max"] = bound(p.max);
      }
      if (!p.choices.empty()) j["choices"] = p.choices;
      if (p.required) j["required"] = true;
      params.push_back(std::move(j));
    }
    methods.push_back({{"name", m.name},
                       {"family", m.family},
                       {"description", m.description},
                       {"params", std::move(params)}});
  }
  return methods;
}

}  // namespace

int RunTrain(const std::vector<std::string>& args) {
  po::options_description desc(
      "usage: ecps train [--config FILE] [--set key=value ...] [options]\n\n"
      "Trains a CTR model with a compressed embedding table and prints val/test AUC,\n"
      "memory, time and latency. Without --config the embedded defaults are used\n"
      "(DLRM, full table, generated Criteo-shaped data). Every config key is listed\n"
      "by --help-config. Results are also written as JSON to <output.dir>/results.json.\n\n"
      "options");
  std::vector<std::string> sets;
  std::string config, help_method, log_level = "info", role, scheduler;
  int servers = 0, workers = 0, rank = 0;
  desc.add_options()("help,h", "show this help")("config,c", po::value(&config),
                                                 "YAML config file (see configs/)")(
      "set,s", po::value(&sets)->composing(),
      "override one config key, e.g. --set train.batch_size=4096 (repeatable)")(
      "resume", "continue from <output.dir>/last.ckpt (same config; limits may grow)")(
      "json", "print the results JSON on stdout instead of the table")(
      "simulate", "run a whole cluster (servers + workers) as threads of this process")(
      "servers", po::value(&servers), "parameter-server shards (sets cluster.servers)")(
      "workers", po::value(&workers), "data-parallel workers (sets cluster.workers)")(
      "role", po::value(&role),
      "multi-process run by hand: scheduler | server | worker (under mpirun roles come from "
      "ranks: 0 scheduler, the next S servers, the rest workers)")(
      "rank", po::value(&rank), "index of this server or worker (with --role)")(
      "scheduler", po::value(&scheduler),
      "the scheduler's endpoint, e.g. tcp://127.0.0.1:7000 (with --role; the scheduler binds it)")(
      "print-config", "validate the config, print the effective YAML and exit")(
      "plan",
      "print the memory the configured method will take (per table and server) on the "
      "configured data, without training (--json: an object), and exit")(
      "help-config", "list every config key with type, default, bounds and description")(
      "list-methods",
      "list the registered compression methods (with --json: a JSON array of {name, family, "
      "description, params})")("help-method", po::value(&help_method),
                               "describe a method and its embedding.params.* keys")(
      "log-level", po::value(&log_level), "debug | info | warn | error | off (default info)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "ecps train: %s (try ecps train --help)\n", e.what());
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return kExitOk;
  }
  if (!SetLogLevel(log_level)) {
    std::fprintf(stderr, "ecps train: --log-level '%s' is not one of debug|info|warn|error|off\n",
                 log_level.c_str());
    return kExitUsage;
  }
  if (vm.count("help-config")) {
    std::cout << "config keys (YAML nesting = dots; method keys go under embedding.params):\n"
              << TrainConfigSchema().Help();
    return kExitOk;
  }
  if (vm.count("list-methods")) {
    if (vm.count("json")) {
      std::printf("%s\n", MethodsJson().dump(2).c_str());
      return kExitOk;
    }
    for (const auto& m : CompressorRegistry())
      std::printf("%-14s %-14s %s\n", m.name.c_str(), m.family.c_str(), m.description.c_str());
    return kExitOk;
  }
  if (vm.count("help-method")) {
    const CompressorInfo* m = FindCompressor(help_method);
    if (m == nullptr) return Fail(CreateCompressor(help_method).status());
    std::printf("%s (%s): %s\n", m->name.c_str(), m->family.c_str(), m->description.c_str());
    std::string h = m->schema.Help("  ", "embedding.params.");
    std::printf("%s", h.empty() ? "  (no parameters)\n" : h.c_str());
    return kExitOk;
  }

  for (const auto& [flag, value] : {std::pair<const char*, int>{"servers", servers},
                                    std::pair<const char*, int>{"workers", workers}})
    if (vm.count(flag) && value < 1)
      return Fail(InvalidArgument("--", flag, " ", value, ": must be at least 1"));
  if (servers > 0) sets.push_back("cluster.servers=" + std::to_string(servers));
  if (workers > 0) sets.push_back("cluster.workers=" + std::to_string(workers));
  auto cfg = LoadTrainConfig(config, sets);
  if (!cfg.ok()) return Fail(cfg.status());
  if (vm.count("print-config")) {
    std::cout << cfg->ToYaml();
    return kExitOk;
  }
  if (vm.count("plan")) {  // tools/train_plan.h
    auto data = OpenTrainingData(*cfg);
    if (!data.ok()) return Fail(data.status());
    auto plan = PlanTraining(*cfg, **data);
    if (!plan.ok()) return Fail(plan.status());
    std::cout << (vm.count("json") ? plan->dump(2) + "\n" : PlanText(*plan));
    return kExitOk;
  }
  StatusOr<nlohmann::json> results = absl::UnknownError("not run");
  const bool resume = vm.count("resume") > 0;
  // cluster.simulate lets configs and `ecps bench` suites (which only --set
  // keys) ask for the simulated cluster too.
  const bool simulate = vm.count("simulate") > 0 || cfg->params.GetBool("cluster.simulate");
  if (vm.count("role") || launch::LaunchedByMpirun()) {
    if (simulate) return Fail(InvalidArgument("--simulate runs every role itself"));
    auto shape = launch::ClusterShapeFromConfig(*cfg);
    if (!shape.ok()) return Fail(shape.status());
    const TrainConfig& c = *cfg;
    launch::DataOpener open = [&c] { return OpenTrainingData(c); };
    if (vm.count("role")) {
      launch::NodeSpec spec;
      auto r = launch::ParseRole(role);
      if (!r.ok()) return Fail(r.status());
      spec.role = *r;
      spec.rank = rank;
      spec.scheduler = scheduler;
      results = launch::RunNode(*cfg, *shape, spec, open, resume);
    } else {
      results = launch::RunUnderMpirun(*cfg, *shape, open, resume);
    }
    if (!results.ok()) return Fail(results.status());
    if (results->is_null()) return kExitOk;  // servers and workers print nothing
  } else {
    // The cluster keys are checked before the data is read or generated.
    StatusOr<launch::ClusterShape> shape = launch::ClusterShape{};
    if (simulate) shape = launch::ClusterShapeFromConfig(*cfg);
    if (!shape.ok()) return Fail(shape.status());
    // This job owns output.dir (a cluster's scheduler takes it in launch/)
    // until it returns: before any data is generated or read.
    auto lock = OutputDirLock::Acquire(cfg->params.GetString("output.dir"));
    if (!lock.ok()) return Fail(lock.status());
    auto data = OpenTrainingData(*cfg);
    if (!data.ok()) return Fail(data.status());
    if (simulate) {
      results = launch::RunSimulation(*cfg, data->get(), *shape, resume);
    } else {
      auto trainer = Trainer::Create(*cfg, data->get());
      if (!trainer.ok()) return Fail(trainer.status());
      results = (*trainer)->Run(resume);
    }
  }
  if (!results.ok()) return Fail(results.status());
  // A budget below the method's smallest table trains at the real ratio; say
  // so (bench's rule, 2% slack), on stderr so that --json stays parseable.
  if (!bench::ReachesBudget(*results))
    std::fprintf(stderr,
                 "ecps train: warning: method '%s' cannot reach embedding.budget=%g: its table "
                 "takes %.4g of the full fp32 table (inference_memory_ratio)\n",
                 (*results)["method"].get<std::string>().c_str(),
                 (*results)["budget"].get<double>(),
                 (*results)["inference_memory_ratio"].get<double>());
  if (vm.count("json")) {
    std::cout << results->dump(2) << std::endl;
  } else {
    PrintTable(*results);
    const std::string out = cfg->params.GetString("output.results");
    if (!out.empty())
      std::printf("%-34s %s/%s\n", "results", cfg->params.GetString("output.dir").c_str(),
                  out.c_str());
  }
  return kExitOk;
}

}  // namespace ecps::tools
