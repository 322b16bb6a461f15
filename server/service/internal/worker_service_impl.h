// The WorkerService implementation, for the servers that host it: the embedded one of
// `priortune tune` (WorkerServer) and the tuning service (TuningServer).
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>

#include "server/service/measure_queue.h"
#include "server/service/worker_service.h"

namespace priortune::server {

// OK lets the call through; anything else is returned to the worker as it is.
using AuthorizeCall = std::function<grpc::Status(grpc::ServerContext*)>;

std::unique_ptr<grpc::Service> NewWorkerService(MeasureQueue& queue, const WorkerServiceOptions& options,
                                                AuthorizeCall authorize);

}  // namespace priortune::server
