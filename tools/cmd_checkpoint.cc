// `ecps checkpoint verify|inspect|export|convert` (docs/cli.md). Parsing and printing only; the
// checks are in tools/checkpoint_verify.cc.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "common/file_util.h"
#include "tools/checkpoint_verify.h"
#include "tools/commands.h"
#include "tools/load_model.h"
#include "vectors/vector_io.h"
#include "worker/bundle.h"
#include "worker/data_source.h"

namespace ecps::tools {
namespace {

constexpr char kUsage[] =
    "usage: ecps checkpoint verify [--json] <checkpoint>\n"
    "       ecps checkpoint inspect [--json] <checkpoint>\n"
    "       ecps checkpoint export --table NAME --format npy --out FILE <checkpoint>\n"
    "       ecps checkpoint convert --out FILE [--data CACHE] [--json] <checkpoint>\n"
    "       ecps checkpoint reshard --servers N --out DIR <manifest>\n"
    "\n"
    "verify and inspect also read a bundle (checkpoint convert): its checksum and header.\n"
    "inspect: the verify summary plus each table's rows and bytes per virtual shard and per\n"
    "server, the stage by name, the model, budget and the whole training config.\n"
    "export: one stored table decoded to fp32 (rows x width) as a NumPy .npy file (float32,\n"
    "C order; docs/formats.md \"Exported table\").\n"
    "convert: one self-contained servable bundle (dense model, tables as stored, method\n"
    "state, config, feature space, checksum; docs/formats.md \"Servable bundle\") that\n"
    "ecps predict --model loads. The feature space comes from the data the model was\n"
    "trained on: its config's data.*, or --data CACHE, which must be that very data.\n"
    "reshard: the cluster checkpoints of <manifest>'s directory (last and best) rewritten\n"
    "into the empty or new DIR for N servers (virtual shards stay; DIR can be output.dir of\n"
    "a --resume with --servers N), verified by reading them back.\n"
    "\n"
    "verify:\n"
    "Checks that a checkpoint is intact and summarises it. <checkpoint> is a cluster's\n"
    "manifest (<output.dir>/last.ckpt or best.ckpt of a --simulate, mpirun or by-hand run)\n"
    "or a single-process checkpoint file. Every part the manifest names must exist with\n"
    "its recorded size and checksum, and its rows must decode.\n"
    "\n"
    "options:\n"
    "  --json      print the summary as one JSON object (also when it is damaged)\n"
    "  -h, --help  print this help\n"
    "\n"
    "exit codes: 0 intact, 1 damaged (each missing, truncated or corrupt file is named on\n"
    "stderr), 2 bad usage, or <checkpoint> missing or not a checkpoint.\n";

// The exit code of an error (docs/cli.md): 2 for a missing or foreign input,
// 1 otherwise; the message goes to stderr.
int Fail(const Status& st) {
  std::cerr << "ecps: " << st.message() << "\n";
  const auto code = st.code();
  return code == absl::StatusCode::kNotFound || code == absl::StatusCode::kInvalidArgument
             ? kExitUsage
             : kExitFailure;
}

// verify and inspect: the same checks, inspect prints more.
int Verify(const std::vector<std::string>& args, bool inspect) {
  const char* verb = inspect ? "inspect" : "verify";
  bool json = false;
  std::string path;
  for (const std::string& a : args) {
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (a == "--json") {
      json = true;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "ecps checkpoint " << verb << ": unknown option '" << a << "' (see --help)\n";
      return kExitUsage;
    } else if (path.empty()) {
      path = a;
    } else {
      std::cerr << "ecps checkpoint " << verb << ": one checkpoint at a time (got '" << path
                << "' and '" << a << "')\n";
      return kExitUsage;
    }
  }
  if (path.empty()) {
    std::cerr << "ecps checkpoint " << verb << ": which checkpoint? (see --help)\n";
    return kExitUsage;
  }
  if (IsBundle(path)) {
    // A servable bundle (checkpoint convert): its checksum and its header.
    StatusOr<nlohmann::json> h = Predictor::ReadBundleHeader(path);
    if (!h.ok()) return Fail(h.status());
    if (json) {
      std::cout << h->dump(2) << "\n";
    } else {
      std::cout << "bundle " << path << ": intact\n"
                << "  method          " << h->value("method", "?") << "\n"
                << "  from            " << h->value("source", nlohmann::json()).dump() << "\n"
                << "  tables          " << h->value("tables", nlohmann::json()).dump() << "\n"
                << "  table bytes     " << h->value("table_bytes", uint64_t{0}) << " B of "
                << (*h)["bytes"] << " B\n"
                << "  written by      ecps at commit " << h->value("converted_by_git_commit", "?")
                << "\n";
    }
    return kExitOk;
  }
  StatusOr<CheckpointSummary> s = VerifyCheckpoint(path);
  if (!s.ok()) {
    std::cerr << "ecps: " << s.status().message() << "\n";
    const auto code = s.status().code();
    return code == absl::StatusCode::kNotFound || code == absl::StatusCode::kInvalidArgument
               ? kExitUsage
               : kExitFailure;
  }
  if (inspect)
    std::cout << (json ? InspectJson(*s) + "\n" : InspectText(*s));
  else
    std::cout << (json ? SummaryJson(*s) + "\n" : SummaryText(*s));
  for (const std::string& p : s->problems) std::cerr << "ecps: " << p << "\n";
  return s->problems.empty() ? kExitOk : kExitFailure;
}

// `export --table NAME --format npy --out FILE <checkpoint>`.
int Export(const std::vector<std::string>& args) {
  std::string table, format, out, path;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    std::string* value = a == "--table"    ? &table
                         : a == "--format" ? &format
                         : a == "--out"    ? &out
                                           : nullptr;
    if (value != nullptr) {
      if (i + 1 >= args.size()) {
        std::cerr << "ecps checkpoint export: " << a << " needs a value\n";
        return kExitUsage;
      }
      *value = args[++i];
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "ecps checkpoint export: unknown option '" << a << "' (see --help)\n";
      return kExitUsage;
    } else if (path.empty()) {
      path = a;
    } else {
      std::cerr << "ecps checkpoint export: one checkpoint at a time (got '" << path << "' and '"
                << a << "')\n";
      return kExitUsage;
    }
  }
  if (path.empty() || table.empty() || out.empty()) {
    std::cerr << "ecps checkpoint export: needs --table NAME, --out FILE and a checkpoint (see "
                 "--help)\n";
    return kExitUsage;
  }
  if (format.empty()) format = "npy";
  if (format != "npy") {
    std::cerr << "ecps checkpoint export: --format '" << format << "' is not supported (npy)\n";
    return kExitUsage;
  }
  if (out.size() < 4 || out.compare(out.size() - 4, 4, ".npy") != 0) {
    std::cerr << "ecps checkpoint export: --out '" << out << "' must end in .npy\n";
    return kExitUsage;
  }
  StatusOr<CheckpointContents> c = ReadCheckpointContents(path);
  if (!c.ok()) return Fail(c.status());
  StatusOr<DecodedTable> t = DecodeTable(*c, table);
  if (!t.ok()) return Fail(t.status());
  vectors::VectorSet v;
  v.n = t->spec.rows;
  v.dim = t->spec.width;
  v.values = std::move(t->values);
  Status st = vectors::WriteVectors(out, v);
  if (!st.ok()) return Fail(Annotate(st, "--out"));
  std::cout << "wrote " << out << ": table " << table << " of " << path << ", " << v.n << " rows x "
            << v.dim << " float32 (decoded from " << DTypeName(t->spec.dtype) << ")\n";
  return kExitOk;
}

// `convert --out FILE [--data CACHE] [--json] <checkpoint>`.
int Convert(const std::vector<std::string>& args) {
  std::string out, data_path, path;
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
    std::string* value = a == "--out" ? &out : a == "--data" ? &data_path : nullptr;
    if (value != nullptr) {
      if (i + 1 >= args.size()) {
        std::cerr << "ecps checkpoint convert: " << a << " needs a value\n";
        return kExitUsage;
      }
      *value = args[++i];
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "ecps checkpoint convert: unknown option '" << a << "' (see --help)\n";
      return kExitUsage;
    } else if (path.empty()) {
      path = a;
    } else {
      std::cerr << "ecps checkpoint convert: one checkpoint at a time (got '" << path << "' and '"
                << a << "')\n";
      return kExitUsage;
    }
  }
  if (path.empty() || out.empty()) {
    std::cerr << "ecps checkpoint convert: needs --out FILE and a checkpoint (see --help)\n";
    return kExitUsage;
  }
  StatusOr<CheckpointContents> c = ReadCheckpointContents(path);
  if (!c.ok()) return Fail(c.status());
  StatusOr<TrainConfig> config =
      TrainConfigFromYaml(c->summary.config, "checkpoint '" + path + "' config");
  if (!config.ok()) return Fail(config.status());
  StatusOr<std::unique_ptr<Dataset>> data =
      data_path.empty() ? OpenTrainingData(*config) : Dataset::Open(data_path);
  if (!data.ok()) return Fail(data.status());
  StatusOr<std::unique_ptr<Predictor>> model =
      PredictorFromCheckpoint(path, *c, *config, **data, /*same_data=*/true);
  if (!model.ok()) return Fail(model.status());
  // The data's vocabulary, so that the bundle scores raw lines.
  StatusOr<std::string> cache =
      data_path.empty() ? TrainingCachePath(*config) : StatusOr<std::string>(data_path);
  if (!cache.ok()) return Fail(cache.status());
  StatusOr<bool> vocabulary = AttachCacheVocabulary(**model, *cache);
  if (!vocabulary.ok()) return Fail(vocabulary.status());
  if (!*vocabulary)
    std::cerr << "ecps checkpoint convert: the cache '" << *cache
              << "' has no vocabulary beside it (" << VocabularyPath(*cache)
              << ", written by preprocess since issue 19): the bundle scores rows of ids, not "
                 "raw lines\n";
  const nlohmann::json source = {
      {"checkpoint", path},
      {"format", c->summary.format},
      {"step", c->summary.step},
      {"stage", c->summary.stage},
      {"data_identity_digest", c->summary.data_digest},
      {"trained_by_git_commit",
       c->summary.git_commit.empty() ? nlohmann::json() : nlohmann::json(c->summary.git_commit)}};
  StatusOr<std::string> bundle = (*model)->EncodeBundle(source);
  if (!bundle.ok()) return Fail(bundle.status());
  Status st = AtomicWriteFile(out, *bundle);
  if (!st.ok()) return Fail(Annotate(st, "--out"));
  const MemoryReport mem = (*model)->Memory();
  if (json) {
    std::cout << nlohmann::json{{"checkpoint", path},
                                {"out", out},
                                {"method", (*model)->config().method()},
                                {"bytes", bundle->size()},
                                {"inference_memory_bytes", mem.inference_bytes},
                                {"dense_parameter_bytes", (*model)->dense_bytes()},
                                {"vocabulary", *vocabulary}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << "wrote bundle " << out << " (" << bundle->size() << " B) from " << path << ": "
              << (*model)->config().method() << ", " << mem.inference_bytes
              << " B of embedding at inference, " << (*model)->dense_bytes()
              << " B of dense parameters"
              << (*vocabulary ? ", the data's vocabulary" : ", no vocabulary") << "\n";
  }
  return kExitOk;
}

// `reshard --servers N --out DIR <manifest>`.
int Reshard(const std::vector<std::string>& args) {
  std::string out, servers_text, path;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    std::string* value = a == "--out" ? &out : a == "--servers" ? &servers_text : nullptr;
    if (value != nullptr) {
      if (i + 1 >= args.size()) {
        std::cerr << "ecps checkpoint reshard: " << a << " needs a value\n";
        return kExitUsage;
      }
      *value = args[++i];
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "ecps checkpoint reshard: unknown option '" << a << "' (see --help)\n";
      return kExitUsage;
    } else if (path.empty()) {
      path = a;
    } else {
      std::cerr << "ecps checkpoint reshard: one checkpoint at a time\n";
      return kExitUsage;
    }
  }
  int servers = 0;
  if (path.empty() || out.empty() || !absl::SimpleAtoi(servers_text, &servers) || servers < 1) {
    std::cerr << "ecps checkpoint reshard: needs --servers N (N >= 1), --out DIR and a cluster "
                 "manifest (see --help)\n";
    return kExitUsage;
  }
  StatusOr<std::vector<std::string>> written = ReshardCheckpoints(path, servers, out);
  if (!written.ok()) return Fail(written.status());
  for (const std::string& m : *written) {
    StatusOr<CheckpointSummary> s = VerifyCheckpoint(m);
    if (!s.ok()) return Fail(s.status());
    for (const std::string& p : s->problems) std::cerr << "ecps: " << p << "\n";
    if (!s->problems.empty()) return kExitFailure;
    std::cout << "wrote " << m << ": " << s->virtual_shards << " virtual shards for " << servers
              << " server(s), verified\n";
  }
  return kExitOk;
}

}  // namespace

int RunCheckpoint(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "verify") return Verify(rest, /*inspect=*/false);
  if (args[0] == "inspect") return Verify(rest, /*inspect=*/true);
  if (args[0] == "export") return Export(rest);
  if (args[0] == "convert") return Convert(rest);
  if (args[0] == "reshard") return Reshard(rest);
  std::cerr << "ecps checkpoint: unknown subcommand '" << args[0]
            << "' (try: verify, inspect, export, convert, reshard)\n";
  return kExitUsage;
}

}  // namespace ecps::tools
