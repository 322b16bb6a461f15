// priortune serve: the tuning service (jobs, lookup, logs over gRPC; workers lease work).
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "db/store.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "server/service/tuning_service.h"
#include "tuner/open_store.h"

namespace priortune::server::cli {

namespace {

struct ServeOptions {
  std::string db = "priortune.db";
  TuningServerOptions server;
  std::string log_level = "info";  // trace, debug, info, warn, error
  int64_t memory_cap_mb = 0;       // per workload; 0: DefaultMemoryCapBytes()
};

int RunServe(const ServeOptions& o) {
  // SIGINT and SIGTERM are blocked in this thread before any other starts, so that every
  // thread inherits the mask and the signal stays pending until sigwait below takes it.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  if (Status s = CheckMemoryCapMb(o.memory_cap_mb, "serve: "); !s.ok()) return Fail(s);
  auto level = spdlog::level::from_str(o.log_level);
  if (level == spdlog::level::off && o.log_level != "off")
    return Fail(InvalidArgument("--log-level: '" + o.log_level + "' is not trace, debug, info, warn or error"));
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
  opts.server.jobs.memory_cap_bytes = o.memory_cap_mb << 20;
  if (!db::IsPostgresUrl(o.db)) {
    const std::string lock_path = o.db + ".serve-lock";
    int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) return Fail(Status(StatusCode::kUnavailable, "cannot create " + lock_path));
    if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
      return Fail(FailedPrecondition("another priortune serve holds the store " + o.db + " (" + lock_path +
                                     "); one server per SQLite store (several servers share a "
                                     "postgresql:// store)"));
    opts.server.jobs.exclusive_store = true;
  }
  if (!(o.server.jobs.lease_seconds >= 1))
    return Fail(InvalidArgument("--lease-seconds: " + std::to_string(o.server.jobs.lease_seconds) + " is below 1"));
  auto store = tuner::OpenStore(o.db);
  if (!store.ok()) return Fail(store.status());
  // A client or log reader that goes away must not kill the daemon.
  signal(SIGPIPE, SIG_IGN);
  auto server = TuningServer::Start(**store, opts.server);
  if (!server.ok()) return Fail(server.status(), server.status().code() == StatusCode::kUnavailable ? 1 : 2);
  std::string host = o.server.listen.substr(0, o.server.listen.rfind(':'));
  spdlog::info("priortune serve: listening on {}:{} ({}{}), store {}", host, (*server)->port(),
               o.server.tls_cert.empty() ? "plaintext" : "TLS",
               o.server.tokens_file.empty() ? ", no tokens: every caller is trusted" : ", tokens required", o.db);
  if (o.server.tokens_file.empty() && host != "127.0.0.1" && host != "localhost" && host != "[::1]")
    spdlog::warn("listening beyond loopback without --tokens: anyone who reaches the port may submit and lease");
  std::printf("listening on port %d\n", (*server)->port());
  std::fflush(stdout);
  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  spdlog::info("shutting down on {}: runs stop, running jobs resume at the next start",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  (*server)->Shutdown();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

void AddServe(Commands& commands) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd =
      commands.app().add_subcommand("serve", "the tuning service: jobs, lookup and logs over gRPC, workers lease work");
  TuningServerOptions& s = o->server;
  s.jobs.shipped_model_dir = commands.env().model_dir;
  cmd->add_option("--db", o->db,
                  "the store every job shares: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  cmd->add_option("--listen", s.listen, "address to listen on (default 127.0.0.1:7531; :0 picks a port)");
  cmd->add_option("--tokens", s.tokens_file,
                  "file of `ROLE NAME TOKEN` lines (ROLE client or worker; default: no authentication)");
  cmd->add_option("--tls-cert", s.tls_cert, "PEM certificate: serve TLS (with --tls-key)");
  cmd->add_option("--tls-key", s.tls_key, "PEM private key of --tls-cert");
  cmd->add_option("--tls-worker-ca", s.tls_worker_ca,
                  "PEM CA: workers must present a client certificate it signed (mutual TLS)");
  cmd->add_option("--max-runs", s.jobs.max_concurrent_runs, "tuning runs searching at once (default 4)");
  cmd->add_option("--no-worker-deadline", s.jobs.no_worker_deadline_seconds,
                  "seconds a task waits for a worker of its target before it fails (default 600)");
  cmd->add_option("--max-jobs-per-client", s.jobs.max_jobs_per_client,
                  "unfinished jobs one client may have (default 8)");
  cmd->add_option("--max-tasks-per-job", s.jobs.max_tasks_per_job, "workloads per job (default 256)");
  cmd->add_option("--max-trials", s.jobs.max_trials, "trial budget per task at most (default 100000)");
  cmd->add_option("--memory-cap-mb", o->memory_cap_mb,
                  "refuse workloads whose buffers need more (default: a quarter of RAM)");
  cmd->add_option("--max-request-bytes", s.max_request_bytes,
                  "larger requests are refused with RESOURCE_EXHAUSTED (default 4 MiB)");
  cmd->add_option("--heartbeat-timeout", s.workers.heartbeat_timeout_seconds,
                  "seconds of worker silence that end its lease (default 10)");
  cmd->add_option("--server-id", s.jobs.server_id, "this server's name in the store's leases (default hostname-pid)");
  cmd->add_option("--lease-seconds", s.jobs.lease_seconds,
                  "servers sharing a store: a dead server's jobs are taken over after this (default 30)");
  cmd->add_option("--log-level", o->log_level, "trace | debug | info (default) | warn | error");
  commands.Add(cmd, [o] { return RunServe(*o); });
}

}  // namespace priortune::server::cli
