// `ecps checkpoint verify|inspect|export` (docs/cli.md). Parsing and printing only; the
// checks are in tools/checkpoint_verify.cc.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "tools/checkpoint_verify.h"
#include "tools/commands.h"
#include "vectors/vector_io.h"

namespace ecps::tools {
namespace {

constexpr char kUsage[] =
    "usage: ecps checkpoint verify [--json] <checkpoint>\n"
    "       ecps checkpoint inspect [--json] <checkpoint>\n"
    "       ecps checkpoint export --table NAME --format npy --out FILE <checkpoint>\n"
    "\n"
    "inspect: the verify summary plus each table's rows and bytes per virtual shard and per\n"
    "server, the stage by name, the model, budget and the whole training config.\n"
    "export: one stored table decoded to fp32 (rows x width) as a NumPy .npy file (float32,\n"
    "C order; docs/formats.md \"Exported table\").\n"
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
  auto fail = [](const Status& st) {
    std::cerr << "ecps: " << st.message() << "\n";
    const auto code = st.code();
    return code == absl::StatusCode::kNotFound || code == absl::StatusCode::kInvalidArgument
               ? kExitUsage
               : kExitFailure;
  };
  StatusOr<CheckpointContents> c = ReadCheckpointContents(path);
  if (!c.ok()) return fail(c.status());
  StatusOr<DecodedTable> t = DecodeTable(*c, table);
  if (!t.ok()) return fail(t.status());
  vectors::VectorSet v;
  v.n = t->spec.rows;
  v.dim = t->spec.width;
  v.values = std::move(t->values);
  Status st = vectors::WriteVectors(out, v);
  if (!st.ok()) return fail(Annotate(st, "--out"));
  std::cout << "wrote " << out << ": table " << table << " of " << path << ", " << v.n << " rows x "
            << v.dim << " float32 (decoded from " << DTypeName(t->spec.dtype) << ")\n";
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
  std::cerr << "ecps checkpoint: unknown subcommand '" << args[0]
            << "' (try: verify, inspect, export)\n";
  return kExitUsage;
}

}  // namespace ecps::tools
