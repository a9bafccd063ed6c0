// Executes a sweep: one `ecps train --json` process per run, resumable.
//
// Layout under <out>/runs/<run id>/:
//   results.json  written atomically by the trainer; its presence (with a
//                 matching bench_run.json) is what "done" means
//   bench_run.json  the harness's record: the exact argv, every attempt
//                 (exit status, seconds, error), the state
//   stdout.log, stderr.log  the trainer's output, appended per attempt
//   best.ckpt, last.ckpt    the trainer's checkpoints
// Generated data and caches are shared per dataset under <out>/data/<name>/.
//
// Resume: a run whose results.json exists and whose recorded argv equals the
// current one is skipped; a run with results from a different argv (the
// suite changed) is rerun from scratch. Every other run (never started,
// crashed, interrupted, timed out) is attempted up to 1 + retries times in
// this invocation; an attempt finding <dir>/last.ckpt passes --resume, and a
// failed resumed attempt deletes the checkpoints so the next one starts
// fresh. Nothing is dropped: a run that still fails is reported as failed
// with its last error.
//
// Runs that cannot reach their budget are trained once. A method with a
// floor (fixed-ratio quantization, memcom's 12.5%, ...) is compressed "as far
// as it can" below it (docs/methods.md §1.7), so every smaller budget would train
// the same configuration again. Runs that differ only in the budget (same
// argv otherwise: dataset, model, method, dim, lr, config, --set keys) form a
// group, and within a group larger budgets go first: a smaller-budget run
// does not start while a larger one of its group is unfinished. Once a run of
// the group is done and does not reach its budget (ReachesBudget, the
// report's rule), every pending smaller-budget run of the group is not
// trained but copied: its results.json is the source's with "budget" set to
// its own and "same_as" naming the trained run, and bench_run.json records
// "same_as" too. A copy is done like any run (reports treat it as trained);
// it is made even after --max-runs stopped the sweep (it costs nothing and
// does not count as a started run), not after a stop signal. On resume a
// copy stays done while its source's results.json still holds what was
// copied; when the source was rerun or lost its results, the copy is redone
// (copied again or trained).
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tools/bench/suite.h"

namespace ecps::bench {

struct RunnerOptions {
  std::string ecps;     // trainer binary (argv[0] of every run)
  std::string out_dir;  // the sweep's output folder
  int retries = 1;      // extra attempts per run and invocation
  int jobs = 1;         // concurrent runs (model.threads is the caller's business)
  // Start at most this many unfinished runs, then stop as if interrupted
  // (< 0 = no limit). Lets tests and operators cut a sweep short.
  int max_new_runs = -1;
  double timeout_s = 0;  // per attempt; 0 = none
  bool progress = true;  // one line per finished run on stdout
  // Set (e.g. by a SIGINT/SIGTERM handler) to stop: running children get
  // SIGTERM, unstarted runs stay pending. May be null.
  const std::atomic<bool>* stop = nullptr;
};

enum class RunState { kDone, kFailed, kPending };
const char* RunStateName(RunState s);  // "ok", "failed", "pending"

struct RunOutcome {
  RunSpec spec;
  RunState state = RunState::kPending;
  bool reused = false;    // done by an earlier invocation, not run now
  int attempts = 0;       // all invocations together
  std::string error;      // last failure ("" when done)
  std::string dir;        // run folder relative to out_dir
  nlohmann::json result;  // the trainer's results.json (null unless done)
  // Id of the trained run whose results this run copies ("" = trained).
  std::string same_as;
};

struct SweepSummary {
  std::vector<RunOutcome> runs;  // in the order of the input specs
  int ran = 0;                   // attempted in this invocation
  int copied = 0;                // copied (not trained) in this invocation
  bool stopped = false;          // interrupted or max_new_runs reached
};

// Runs (or skips) every spec. Never fails as a whole: per-run problems end up
// in the outcomes. REQUIRES: options.ecps names an executable.
SweepSummary RunSweep(const std::vector<RunSpec>& specs, const RunnerOptions& options);

// What a sweep would do, without running or changing anything (--dry-run):
// per spec, in order, whether it is done, and the run it copies ("" = none)
// when that is known already (done copies, and pending runs whose group has
// a done run that misses its larger budget).
struct PlannedRun {
  RunSpec spec;
  bool done = false;
  std::string same_as;
};
std::vector<PlannedRun> PlanSweep(const std::vector<RunSpec>& specs, const RunnerOptions& options);

// The `--set` arguments and flags a spec's attempt passes to `ecps train`
// (without --resume). Exposed for tests and for bench_run.json.
std::vector<std::string> TrainArgv(const RunSpec& spec, const RunnerOptions& options);

}  // namespace ecps::bench
