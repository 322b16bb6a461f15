// The tuning service end to end: `priortune serve` and `priortune worker` processes on
// loopback, gRPC clients, the SQLite file behind it.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <thread>

#include "compiler/ops/workload.h"
#include "compiler/target/target.h"
#include "proto/priortune.grpc.pb.h"
#include "server/common/convert.h"
#include "server/service/measure_queue.h"
#include "tests/common/isa_targets.h"
#include "tests/server/internal/service_cluster.h"

namespace priortune::server {
namespace {

// Appends what `fd` yields to `out` until `done()` holds, the end of the stream, or
// `seconds` pass (poll with the time left, no sleeping); returns done().
bool ReadUntil(int fd, std::string& out, const std::function<bool()>& done, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return done();
    out.append(buf, static_cast<size_t>(n));
  }
  return true;
}

// The exit status of child `pid` once it exits within `seconds` (its pidfd polled); -1 and
// the child killed if it does not.
int ExitStatusWithin(pid_t pid, double seconds) {
  const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  pollfd p{fd, POLLIN, 0};
  const bool exited = fd >= 0 && poll(&p, 1, static_cast<int>(seconds * 1000)) > 0;
  if (fd >= 0) close(fd);
  if (!exited) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  return exited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A worker builds what the wire says: a workload must keep every field (its key) through
// the proto, or the worker measures another kernel than the one its record is stored for.
TEST(WireFormat, AWorkloadKeepsEveryEpilogueFieldThroughTheProto) {
  compiler::Workload w = compiler::Conv2dWorkload(1, 8, 8, 8, 16, 3, 3, 1, 1);
  for (int bits = 0; bits < 16; ++bits) {
    w.bias = bits & 1;
    w.residual = bits & 2;
    w.relu = (bits & 4) && !(bits & 8);
    w.relu6 = bits & 8;
    v1::Workload p;
    ToProto(w, &p);
    EXPECT_EQ(FromProto(p).Key(), w.Key()) << w.ToJson();
  }
}

TEST(TuningService, OverlappingJobsOfTwoClientsTuneTheSharedWorkloadOnce) {
  ServiceCluster c;
  c.StartServer();
  c.AddWorkers(2);
  v1::Workload a = Matmul(32, 48, 16), shared = Matmul(48, 32, 24), b = Matmul(16, 40, 32);
  auto stub1 = c.Client(), stub2 = c.Client();
  // Two clients at once.
  auto f1 = std::async(std::launch::async, [&] { return Submit(*stub1, Job({a, shared}, 24)); });
  auto f2 = std::async(std::launch::async, [&] { return Submit(*stub2, Job({shared, b}, 24)); });
  int64_t j1 = f1.get(), j2 = f2.get();
  ASSERT_GT(j1, 0);
  ASSERT_GT(j2, 0);
  v1::JobStatus s1 = WatchToEnd(*stub1, j1), s2 = WatchToEnd(*stub2, j2);
  ASSERT_EQ(s1.state(), "done") << s1.DebugString() << c.ServerLog();
  ASSERT_EQ(s2.state(), "done") << s2.DebugString();
  // The shared workload: measured once, to the budget, no config twice.
  auto [records, distinct] = RecordsOf(c, shared);
  EXPECT_EQ(records, 24);
  EXPECT_EQ(distinct, records);
  for (const v1::Workload& w : {a, b}) EXPECT_EQ(RecordsOf(c, w).first, 24);
  const v1::TaskStatus *t1 = TaskOf(s1, shared), *t2 = TaskOf(s2, shared);
  ASSERT_TRUE(t1 && t2);
  // One job ran it, the other shared that run (or, if the first had finished already,
  // was answered from the store): both report the same best.
  EXPECT_TRUE(t1->shared_with_job() != 0 || t2->shared_with_job() != 0 || t1->from_store() || t2->from_store())
      << s1.DebugString() << s2.DebugString();
  EXPECT_GT(t1->best_seconds(), 0);
  EXPECT_EQ(t1->best_seconds(), t2->best_seconds());
  EXPECT_EQ(t1->best_config().DebugString(), t2->best_config().DebugString());

  // Tune once, deploy many: the same request again measures nothing.
  int64_t j3 = Submit(*stub1, Job({shared}, 24));
  v1::JobStatus s3 = WatchToEnd(*stub1, j3);
  ASSERT_EQ(s3.state(), "done");
  EXPECT_TRUE(s3.tasks(0).from_store()) << s3.DebugString();
  EXPECT_EQ(RecordsOf(c, shared).first, 24);
  // And Lookup hands out that best.
  v1::LookupRequest lr;
  *lr.mutable_workload() = shared;
  lr.mutable_target()->set_spec("host");
  v1::LookupResponse found;
  auto ctx = Ctx();
  ASSERT_TRUE(stub1->Lookup(ctx.get(), lr, &found).ok());
  EXPECT_EQ(found.level(), "exact target");
  EXPECT_EQ(found.cost_seconds(), t1->best_seconds());
}

TEST(TuningService, AServerKilledMidJobResumesItWithNothingLostOrMeasuredTwice) {
  ServiceCluster c;
  c.StartServer();
  c.AddWorkers(1);
  v1::Workload w = Matmul(64, 48, 40);
  auto stub = c.Client();
  const int trials = 48;
  int64_t job = Submit(*stub, Job({w}, trials));
  // Wait (WatchJob, bounded) until some batches are stored, then kill the server.
  WatchUntilStored(*stub, job, 16);
  // `priortune watch` follows the job across the kill and the restart: it waits for the
  // server to come back and watches again.
  int watch_out[2];
  ASSERT_EQ(pipe(watch_out), 0);
  pid_t watcher = fork();
  ASSERT_GE(watcher, 0);
  if (watcher == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(watch_out[1], 1);
    dup2(watch_out[1], 2);
    close(watch_out[0]);
    execl(PRIORTUNE_EXE, PRIORTUNE_EXE, "watch", "--server", c.address().c_str(), std::to_string(job).c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(watch_out[1]);
  std::string watched;
  const std::string job_line = "job " + std::to_string(job);
  ASSERT_TRUE(ReadUntil(
      watch_out[0], watched, [&] { return watched.find(job_line) != std::string::npos; }, 60))
      << watched;  // it is watching before the kill
  c.StopServer(SIGKILL);
  auto [before, before_distinct] = RecordsOf(c, w);
  ASSERT_GE(before, 16);
  ASSERT_LT(before, trials) << "the job ended before the kill; nothing to resume";
  int64_t max_id_before = c.Count("SELECT MAX(id) FROM records");

  c.StartServer();  // the same port: the worker reconnects by itself
  auto stub2 = c.Client();
  v1::JobStatus end = WatchToEnd(*stub2, job);
  ASSERT_EQ(end.state(), "done") << end.DebugString() << c.ServerLog();
  ReadUntil(
      watch_out[0], watched, [] { return false; }, 120);  // to its end: the watcher exits
  close(watch_out[0]);
  const int watch_status = ExitStatusWithin(watcher, 30);
  EXPECT_EQ(watch_status, 0) << watched;
  EXPECT_NE(watched.find("lost the server"), std::string::npos) << watched;
  EXPECT_NE(watched.find("watching again"), std::string::npos) << watched;
  EXPECT_NE(watched.find("job " + std::to_string(job) + " done"), std::string::npos) << watched;
  auto [after, distinct] = RecordsOf(c, w);
  EXPECT_EQ(after, trials);    // resumed to the budget
  EXPECT_EQ(distinct, after);  // no config measured twice
  // No record lost: every record from before the kill is still there.
  EXPECT_EQ(c.Count("SELECT COUNT(*) FROM records WHERE id <= " + std::to_string(max_id_before)), before);
  // The one worker process served the resumed job: it reconnected.
  EXPECT_EQ(kill(c.workers()[0].pids()[0], 0), 0);
  EXPECT_EQ(c.Count("SELECT COUNT(*) FROM records WHERE id > " + std::to_string(max_id_before)), trials - before);
  EXPECT_NE(c.ServerLog().find("resumed 1 job"), std::string::npos) << c.ServerLog();
  // One server per store and per port: a second one is refused, not run beside it.
  int code = 0;
  std::string out = Shell(std::string(PRIORTUNE_EXE) + " serve --listen 127.0.0.1:0 --db " + c.db(), &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("another priortune serve holds the store"), std::string::npos) << out;
  out = Shell(std::string(PRIORTUNE_EXE) + " serve --listen " + c.address() + " --db " + c.Path("other.db"), &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("cannot listen"), std::string::npos) << out;
}

class AuthenticatedService : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(c_.Path("tokens")) << "# role name token\n"
                                        "client alice alice-0123456789abcdef\n"
                                        "client bob bob-0123456789abcdef0\n"
                                        "worker w1 worker-0123456789abcdef\n";
    std::ofstream(c_.Path("client.token")) << kAlice << "\n";
    std::ofstream(c_.Path("worker.token")) << kWorker << "\n";
    c_.StartServer({"--tokens", c_.Path("tokens"), "--max-jobs-per-client", "1", "--memory-cap-mb", "64",
                    "--max-trials", "1000", "--max-request-bytes", "65536", "--no-worker-deadline", "600"});
    stub_ = c_.Client();
  }
  static constexpr const char* kAlice = "alice-0123456789abcdef";
  static constexpr const char* kWorker = "worker-0123456789abcdef";
  grpc::Status Call(const v1::SubmitJobRequest& r, const std::string& token, int64_t* id = nullptr) {
    v1::SubmitJobResponse resp;
    auto ctx = Ctx(token);
    grpc::Status s = stub_->SubmitJob(ctx.get(), r, &resp);
    if (id) *id = resp.job_id();
    return s;
  }
  ServiceCluster c_;
  std::unique_ptr<v1::TuningService::Stub> stub_;
};

TEST_F(AuthenticatedService, RefusesMissingUnknownAndWrongRoleTokens) {
  v1::SubmitJobRequest r = Job({Matmul(16, 16, 16)}, 8);
  EXPECT_EQ(Call(r, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Call(r, "not-a-token-of-this-server").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status wrong = Call(r, kWorker);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(wrong.error_message().find("worker token"), std::string::npos) << wrong.error_message();
  // A worker token cannot read the store either.
  v1::LookupRequest lr;
  *lr.mutable_workload() = Matmul(16, 16, 16);
  v1::LookupResponse found;
  auto ctx = Ctx(kWorker);
  EXPECT_EQ(stub_->Lookup(ctx.get(), lr, &found).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // A client token cannot lease work: the worker is refused and exits 2.
  int code = 0;
  std::string out = Shell(
      std::string(PRIORTUNE_EXE) + " worker --server " + c_.address() + " --token-file " + c_.Path("client.token"),
      &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("PERMISSION_DENIED"), std::string::npos) << out;
  // No token at all: refused too.
  out = Shell("env -u PRIORTUNE_TOKEN " + std::string(PRIORTUNE_EXE) + " worker --server " + c_.address(), &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("UNAUTHENTICATED"), std::string::npos) << out;
  // The CLI client with the right token gets through.
  out = Shell("env PRIORTUNE_TOKEN=" + std::string(kAlice) + " " + PRIORTUNE_EXE + " jobs --server " + c_.address(),
              &code);
  EXPECT_EQ(code, 0) << out;
}

TEST_F(AuthenticatedService, RejectsBadRequestsNamingTheFieldAndKeepsServing) {
  auto expect = [&](const v1::SubmitJobRequest& r, grpc::StatusCode code, const std::string& field) {
    grpc::Status s = Call(r, kAlice);
    EXPECT_EQ(s.error_code(), code) << field << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(field), std::string::npos) << s.error_message();
  };
  v1::Workload bad_dims = Matmul(16, 16, 16);
  (*bad_dims.mutable_dims())["M"] = -3;
  expect(Job({bad_dims}, 8), grpc::StatusCode::INVALID_ARGUMENT, "workloads[0]");
  v1::Workload unknown = Matmul(16, 16, 16);
  unknown.set_op("fft");
  expect(Job({Matmul(8, 8, 8), unknown}, 8), grpc::StatusCode::NOT_FOUND, "workloads[1].op");
  expect(Job({Matmul(16, 16, 16)}, -5), grpc::StatusCode::INVALID_ARGUMENT, "trials");
  expect(Job({Matmul(16, 16, 16)}, 5000), grpc::StatusCode::INVALID_ARGUMENT, "trials");
  v1::SubmitJobRequest strategy = Job({Matmul(16, 16, 16)}, 8);
  strategy.set_strategy("annealing");
  expect(strategy, grpc::StatusCode::INVALID_ARGUMENT, "strategy");
  strategy.set_strategy("xgb-ga");
  strategy.set_cost_model("neural");
  expect(strategy, grpc::StatusCode::INVALID_ARGUMENT, "cost_model");
  expect(Job({Matmul(16, 16, 16)}, 8, "pentium-mmx-9000"), grpc::StatusCode::INVALID_ARGUMENT, "target");
  // Over the memory cap (64 MiB): 4096^2 floats x 3 = 192 MiB.
  expect(Job({Matmul(4096, 4096, 4096)}, 8), grpc::StatusCode::RESOURCE_EXHAUSTED, "workloads[0]");
  // A request over --max-request-bytes: refused by gRPC before it is parsed.
  v1::SubmitJobRequest huge = Job({Matmul(16, 16, 16)}, 8);
  huge.set_name(std::string(100000, 'x'));
  EXPECT_EQ(Call(huge, kAlice).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Paging tokens are checked.
  v1::ListRecordsRequest lr;
  lr.set_page_token("abc");
  v1::ListRecordsResponse records;
  auto ctx = Ctx(kAlice);
  grpc::Status s = stub_->ListRecords(ctx.get(), lr, &records);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("page_token"), std::string::npos);
  // One unfinished job per client: the second is refused, naming the client. (No worker
  // is connected, so the first stays running.)
  int64_t first = 0;
  ASSERT_TRUE(Call(Job({Matmul(16, 16, 16)}, 8), kAlice, &first).ok());
  grpc::Status second = Call(Job({Matmul(16, 24, 16)}, 8), kAlice);
  EXPECT_EQ(second.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(second.error_message().find("alice"), std::string::npos) << second.error_message();
  // Bob may not cancel Alice's job; Alice may.
  v1::JobRef ref;
  ref.set_job_id(first);
  v1::JobStatus st;
  auto bob = Ctx("bob-0123456789abcdef0");
  EXPECT_EQ(stub_->CancelJob(bob.get(), ref, &st).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  auto alice = Ctx(kAlice);
  ASSERT_TRUE(stub_->CancelJob(alice.get(), ref, &st).ok());
  EXPECT_EQ(st.state(), "cancelled");
  // The server is still serving: a new job is taken.
  EXPECT_TRUE(Call(Job({Matmul(16, 24, 16)}, 8), kAlice).ok());
  EXPECT_EQ(kill(c_.server_pid(), 0), 0);
}

TEST(TuningService, CandidatesGoOnlyToWorkersOfTheTaskTargetAndATargetWithoutWorkersFailsAtItsDeadline) {
  ServiceCluster c;
  c.StartServer({"--no-worker-deadline", "120"});
  // One worker measures for the host, one for plain AVX2 (x86-64-v3), which every CPU of
  // ours runs.
  c.AddWorkers(1);
  c.AddWorkers(1, {"--target", "x86-64-v3"});
  const std::string avx2_worker = "-" + std::to_string(c.workers()[1].pids()[0]) + "#";
  auto stub = c.Client();
  v1::Workload w = Matmul(24, 40, 16);
  int64_t job = Submit(*stub, Job({w}, 16, "x86-64-v3"));
  v1::JobStatus end = WatchToEnd(*stub, job);
  ASSERT_EQ(end.state(), "done") << end.DebugString() << c.ServerLog();
  EXPECT_EQ(RecordsOf(c, w).first, 16);
  std::string where = " FROM records r JOIN workloads w ON w.id = r.workload_id WHERE w.key = '" + Key(w) + "'";
  EXPECT_EQ(c.Count("SELECT COUNT(*)" + where + " AND r.worker LIKE '%" + avx2_worker + "%'"), 16);

  // A CPU no worker here can run: no candidate goes out, the task fails at its deadline
  // with a status naming the target; the server goes on.
  const std::string amx = priortune::testing::CpuWithAmxTheHostLacks();
  v1::Workload w2 = Matmul(16, 16, 24);
  v1::SubmitJobRequest r2 = Job({w2}, 8, amx);
  r2.set_worker_deadline_seconds(3);  // shorter than the server's 120 s
  int64_t job2 = Submit(*stub, r2);
  v1::JobStatus failed = WatchToEnd(*stub, job2);
  EXPECT_EQ(failed.state(), "failed") << failed.DebugString();
  ASSERT_EQ(failed.tasks_size(), 1);
  EXPECT_NE(failed.tasks(0).message().find("no connected worker"), std::string::npos) << failed.DebugString();
  EXPECT_NE(failed.tasks(0).message().find(amx), std::string::npos) << failed.DebugString();
  EXPECT_NE(failed.tasks(0).message().find("for 3 s"), std::string::npos) << failed.DebugString();
  EXPECT_EQ(RecordsOf(c, w2).first, 0);
  EXPECT_EQ(kill(c.server_pid(), 0), 0);
}

// Workers from before targets named their microarchitecture cannot match any task: the
// server refuses them at hello, saying why, and goes on serving current ones.
TEST(TuningService, AWorkerOfAnOlderProtocolIsRefusedAtHelloAndTheServerGoesOn) {
  ServiceCluster c;
  c.StartServer();
  auto stub = v1::WorkerService::NewStub(c.Channel());
  auto hello = [&](int protocol, v1::ServerMessage* reply) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    auto stream = stub->Lease(&ctx);
    v1::WorkerMessage m;
    m.mutable_hello()->set_worker_id("old");
    ToProto(compiler::Target::HostWithCores(1), m.mutable_hello()->mutable_target());
    if (protocol > 0) m.mutable_hello()->set_protocol(protocol);
    EXPECT_TRUE(stream->Write(m));
    bool answered = stream->Read(reply);
    stream->WritesDone();
    if (answered) ctx.TryCancel();
    grpc::Status s = stream->Finish();
    return std::make_pair(answered, s);
  };
  v1::ServerMessage reply;
  auto [answered, refused] = hello(0, &reply);
  EXPECT_FALSE(answered);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  EXPECT_NE(refused.error_message().find("worker protocol 0"), std::string::npos) << refused.error_message();
  EXPECT_NE(refused.error_message().find("upgrade the worker"), std::string::npos) << refused.error_message();
  // Protocol 2 did not know the GELU epilogues: refused as well.
  auto [answered_2, refused_2] = hello(kMinWorkerProtocol - 1, &reply);
  EXPECT_FALSE(answered_2);
  EXPECT_EQ(refused_2.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused_2.error_message();
  EXPECT_NE(refused_2.error_message().find("worker protocol 2"), std::string::npos) << refused_2.error_message();
  auto [welcomed, ended] = hello(kWorkerProtocol, &reply);
  EXPECT_TRUE(welcomed) << ended.error_message();
  EXPECT_TRUE(reply.has_welcome());
  // The server's log names the worker's CPU by its microarchitecture.
  c.AddWorkers(1);
  auto job_stub = c.Client();
  v1::Workload w = Matmul(16, 24, 8);
  v1::JobStatus end = WatchToEnd(*job_stub, Submit(*job_stub, Job({w}, 8)));
  EXPECT_EQ(end.state(), "done") << end.DebugString() << c.ServerLog();
  EXPECT_NE(c.ServerLog().find("measures for " + compiler::Target::Host().name() + " ("), std::string::npos)
      << c.ServerLog();
  EXPECT_EQ(kill(c.server_pid(), 0), 0);
}

// A job that names no strategy gets the server's pick, and the answer says which and why.
TEST(TuningService, AJobWithoutAStrategyGetsTheServersDefaultAndIsToldWhy) {
  ServiceCluster c;
  c.StartServer();
  auto stub = c.Client();
  v1::SubmitJobRequest r = Job({Matmul(8, 8, 8)}, 4);
  r.clear_strategy();
  v1::SubmitJobResponse resp;
  auto ctx = Ctx("");
  grpc::Status s = stub->SubmitJob(ctx.get(), r, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.strategy() == "meta-ga" || resp.strategy() == "ga") << resp.strategy();
  const std::string expected =
      resp.strategy() == "meta-ga" ? "a meta-trained model for " : "no meta-trained model for ";
  EXPECT_NE(resp.strategy_note().find(expected + compiler::Target::Host().name()), std::string::npos)
      << resp.strategy_note();
  // A named strategy is the client's: no note.
  v1::SubmitJobRequest named = Job({Matmul(8, 8, 16)}, 4);
  v1::SubmitJobResponse named_resp;
  auto ctx2 = Ctx("");
  ASSERT_TRUE(stub->SubmitJob(ctx2.get(), named, &named_resp).ok());
  EXPECT_EQ(named_resp.strategy(), "ga");
  EXPECT_EQ(named_resp.strategy_note(), "");
}

TEST(TuningService, ALateWatcherGetsTheStateFirstAndTheStoreIsListedPageByPage) {
  ServiceCluster c;
  c.StartServer();
  c.AddWorkers(1);
  auto stub = c.Client();
  std::vector<v1::Workload> ws = {Matmul(16, 16, 16), Matmul(16, 24, 16), Matmul(24, 16, 16)};
  int64_t job = Submit(*stub, Job(ws, 8));
  ASSERT_EQ(WatchToEnd(*stub, job).state(), "done");
  // Watching an ended job: the snapshot, with every task, then the stream ends.
  {
    auto ctx = Ctx();
    v1::JobRef ref;
    ref.set_job_id(job);
    auto reader = stub->WatchJob(ctx.get(), ref);
    v1::JobEvent e;
    ASSERT_TRUE(reader->Read(&e));
    EXPECT_EQ(e.kind(), v1::JobEvent::SNAPSHOT);
    EXPECT_EQ(e.job().state(), "done");
    EXPECT_EQ(e.job().tasks_size(), 3);
    EXPECT_FALSE(reader->Read(&e));
    EXPECT_TRUE(reader->Finish().ok());
  }
  // ListRecords pages through all 24 records, each once.
  std::set<int64_t> ids;
  std::string token;
  int pages = 0;
  do {
    v1::ListRecordsRequest req;
    req.set_page_size(10);
    req.set_page_token(token);
    v1::ListRecordsResponse resp;
    auto ctx = Ctx();
    ASSERT_TRUE(stub->ListRecords(ctx.get(), req, &resp).ok());
    for (const auto& r : resp.records()) EXPECT_TRUE(ids.insert(r.id()).second);
    token = resp.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(ids.size(), 24u);
  EXPECT_EQ(pages, 3);
  v1::ListWorkloadsRequest wr;
  wr.set_page_size(2);
  v1::ListWorkloadsResponse wl;
  auto ctx = Ctx();
  ASSERT_TRUE(stub->ListWorkloads(ctx.get(), wr, &wl).ok());
  EXPECT_EQ(wl.workloads_size(), 2);
  EXPECT_FALSE(wl.next_page_token().empty());
  EXPECT_EQ(wl.workloads(0).records(), 8);
  // Batched lookup: one answer per workload, in order; an untuned one falls to default.
  v1::LookupBatchRequest lb;
  for (const auto& w : ws) *lb.add_workloads() = w;
  *lb.add_workloads() = Matmul(40, 40, 40);
  lb.mutable_target()->set_spec("host");
  v1::LookupBatchResponse found;
  auto lctx = Ctx();
  ASSERT_TRUE(stub->LookupBatch(lctx.get(), lb, &found).ok());
  ASSERT_EQ(found.results_size(), 4);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(found.results(i).level(), "exact target");
  EXPECT_EQ(found.results(3).level(), "default");
  // Export, then import into the same store: every record a duplicate.
  std::string log;
  {
    auto ectx = Ctx();
    v1::ExportLogsRequest er;
    auto reader = stub->ExportLogs(ectx.get(), er);
    v1::LogChunk chunk;
    while (reader->Read(&chunk)) log += chunk.data();
    ASSERT_TRUE(reader->Finish().ok());
  }
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 25);  // header + 24
  v1::ImportLogsResponse imported;
  auto ictx = Ctx();
  auto writer = stub->ImportLogs(ictx.get(), &imported);
  v1::LogChunk chunk;
  chunk.set_data(log);
  ASSERT_TRUE(writer->Write(chunk));
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(imported.imported(), 0);
  EXPECT_EQ(imported.duplicates(), 24);
  // A malformed log is refused whole, naming the line.
  v1::ImportLogsResponse refused;
  auto bctx = Ctx();
  auto bad = stub->ImportLogs(bctx.get(), &refused);
  chunk.set_data(log.substr(0, log.find('\n') + 1) + "{\"not\": \"a record\"}\n");
  ASSERT_TRUE(bad->Write(chunk));
  bad->WritesDone();
  grpc::Status s = bad->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("line 2"), std::string::npos) << s.error_message();
  EXPECT_EQ(c.Count("SELECT COUNT(*) FROM records"), 24);
}

// A throwaway CA, a server certificate for 127.0.0.1 and a worker's client certificate,
// made with openssl in `dir`.
void MakeCertificates(const ServiceCluster& c) {
  std::ofstream(c.Path("server.ext")) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  std::string d = c.Path("");
  std::string script =
      "cd " + d +
      " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
      "-subj /CN=priortune-test-ca && "
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
      "-extfile server.ext && "
      "openssl req -newkey rsa:2048 -nodes -keyout worker.key -out worker.csr -subj /CN=worker1 && "
      "openssl x509 -req -in worker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out worker.pem -days 2";
  int code = 0;
  std::string out = Shell("sh -c '" + script + "'", &code);
  ASSERT_EQ(code, 0) << out;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

TEST(TuningService, OverTlsATrustingClientConnectsAPlaintextOneIsRefusedAndWorkersNeedACertificate) {
  ServiceCluster c;
  MakeCertificates(c);
  c.StartServer(
      {"--tls-cert", c.Path("server.pem"), "--tls-key", c.Path("server.key"), "--tls-worker-ca", c.Path("ca.pem")});
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadAll(c.Path("ca.pem"));
  auto tls = v1::TuningService::NewStub(grpc::CreateChannel(c.address(), grpc::SslCredentials(ssl)));
  v1::ListJobsRequest req;
  v1::ListJobsResponse resp;
  auto ctx = Ctx("", 30);
  grpc::Status ok = tls->ListJobs(ctx.get(), req, &resp);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  // Plaintext to a TLS port: no answer but an error.
  auto plain = c.Client();
  grpc::ClientContext pctx;
  pctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Status refused = plain->ListJobs(&pctx, req, &resp);
  EXPECT_FALSE(refused.ok());
  // The CLI with the CA gets through.
  int code = 0;
  std::string out =
      Shell(std::string(PRIORTUNE_EXE) + " jobs --server " + c.address() + " --tls-ca " + c.Path("ca.pem"), &code);
  EXPECT_EQ(code, 0) << out;
  // A worker without a client certificate is refused; with one it serves a job.
  out = Shell(std::string(PRIORTUNE_EXE) + " worker --server " + c.address() + " --tls-ca " + c.Path("ca.pem"), &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("UNAUTHENTICATED"), std::string::npos) << out;
  c.AddWorkers(1,
               {"--tls-ca", c.Path("ca.pem"), "--tls-cert", c.Path("worker.pem"), "--tls-key", c.Path("worker.key")});
  v1::Workload w = Matmul(16, 32, 16);
  v1::SubmitJobResponse submitted;
  auto sctx = Ctx();
  ASSERT_TRUE(tls->SubmitJob(sctx.get(), Job({w}, 8), &submitted).ok());
  v1::JobStatus end = WatchToEnd(*tls, submitted.job_id());
  EXPECT_EQ(end.state(), "done") << end.DebugString() << c.ServerLog();
  EXPECT_EQ(RecordsOf(c, w).first, 8);
}

// A client the project did not write: Debian's python3-grpcio with stubs generated by
// python3-grpc-tools from our proto and grpc-proto's health and reflection protos.
TEST(TuningService, AStandardGrpcClientChecksHealthListsServicesByReflectionAndRoundTripsAJob) {
  ServiceCluster c;
  std::ofstream(c.Path("tokens")) << "client ci ci-token-0123456789ab\nworker w worker-token-0123456789\n";
  std::ofstream(c.Path("client.token")) << "ci-token-0123456789ab\n";
  std::ofstream(c.Path("worker.token")) << "worker-token-0123456789\n";
  c.StartServer({"--tokens", c.Path("tokens")});
  c.AddWorkers(1, {"--token-file", c.Path("worker.token")});
  int code = 0;
  std::string out =
      Shell("/usr/bin/python3 " + std::string(PRIORTUNE_SOURCE_DIR) + "/scripts/grpc_client_check.py --server " +
                c.address() + " --work " + c.Path("py") + " --token-file " + c.Path("client.token"),
            &code);
  EXPECT_EQ(code, 0) << out << c.ServerLog();
  for (const char* line : {"ok   health (server): SERVING", "ok   reflection lists", "ok   submit", "ok   job done",
                           "ok   lookup returns the job's best", "ok   a bad trial budget is refused"})
    EXPECT_NE(out.find(line), std::string::npos) << line << "\n" << out;
  EXPECT_EQ(out.find("FAIL"), std::string::npos) << out;
}

// Jobs share workers: a higher priority first, then one candidate per job in turn.
TEST(MeasureQueue, ServesAHigherPriorityFirstThenTakesTurnsBetweenJobs) {
  MeasureQueue queue;
  compiler::Target t = compiler::Target::Parse("x86-64-v3", 1).value();
  auto batch = [&](int n, int m) {
    std::vector<tuner::Candidate> cs;
    for (int i = 0; i < n; ++i) cs.push_back({compiler::MatmulWorkload(16 + i, m, 16), t, {}});
    return cs;
  };
  std::atomic<bool> cancel{false};
  // Three jobs' runs put batches in at once: job 1 and 2 at priority 0, job 3 at 5.
  auto put = [&](uint64_t group, int priority, int m) {
    return std::async(std::launch::async, [&, group, priority, m] {
      MeasureTag tag;
      tag.group = group;
      tag.priority = priority;
      return queue.MeasureTagged(tag, batch(3, m), cancel);
    });
  };
  // The worker connects first, so that every batch is queued before the first Take.
  queue.AddWorker("w", t.Key());
  auto a = put(1, 0, 32), b = put(2, 0, 48), c = put(3, 5, 64);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::vector<int64_t> order;  // the M of each leased candidate: 32 job 1, 48 job 2, 64 job 3
  // Take nine, answering each.
  while (order.size() < 9 && std::chrono::steady_clock::now() < deadline) {
    // All three batches must be queued before the first Take, or it would see only
    // part of them (a bounded spin on the queue's own count, not a sleep).
    if (order.empty()) {
      bool ready = false;
      while (!ready && std::chrono::steady_clock::now() < deadline) {
        ready = queue.stats().connected == 1 && queue.PendingFor(t.Key()) == 9;
        if (!ready) std::this_thread::yield();
      }
      ASSERT_TRUE(ready) << "the three batches were not queued";
    }
    auto lease = queue.Take("w", t.Key(), std::chrono::milliseconds(5000));
    ASSERT_TRUE(lease.has_value());
    order.push_back(lease->candidate.workload.dims.at("N"));
    tuner::MeasureResult r;
    r.costs = {1e-3};
    queue.Complete("w", lease->id, r, 0.001);
  }
  a.get();
  b.get();
  c.get();
  // Job 3 (priority 5) first, all three; then jobs 1 and 2 alternate.
  std::vector<int64_t> want = {64, 64, 64, 32, 48, 32, 48, 32, 48};
  EXPECT_EQ(order, want);
}

TEST(TuningService, SigtermStopsTheServerCleanlyAndTheNextOneFinishesTheJob) {
  ServiceCluster c;
  c.StartServer();
  c.AddWorkers(1);
  v1::Workload w = Matmul(48, 64, 40);
  auto stub = c.Client();
  const int trials = 40;
  int64_t job = Submit(*stub, Job({w}, trials));
  WatchUntilStored(*stub, job, 8);
  pid_t pid = c.server_pid();
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << c.ServerLog();
  EXPECT_NE(c.ServerLog().find("shutting down"), std::string::npos) << c.ServerLog();
  c.ForgetServer();
  // The job is left running in the store, for the next server.
  EXPECT_EQ(c.Count("SELECT COUNT(*) FROM jobs WHERE id = " + std::to_string(job) + " AND state = 'running'"), 1);
  auto [stored, distinct] = RecordsOf(c, w);
  EXPECT_EQ(stored, distinct);
  // The worker was told to reconnect, not to exit.
  EXPECT_EQ(kill(c.workers()[0].pids()[0], 0), 0);
  c.StartServer();
  auto stub2 = c.Client();
  v1::JobStatus end = WatchToEnd(*stub2, job);
  ASSERT_EQ(end.state(), "done") << end.DebugString() << c.ServerLog();
  auto [after, after_distinct] = RecordsOf(c, w);
  EXPECT_EQ(after, trials);
  EXPECT_EQ(after_distinct, trials);
}

// The run of a shared workload carries its owner's budget: when the owner cancels, the
// job still sharing it goes on with a run of its own and ends done, nothing measured twice.
TEST(TuningService, CancellingTheJobThatOwnsASharedRunLeavesTheOtherJobToFinish) {
  ServiceCluster c;
  c.StartServer();
  c.AddWorkers(1);
  auto stub = c.Client();
  v1::Workload shared = Matmul(40, 56, 32);
  int64_t owner = Submit(*stub, Job({shared}, 400));
  int64_t sharer = Submit(*stub, Job({shared}, 16));
  v1::JobStatus s;
  {
    v1::JobRef ref;
    ref.set_job_id(sharer);
    auto ctx = Ctx();
    ASSERT_TRUE(stub->GetJob(ctx.get(), ref, &s).ok());
  }
  ASSERT_EQ(s.tasks_size(), 1);
  EXPECT_EQ(s.tasks(0).shared_with_job(), owner) << s.DebugString();
  v1::JobRef ref;
  ref.set_job_id(owner);
  v1::JobStatus cancelled;
  auto ctx = Ctx();
  ASSERT_TRUE(stub->CancelJob(ctx.get(), ref, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), "cancelled");
  v1::JobStatus end = WatchToEnd(*stub, sharer);
  EXPECT_EQ(end.state(), "done") << end.DebugString() << c.ServerLog();
  auto [records, distinct] = RecordsOf(c, shared);
  EXPECT_GE(records, 16);
  EXPECT_LT(records, 400);
  EXPECT_EQ(distinct, records);
  EXPECT_EQ(c.Count("SELECT COUNT(*) FROM jobs WHERE id = " + std::to_string(owner) + " AND state = 'cancelled'"), 1);
  EXPECT_EQ(c.Count("SELECT COUNT(*) FROM jobs WHERE id = " + std::to_string(sharer) + " AND state = 'done'"), 1);
}

}  // namespace
}  // namespace priortune::server
