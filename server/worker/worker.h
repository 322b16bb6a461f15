// The measurement worker process: `priortune worker --server ADDR`. A supervisor holds the
// Lease stream and heartbeats; a runner child process builds, checks and times each
// candidate, so that a kernel that hangs or crashes costs a runner, not the worker.
#pragma once

#include <string>

#include "server/common/connection.h"

namespace priortune::server {

struct WorkerOptions {
  ConnectionOptions connection;  // the server (host:port of the WorkerService), TLS, token
  // After a lost connection (the server died or restarted), reconnect with backoff for up
  // to this long before giving up; 0: exit at once. A server that ends the stream in
  // order (a `tune` run ending) makes the worker exit either way.
  double retry_seconds = 300;
  std::string id;               // default: hostname-pid
  int cpu = -1;                 // pin to this core (>= 0) and the next threads - 1; -1: no pinning
  int threads = 1;              // threads per measurement, on as many cores
  std::string target = "host";  // what this worker measures for (Target::Parse spec);
                                // its code must run on this CPU
  int64_t memory_cap_mb = 0;    // refuse bigger workloads; 0: DefaultMemoryCapBytes()
  double timeout_seconds = 20;  // per candidate: build + check + timing
  // Tests only: a JSON file {"<config hash>": "hang" | "crash" | "kill-worker" |
  // "wrong-answer"} the runner reads before each candidate (a missing file plans no
  // fault); a candidate whose config hash it names meets that fault instead of its run.
  // Empty (production): no file is read.
  std::string fault_plan;
  int min_repeat_ms = 20;     // timing protocol: rounds of at least this long
  int repeat = 3;             // timing rounds per candidate
  bool check_bounds = false;  // build candidates bounds-checked (a violation: runtime error)
};

// Runs until the server ends the stream. Returns the process exit code: 0 after a
// normal end, 2 with a message on stderr if the server refuses the worker (a bad or
// missing token, a bad hello) or stays unreachable for retry_seconds.
int RunWorker(const WorkerOptions& options);

// The runner child: reads candidates as JSON lines on stdin, writes results as JSON lines
// on stdout. Started by RunWorker through `priortune worker --runner`.
int RunRunner(const WorkerOptions& options);

}  // namespace priortune::server
