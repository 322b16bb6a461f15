#include "server/service/local_workers.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>

namespace priortune::server {

std::string SelfExe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("priortune");
}

StatusOr<LocalWorkers> LocalWorkers::Start(const std::string& exe, int n, const std::string& server_address,
                                           const std::vector<std::string>& extra_args, int threads) {
  if (n < 1) return InvalidArgument("--workers must be at least 1, got " + std::to_string(n));
  if (access(exe.c_str(), X_OK) != 0) return NotFound("worker executable not found: " + exe);
  LocalWorkers workers;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> args = {exe,         "worker",
                                     "--server",  server_address,
                                     "--cpu",     std::to_string((i * threads) % std::max(1L, cores)),
                                     "--id",      "local" + std::to_string(i),
                                     "--threads", std::to_string(threads)};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) return Internal("fork failed for worker " + std::to_string(i));
    if (pid == 0) {
      setpgid(0, 0);                     // Ctrl-C in the terminal is for the front end
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the front end
      // "local<i>-<pid>": unique, and names the process behind a lease in logs.
      std::string id = "local" + std::to_string(i) + "-" + std::to_string(getpid());
      argv[7] = id.data();
      execv(exe.c_str(), argv.data());
      _exit(127);
    }
    workers.pids_.push_back(pid);
  }
  return workers;
}

int LocalWorkers::Stop(double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int killed = 0;
  for (pid_t& pid : pids_) {
    if (pid <= 0) continue;
    // The child's pidfd becomes readable when it exits: wait on it up to the deadline,
    // then kill it. Without pidfds (a kernel before 5.3) it is killed at once.
    const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    bool exited = false;
    if (fd >= 0) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      int ready = 0;
      do {
        ready = poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
      } while (ready < 0 && errno == EINTR);
      exited = ready > 0;
      close(fd);
    }
    if (!exited && waitpid(pid, nullptr, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      ++killed;
    }
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
  return killed;
}

LocalWorkers::~LocalWorkers() { Stop(0); }

}  // namespace priortune::server
