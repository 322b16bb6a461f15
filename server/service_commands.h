// The subcommands around the tuning service: `serve` (the daemon) and the clients that
// call it (`submit`, `watch`, `jobs`, `cancel`, `lookup --server`). Each returns the
// process exit code: 0 ok, 2 bad input or a refused call (with "CODE: message" on
// stderr), 1 a failure of the run itself.
#pragma once

#include <string>
#include <vector>

#include "server/commands.h"
#include "server/connection.h"
#include "server/tuning_service.h"

namespace priortune::server {

struct ServeOptions {
  std::string db = "priortune.db";
  TuningServerOptions server;
  std::string log_level = "info";  // trace, debug, info, warn, error
};

// Runs until SIGTERM or SIGINT, then shuts down gracefully (running jobs resume at the
// next start).
int RunServe(const ServeOptions& options);

struct SubmitOptions {
  ConnectionOptions connection;
  std::vector<WorkloadArgs> workloads;  // --op/--shape pairs
  std::string target = "host";
  int threads = 1;
  int trials = 200;
  std::string strategy;  // empty: the server's default (meta-ga with a meta-trained model for the target, else ga)
  std::string cost_model;
  int priority = 0;
  int batch_size = 0;
  uint64_t seed = 0;
  std::string name;
  bool watch = false;  // then follow it like `watch`
};

int RunSubmit(const SubmitOptions& options);
int RunWatch(const ConnectionOptions& connection, int64_t job_id);
int RunJobs(const ConnectionOptions& connection, const std::string& state);
int RunCancel(const ConnectionOptions& connection, int64_t job_id);
int RunRemoteLookup(const ConnectionOptions& connection, const WorkloadArgs& workload, const std::string& target,
                    int threads);

}  // namespace priortune::server
