#include "server/service/embedded_workers.h"

#include <algorithm>
#include <chrono>

namespace priortune::server {

StatusOr<std::unique_ptr<EmbeddedWorkers>> EmbeddedWorkers::Start(const compiler::Target& target,
                                                                  const EmbeddedWorkersOptions& o) {
  std::unique_ptr<EmbeddedWorkers> e(new EmbeddedWorkers());
  e->workers_ = o.workers > 0 ? o.workers : std::max(1, compiler::Target::Host().cores / o.threads);
  PT_ASSIGN_OR_RETURN(e->server_, WorkerServer::Start("127.0.0.1:0", e->queue_, WorkerServiceOptions{}));
  std::string address = "127.0.0.1:" + std::to_string(e->server_->port());
  std::vector<std::string> extra = {
      "--timeout", std::to_string(o.timeout_seconds), "--target", target.ToJson(), "--retry-seconds", "0"};
  if (o.memory_cap_bytes > 0) extra.insert(extra.end(), {"--memory-cap-mb", std::to_string(o.memory_cap_bytes >> 20)});
  PT_ASSIGN_OR_RETURN(LocalWorkers local, LocalWorkers::Start(SelfExe(), e->workers_, address, extra, o.threads));
  e->local_.emplace(std::move(local));
  if (!e->queue_.WaitForWorkers(e->workers_, std::chrono::seconds(60)))
    return Status(StatusCode::kUnavailable, "workers did not connect within 60 s");
  return e;
}

void EmbeddedWorkers::Stop() {
  if (server_) server_->Shutdown();
  server_.reset();
  if (local_) local_->Stop(10);
  local_.reset();
}

EmbeddedWorkers::~EmbeddedWorkers() { Stop(); }

}  // namespace priortune::server
