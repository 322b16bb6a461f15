// Map of the worker:
//
//   supervisor (this process)                          runner (child process)
//   ─────────────────────────                          ──────────────────────
//   Lease stream: hello ──> server
//   heartbeat thread ──> server every heartbeat_seconds
//   candidate <── server
//        │ JSON line ───────────────────────────────>  build (JIT), check against the
//        │                                             reference, time with the protocol
//        │ <─────────────────────────────── JSON line  costs / error kind
//        │ no answer within timeout: SIGKILL the runner, result `timeout`, new runner
//        │ runner died: result `runtime error` (signal), new runner
//   result ──> server
#include "server/worker.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "compiler/build.h"
#include "compiler/runtime.h"
#include "compiler/timing.h"
#include "proto/priortune.grpc.pb.h"
#include "server/internal/convert.h"

namespace priortune::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The runner child process and the pipes to it.
class Runner {
 public:
  explicit Runner(const WorkerOptions& options) : options_(options) {}
  ~Runner() { Stop(); }

  // Sends one request and waits for the answer line; on timeout or death the runner is
  // killed and restarted lazily, and the result says why.
  tuner::MeasureResult Run(const json& request, double timeout_seconds) {
    tuner::MeasureResult r;
    if (pid_ <= 0 && !Start()) {
      r.error = db::ErrorKind::kRuntimeError;
      r.error_message = "cannot start the runner process";
      return r;
    }
    std::string line = request.dump() + "\n";
    if (!WriteAll(line)) return Died("the runner closed its input");
    std::string answer;
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(timeout_seconds));
    while (true) {
      size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        answer = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        break;
      }
      int left_ms = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
      if (left_ms <= 0) {
        Stop();
        r.error = db::ErrorKind::kTimeout;
        r.error_message = "no result within " + std::to_string(timeout_seconds) +
                          " s; the runner was killed and replaced";
        return r;
      }
      pollfd p{from_, POLLIN, 0};
      int n = poll(&p, 1, left_ms);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) continue;
      char chunk[4096];
      ssize_t got = read(from_, chunk, sizeof chunk);
      if (got <= 0) return Died("the runner died");
      buffer_.append(chunk, static_cast<size_t>(got));
    }
    json j = json::parse(answer, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      r.error = db::ErrorKind::kRuntimeError;
      r.error_message = "unreadable runner answer";
      return r;
    }
    auto kind = db::ErrorKindFromName(j.value("error", "runtime error"));
    r.error = kind.ok() ? *kind : db::ErrorKind::kRuntimeError;
    r.error_message = j.value("message", "");
    r.compile_seconds = j.value("compile_seconds", 0.0);
    if (j.contains("costs") && j["costs"].is_array())
      for (const auto& c : j["costs"]) r.costs.push_back(c.get<double>());
    return r;
  }

  void Stop() {
    if (pid_ > 0) Reap();
  }

 private:
  bool Start() {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return false;
    std::string repeat = std::to_string(options_.repeat);
    std::string min_ms = std::to_string(options_.min_repeat_ms);
    std::vector<const char*> argv = {"priortune", "worker", "--runner", "--repeat", repeat.c_str(),
                                     "--min-repeat-ms", min_ms.c_str()};
    if (options_.test_faults) argv.push_back("--test-faults");
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(in[0], 0);
      dup2(out[1], 1);
      execv("/proc/self/exe", const_cast<char* const*>(argv.data()));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
    pid_ = pid;
    return true;
  }

  bool WriteAll(const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
      ssize_t n = write(to_, s.data() + done, s.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // Kills the runner (if still alive), closes the pipes; returns its wait status.
  int Reap() {
    int status = 0;
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    close(to_);
    close(from_);
    pid_ = -1;
    buffer_.clear();
    return status;
  }

  tuner::MeasureResult Died(const std::string& what) {
    int status = Reap();
    tuner::MeasureResult r;
    r.error = db::ErrorKind::kRuntimeError;
    r.error_message = what;
    if (WIFSIGNALED(status)) r.error_message += " (signal " + std::to_string(WTERMSIG(status)) + ")";
    r.error_message += "; the runner was replaced";
    return r;
  }

  WorkerOptions options_;
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buffer_;
};

std::string DefaultId() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

}  // namespace

int RunWorker(const WorkerOptions& options) {
  std::string id = options.id.empty() ? DefaultId() : options.id;
  if (options.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(options.cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
      std::fprintf(stderr, "worker %s: cannot pin to cpu %d, running unpinned\n", id.c_str(), options.cpu);
  }
  auto channel = grpc::CreateChannel(options.server, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    std::fprintf(stderr, "priortune worker: cannot reach the server at %s\n", options.server.c_str());
    return 2;
  }
  auto stub = v1::WorkerService::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = stub->Lease(&ctx);
  std::mutex write_mu;
  auto start = Clock::now();
  double busy = 0;

  v1::WorkerMessage hello;
  hello.mutable_hello()->set_worker_id(id);
  compiler::Target target = compiler::Target::Host();
  target.cores = 1;
  ToProto(target, hello.mutable_hello()->mutable_target());
  hello.mutable_hello()->set_capacity(1);
  v1::ServerMessage welcome;
  if (!stream->Write(hello) || !stream->Read(&welcome) || !welcome.has_welcome()) {
    grpc::Status s = stream->Finish();
    std::fprintf(stderr, "priortune worker: the server refused the lease: %s\n",
                 s.error_message().c_str());
    return 2;
  }
  double heartbeat = std::max(0.05, welcome.welcome().heartbeat_seconds());

  std::mutex hb_mu;
  std::condition_variable hb_cv;
  bool stopping = false;
  std::thread beats([&] {
    std::unique_lock<std::mutex> lock(hb_mu);
    while (!hb_cv.wait_for(lock, std::chrono::duration<double>(heartbeat), [&] { return stopping; })) {
      v1::WorkerMessage m;
      std::lock_guard<std::mutex> w(write_mu);  // also guards `busy`
      m.mutable_heartbeat()->set_uptime_seconds(SecondsSince(start));
      m.mutable_heartbeat()->set_busy_seconds(busy);
      if (!stream->Write(m)) break;
    }
  });

  Runner runner(options);
  v1::ServerMessage m;
  while (stream->Read(&m)) {
    if (!m.has_candidate()) continue;
    const v1::Candidate& c = m.candidate();
    auto t0 = Clock::now();
    json request = {{"workload", json::parse(FromProto(c.workload()).ToJson())},
                    {"target", json::parse(FromProto(c.target()).ToJson())},
                    {"config", json::parse(compiler::ConfigToJson(FromProto(c.config())))}};
    double timeout = c.timeout_seconds() > 0 ? c.timeout_seconds() : options.timeout_seconds;
    tuner::MeasureResult r = runner.Run(request, timeout);
    double spent = SecondsSince(t0);
    v1::WorkerMessage out;
    ToProto(r, out.mutable_result());
    out.mutable_result()->set_candidate_id(c.id());
    out.mutable_result()->set_worker(id);
    out.mutable_result()->set_busy_seconds(spent);
    std::lock_guard<std::mutex> w(write_mu);
    busy += spent;
    if (!stream->Write(out)) break;
  }
  {
    std::lock_guard<std::mutex> lock(hb_mu);
    stopping = true;
  }
  hb_cv.notify_all();
  beats.join();
  runner.Stop();
  stream->WritesDone();
  stream->Finish();  // the server ends the stream when it shuts down: a normal end
  return 0;
}

int RunRunner(const WorkerOptions& options) {
  // One workload at a time: its inputs and reference output are computed once and reused
  // by every candidate of it.
  std::string cached_key;
  std::unique_ptr<compiler::KernelArgs> args;
  std::vector<float> want;
  compiler::TimingOptions timing;
  timing.repeat = options.repeat;
  timing.min_repeat_ms = options.min_repeat_ms;

  std::string line;
  while (std::getline(std::cin, line)) {
    json out = {{"error", "none"}, {"message", ""}, {"compile_seconds", 0.0}, {"costs", json::array()}};
    auto fail = [&](db::ErrorKind kind, const std::string& message) {
      out["error"] = db::ErrorKindName(kind);
      out["message"] = message;
    };
    json req = json::parse(line, nullptr, false);
    auto w = compiler::Workload::FromJson(req.is_object() ? req.value("workload", json()).dump() : "");
    auto config = compiler::ConfigFromJson(req.is_object() ? req.value("config", json()).dump() : "");
    compiler::Target target = compiler::Target::Host();
    if (req.is_object() && req.contains("target")) target.cores = req["target"].value("cores", 1);
    if (!w.ok()) {
      fail(db::ErrorKind::kInvalidConfig, w.status().message());
    } else if (!config.ok()) {
      fail(db::ErrorKind::kInvalidConfig, config.status().message());
    } else {
      int64_t fault = 0;
      if (options.test_faults && config->count("test_fault")) {
        fault = config->at("test_fault");
        config->erase("test_fault");
        if (fault == 1) while (true) pause();  // hang: the supervisor's timeout ends it
        if (fault == 2) abort();               // crash the runner
        if (fault == 3) kill(getppid(), SIGKILL);  // take the whole worker down
        if (fault == 3) while (true) pause();
      }
      compiler::SetNumThreads(std::max(1, target.cores));
      auto tmpl = compiler::FindTemplate(w->op);
      Status valid = tmpl.ok() ? (*tmpl)->Validate(*w) : tmpl.status();
      if (valid.ok()) valid = compiler::CheckConfig(**tmpl, *w, target, *config);
      if (!valid.ok()) {
        fail(db::ErrorKind::kInvalidConfig, valid.message());
      } else {
        auto t0 = Clock::now();
        auto kernel = compiler::BuildKernel(*w, target, *config);
        out["compile_seconds"] = SecondsSince(t0);
        if (!kernel.ok()) {
          fail(db::ErrorKind::kCompileError, kernel.status().message());
        } else {
          if (w->Key() != cached_key) {
            args = std::make_unique<compiler::KernelArgs>(**tmpl, *w, 42);
            want = compiler::ReferenceOutput(*w, *args);
            cached_key = w->Key();
          }
          std::vector<float> expected = want;
          if (options.test_faults && fault == 4) expected[0] += 1.0f;  // a wrong kernel's view
          compiler::CheckResult check = compiler::CheckAgainstOutput(*kernel, *args, expected);
          if (!check.ok()) {
            fail(db::ErrorKind::kWrongAnswer,
                 "output " + std::to_string(check.first_bad) + " differs from the reference (max relative error " +
                     std::to_string(check.max_rel_error) + ")");
          } else {
            compiler::TimingResult t =
                compiler::TimeFunction([&] { kernel->Run(args->pointers()); }, timing);
            out["costs"] = t.round_seconds;
          }
        }
      }
    }
    std::cout << out.dump() << "\n" << std::flush;
  }
  return 0;
}

}  // namespace priortune::server
