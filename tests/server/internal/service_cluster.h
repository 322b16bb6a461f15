// A real tuning service for integration tests: `priortune serve` as a child process on
// loopback, real worker processes, a gRPC client with the test's token, and the store
// behind it: a SQLite file in a temporary directory, or a PostgreSQL database (SetDb)
// that several clusters' servers share.
#pragma once

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "proto/priortune.grpc.pb.h"
#include "server/common/convert.h"
#include "server/service/local_workers.h"
#include "tests/server/cluster.h"

namespace priortune::server {

class ServiceCluster {
 public:
  ServiceCluster() {
    char tmpl[] = "/tmp/priortune-svc-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~ServiceCluster() {
    StopServer(SIGKILL);
    for (auto& w : workers_) w.Stop(10);
    std::filesystem::remove_all(dir_);
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::string db() const { return db_url_.empty() ? Path("service.db") : db_url_; }
  // The store's URL instead of the cluster's own SQLite file; set before StartServer.
  void SetDb(const std::string& url) { db_url_ = url; }
  std::string address() const { return host_ + ":" + std::to_string(port_); }
  // The address the server listens on (default loopback); set before StartServer.
  void SetHost(const std::string& host) { host_ = host; }
  int port() const { return port_; }
  pid_t server_pid() const { return server_; }

  // Starts `priortune serve` (on the port of the last start, if any, else a free one)
  // and waits until it listens.
  void StartServer(std::vector<std::string> extra = {}) {
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    std::string log = Path("serve-" + std::to_string(++starts_) + ".log");
    std::vector<std::string> args = {PRIORTUNE_EXE, "serve",    "--db",
                                     db(),          "--listen", host_ + ":" + std::to_string(port_)};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(out[1], 1);
      int err = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(err, 2);
      close(out[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    server_ = pid;
    // The first stdout line says the port.
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 1000) <= 0) continue;
      char buf[256];
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    int port = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "listening on port %d", &port), 1) << "serve did not start: '" << line << "'\n"
                                                                           << ServerLog();
    port_ = port;
  }

  // Sends `signal` and reaps the server (SIGTERM: a graceful stop, SIGKILL: a crash).
  void StopServer(int signal) {
    if (server_ <= 0) return;
    kill(server_, signal);
    int status = 0;
    waitpid(server_, &status, 0);
    server_ = -1;
  }
  // The test reaped the server itself.
  void ForgetServer() { server_ = -1; }

  std::string ServerLog() const {
    std::ifstream f(Path("serve-" + std::to_string(starts_) + ".log"));
    return std::string((std::istreambuf_iterator<char>(f)), {});
  }

  // Starts `n` worker processes against the server; `env` entries (NAME=value) are set
  // for them (a token, say).
  void AddWorkers(int n, std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), {"--repeat", "2", "--min-repeat-ms", "5", "--retry-seconds", "120"});
    auto w = LocalWorkers::Start(PRIORTUNE_EXE, n, address(), extra);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    workers_.push_back(std::move(w).value());
  }
  const std::vector<LocalWorkers>& workers() const { return workers_; }

  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  }
  std::unique_ptr<v1::TuningService::Stub> Client() const { return v1::TuningService::NewStub(Channel()); }

  // An SQL count over the store (its own connection, read only for SQLite); -1 on error.
  int64_t Count(const std::string& sql) const {
    if (!db_url_.empty()) {
      PGconn* c = PQconnectdb(db_url_.c_str());
      int64_t n = -1;
      if (PQstatus(c) == CONNECTION_OK) {
        PGresult* r = PQexec(c, sql.c_str());
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
          n = std::atoll(PQgetvalue(r, 0, 0));
        else
          ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
        PQclear(r);
      }
      PQfinish(c);
      return n;
    }
    sqlite3* db = nullptr;
    int64_t n = -1;
    if (sqlite3_open_v2(this->db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_busy_timeout(db, 30000);
      sqlite3_stmt* s = nullptr;
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
      sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return n;
  }

 private:
  std::filesystem::path dir_;
  pid_t server_ = -1;
  std::string host_ = "127.0.0.1";
  std::string db_url_;
  int port_ = 0;
  int starts_ = 0;
  std::vector<LocalWorkers> workers_;
};

// A unary call's context: a deadline and, if given, the token.
inline std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = "", double seconds = 60) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_wait_for_ready(true);  // a server just (re)started may still be coming up
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  return ctx;
}

inline v1::Workload Matmul(int m, int n, int k) {
  v1::Workload w;
  w.set_op("matmul");
  (*w.mutable_dims())["M"] = m;
  (*w.mutable_dims())["N"] = n;
  (*w.mutable_dims())["K"] = k;
  w.set_dtype("float32");
  return w;
}

// Follows a job to its end (WatchJob, with a deadline); the last event's job. A watch
// that breaks with UNAVAILABLE (a server restarting, a connection of the killed one) is
// started again, as a client would.
inline v1::JobStatus WatchToEnd(v1::TuningService::Stub& stub, int64_t job, const std::string& token = "",
                                double seconds = 300) {
  auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  v1::JobStatus last;
  while (true) {
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(deadline);
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    v1::JobRef ref;
    ref.set_job_id(job);
    auto reader = stub.WatchJob(&ctx, ref);
    v1::JobEvent e;
    while (reader->Read(&e)) last = e.job();
    grpc::Status s = reader->Finish();
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE && std::chrono::system_clock::now() < deadline) continue;
    EXPECT_TRUE(s.ok()) << s.error_message();
    return last;
  }
}

// A job request of a few workloads, 8 candidates per batch.
inline v1::SubmitJobRequest Job(std::vector<v1::Workload> workloads, int trials, const std::string& spec = "host") {
  v1::SubmitJobRequest r;
  for (auto& w : workloads) *r.add_workloads() = w;
  r.mutable_target()->set_spec(spec);
  r.set_trials(trials);
  r.set_batch_size(8);
  r.set_strategy("ga");  // the same search on every CPU (the default depends on the models there)
  return r;
}

inline int64_t Submit(v1::TuningService::Stub& stub, const v1::SubmitJobRequest& r, const std::string& token = "") {
  v1::SubmitJobResponse resp;
  auto ctx = Ctx(token);
  grpc::Status s = stub.SubmitJob(ctx.get(), r, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.job_id();
}

inline std::string Key(const v1::Workload& w) { return FromProto(w).Key(); }

// Records of a workload (any target) and how many distinct configs they hold.
inline std::pair<int64_t, int64_t> RecordsOf(const ServiceCluster& c, const v1::Workload& w) {
  std::string where = " FROM records r JOIN workloads w ON w.id = r.workload_id WHERE w.key = '" + Key(w) + "'";
  return {c.Count("SELECT COUNT(*)" + where), c.Count("SELECT COUNT(DISTINCT r.config_hash)" + where)};
}

// Follows a one-task job (WatchJob, bounded) until its task has `n` records stored.
inline void WatchUntilStored(v1::TuningService::Stub& stub, int64_t job, int n) {
  auto ctx = Ctx("", 120);
  v1::JobRef ref;
  ref.set_job_id(job);
  auto reader = stub.WatchJob(ctx.get(), ref);
  v1::JobEvent e;
  bool reached = false;
  while (!reached && reader->Read(&e)) reached = e.job().tasks_size() == 1 && e.job().tasks(0).stored() >= n;
  ctx->TryCancel();
  reader->Finish();
}

inline const v1::TaskStatus* TaskOf(const v1::JobStatus& j, const v1::Workload& w) {
  for (const auto& t : j.tasks())
    if (t.workload_key() == Key(w)) return &t;
  return nullptr;
}

}  // namespace priortune::server
