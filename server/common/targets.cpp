#include "server/common/targets.h"

namespace priortune::server {

StatusOr<compiler::Target> DeployTarget(const std::string& spec, int threads) {
  if (threads < 1) return InvalidArgument("--threads must be at least 1, got " + std::to_string(threads));
  PT_ASSIGN_OR_RETURN(compiler::Target t, compiler::Target::Parse(spec, threads));
  t.cores = threads;  // a JSON target's own cores count too: measured as deployed
  return t;
}

StatusOr<compiler::Target> TuningTarget(const std::string& spec, int threads) {
  PT_ASSIGN_OR_RETURN(compiler::Target t, DeployTarget(spec, threads));
  PT_RETURN_IF_ERROR(t.CheckRunsOnHost());
  int host_cores = compiler::Target::Host().cores;
  if (threads > host_cores)
    return FailedPrecondition("--threads " + std::to_string(threads) + ": this host has " + std::to_string(host_cores) +
                              " cores, a measurement needs one per thread");
  return t;
}

}  // namespace priortune::server
