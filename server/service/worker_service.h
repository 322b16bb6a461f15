// The gRPC server that measurement workers connect to (WorkerService.Lease). It feeds
// each worker stream from a MeasureQueue. gRPC stays inside the .cpp.
#pragma once

#include <memory>
#include <string>

#include "compiler/support/status.h"
#include "server/service/measure_queue.h"

namespace priortune::server {

struct WorkerServiceOptions {
  double heartbeat_seconds = 1.0;           // asked of workers in the welcome
  double heartbeat_timeout_seconds = 10.0;  // silence after which a worker's lease ends
  // At shutdown, end worker streams with UNAVAILABLE (workers reconnect: the server
  // restarts) instead of OK (workers exit: `priortune tune` is done).
  bool reconnect_after_shutdown = false;
};

class WorkerServer {
 public:
  // Listens on `address` ("127.0.0.1:0" picks a free port). Borrows `queue`, which must
  // outlive the server. Unavailable if the address cannot be bound.
  static StatusOr<std::unique_ptr<WorkerServer>> Start(const std::string& address, MeasureQueue& queue,
                                                       const WorkerServiceOptions& options);
  ~WorkerServer();
  int port() const;
  // Ends every worker stream (workers exit) and stops listening. Idempotent.
  void Shutdown();

 private:
  struct Impl;
  explicit WorkerServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace priortune::server
