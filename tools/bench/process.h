// Child processes for the bench harness: every training run of a sweep is a
// separate `ecps train` process so that a crash, an abort or an out-of-memory
// kill ends that run only, never the sweep (tools/bench/runner.h).
//
// Processes are started with posix_spawn (no shell, no quoting): argv[0] is
// the program path, the child's stdout and stderr are appended to the given
// files, and the environment is inherited.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace ecps::bench {

// How a child process ended.
struct ExitInfo {
  int exit_code = -1;  // valid when signal == 0
  int signal = 0;      // the terminating signal, 0 if it exited normally
  bool ok() const { return signal == 0 && exit_code == 0; }
  // "exit code 1", "killed by signal 9 (Killed)".
  std::string Describe() const;
};

// One running child. Not thread-safe; owned by the thread that started it.
// Destroying a handle of a child that still runs kills it (SIGKILL) and reaps
// it, so no zombie or orphan outlives the harness's bookkeeping.
class ChildProcess {
 public:
  // Starts argv[0] with arguments argv[1..]. stdout/stderr are opened with
  // O_APPEND|O_CREAT; an empty path means /dev/null.
  // REQUIRES: !argv.empty().
  static StatusOr<ChildProcess> Start(const std::vector<std::string>& argv,
                                      const std::string& stdout_path,
                                      const std::string& stderr_path);

  ChildProcess(ChildProcess&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  // Non-blocking: true (and *info filled) once the child has ended.
  bool Poll(ExitInfo* info);
  // Blocks until the child ends.
  ExitInfo Wait();
  // Sends `sig` to the child (no-op once reaped).
  void Signal(int sig);
  pid_t pid() const { return pid_; }

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;  // -1 once reaped
};

// Runs argv to completion and returns its stdout; *info receives the exit
// status. stderr goes to `stderr_path` ("" = /dev/null).
StatusOr<std::string> RunAndCapture(const std::vector<std::string>& argv, ExitInfo* info,
                                    const std::string& stderr_path = "");

// The absolute path of the running executable (/proc/self/exe).
std::string SelfExecutable();

}  // namespace ecps::bench
