// A child process of this executable, spoken to in lines over pipes: what isolates a
// candidate's build and run (the worker's runner) and a fuzz case (priortune fuzz) from
// the process that waits for it. A child that dies, hangs past its deadline or is
// interrupted is killed and reaped; the caller starts a new one.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "compiler/support/status.h"

namespace priortune::server::internal {

class LineChild {
 public:
  // `args`: the arguments after the program name ("worker", "--runner", ...); the child
  // runs /proc/self/exe with them, stdin and stdout on the pipes, killed with its parent.
  explicit LineChild(std::vector<std::string> args);
  ~LineChild();
  LineChild(const LineChild&) = delete;
  LineChild& operator=(const LineChild&) = delete;

  enum class Read { kOk, kTimeout, kClosed, kInterrupted };

  // Spawns the child and waits up to `seconds` for its first line to be `ready`.
  // Cancelled if Interrupt() came first, else Internal naming why (the child is reaped).
  Status Start(const std::string& ready, double seconds);
  bool running() const { return pid_ > 0; }
  // Writes `line` and a newline; false if the child closed its input.
  bool Send(const std::string& line);
  // The next line within `timeout_seconds`, or why not.
  Read ReadLine(double timeout_seconds, std::string* line);
  // Kills the child (if alive) and reaps it; its wait status (0 if none was running).
  int Kill();
  // Ends a ReadLine in progress, and every later one, with kInterrupted. Any thread.
  void Interrupt();
  // " (signal 11)" for a wait status that says a signal ended the child, else "".
  static std::string SignalText(int wait_status);

 private:
  std::vector<std::string> args_;
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  int wake_[2] = {-1, -1};  // Interrupt() writes, ReadLine polls
  std::string buffer_;
};

}  // namespace priortune::server::internal
