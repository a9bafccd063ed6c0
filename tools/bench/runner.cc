#include "tools/bench/runner.h"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "tools/bench/process.h"

namespace fs = std::filesystem;

namespace ecps::bench {

const char* RunStateName(RunState s) {
  switch (s) {
    case RunState::kDone:
      return "ok";
    case RunState::kFailed:
      return "failed";
    case RunState::kPending:
      break;
  }
  return "pending";
}

std::vector<std::string> TrainArgv(const RunSpec& spec, const RunnerOptions& options) {
  const fs::path dir = fs::path(options.out_dir) / "runs" / spec.id;
  std::vector<std::string> argv = {options.ecps, "train", "--json"};
  if (!spec.config.empty()) {
    argv.push_back("--config");
    argv.push_back(spec.config);
  }
  auto set = [&](const std::string& kv) {
    argv.push_back("--set");
    argv.push_back(kv);
  };
  // First, so that a dataset's own data.cache_dir wins: runs of one dataset
  // share generated text and caches.
  set("data.cache_dir=" + (fs::path(options.out_dir) / "data" / spec.dataset).string());
  for (const auto& kv : spec.sets) set(kv);
  // Last: the harness owns where a run writes and how it reports progress.
  set("output.dir=" + dir.string());
  set("output.results=results.json");
  set("output.progress=log");
  return argv;
}

namespace {

using Clock = std::chrono::steady_clock;

std::string TailOfFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const auto size = static_cast<size_t>(in.tellg());
  const size_t n = std::min(size, max_bytes);
  in.seekg(static_cast<std::streamoff>(size - n));
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  return s;
}

// The trainer prints one "ecps train: reason" line on failure; prefer it over
// whatever else the attempt logged after the marker of this attempt.
std::string ErrorLine(const std::string& stderr_path, const std::string& marker) {
  std::string tail = TailOfFile(stderr_path, 64 << 10);
  auto at = tail.rfind(marker);
  if (at != std::string::npos) tail = tail.substr(at + marker.size());
  std::string last, reason;
  for (absl::string_view line : absl::StrSplit(tail, '\n')) {
    if (line.empty()) continue;
    last = std::string(line);
    if (absl::StartsWith(line, "ecps train:")) reason = last;
  }
  std::string out = reason.empty() ? last : reason;
  if (out.size() > 400) out = out.substr(0, 400) + "...";
  return out;
}

struct Active {
  size_t index;
  ChildProcess child;
  Clock::time_point started;
  bool resumed;
  std::string marker;
};

class Sweep {
 public:
  Sweep(const std::vector<RunSpec>& specs, const RunnerOptions& options)
      : specs_(specs), options_(options) {}

  SweepSummary Run() {
    summary_.runs.resize(specs_.size());
    std::vector<size_t> todo;
    for (size_t i = 0; i < specs_.size(); ++i)
      if (!Inspect(i)) todo.push_back(i);
    size_t next = 0;
    int started_new = 0;
    std::vector<Active> active;
    std::map<std::string, bool> data_ready;  // dataset -> a run of it has ended
    for (size_t i = 0; i < specs_.size(); ++i)
      if (summary_.runs[i].state == RunState::kDone) data_ready[specs_[i].dataset] = true;
    total_todo_ = todo.size();
    while (true) {
      const bool stop = options_.stop != nullptr && options_.stop->load();
      if (stop && !terminating_) {
        terminating_ = true;
        summary_.stopped = true;
        for (auto& a : active) a.child.Signal(SIGTERM);
      }
      // Start runs while there is room. The first run of a dataset prepares
      // its data; others of that dataset wait for it so they never race to
      // write the same cache.
      while (!summary_.stopped && next < todo.size() &&
             static_cast<int>(active.size()) < options_.jobs) {
        if (options_.max_new_runs >= 0 && started_new >= options_.max_new_runs) {
          summary_.stopped = true;
          break;
        }
        const RunSpec& spec = specs_[todo[next]];
        bool blocked = false;
        if (!data_ready[spec.dataset])
          for (const auto& a : active)
            if (specs_[a.index].dataset == spec.dataset) blocked = true;
        if (blocked) break;
        auto a = StartAttempt(todo[next]);
        ++next;
        ++started_new;
        ++summary_.ran;
        if (a.has_value()) active.push_back(std::move(*a));
      }
      if (active.empty() && (summary_.stopped || next >= todo.size())) break;
      // Reap.
      bool reaped = false;
      for (size_t k = 0; k < active.size();) {
        ExitInfo info;
        Active& a = active[k];
        const double secs = std::chrono::duration<double>(Clock::now() - a.started).count();
        bool timed_out = false;
        if (options_.timeout_s > 0 && secs > options_.timeout_s) {
          a.child.Signal(SIGKILL);
          info = a.child.Wait();
          timed_out = true;
        } else if (!a.child.Poll(&info)) {
          ++k;
          continue;
        }
        reaped = true;
        data_ready[specs_[a.index].dataset] = true;
        auto retry = Finish(a, info, secs, timed_out);
        if (retry.has_value()) {
          active[k] = std::move(*retry);
          ++k;
        } else {
          active.erase(active.begin() + static_cast<long>(k));
        }
      }
      if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::move(summary_);
  }

 private:
  fs::path Dir(size_t i) const { return fs::path(options_.out_dir) / "runs" / specs_[i].id; }

  // Fills the outcome from disk; true when the run is already done.
  bool Inspect(size_t i) {
    RunOutcome& o = summary_.runs[i];
    o.spec = specs_[i];
    o.dir = (fs::path("runs") / specs_[i].id).string();
    const fs::path dir = Dir(i);
    record_[i] = nlohmann::json::object();
    if (auto text = ReadFile((dir / "bench_run.json").string()); text.ok()) {
      auto j = nlohmann::json::parse(*text, nullptr, false);
      if (j.is_object()) record_[i] = j;
    }
    const nlohmann::json& rec = record_[i];
    const bool same_argv = rec.contains("argv") && rec["argv"] == ArgvForRecord(i);
    if (!same_argv && rec.contains("argv")) {
      // The suite changed this run: its old results and checkpoints describe
      // another configuration.
      std::error_code ec;
      for (const char* f : {"results.json", "last.ckpt", "best.ckpt"}) fs::remove(dir / f, ec);
      record_[i] = nlohmann::json::object();
    }
    if (rec.contains("attempts") && rec["attempts"].is_array())
      o.attempts = static_cast<int>(rec["attempts"].size());
    if (rec.contains("error") && rec["error"].is_string()) o.error = rec["error"];
    if (same_argv && FileExists((dir / "results.json").string())) {
      auto text = ReadFile((dir / "results.json").string());
      if (text.ok()) {
        auto j = nlohmann::json::parse(*text, nullptr, false);
        if (j.is_object()) {
          o.state = RunState::kDone;
          o.reused = true;
          o.error.clear();
          o.result = std::move(j);
          return true;
        }
      }
    }
    o.state = o.attempts > 0 ? RunState::kFailed : RunState::kPending;
    return false;
  }

  // argv without the binary path, so moving the build does not invalidate runs.
  nlohmann::json ArgvForRecord(size_t i) const {
    auto argv = TrainArgv(specs_[i], options_);
    return std::vector<std::string>(argv.begin() + 1, argv.end());
  }

  void SaveRecord(size_t i, const std::string& state) {
    record_[i]["id"] = specs_[i].id;
    record_[i]["argv"] = ArgvForRecord(i);
    record_[i]["state"] = state;
    record_[i]["error"] = summary_.runs[i].error;
    (void)AtomicWriteFile((Dir(i) / "bench_run.json").string(), record_[i].dump(2));
  }

  std::optional<Active> StartAttempt(size_t i) {
    RunOutcome& o = summary_.runs[i];
    const fs::path dir = Dir(i);
    if (Status s = MakeDirs(dir.string()); !s.ok()) {
      o.state = RunState::kFailed;
      o.error = std::string(s.message());
      return std::nullopt;
    }
    std::error_code ec;
    fs::remove(dir / "results.json", ec);
    auto argv = TrainArgv(specs_[i], options_);
    const bool resume = FileExists((dir / "last.ckpt").string());
    if (resume) argv.push_back("--resume");
    ++o.attempts;
    ++attempts_now_[i];
    const std::string marker = absl::StrCat("==== ecps bench: attempt ", o.attempts,
                                            resume ? " (resuming)" : "", " ====\n");
    for (const char* f : {"stdout.log", "stderr.log"}) {
      std::ofstream log(dir / f, std::ios::app);
      log << marker;
    }
    if (!record_[i].contains("attempts")) record_[i]["attempts"] = nlohmann::json::array();
    record_[i]["attempts"].push_back({{"resumed", resume}, {"state", "running"}});
    SaveRecord(i, "running");
    auto child =
        ChildProcess::Start(argv, (dir / "stdout.log").string(), (dir / "stderr.log").string());
    if (!child.ok()) {
      o.state = RunState::kFailed;
      o.error = std::string(child.status().message());
      record_[i]["attempts"].back()["state"] = "failed";
      record_[i]["attempts"].back()["error"] = o.error;
      SaveRecord(i, "failed");
      Report(i, 0);
      return std::nullopt;
    }
    return Active{i, std::move(*child), Clock::now(), resume, marker};
  }

  // Records an ended attempt; returns the next attempt when the run is retried.
  std::optional<Active> Finish(Active& a, const ExitInfo& info, double secs, bool timed_out) {
    const size_t i = a.index;
    RunOutcome& o = summary_.runs[i];
    const fs::path dir = Dir(i);
    auto& attempt = record_[i]["attempts"].back();
    attempt["seconds"] = secs;
    attempt["exit_code"] = info.exit_code;
    attempt["signal"] = info.signal;
    nlohmann::json result;
    if (info.ok()) {
      auto text = ReadFile((dir / "results.json").string());
      if (text.ok()) result = nlohmann::json::parse(*text, nullptr, false);
    }
    if (info.ok() && result.is_object()) {
      o.state = RunState::kDone;
      o.error.clear();
      o.result = std::move(result);
      attempt["state"] = "ok";
      SaveRecord(i, "ok");
      Report(i, secs);
      return std::nullopt;
    }
    const bool interrupted = terminating_;
    if (timed_out) {
      o.error = absl::StrCat("timed out after ", static_cast<int>(secs), " s");
    } else if (info.ok()) {
      o.error = "exited 0 without a readable results.json";
    } else {
      std::string line = ErrorLine((dir / "stderr.log").string(), a.marker);
      o.error = info.Describe() + (line.empty() ? "" : ": " + line);
    }
    if (interrupted) o.error = "interrupted (" + o.error + ")";
    o.state = interrupted ? RunState::kPending : RunState::kFailed;
    attempt["state"] = interrupted ? "interrupted" : "failed";
    attempt["error"] = o.error;
    if (a.resumed && !interrupted) {
      // The checkpoint may be what fails; the next attempt starts fresh.
      std::error_code ec;
      for (const char* f : {"last.ckpt", "best.ckpt"}) fs::remove(dir / f, ec);
    }
    SaveRecord(i, interrupted ? "pending" : "failed");
    if (!interrupted && attempts_now_[i] <= options_.retries) {
      if (options_.progress)
        std::printf("  retrying %s after: %s\n", specs_[i].id.c_str(), o.error.c_str());
      return StartAttempt(i);
    }
    Report(i, secs);
    return std::nullopt;
  }

  void Report(size_t i, double secs) {
    ++finished_;
    if (!options_.progress) return;
    const RunOutcome& o = summary_.runs[i];
    std::string detail;
    if (o.state == RunState::kDone) {
      const auto& r = o.result;
      auto num = [&](const char* k) {
        return r.contains(k) && r[k].is_number() ? r[k].get<double>() : 0.0;
      };
      detail = absl::StrFormat("val AUC %.4f, test AUC %.4f, memory %.3g%%", num("val_auc"),
                               num("test_auc"), 100 * num("inference_memory_ratio"));
    } else {
      detail = o.error;
    }
    std::printf("[%zu/%zu] %-6s %s (%.1f s) %s\n", finished_, total_todo_, RunStateName(o.state),
                specs_[i].id.c_str(), secs, detail.c_str());
    std::fflush(stdout);
  }

  const std::vector<RunSpec>& specs_;
  const RunnerOptions& options_;
  SweepSummary summary_;
  std::map<size_t, nlohmann::json> record_;
  std::map<size_t, int> attempts_now_;
  size_t total_todo_ = 0, finished_ = 0;
  bool terminating_ = false;  // SIGTERM sent to the running children
};

}  // namespace

SweepSummary RunSweep(const std::vector<RunSpec>& specs, const RunnerOptions& options) {
  return Sweep(specs, options).Run();
}

}  // namespace ecps::bench
