#include "server/common/line_child.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace priortune::server::internal {

LineChild::LineChild(std::vector<std::string> args) : args_(std::move(args)) {
  if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) wake_[0] = wake_[1] = -1;
}

LineChild::~LineChild() {
  Kill();
  for (int fd : wake_)
    if (fd >= 0) close(fd);
}

void LineChild::Interrupt() {
  char c = 1;
  if (wake_[1] >= 0 && write(wake_[1], &c, 1) < 0) {
    // Full pipe: an interrupt is pending already.
  }
}

std::string LineChild::SignalText(int status) {
  return WIFSIGNALED(status) ? " (signal " + std::to_string(WTERMSIG(status)) + ")" : "";
}

Status LineChild::Start(const std::string& ready, double seconds) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return Internal("pipe: " + std::string(strerror(errno)));
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return Internal("pipe: " + std::string(strerror(errno)));
  }
  std::vector<const char*> argv = {"priortune"};
  for (const auto& a : args_) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {in[0], in[1], out[0], out[1]}) close(fd);
    return Internal("fork: " + std::string(strerror(errno)));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(in[0], 0);
    dup2(out[1], 1);
    execv("/proc/self/exe", const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  to_ = in[1];
  from_ = out[0];
  pid_ = pid;
  std::string line;
  Read got = ReadLine(seconds, &line);
  if (got == Read::kOk && line == ready) return OkStatus();
  int status = Kill();
  if (got == Read::kInterrupted)
    return Status(StatusCode::kCancelled, "the " + args_.front() + " child process was interrupted during start-up");
  std::string why = got == Read::kTimeout  ? "did not start within " + std::to_string(seconds) + " s"
                    : got == Read::kClosed ? "exited during start-up"
                                           : "said '" + line + "' instead of " + ready;
  return Internal("the " + args_.front() + " child process " + why + SignalText(status));
}

bool LineChild::Send(const std::string& line) {
  std::string s = line + "\n";
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = write(to_, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

LineChild::Read LineChild::ReadLine(double timeout_seconds, std::string* line) {
  using Clock = std::chrono::steady_clock;
  auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_seconds));
  while (true) {
    size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      *line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return Read::kOk;
    }
    int left_ms =
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (left_ms <= 0) return Read::kTimeout;
    pollfd p[2] = {{from_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int n = poll(p, wake_[0] >= 0 ? 2 : 1, left_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    if (wake_[0] >= 0 && (p[1].revents & POLLIN)) return Read::kInterrupted;  // stays pending
    char chunk[4096];
    ssize_t got = read(from_, chunk, sizeof chunk);
    if (got <= 0) return Read::kClosed;
    buffer_.append(chunk, static_cast<size_t>(got));
  }
}

int LineChild::Kill() {
  if (pid_ <= 0) return 0;
  int status = 0;
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  close(to_);
  close(from_);
  pid_ = -1;
  buffer_.clear();
  return status;
}

}  // namespace priortune::server::internal
