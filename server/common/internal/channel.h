// A gRPC channel and call context from ConnectionOptions (includes gRPC: internal), for the server/ .cpp files
// that call a priortune server (the worker, the client subcommands).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "server/common/connection.h"

namespace priortune::server {

// InvalidArgument for an unreadable certificate or key file.
StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ConnectionOptions& options);
// Adds "authorization: Bearer TOKEN" when `token` is not empty.
void Authorize(grpc::ClientContext& ctx, const std::string& token);
// "CODE: message" of a gRPC status, as the CLI prints it.
std::string Describe(const grpc::Status& s);
// The gRPC status as ours (same codes).
Status FromGrpc(const grpc::Status& s);

}  // namespace priortune::server
