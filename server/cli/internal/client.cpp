#include "server/cli/internal/client.h"

#include <chrono>
#include <cstdio>

#include "server/common/convert.h"
#include "server/common/internal/channel.h"

namespace priortune::server::cli {

int Refused(const grpc::Status& s) {
  std::fprintf(stderr, "priortune: %s\n", Describe(s).c_str());
  // The server answered: a refusal is bad input (2); the server unreachable is a failure (1).
  return s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? 1
                                                                                                                  : 2;
}

StatusOr<Client> Connect(const ConnectionOptions& o) {
  if (o.server.empty()) return InvalidArgument("--server HOST:PORT is required");
  PT_ASSIGN_OR_RETURN(auto channel, MakeChannel(o));
  PT_ASSIGN_OR_RETURN(std::string token, ReadToken(o));
  return Client{v1::TuningService::NewStub(channel), token, channel};
}

std::unique_ptr<grpc::ClientContext> Context(const Client& c, double seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_wait_for_ready(true);  // a server that is (re)starting: wait, up to the deadline
  Authorize(*ctx, c.token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  return ctx;
}

namespace {

std::string TaskLine(const v1::TaskStatus& t) {
  compiler::Workload w = FromProto(t.workload());
  char buf[512];
  std::string best = t.best_seconds() > 0 ? [&] {
    char b[64];
    std::snprintf(b, sizeof b, "best %.4f ms", t.best_seconds() * 1e3);
    return std::string(b);
  }()
                                          : std::string("no best yet");
  std::snprintf(buf, sizeof buf, "  task %lld %-28s %-9s %d/%d trials  %s%s%s", static_cast<long long>(t.task_id()),
                w.ShortName().c_str(), t.state().c_str(), t.stored(), t.trials(), best.c_str(),
                t.shared_with_job() ? (" (shared with job " + std::to_string(t.shared_with_job()) + ")").c_str() : "",
                t.message().empty() ? "" : ("  " + t.message()).c_str());
  return buf;
}

}  // namespace

void PrintJob(const v1::JobStatus& j) {
  std::printf("job %lld%s%s%s: %s, %d task(s), strategy %s, target %s x %d thread(s), client %s, priority %d",
              static_cast<long long>(j.job_id()), j.name().empty() ? "" : " (", j.name().c_str(),
              j.name().empty() ? "" : ")", j.state().c_str(), j.tasks_size(), j.strategy().c_str(),
              j.target().spec().c_str(), j.target().threads(), j.client().c_str(), j.priority());
  if (j.eta_seconds() > 0) std::printf(", eta %.0f s", j.eta_seconds());
  std::printf("\n");
  for (const auto& t : j.tasks()) std::printf("%s\n", TaskLine(t).c_str());
}

int Watch(const Client& c, int64_t job_id) {
  // A watch broken by the server restarting is started again (the server resumes the
  // job), for up to a minute of trying.
  constexpr double kRetrySeconds = 60;
  auto lost_since = std::chrono::steady_clock::now();
  std::string final_state;
  int64_t last_seen = 0;
  bool printed_snapshot = false;
  while (true) {
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    Authorize(ctx, c.token);
    v1::JobRef ref;
    ref.set_job_id(job_id);
    auto reader = c.stub->WatchJob(&ctx, ref);
    v1::JobEvent e;
    bool got_any = false;
    while (reader->Read(&e)) {
      got_any = true;
      final_state = e.job().state();
      if (e.kind() == v1::JobEvent::SNAPSHOT) {
        // Event numbers are the server's: a restarted server numbers the resumed job's
        // events from its own snapshot on.
        if (!printed_snapshot)
          PrintJob(e.job());
        else
          std::printf("watching again: job %lld is %s\n", static_cast<long long>(job_id), e.job().state().c_str());
        printed_snapshot = true;
        last_seen = e.sequence();
      } else if (e.sequence() > last_seen) {
        if (e.task_index() >= 0 && e.task_index() < e.job().tasks_size()) {
          const v1::TaskStatus& t = e.job().tasks(e.task_index());
          std::printf("[%lld] task %lld %s: %s\n", static_cast<long long>(e.sequence()),
                      static_cast<long long>(t.task_id()), FromProto(t.workload()).ShortName().c_str(),
                      e.message().c_str());
        } else {
          std::printf("[%lld] job %lld: %s\n", static_cast<long long>(e.sequence()), static_cast<long long>(job_id),
                      e.message().c_str());
        }
        last_seen = e.sequence();
      }
      std::fflush(stdout);
    }
    grpc::Status s = reader->Finish();
    if (got_any) lost_since = std::chrono::steady_clock::now();  // the window counts from this break
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - lost_since).count() < kRetrySeconds) {
      std::fprintf(stderr, "priortune: lost the server (%s); watching again\n", s.error_message().c_str());
      // Wait for the channel to connect again (gRPC reports the state change), within what
      // is left of the window.
      const auto left = std::chrono::duration<double>(kRetrySeconds) - (std::chrono::steady_clock::now() - lost_since);
      const auto until =
          std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(left);
      if (!c.channel->WaitForConnected(until)) return Refused(s);
      continue;
    }
    if (!s.ok()) return Refused(s);
    break;
  }
  auto state = StateFromProto(final_state);
  if (state.ok() && *state == db::RunState::kDone) {
    std::printf("job %lld done\n", static_cast<long long>(job_id));
    return 0;
  }
  std::fprintf(stderr, "priortune: job %lld ended %s\n", static_cast<long long>(job_id), final_state.c_str());
  return 1;
}

}  // namespace priortune::server::cli
