// The tuning service of `priortune serve`: one gRPC server on one port with the
// TuningService (jobs, lookup, logs), the WorkerService (measurement workers), the
// standard health service and server reflection, in front of one shared store.
// gRPC stays inside the .cpp.
#pragma once

#include <memory>
#include <string>

#include "compiler/support/status.h"
#include "db/store.h"
#include "server/service/job_manager.h"
#include "server/service/measure_queue.h"
#include "server/service/worker_service.h"

namespace priortune::server {

struct TuningServerOptions {
  std::string listen = "127.0.0.1:7531";  // "127.0.0.1:0" picks a free port
  JobManagerOptions jobs;
  WorkerServiceOptions workers;
  // `ROLE NAME TOKEN` lines (server/common/auth.h); empty: no authentication, every call allowed.
  std::string tokens_file;
  // PEM files: TLS with this certificate when both are given.
  std::string tls_cert, tls_key;
  // Mutual TLS for workers: a Lease needs a client certificate signed by this CA (clients
  // need none).
  std::string tls_worker_ca;
  int max_request_bytes = 4 << 20;  // larger messages: RESOURCE_EXHAUSTED
  int max_lookup_batch = 4096;      // workloads per LookupBatch
};

class TuningServer {
 public:
  // Borrows `store` (shared by every job; it must outlive the server). Resumes the jobs
  // the store holds as running. InvalidArgument for bad token, certificate or key files;
  // Unavailable if the address cannot be bound.
  static StatusOr<std::unique_ptr<TuningServer>> Start(db::Store& store, const TuningServerOptions& options);
  ~TuningServer();
  int port() const;
  MeasureQueue& queue();
  JobManager& jobs();
  // Graceful: stops the jobs' runs (what was measured is stored; running jobs resume at
  // the next start), tells workers to reconnect later, ends calls within `grace_seconds`.
  // Idempotent.
  void Shutdown(double grace_seconds = 5);

  struct Impl;

 private:
  explicit TuningServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace priortune::server
