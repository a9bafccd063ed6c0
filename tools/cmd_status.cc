// `ecps status` (docs/cli.md): what the job of an output directory is doing
// or did, from its files alone (read-only: the job's lock is never taken, so
// asking never disturbs a job that is starting):
//   - `.ecps-lock`'s holder record (common/file_util.h OutputDirLock: one
//     line "host=<h> pid=<p> started=<UTC>", emptied when the job ends
//     cleanly): running when that process is alive on this host;
//   - `last.ckpt` / `best.ckpt` (either format, verified as `checkpoint
//     verify` does) and their trainer state (STAT: stage, step, every
//     evaluation);
//   - `results.json`, written when the job finished.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "comm/rpc.h"
#include "comm/transport.h"
#include "common/file_util.h"
#include "launch/node.h"
#include "tools/checkpoint_verify.h"
#include "tools/commands.h"
#include "worker/checkpoint.h"

namespace ecps::tools {
namespace {

namespace fs = std::filesystem;

constexpr char kUsage[] =
    "usage: ecps status --dir OUTPUT_DIR [--json]\n"
    "       ecps status --scheduler tcp://HOST:PORT [--timeout S] [--encrypt] [--json]\n"
    "\n"
    "--scheduler: a running cluster job's state from its scheduler, over the job's own\n"
    "transport: the phase, and per node its last heartbeat's report (a worker's stage, step,\n"
    "epoch, throughput, last validation AUC; a server's table bytes and hottest rows). Needs\n"
    "the job's token, as every process of the job: ECPS_JOB_TOKEN or ECPS_JOB_TOKEN_FILE\n"
    "(docs/security.md); a request with another is dropped unanswered (a timeout here).\n"
    "\n"
    "What the training job of OUTPUT_DIR (its output.dir) is doing or did: whether it is\n"
    "running (its lock's holder is alive on this host), finished (results.json) or was\n"
    "stopped; its method, stage, step and epoch, its last evaluation and best one (from\n"
    "last.ckpt), and its results. Reads files only; never takes the job's lock.\n"
    "\n"
    "options:\n"
    "  --dir DIR   the job's output directory\n"
    "  --scheduler ENDPOINT  the scheduler's --scheduler endpoint (tcp://HOST:PORT)\n"
    "  --timeout S seconds to wait for the scheduler's answer (default 10)\n"
    "  --encrypt   the job runs with cluster.encrypt=true (CurveZMQ from the token)\n"
    "  --json      print one JSON object\n"
    "  -h, --help  print this help\n"
    "\n"
    "exit codes: 0 status printed, 1 a damaged checkpoint or results file, no answer from\n"
    "the scheduler, 2 bad usage, a directory without an ecps job, no job token.\n";

int Fail(const Status& st) {
  std::cerr << "ecps status: " << st.message() << "\n";
  const auto code = st.code();
  return code == absl::StatusCode::kNotFound || code == absl::StatusCode::kInvalidArgument
             ? kExitUsage
             : kExitFailure;
}

struct Holder {
  std::string host, started;
  long pid = 0;
};

// The lock file's record (format above); nullopt-like empty host when none.
Holder ParseLockRecord(const std::string& text) {
  Holder h;
  std::istringstream in(text);
  std::string field;
  while (in >> field) {
    const size_t eq = field.find('=');
    if (eq == std::string::npos) continue;
    const std::string k = field.substr(0, eq), v = field.substr(eq + 1);
    if (k == "host") h.host = v;
    if (k == "pid") h.pid = std::strtol(v.c_str(), nullptr, 10);
    if (k == "started") h.started = v;
  }
  return h;
}

std::string ThisHost() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) return "?";
  return host;
}

// The trainer state (STAT) of checkpoint `path` with its summary.
StatusOr<nlohmann::json> CheckpointState(const std::string& path) {
  ASSIGN_OR_RETURN(CheckpointSummary s, VerifyCheckpoint(path));
  if (!s.problems.empty())
    return DataLoss("checkpoint '", path, "' is damaged: ", s.problems.front());
  std::string trainer = path;
  if (s.format == "cluster")
    for (const VerifiedPart& p : s.parts)
      if (p.kind == "dense") trainer = (fs::path(path).parent_path() / p.file).string();
  ASSIGN_OR_RETURN(CheckpointReader r, CheckpointReader::Open(trainer));
  ASSIGN_OR_RETURN(std::string_view stat, r.Get("STAT"));
  nlohmann::json st =
      nlohmann::json::parse(stat.begin(), stat.end(), nullptr, /*allow_exceptions=*/false);
  if (!st.is_object()) return DataLoss("checkpoint '", path, "': its STAT is not a JSON object");
  nlohmann::json j = {{"path", path},         {"format", s.format},
                      {"method", s.method},   {"model", s.model},
                      {"budget", s.budget},   {"stage", s.stage},
                      {"epoch", s.epoch},     {"step_in_epoch", s.step_in_epoch},
                      {"step", s.step},       {"stage_names", s.stage_names},
                      {"servers", s.servers}, {"workers", s.workers},
                      {"stat", std::move(st)}};
  return j;
}

std::string StageName(const nlohmann::json& ckpt) {
  const int stage = ckpt["stage"].get<int>();
  const auto& names = ckpt["stage_names"];
  return stage >= 0 && static_cast<size_t>(stage) < names.size()
             ? names[static_cast<size_t>(stage)].get<std::string>()
             : "?";
}

// `--scheduler ENDPOINT`: asks the job's scheduler (kStats, scheduler.h) over
// a transport of this process, bound where the scheduler can answer (the
// host this process reaches it from), stamped with the job's token.
StatusOr<nlohmann::json> AskScheduler(const std::string& endpoint, int timeout_s, bool encrypt) {
  if (endpoint.rfind("tcp://", 0) != 0)
    return InvalidArgument("--scheduler '", endpoint, "' is not tcp://HOST:PORT");
  ASSIGN_OR_RETURN(std::string token, launch::JobTokenFromEnvironment());
  if (token.empty())
    return InvalidArgument(
        "--scheduler needs the job's token (docs/security.md): set ECPS_JOB_TOKEN or "
        "ECPS_JOB_TOKEN_FILE as for the job's processes");
  // A cluster.encrypt job accepts only CurveZMQ peers keyed from its token.
  comm::ZmqOptions zo;
  if (encrypt) zo.curve_secret = comm::CurveSecretFromToken(token);
  std::unique_ptr<comm::Transport> t = comm::NewZmqTransport(zo);
  t->set_job_token(token);
  // The answer comes back to this host as the scheduler sees it: loopback
  // for a local scheduler, this host's name otherwise.
  const std::string host = endpoint.substr(6, endpoint.rfind(':') - 6);
  const bool local = host == "127.0.0.1" || host == "localhost" || host == "[::1]";
  ASSIGN_OR_RETURN(std::string reply_to,
                   t->Bind(absl::StrCat("tcp://", local ? host : ThisHost(), ":0")));
  RETURN_IF_ERROR(Annotate(t->Connect(0, endpoint), "--scheduler"));
  // Any id that is no node's: the scheduler answers on a route of its own.
  constexpr int kStatusClient = 1 << 30;
  comm::Rpc rpc(t.get(), kStatusClient);
  comm::Message m;
  m.header.type = comm::MsgType::kStats;
  m.header.text = nlohmann::json{{"reply_to", reply_to}}.dump();
  auto f = rpc.Call(0, std::move(m));
  StatusOr<comm::Message> r =
      rpc.Wait(f, timeout_s * 1000, absl::StrCat("the scheduler at ", endpoint));
  if (!r.ok())
    return Annotate(r.status(),
                    "no status (is the job running, and is this its token? a message with "
                    "another token is dropped unanswered)");
  nlohmann::json j = nlohmann::json::parse(r->header.text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return DataLoss("the scheduler's status is not a JSON object");
  return j;
}

int SchedulerStatus(const std::string& endpoint, int timeout_s, bool encrypt, bool json) {
  StatusOr<nlohmann::json> st = AskScheduler(endpoint, timeout_s, encrypt);
  if (!st.ok()) return Fail(st.status());
  nlohmann::json out = {{"scheduler", endpoint}};
  out.update(*st);
  if (json) {
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "job of scheduler " << endpoint << ": " << out.value("phase", "?") << ", "
            << out.value("servers", 0) << " server(s), " << out.value("workers", 0)
            << " worker(s) (" << out.value("workers_done", 0) << " done)\n";
  if (!out.value("failure", std::string()).empty())
    std::cout << "  failure      " << out["failure"].get<std::string>() << "\n";
  for (const nlohmann::json& n : out.value("nodes", nlohmann::json::array())) {
    const nlohmann::json& s = n["status"];
    std::cout << absl::StrFormat("  %-6s %d    ", n.value("role", "?"), n.value("rank", 0));
    if (!s.is_object()) {
      std::cout << "no report yet\n";
      continue;
    }
    if (n.value("role", "") == "worker") {
      std::cout << absl::StrFormat("stage %d %s, step %d (epoch %d), %.0f samples/s, loss %.5f",
                                   s.value("stage", 0), s.value("stage_name", ""),
                                   s.value("step", int64_t{0}), s.value("epoch", int64_t{0}),
                                   s.value("samples_per_s", 0.0), s.value("loss", 0.0));
      const nlohmann::json e = s.value("last_evaluation", nlohmann::json());
      if (e.is_object() && e.contains("val_auc"))
        std::cout << absl::StrFormat("; last eval step %d: val AUC %.6f",
                                     e.value("step", int64_t{0}), e.value("val_auc", 0.0));
      std::cout << "\n";
    } else {
      uint64_t bytes = 0;
      std::string hot;
      for (const nlohmann::json& t : s.value("tables", nlohmann::json::array())) {
        bytes += t.value("bytes", uint64_t{0});
        for (const nlohmann::json& kc : t.value("hot", nlohmann::json::array()))
          if (hot.size() < 120) absl::StrAppend(&hot, " ", t.value("name", "?"), ":", kc[0].dump());
      }
      std::cout << bytes << " B of tables; hottest rows" << (hot.empty() ? " none" : hot) << "\n";
    }
  }
  return kExitOk;
}

}  // namespace

int RunStatus(const std::vector<std::string>& args) {
  std::string dir, scheduler, timeout_text = "10";
  bool json = false, encrypt = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (a == "--json") {
      json = true;
    } else if (a == "--encrypt") {
      encrypt = true;
    } else if ((a == "--dir" || a == "--scheduler" || a == "--timeout") && i + 1 < args.size()) {
      (a == "--dir" ? dir : a == "--scheduler" ? scheduler : timeout_text) = args[++i];
    } else {
      std::cerr << "ecps status: "
                << (a == "--dir" || a == "--scheduler" || a == "--timeout"
                        ? a + " needs a value"
                        : "unknown argument '" + a + "'")
                << " (see --help)\n";
      return kExitUsage;
    }
  }
  if (dir.empty() == scheduler.empty()) {
    std::cerr << "ecps status: needs --dir OUTPUT_DIR or --scheduler tcp://HOST:PORT (one of "
                 "them; see --help)\n";
    return kExitUsage;
  }
  if (!scheduler.empty()) {
    int timeout_s = 0;
    if (!absl::SimpleAtoi(timeout_text, &timeout_s) || timeout_s < 1 || timeout_s > 3600) {
      std::cerr << "ecps status: --timeout '" << timeout_text
                << "' is not a number of seconds in [1, 3600]\n";
      return kExitUsage;
    }
    return SchedulerStatus(scheduler, timeout_s, encrypt, json);
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Fail(NotFound("--dir '", dir, "' is not a directory"));
  const fs::path d(dir);
  const std::string lock = (d / ".ecps-lock").string(), results = (d / "results.json").string(),
                    last = (d / "last.ckpt").string(), best = (d / "best.ckpt").string();
  if (!FileExists(lock) && !FileExists(results) && !FileExists(last) && !FileExists(best))
    return Fail(NotFound("--dir '", dir,
                         "' holds no ecps job (no .ecps-lock, last.ckpt, best.ckpt or "
                         "results.json)"));

  nlohmann::json out = {{"dir", dir}};
  // Who holds the directory.
  const Holder h = ParseLockRecord(FileExists(lock) ? ReadFile(lock).value_or("") : "");
  std::string state;
  if (h.host.empty() || h.pid <= 0) {
    state = FileExists(results) ? "finished" : "stopped";
  } else if (h.host != ThisHost()) {
    state = "running elsewhere";  // cannot be checked from here
  } else {
    const bool alive = ::kill(static_cast<pid_t>(h.pid), 0) == 0 || errno == EPERM;
    state = alive ? "running" : "killed";
  }
  out["state"] = state;
  if (!h.host.empty()) out["holder"] = {{"host", h.host}, {"pid", h.pid}, {"started", h.started}};

  for (const auto& [name, path] :
       {std::pair<std::string, std::string>{"last", last}, {"best", best}}) {
    if (!FileExists(path)) continue;
    StatusOr<nlohmann::json> c = CheckpointState(path);
    if (!c.ok()) return Fail(c.status());
    out["checkpoints"][name] = *c;
  }
  if (out.contains("checkpoints") && out["checkpoints"].contains("last")) {
    const nlohmann::json& c = out["checkpoints"]["last"];
    const nlohmann::json& stat = c["stat"];
    out["method"] = c["method"];
    out["model"] = c["model"];
    out["stage"] = {{"index", c["stage"]}, {"name", StageName(c)}, {"of", c["stage_names"]}};
    out["step"] = c["step"];
    out["epoch"] = c["epoch"];
    out["samples"] = stat.value("samples", nlohmann::json());
    out["train_seconds"] = stat.value("train_seconds", nlohmann::json());
    const nlohmann::json history = stat.value("history", nlohmann::json::array());
    out["evaluations"] = history.size();
    if (!history.empty()) out["last_evaluation"] = history.back();
    out["best"] = {{"value", stat.value("best_val", nlohmann::json())},
                   {"step", stat.value("best_step", nlohmann::json())}};
  }
  if (FileExists(results)) {
    StatusOr<std::string> text = ReadFile(results);
    if (!text.ok()) return Fail(text.status());
    nlohmann::json r = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (!r.is_object()) return Fail(DataLoss("'", results, "' is not a JSON object"));
    nlohmann::json summary;
    for (const char* k :
         {"method", "stop_reason", "steps", "best_step", "val_auc", "val_logloss", "test_auc",
          "test_logloss", "inference_memory_bytes", "inference_memory_ratio", "train_time_seconds",
          "throughput_samples_per_s"})
      if (r.contains(k)) summary[k] = r[k];
    // While a job runs, a results.json is an earlier run's (a resumed or
    // restarted job rewrites it when it ends).
    summary["from_this_run"] = state != "running" && state != "running elsewhere";
    out["results"] = summary;
  }

  if (json) {
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "job in " << dir << ": " << state;
  if (out.contains("holder"))
    std::cout << " (pid " << h.pid << " on host " << h.host << ", started " << h.started << ")";
  std::cout << "\n";
  if (out.contains("stage")) {
    std::cout << absl::StrFormat("  method       %s (%s)\n", out["method"].get<std::string>(),
                                 out["model"].get<std::string>())
              << absl::StrFormat("  stage        %d %s (stages: %s)\n",
                                 out["stage"]["index"].get<int>(),
                                 out["stage"]["name"].get<std::string>(), out["stage"]["of"].dump())
              << absl::StrFormat("  step         %d (epoch %d) at the last checkpoint\n",
                                 out["step"].get<int64_t>(), out["epoch"].get<int64_t>());
    if (out.contains("last_evaluation")) {
      const nlohmann::json& e = out["last_evaluation"];
      std::cout << absl::StrFormat(
          "  last eval    step %d: val AUC %.6f, log loss %.6f (%d "
          "evaluations; best %.6f at step %d)\n",
          e.value("step", int64_t{0}), e.value("val_auc", 0.0), e.value("val_logloss", 0.0),
          out["evaluations"].get<int64_t>(),
          out["best"]["value"].is_number() ? out["best"]["value"].get<double>() : 0.0,
          out["best"]["step"].is_number() ? out["best"]["step"].get<int64_t>() : int64_t{0});
    }
  }
  if (out.contains("results")) {
    const nlohmann::json& r = out["results"];
    std::cout << "  results      " << (r["from_this_run"].get<bool>() ? "" : "(a previous run's) ")
              << "stop " << r.value("stop_reason", "?") << ", "
              << absl::StrFormat("test AUC %.6f, log loss %.6f, val AUC %.6f",
                                 r.value("test_auc", 0.0), r.value("test_logloss", 0.0),
                                 r.value("val_auc", 0.0))
              << "\n";
  }
  return kExitOk;
}

}  // namespace ecps::tools
