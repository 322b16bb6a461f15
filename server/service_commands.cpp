#include "server/service_commands.h"

#include <grpcpp/grpcpp.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "compiler/op_template.h"
#include "proto/priortune.grpc.pb.h"
#include "server/internal/channel.h"
#include "server/internal/convert.h"
#include "tuner/open_store.h"

namespace priortune::server {
namespace {

std::atomic<bool> g_stop{false};
void OnStop(int) { g_stop = true; }

int Refused(const grpc::Status& s) {
  std::fprintf(stderr, "priortune: %s\n", Describe(s).c_str());
  // The server answered: a refusal is bad input (2); the server unreachable is a failure (1).
  return s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? 1
                                                                                                               : 2;
}

struct Client {
  std::unique_ptr<v1::TuningService::Stub> stub;
  std::string token;
};

StatusOr<Client> Connect(const ConnectionOptions& o) {
  if (o.server.empty()) return InvalidArgument("--server HOST:PORT is required");
  PT_ASSIGN_OR_RETURN(auto channel, MakeChannel(o));
  PT_ASSIGN_OR_RETURN(std::string token, ReadToken(o));
  return Client{v1::TuningService::NewStub(channel), token};
}

// A unary call's context: the token and a deadline.
std::unique_ptr<grpc::ClientContext> Context(const Client& c, double seconds = 30) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_wait_for_ready(true);  // a server that is (re)starting: wait, up to the deadline
  Authorize(*ctx, c.token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  return ctx;
}

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
        if (!printed_snapshot) PrintJob(e.job());
        else std::printf("watching again: job %lld is %s\n", static_cast<long long>(job_id), e.job().state().c_str());
        printed_snapshot = true;
        last_seen = e.sequence();
      } else if (e.sequence() > last_seen) {
        if (e.task_index() >= 0 && e.task_index() < e.job().tasks_size()) {
          const v1::TaskStatus& t = e.job().tasks(e.task_index());
          std::printf("[%lld] task %lld %s: %s\n", static_cast<long long>(e.sequence()),
                      static_cast<long long>(t.task_id()), FromProto(t.workload()).ShortName().c_str(),
                      e.message().c_str());
        } else {
          std::printf("[%lld] job %lld: %s\n", static_cast<long long>(e.sequence()),
                      static_cast<long long>(job_id), e.message().c_str());
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
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // backoff before the next attempt
      continue;
    }
    if (!s.ok()) return Refused(s);
    break;
  }
  if (final_state == "done") {
    std::printf("job %lld done\n", static_cast<long long>(job_id));
    return 0;
  }
  std::fprintf(stderr, "priortune: job %lld ended %s\n", static_cast<long long>(job_id), final_state.c_str());
  return 1;
}

}  // namespace

int RunServe(const ServeOptions& o) {
  auto level = spdlog::level::from_str(o.log_level);
  if (level == spdlog::level::off && o.log_level != "off")
    return ReportError(InvalidArgument("--log-level: '" + o.log_level + "' is not trace, debug, info, warn or error"));
  // The log goes to stderr; stdout carries only the "listening on port N" line.
  spdlog::set_default_logger(spdlog::stderr_color_mt("serve"));
  spdlog::set_level(level);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::flush_on(spdlog::level::info);
  // One server per SQLite store: a file is one machine's, and the lock (the kernel's,
  // so a killed server releases it) makes the server its store's only one, which then
  // resumes a dead predecessor's jobs at once. Servers sharing a PostgreSQL store divide
  // the work through leases in the store instead.
  ServeOptions opts = o;
  if (!db::IsPostgresUrl(o.db)) {
    const std::string lock_path = o.db + ".serve-lock";
    int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) return ReportError(Status(StatusCode::kUnavailable, "cannot create " + lock_path));
    if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
      return ReportError(FailedPrecondition("another priortune serve holds the store " + o.db + " (" + lock_path +
                                            "); one server per SQLite store (several servers share a "
                                            "postgresql:// store)"));
    opts.server.jobs.exclusive_store = true;
  }
  if (!(o.server.jobs.lease_seconds >= 1))
    return ReportError(InvalidArgument("--lease-seconds: " + std::to_string(o.server.jobs.lease_seconds) +
                                       " is below 1"));
  auto store = tuner::OpenStore(o.db);
  if (!store.ok()) return ReportError(store.status());
  // A client or log reader that goes away must not kill the daemon.
  signal(SIGPIPE, SIG_IGN);
  // The signal handler only sets a flag; this thread polls it (a few ms of latency).
  struct sigaction sa {};
  sa.sa_handler = OnStop;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  auto server = TuningServer::Start(**store, opts.server);
  if (!server.ok()) return ReportError(server.status(), server.status().code() == StatusCode::kUnavailable ? 1 : 2);
  std::string host = o.server.listen.substr(0, o.server.listen.rfind(':'));
  spdlog::info("priortune serve: listening on {}:{} ({}{}), store {}", host, (*server)->port(),
               o.server.tls_cert.empty() ? "plaintext" : "TLS",
               o.server.tokens_file.empty() ? ", no tokens: every caller is trusted" : ", tokens required", o.db);
  if (o.server.tokens_file.empty() && host != "127.0.0.1" && host != "localhost" && host != "[::1]")
    spdlog::warn("listening beyond loopback without --tokens: anyone who reaches the port may submit and lease");
  std::printf("listening on port %d\n", (*server)->port());
  std::fflush(stdout);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a signal flag
  spdlog::info("shutting down: runs stop, running jobs resume at the next start");
  (*server)->Shutdown();
  spdlog::info("stopped");
  return 0;
}

int RunSubmit(const SubmitOptions& o) {
  auto c = Connect(o.connection);
  if (!c.ok()) return ReportError(c.status());
  v1::SubmitJobRequest req;
  for (const WorkloadArgs& a : o.workloads) {
    auto w = ParseWorkloadArgs(a);
    if (!w.ok()) return ReportError(w.status());
    ToProto(*w, req.add_workloads());
  }
  req.mutable_target()->set_spec(o.target);
  req.mutable_target()->set_threads(o.threads);
  req.set_trials(o.trials);
  req.set_strategy(o.strategy);
  req.set_cost_model(o.cost_model);
  req.set_priority(o.priority);
  req.set_batch_size(o.batch_size);
  req.set_seed(o.seed);
  req.set_name(o.name);
  v1::SubmitJobResponse resp;
  auto ctx = Context(*c);
  grpc::Status s = c->stub->SubmitJob(ctx.get(), req, &resp);
  if (!s.ok()) return Refused(s);
  std::printf("job %lld submitted: strategy %s%s\n", static_cast<long long>(resp.job_id()), resp.strategy().c_str(),
              resp.strategy_note().empty() ? "" : (" (" + resp.strategy_note() + ")").c_str());
  std::fflush(stdout);
  return o.watch ? Watch(*c, resp.job_id()) : 0;
}

int RunWatch(const ConnectionOptions& connection, int64_t job_id) {
  auto c = Connect(connection);
  if (!c.ok()) return ReportError(c.status());
  return Watch(*c, job_id);
}

int RunJobs(const ConnectionOptions& connection, const std::string& state) {
  auto c = Connect(connection);
  if (!c.ok()) return ReportError(c.status());
  v1::ListJobsRequest req;
  req.set_state(state);
  v1::ListJobsResponse resp;
  auto ctx = Context(*c);
  grpc::Status s = c->stub->ListJobs(ctx.get(), req, &resp);
  if (!s.ok()) return Refused(s);
  for (const auto& j : resp.jobs()) PrintJob(j);
  if (resp.jobs_size() == 0) std::printf("no jobs%s\n", state.empty() ? "" : (" in state " + state).c_str());
  return 0;
}

int RunCancel(const ConnectionOptions& connection, int64_t job_id) {
  auto c = Connect(connection);
  if (!c.ok()) return ReportError(c.status());
  v1::JobRef ref;
  ref.set_job_id(job_id);
  v1::JobStatus resp;
  auto ctx = Context(*c);
  grpc::Status s = c->stub->CancelJob(ctx.get(), ref, &resp);
  if (!s.ok()) return Refused(s);
  PrintJob(resp);
  return 0;
}

int RunRemoteLookup(const ConnectionOptions& connection, const WorkloadArgs& a, const std::string& target,
                    int threads) {
  auto w = ParseWorkloadArgs(a);
  if (!w.ok()) return ReportError(w.status());
  auto c = Connect(connection);
  if (!c.ok()) return ReportError(c.status());
  v1::LookupRequest req;
  ToProto(*w, req.mutable_workload());
  req.mutable_target()->set_spec(target);
  req.mutable_target()->set_threads(threads);
  v1::LookupResponse resp;
  auto ctx = Context(*c);
  grpc::Status s = c->stub->Lookup(ctx.get(), req, &resp);
  if (!s.ok()) return Refused(s);
  const compiler::OpTemplate* tmpl = *compiler::FindTemplate(w->op);
  std::printf("%s for %s: %s\n  level: %s\n", w->ShortName().c_str(), target.c_str(),
              compiler::ConfigToJson(FromProto(resp.config())).c_str(), resp.level().c_str());
  if (resp.cost_seconds() > 0)
    std::printf("  cost: %.3f ms (%.1f GFLOPS) as measured on the record's target\n", resp.cost_seconds() * 1e3,
                tmpl->Flops(*w) / resp.cost_seconds() / 1e9);
  for (const auto& skipped : resp.skipped()) std::printf("  skipped %s\n", skipped.c_str());
  return 0;
}

}  // namespace priortune::server
