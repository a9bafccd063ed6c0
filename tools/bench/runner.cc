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
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "tools/bench/process.h"
#include "tools/bench/results.h"

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
  // `modify` = false inspects without touching the run folders (PlanSweep).
  Sweep(const std::vector<RunSpec>& specs, const RunnerOptions& options, bool modify = true)
      : specs_(specs), options_(options), modify_(modify), unfinished_(specs.size(), 0) {
    for (size_t i = 0; i < specs_.size(); ++i) groups_[GroupKey(i)].push_back(i);
    for (auto& [key, members] : groups_)
      for (size_t i : members) group_of_[i] = &members;
  }

  SweepSummary Run() {
    std::vector<size_t> queue = InspectAll();  // not started yet, in spec order
    for (size_t i : queue) unfinished_[i] = 1;
    int started_new = 0;
    std::vector<Active> active;
    std::map<std::string, bool> data_ready;  // dataset -> a run of it has ended
    for (size_t i = 0; i < specs_.size(); ++i)
      if (summary_.runs[i].state == RunState::kDone) data_ready[specs_[i].dataset] = true;
    total_todo_ = queue.size();
    while (true) {
      const bool stop = options_.stop != nullptr && options_.stop->load();
      if (stop && !terminating_) {
        terminating_ = true;
        summary_.stopped = true;
        for (auto& a : active) a.child.Signal(SIGTERM);
      }
      if (!terminating_) MakeCopies(&queue);
      // Start runs while there is room: the first in order that waits for
      // nothing. The first run of a dataset prepares its data; others of that
      // dataset wait for it so they never race to write the same cache. A run
      // waits for the larger budgets of its group (it may become a copy).
      while (!summary_.stopped && !queue.empty() &&
             static_cast<int>(active.size()) < options_.jobs) {
        auto waits = [&](size_t i) {
          if (LargerBudgetUnfinished(i)) return true;
          if (data_ready[specs_[i].dataset]) return false;
          for (const auto& a : active)
            if (specs_[a.index].dataset == specs_[i].dataset) return true;
          return false;
        };
        auto it = std::find_if_not(queue.begin(), queue.end(), waits);
        if (it == queue.end()) break;
        if (options_.max_new_runs >= 0 && started_new >= options_.max_new_runs) {
          summary_.stopped = true;
          break;
        }
        const size_t i = *it;
        queue.erase(it);
        ++started_new;
        ++summary_.ran;
        auto a = StartAttempt(i);
        if (a.has_value()) {
          active.push_back(std::move(*a));
        } else {
          unfinished_[i] = 0;
        }
      }
      if (active.empty() && (summary_.stopped || queue.empty())) break;
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
          unfinished_[a.index] = 0;
          active.erase(active.begin() + static_cast<long>(k));
        }
      }
      if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::move(summary_);
  }

  std::vector<PlannedRun> Plan() {
    const std::vector<size_t> todo = InspectAll();
    std::vector<PlannedRun> out(specs_.size());
    for (size_t i = 0; i < specs_.size(); ++i) {
      out[i].spec = specs_[i];
      out[i].done = summary_.runs[i].state == RunState::kDone;
      out[i].same_as = summary_.runs[i].same_as;
    }
    // Without training, only copies of runs that are done already are known.
    for (size_t i : todo) out[i].same_as = CopySource(i);
    return out;
  }

 private:
  fs::path Dir(size_t i) const { return fs::path(options_.out_dir) / "runs" / specs_[i].id; }

  // Inspects every run, then checks the copies against their sources (which
  // must be inspected first: a rerun source invalidates its copies). Returns
  // the runs that are not done, in order.
  std::vector<size_t> InspectAll() {
    summary_.runs.resize(specs_.size());
    for (size_t i = 0; i < specs_.size(); ++i) Inspect(i);
    for (size_t i = 0; i < specs_.size(); ++i) CheckCopy(i);
    std::vector<size_t> todo;
    for (size_t i = 0; i < specs_.size(); ++i)
      if (summary_.runs[i].state != RunState::kDone) todo.push_back(i);
    return todo;
  }

  // The run's argv without the budget and its output folder (which names the
  // budget): runs with equal keys train the same configuration whenever the
  // budget solver cannot reach their budgets.
  std::string GroupKey(size_t i) const {
    std::vector<std::string> argv = TrainArgv(specs_[i], options_);
    std::string key;
    for (size_t k = 1; k < argv.size(); ++k) {
      if (argv[k] == "--set" && k + 1 < argv.size() &&
          (absl::StartsWith(argv[k + 1], "embedding.budget=") ||
           absl::StartsWith(argv[k + 1], "output.dir="))) {
        ++k;
        continue;
      }
      key += argv[k];
      key.push_back('\0');
    }
    return key;
  }

  // True while a run of i's group with a larger budget may still train.
  bool LargerBudgetUnfinished(size_t i) const {
    for (size_t j : *group_of_.at(i))
      if (unfinished_[j] && specs_[j].budget > specs_[i].budget) return true;
    return false;
  }

  // The trained run whose results i can copy: a done run of i's group with a
  // larger budget that it does not reach ("" = none, i must train).
  std::string CopySource(size_t i) const {
    for (size_t j : *group_of_.at(i)) {
      const RunOutcome& o = summary_.runs[j];
      if (o.state != RunState::kDone || !(specs_[j].budget > specs_[i].budget)) continue;
      if (ReachesBudget(Num(o.result, "inference_memory_ratio"), specs_[j].budget)) continue;
      return o.same_as.empty() ? specs_[j].id : o.same_as;
    }
    return "";
  }

  // The current results of run `id`: from this sweep when it is part of it
  // (null unless done), else from its folder (a budget the suite dropped).
  nlohmann::json SourceResult(const std::string& id) const {
    for (size_t j = 0; j < specs_.size(); ++j)
      if (specs_[j].id == id)
        return summary_.runs[j].state == RunState::kDone ? summary_.runs[j].result
                                                         : nlohmann::json();
    auto text = ReadFile((fs::path(options_.out_dir) / "runs" / id / "results.json").string());
    return text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
  }

  // A done copy stays done only while its source still holds what was copied.
  void CheckCopy(size_t i) {
    RunOutcome& o = summary_.runs[i];
    if (o.state != RunState::kDone || o.same_as.empty()) return;
    nlohmann::json source = SourceResult(o.same_as), copy = o.result;
    if (source.is_object()) {
      source.erase("same_as");
      copy.erase("same_as");
      copy["budget"] = source.contains("budget") ? source["budget"] : nlohmann::json();
      if (copy == source) return;
    }
    o.state = o.attempts > 0 ? RunState::kFailed : RunState::kPending;
    o.reused = false;
    o.result = nullptr;
    o.same_as.clear();
    record_[i].erase("same_as");
    if (modify_) {
      std::error_code ec;
      fs::remove(Dir(i) / "results.json", ec);
      SaveRecord(i, "pending");
    }
  }

  // Copies every queued run that has a source (see CopySource).
  void MakeCopies(std::vector<size_t>* queue) {
    for (auto it = queue->begin(); it != queue->end();) {
      const size_t i = *it;
      const std::string source = CopySource(i);
      if (source.empty() || !Copy(i, source)) {
        ++it;
        continue;
      }
      unfinished_[i] = 0;
      it = queue->erase(it);
    }
  }

  // Writes i's results as a copy of `source`'s; false when that fails (i then
  // trains).
  bool Copy(size_t i, const std::string& source) {
    RunOutcome& o = summary_.runs[i];
    nlohmann::json result = SourceResult(source);
    if (!result.is_object()) return false;
    result["budget"] = specs_[i].budget;
    result["same_as"] = source;
    const fs::path dir = Dir(i);
    if (!MakeDirs(dir.string()).ok() ||
        !AtomicWriteFile((dir / "results.json").string(), result.dump(2) + "\n").ok())
      return false;
    o.state = RunState::kDone;
    o.error.clear();
    o.result = std::move(result);
    o.same_as = source;
    record_[i]["same_as"] = source;
    SaveRecord(i, "ok");
    ++summary_.copied;
    Report(i, 0);
    return true;
  }

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
      if (modify_)
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
          if (rec.contains("same_as") && rec["same_as"].is_string()) o.same_as = rec["same_as"];
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
    o.same_as.clear();
    record_[i].erase("same_as");
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
    const std::string how =
        o.same_as.empty() ? absl::StrFormat("(%.1f s)", secs) : "(same as " + o.same_as + ")";
    std::printf("[%zu/%zu] %-6s %s %s %s\n", finished_, total_todo_, RunStateName(o.state),
                specs_[i].id.c_str(), how.c_str(), detail.c_str());
    std::fflush(stdout);
  }

  const std::vector<RunSpec>& specs_;
  const RunnerOptions& options_;
  const bool modify_;
  // Runs of this invocation that have not ended (queued, running or retried).
  std::vector<char> unfinished_;
  std::map<std::string, std::vector<size_t>> groups_;  // GroupKey -> runs, in order
  std::map<size_t, const std::vector<size_t>*> group_of_;
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

std::vector<PlannedRun> PlanSweep(const std::vector<RunSpec>& specs, const RunnerOptions& options) {
  return Sweep(specs, options, /*modify=*/false).Plan();
}

}  // namespace ecps::bench
