// The CLI's side of the tuning service: a connected stub with its token, a unary call's
// context, printing jobs and following one. Includes gRPC: for the CLI's .cpp files only.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>

#include "compiler/support/status.h"
#include "proto/priortune.grpc.pb.h"
#include "server/common/connection.h"

namespace priortune::server::cli {

// Prints the refusal; returns 2 when the server answered (bad input), 1 when it was
// unreachable.
int Refused(const grpc::Status& s);

struct Client {
  std::unique_ptr<v1::TuningService::Stub> stub;
  std::string token;
  std::shared_ptr<grpc::Channel> channel;  // the stub's: Watch waits on its state after a loss
};
StatusOr<Client> Connect(const ConnectionOptions& o);
// A unary call's context: the token and a deadline.
std::unique_ptr<grpc::ClientContext> Context(const Client& c, double seconds = 30);

void PrintJob(const v1::JobStatus& j);
// Follows the job's events until it ends: 0 when it is done, 1 otherwise.
int Watch(const Client& c, int64_t job_id);

}  // namespace priortune::server::cli
