// The embedded measurement back end of `tune` and `tune-model`: a WorkerServer on a
// loopback port and local worker processes connected to it, one per `threads` cores, so
// that measurements never share a core. The same protocol remote workers speak.
#pragma once

#include <memory>
#include <optional>

#include "compiler/target/target.h"
#include "server/service/local_workers.h"
#include "server/service/measure_queue.h"
#include "server/service/worker_service.h"

namespace priortune::server {

struct EmbeddedWorkersOptions {
  int workers = 0;  // 0: the host's cores / threads
  int threads = 1;
  double timeout_seconds = 10;   // per candidate
  int64_t memory_cap_bytes = 0;  // 0: the workers' default
};

class EmbeddedWorkers {
 public:
  // Unavailable if the workers do not connect within 60 s.
  static StatusOr<std::unique_ptr<EmbeddedWorkers>> Start(const compiler::Target& target,
                                                          const EmbeddedWorkersOptions& options);
  ~EmbeddedWorkers();
  MeasureQueue& queue() { return queue_; }
  int workers() const { return workers_; }
  // Ends the workers' streams and waits for them (idempotent).
  void Stop();

 private:
  EmbeddedWorkers() = default;
  MeasureQueue queue_;
  std::unique_ptr<WorkerServer> server_;
  std::optional<LocalWorkers> local_;
  int workers_ = 0;
};

}  // namespace priortune::server
