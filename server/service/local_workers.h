// Local worker processes for `priortune tune` (and tests): `priortune worker --server ADDR`
// started as children, each pinned to its own core, in their own process group so that a
// terminal Ctrl-C reaches only the tuning front end, which then stops them cleanly.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "compiler/support/status.h"

namespace priortune::server {

class LocalWorkers {
 public:
  // Starts `n` workers of `exe` (the priortune executable) against `server_address`,
  // each measuring with `threads` threads pinned to its own `threads` cores (worker i
  // from core i * threads, wrapping). `extra_args` are appended (e.g. --timeout).
  static StatusOr<LocalWorkers> Start(const std::string& exe, int n, const std::string& server_address,
                                      const std::vector<std::string>& extra_args, int threads = 1);
  LocalWorkers(LocalWorkers&&) = default;
  LocalWorkers& operator=(LocalWorkers&&) = default;
  ~LocalWorkers();

  const std::vector<pid_t>& pids() const { return pids_; }
  // Waits up to `seconds` for the workers to exit (they do once the server ends their
  // streams), then kills the rest. Returns how many had to be killed.
  int Stop(double seconds);

 private:
  LocalWorkers() = default;
  std::vector<pid_t> pids_;
};

// The path of the running executable (/proc/self/exe resolved).
std::string SelfExe();

}  // namespace priortune::server
