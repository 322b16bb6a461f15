// The targets the service, the workers and the CLI speak of: a target spec (host, a CPU
// name or target JSON) at a thread count. Shared by the service core and the CLI, so that
// neither includes the other.
#pragma once

#include <string>

#include "compiler/support/status.h"
#include "compiler/target/target.h"

namespace priortune::server {

// `spec` (Target::Parse: host, a CPU name or target JSON) running `threads` threads on as
// many cores: what a tuning worker measures with and lookup asks for (the thread count
// is part of the target's key). InvalidArgument for an unknown spec or threads < 1.
StatusOr<compiler::Target> DeployTarget(const std::string& spec, int threads = 1);
// DeployTarget, and FailedPrecondition when this host cannot run its code or has fewer
// than `threads` cores: the target a kernel is tuned for and measured on here.
StatusOr<compiler::Target> TuningTarget(const std::string& spec, int threads = 1);

}  // namespace priortune::server
