#include "tools/bench/process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>

#include "common/file_util.h"

extern char** environ;

namespace ecps::bench {

std::string ExitInfo::Describe() const {
  if (signal != 0) return absl::StrCat("killed by signal ", signal, " (", strsignal(signal), ")");
  return absl::StrCat("exit code ", exit_code);
}

namespace {

ExitInfo FromWaitStatus(int status) {
  ExitInfo info;
  if (WIFSIGNALED(status)) {
    info.signal = WTERMSIG(status);
  } else if (WIFEXITED(status)) {
    info.exit_code = WEXITSTATUS(status);
  }
  return info;
}

}  // namespace

StatusOr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                           const std::string& stdout_path,
                                           const std::string& stderr_path) {
  if (argv.empty()) return InvalidArgument("ChildProcess::Start: empty argv");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // No O_CLOEXEC: these become the child's stdout and stderr across exec.
  const int flags = O_WRONLY | O_CREAT | O_APPEND;
  const std::string out = stdout_path.empty() ? "/dev/null" : stdout_path;
  const std::string err = stderr_path.empty() ? "/dev/null" : stderr_path;
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), flags, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(), flags, 0644);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  // posix_spawn (not posix_spawnp): the harness always passes a path, and a
  // PATH search could silently pick another ecps.
  const int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return IoError("cannot start '", argv[0], "': ", std::strerror(rc));
  return ChildProcess(pid);
}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0) {
      Signal(SIGKILL);
      Wait();
    }
    pid_ = o.pid_;
    o.pid_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    Signal(SIGKILL);
    Wait();
  }
}

bool ChildProcess::Poll(ExitInfo* info) {
  if (pid_ <= 0) return true;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return false;
  if (r < 0 && errno == EINTR) return false;
  *info = r < 0 ? ExitInfo{} : FromWaitStatus(status);
  pid_ = -1;
  return true;
}

ExitInfo ChildProcess::Wait() {
  ExitInfo info;
  while (pid_ > 0) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r > 0) info = FromWaitStatus(status);
    pid_ = -1;
  }
  return info;
}

void ChildProcess::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

StatusOr<std::string> RunAndCapture(const std::vector<std::string>& argv, ExitInfo* info,
                                    const std::string& stderr_path) {
  // A temporary file instead of a pipe keeps this free of read/wait deadlocks.
  char tmpl[] = "/tmp/ecps-bench-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return IoError("mkstemp: ", std::strerror(errno));
  close(fd);
  const std::string tmp = tmpl;
  StatusOr<std::string> out;
  {
    auto child = ChildProcess::Start(argv, tmp, stderr_path);
    if (!child.ok()) {
      unlink(tmp.c_str());
      return child.status();
    }
    *info = child->Wait();
    out = ReadFile(tmp);
  }
  unlink(tmp.c_str());
  return out;
}

std::string SelfExecutable() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

}  // namespace ecps::bench
