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
//
//   SIGTERM / SIGINT (Slurm cancelling the job, an operator): blocked in every thread and
//   in the runner (which inherits the mask), taken by one thread ──> hand-back 0 ("leaving")
//   ──> a candidate being measured: runner interrupted, candidate handed back; one that
//   arrives meanwhile: handed back unmeasured ──> server's goodbye ──> exit 0
#include "server/worker/worker.h"

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
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "compiler/codegen/runtime.h"
#include "compiler/ops/build.h"
#include "compiler/support/timing.h"
#include "proto/priortune.grpc.pb.h"
#include "server/common/convert.h"
#include "server/common/internal/channel.h"
#include "server/common/line_child.h"
#include "server/common/targets.h"
#include "tuner/search_space.h"

namespace priortune::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The runner's first line once it can build kernels.
std::string ReadyLine() { return json{{"ready", true}}.dump(); }
// Generous: a loaded machine may take seconds to exec and initialise LLVM.
constexpr double kRunnerStartSeconds = 120;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The runner child process (a LineChild) and the protocol over it.
class Runner {
 public:
  explicit Runner(const WorkerOptions& options) : options_(options), child_(RunnerArgs(options)) {}

  // Ends the Run in progress (from any thread): the runner is killed, and Run returns
  // with interrupted() true. A Run that starts later ends the same way at once.
  void Interrupt() { child_.Interrupt(); }
  bool interrupted() const { return interrupted_; }

  // Sends one request and waits for the answer line; on timeout or death the runner is
  // killed and restarted lazily, and the result says why.
  tuner::MeasureResult Run(const json& request, double timeout_seconds) {
    tuner::MeasureResult r;
    interrupted_ = false;
    if (!child_.running()) {
      // Start-up and LLVM's initialisation are not charged to the first candidate.
      if (Status started = child_.Start(ReadyLine(), kRunnerStartSeconds); !started.ok()) {
        interrupted_ = started.code() == StatusCode::kCancelled;
        r.error = db::ErrorKind::kRuntimeError;
        r.error_message = started.message();
        return r;
      }
    }
    if (!child_.Send(request.dump())) return Died("the runner closed its input");
    std::string answer;
    switch (child_.ReadLine(timeout_seconds, &answer)) {
      case internal::LineChild::Read::kOk:
        break;
      case internal::LineChild::Read::kTimeout:
        Stop();
        r.error = db::ErrorKind::kTimeout;
        r.error_message =
            "no result within " + std::to_string(timeout_seconds) + " s; the runner was killed and replaced";
        return r;
      case internal::LineChild::Read::kClosed:
        return Died("the runner died");
      case internal::LineChild::Read::kInterrupted:
        Stop();
        interrupted_ = true;
        r.error = db::ErrorKind::kRuntimeError;
        r.error_message = "interrupted: the worker is leaving";
        return r;
    }
    return ParseAnswer(answer);
  }

  void Stop() { child_.Kill(); }

  // The runner's answer line as a result. The runner is our own code, but a broken one
  // must not take the supervisor down: every field's type is checked.
  static tuner::MeasureResult ParseAnswer(const std::string& answer) {
    tuner::MeasureResult r;
    r.error = db::ErrorKind::kRuntimeError;
    json j = json::parse(answer, nullptr, false);
    auto bad = [&](const std::string& why) {
      r.error = db::ErrorKind::kRuntimeError;
      r.error_message = "unreadable runner answer: " + why;
      r.costs.clear();
      return r;
    };
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    if (!j.contains("error") || !j["error"].is_string()) return bad("field 'error' is not a string");
    auto kind = db::ErrorKindFromName(j["error"].get<std::string>());
    if (!kind.ok()) return bad(kind.status().message());
    r.error = *kind;
    if (j.contains("message")) {
      if (!j["message"].is_string()) return bad("field 'message' is not a string");
      r.error_message = j["message"].get<std::string>();
    }
    if (j.contains("compile_seconds")) {
      if (!j["compile_seconds"].is_number()) return bad("field 'compile_seconds' is not a number");
      r.compile_seconds = j["compile_seconds"].get<double>();
    }
    if (j.contains("costs")) {
      if (!j["costs"].is_array()) return bad("field 'costs' is not an array");
      for (const auto& c : j["costs"]) {
        if (!c.is_number()) return bad("field 'costs' holds a non-number");
        r.costs.push_back(c.get<double>());
      }
    }
    return r;
  }

 private:
  static std::vector<std::string> RunnerArgs(const WorkerOptions& o) {
    std::vector<std::string> args = {"worker",          "--runner",
                                     "--repeat",        std::to_string(o.repeat),
                                     "--min-repeat-ms", std::to_string(o.min_repeat_ms),
                                     "--target",        o.target,
                                     "--memory-cap-mb", std::to_string(o.memory_cap_mb)};
    if (!o.fault_plan.empty()) args.insert(args.end(), {"--fault-plan", o.fault_plan});
    if (o.check_bounds) args.push_back("--check-bounds");
    return args;
  }

  tuner::MeasureResult Died(const std::string& what) {
    int status = child_.Kill();
    tuner::MeasureResult r;
    r.error = db::ErrorKind::kRuntimeError;
    r.error_message = what + internal::LineChild::SignalText(status) + "; the runner was replaced";
    return r;
  }

  WorkerOptions options_;
  internal::LineChild child_;
  bool interrupted_ = false;
};

// A request to leave (SIGTERM or SIGINT), shared by the signal thread and the session.
struct Leaving {
  std::mutex mu;
  std::condition_variable cv;
  bool requested = false;
  int signal = 0;
  // While a session runs: says "leaving" on its stream (under its write lock).
  std::function<void()> announce;
  int handed_back = 0;
};

std::string DefaultId() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

// How one Lease stream ended.
struct SessionEnd {
  enum Kind { kDone, kLost, kRefused } kind = kLost;
  bool welcomed = false;
  std::string message;
};

// One Lease stream: hello, welcome, then candidates until the stream ends. kDone: the
// server ended it in order (exit); kLost: unreachable or gone (retry); kRefused: the
// server said no (a token or hello problem: retrying would not help).
class LeaseSession {
 public:
  LeaseSession(const std::string& id, const compiler::Target& serving, const WorkerOptions& options, Runner& runner,
               Leaving& leaving)
      : id_(id), serving_(serving), options_(options), runner_(runner), leaving_(leaving) {}

  SessionEnd Run(const std::shared_ptr<grpc::Channel>& channel, const std::string& token) {
    SessionEnd end;
    auto deadline =
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(1000 * std::max(0.1, options_.connection.connect_seconds)));
    if (!channel->WaitForConnected(deadline)) {
      end.message = "cannot connect";
      return end;
    }
    auto stub = v1::WorkerService::NewStub(channel);
    Authorize(ctx_, token);
    stream_ = stub->Lease(&ctx_);
    v1::ServerMessage welcome;
    if (!Hello(&welcome, end)) return end;
    end.welcomed = true;
    {
      std::lock_guard<std::mutex> lock(leaving_.mu);
      leaving_.announce = [this] {
        HandBack(0, kWhyLeaving);
        runner_.Interrupt();  // a candidate being measured comes back unmeasured
      };
      if (leaving_.requested) leaving_.announce();
    }
    std::thread beats([this, heartbeat = std::max(0.05, welcome.welcome().heartbeat_seconds())] { Beat(heartbeat); });
    std::optional<v1::Goodbye> goodbye = Serve();
    {
      std::lock_guard<std::mutex> lock(leaving_.mu);
      leaving_.announce = nullptr;
    }
    {
      std::lock_guard<std::mutex> lock(hb_mu_);
      stopping_ = true;
    }
    hb_cv_.notify_all();
    beats.join();
    stream_->WritesDone();
    ctx_.TryCancel();  // the server may not end its side after a goodbye
    stream_->Finish();
    // A goodbye without reconnect: the server is done with us (a `tune` run is over).
    // Anything else (the server died, or restarts): lost, reconnect.
    end.kind = goodbye && !goodbye->reconnect() ? SessionEnd::kDone : SessionEnd::kLost;
    end.message = goodbye ? goodbye->reason() : "lost the server";
    return end;
  }

 private:
  static constexpr const char* kWhyLeaving = "the worker got a stop signal (a cancelled Slurm job, say)";

  // Says hello; false with `end` set when the server does not welcome the worker.
  bool Hello(v1::ServerMessage* welcome, SessionEnd& end) {
    v1::WorkerMessage hello;
    hello.mutable_hello()->set_worker_id(id_);
    ToProto(serving_, hello.mutable_hello()->mutable_target());
    hello.mutable_hello()->set_capacity(1);
    hello.mutable_hello()->set_protocol(kWorkerProtocol);
    if (stream_->Write(hello) && stream_->Read(welcome) && welcome->has_welcome()) return true;
    grpc::Status s = stream_->Finish();
    end.message = Describe(s);
    switch (s.error_code()) {
      case grpc::StatusCode::UNAUTHENTICATED:
      case grpc::StatusCode::PERMISSION_DENIED:
      case grpc::StatusCode::INVALID_ARGUMENT:
      case grpc::StatusCode::FAILED_PRECONDITION:
      case grpc::StatusCode::UNIMPLEMENTED:
        end.kind = SessionEnd::kRefused;
        break;
      default:
        end.kind = SessionEnd::kLost;
    }
    return false;
  }

  bool HandBack(uint64_t candidate, const std::string& reason) {
    v1::WorkerMessage m;
    m.mutable_hand_back()->set_candidate_id(candidate);
    m.mutable_hand_back()->set_reason(reason);
    std::lock_guard<std::mutex> w(write_mu_);
    return stream_->Write(m);
  }

  // A heartbeat every `heartbeat` seconds until the session stops.
  void Beat(double heartbeat) {
    std::unique_lock<std::mutex> lock(hb_mu_);
    while (!hb_cv_.wait_for(lock, std::chrono::duration<double>(heartbeat), [&] { return stopping_; })) {
      v1::WorkerMessage m;
      std::lock_guard<std::mutex> w(write_mu_);
      m.mutable_heartbeat();
      if (!stream_->Write(m)) break;
    }
  }

  // Candidates until the stream ends or breaks; the server's goodbye, if it sent one.
  std::optional<v1::Goodbye> Serve() {
    v1::ServerMessage m;
    while (stream_->Read(&m)) {
      if (m.has_goodbye()) return m.goodbye();
      if (m.has_candidate() && !Measure(m.candidate())) break;
    }
    return std::nullopt;
  }

  // Measures one candidate (or hands it back when leaving); false if the stream broke.
  bool Measure(const v1::Candidate& c) {
    bool left = false;
    {
      std::lock_guard<std::mutex> lock(leaving_.mu);
      left = leaving_.requested;
    }
    if (left) {  // sent before the server heard we are leaving
      if (!HandBack(c.id(), kWhyLeaving)) return false;
      ++leaving_.handed_back;
      return true;
    }
    auto t0 = Clock::now();
    json request = {{"workload", json::parse(FromProto(c.workload()).ToJson())},
                    {"target", json::parse(FromProto(c.target()).ToJson())},
                    {"config", json::parse(compiler::ConfigToJson(FromProto(c.config())))}};
    tuner::MeasureResult r = runner_.Run(request, options_.timeout_seconds);
    if (runner_.interrupted()) {  // the server answers the leaving with a goodbye
      if (!HandBack(c.id(), kWhyLeaving)) return false;
      ++leaving_.handed_back;
      return true;
    }
    double spent = SecondsSince(t0);
    v1::WorkerMessage out;
    ToProto(r, out.mutable_result());
    out.mutable_result()->set_candidate_id(c.id());
    out.mutable_result()->set_worker(id_);
    out.mutable_result()->set_busy_seconds(spent);
    std::lock_guard<std::mutex> w(write_mu_);
    return stream_->Write(out);
  }

  const std::string& id_;
  const compiler::Target& serving_;
  const WorkerOptions& options_;
  Runner& runner_;
  Leaving& leaving_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::ServerMessage>> stream_;
  std::mutex write_mu_;
  std::mutex hb_mu_;
  std::condition_variable hb_cv_;
  bool stopping_ = false;
};

// Pins this process to cores cpu .. cpu + threads - 1 (a warning if it cannot).
void PinToCores(const WorkerOptions& options, const std::string& id) {
  if (options.cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  long cores = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  for (int k = 0; k < options.threads; ++k) CPU_SET((options.cpu + k) % cores, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    std::fprintf(stderr, "worker %s: cannot pin to cpu %d, running unpinned\n", id.c_str(), options.cpu);
}

// Sessions until the server is done with us (0), refuses us or stays unreachable for
// retry_seconds (2), or a stop signal comes (0). Between attempts a backoff of 0.25 s
// doubling to 10 s, with jitter so that a fleet does not reconnect in lockstep, reset by
// a session that got its welcome; a stop signal ends the wait.
int Sessions(const std::shared_ptr<grpc::Channel>& channel, const std::string& token, const std::string& id,
             const compiler::Target& serving, const WorkerOptions& options, Runner& runner, Leaving& leaving) {
  std::mt19937 rng(static_cast<unsigned>(getpid()));
  double backoff = 0.25;
  auto lost_since = Clock::now();
  while (true) {
    SessionEnd end = LeaseSession(id, serving, options, runner, leaving).Run(channel, token);
    {
      std::lock_guard<std::mutex> lock(leaving.mu);
      if (leaving.requested) {
        std::fprintf(stderr, "worker %s: %s: leaving; %d candidate(s) handed back (%s)\n", id.c_str(),
                     strsignal(leaving.signal), leaving.handed_back, end.message.c_str());
        return 0;
      }
    }
    if (end.kind == SessionEnd::kDone) return 0;
    if (end.kind == SessionEnd::kRefused) {
      std::fprintf(stderr, "priortune worker: the server refused the lease: %s\n", end.message.c_str());
      return 2;
    }
    if (end.welcomed) {
      lost_since = Clock::now();
      backoff = 0.25;
    }
    if (SecondsSince(lost_since) >= options.retry_seconds) {
      std::fprintf(stderr, "priortune worker: cannot reach the server at %s: %s\n", options.connection.server.c_str(),
                   end.message.c_str());
      return 2;
    }
    double wait = backoff * std::uniform_real_distribution<double>(0.5, 1.0)(rng);
    std::fprintf(stderr, "worker %s: %s; reconnecting in %.2f s\n", id.c_str(), end.message.c_str(), wait);
    std::unique_lock<std::mutex> lock(leaving.mu);
    if (leaving.cv.wait_for(lock, std::chrono::duration<double>(wait), [&] { return leaving.requested; })) {
      std::fprintf(stderr, "worker %s: %s while disconnected: leaving\n", id.c_str(), strsignal(leaving.signal));
      return 0;
    }
    backoff = std::min(10.0, backoff * 2);
  }
}

}  // namespace

int RunWorker(const WorkerOptions& options) {
  // A runner that died while idle closes its pipe: writing to it must fail with EPIPE
  // (reported as a runtime error, the runner replaced), not kill the worker.
  signal(SIGPIPE, SIG_IGN);
  // Stop signals go to one thread (blocked here, before any other thread exists, and in
  // the runner children, which inherit the mask).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::string id = options.id.empty() ? DefaultId() : options.id;
  // The target this worker measures for: it must be able to run that target's code.
  auto serving = TuningTarget(options.target, options.threads);
  if (!serving.ok()) {
    std::fprintf(stderr, "priortune worker: --target: %s\n", serving.status().message().c_str());
    return 2;
  }
  WorkerOptions runner_options = options;
  runner_options.target = serving->ToJson();
  PinToCores(options, id);
  auto channel = MakeChannel(options.connection);
  auto token = channel.ok() ? ReadToken(options.connection) : StatusOr<std::string>(channel.status());
  if (!token.ok()) {
    std::fprintf(stderr, "priortune worker: %s\n", token.status().message().c_str());
    return 2;
  }
  std::fprintf(stderr, "worker %s: measures for %s, %d thread%s (target %s)\n", id.c_str(), serving->Describe().c_str(),
               serving->cores, serving->cores == 1 ? "" : "s", serving->Key().c_str());
  Runner runner(runner_options);
  Leaving leaving;
  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::lock_guard<std::mutex> lock(leaving.mu);
    if (leaving.requested) return;  // the worker ended and woke this thread itself
    leaving.requested = true;
    leaving.signal = sig;
    if (leaving.announce) leaving.announce();
    leaving.cv.notify_all();
  });
  const int code = Sessions(*channel, *token, id, *serving, options, runner, leaving);
  {
    std::lock_guard<std::mutex> lock(leaving.mu);
    if (!leaving.requested) {
      leaving.requested = true;
      pthread_kill(signals.native_handle(), SIGTERM);  // ends its sigwait
    }
  }
  signals.join();
  return code;
}

namespace {

// The test-only faults (WorkerOptions::fault_plan).
enum class Fault { kNone, kHang, kCrash, kKillWorker, kWrongAnswer };

StatusOr<Fault> PlannedFault(const std::string& plan_path, const compiler::Config& config) {
  if (plan_path.empty()) return Fault::kNone;
  std::ifstream in(plan_path);
  if (!in) return Fault::kNone;
  json plan = json::parse(in, nullptr, false);
  if (plan.is_discarded() || !plan.is_object())
    return InvalidArgument("fault plan " + plan_path + ": not a JSON object");
  auto it = plan.find(tuner::ConfigHash(config));
  if (it == plan.end()) return Fault::kNone;
  static const std::pair<const char*, Fault> kFaults[] = {{"hang", Fault::kHang},
                                                          {"crash", Fault::kCrash},
                                                          {"kill-worker", Fault::kKillWorker},
                                                          {"wrong-answer", Fault::kWrongAnswer}};
  for (const auto& [name, fault] : kFaults)
    if (*it == name) return fault;
  return InvalidArgument("fault plan " + plan_path + ": unknown fault " + it->dump());
}

// One candidate in the runner: validate, build, check, time. `out` is the answer.
class CandidateRunner {
 public:
  CandidateRunner(const WorkerOptions& options, int64_t memory_cap) : options_(options), memory_cap_(memory_cap) {
    timing_.repeat = options.repeat;
    timing_.min_repeat_ms = options.min_repeat_ms;
  }

  json Run(const std::string& line) {
    json out = {{"error", db::ErrorKindName(db::ErrorKind::kNone)},
                {"message", ""},
                {"compile_seconds", 0.0},
                {"costs", json::array()}};
    auto fail = [&](db::ErrorKind kind, const std::string& message) {
      out["error"] = db::ErrorKindName(kind);
      out["message"] = message;
      return out;
    };
    json req = json::parse(line, nullptr, false);
    if (req.is_discarded() || !req.is_object())
      return fail(db::ErrorKind::kInvalidConfig, "request is not a JSON object");
    for (const char* field : {"workload", "target", "config"})
      if (!req.contains(field) || !req[field].is_object())
        return fail(db::ErrorKind::kInvalidConfig, std::string("request field '") + field + "' is not an object");
    auto w = compiler::Workload::FromJson(req["workload"].dump());
    if (!w.ok()) return fail(db::ErrorKind::kInvalidConfig, w.status().message());
    auto config = compiler::ConfigFromJson(req["config"].dump());
    if (!config.ok()) return fail(db::ErrorKind::kInvalidConfig, config.status().message());
    auto target = compiler::Target::FromJson(req["target"].dump());
    if (!target.ok()) return fail(db::ErrorKind::kInvalidConfig, target.status().message());
    // A candidate for a CPU this one cannot stand in for is refused, never run.
    if (Status runs = target->CheckRunsOnHost(); !runs.ok())
      return fail(db::ErrorKind::kInvalidConfig, "this worker refuses the candidate: " + runs.message());

    auto fault = PlannedFault(options_.fault_plan, *config);
    if (!fault.ok()) return fail(db::ErrorKind::kInvalidConfig, fault.status().message());
    if (*fault == Fault::kHang)
      while (true) pause();                // the supervisor's timeout ends it
    if (*fault == Fault::kCrash) abort();  // the runner dies of signal 6
    if (*fault == Fault::kKillWorker) {    // the whole worker goes down
      kill(getppid(), SIGKILL);
      while (true) pause();
    }
    compiler::SetNumThreads(std::max(1, target->cores));
    auto tmpl = compiler::FindTemplate(w->op);
    Status valid = tmpl.ok() ? (*tmpl)->Validate(*w) : tmpl.status();
    if (valid.ok()) valid = compiler::CheckConfig(**tmpl, *w, *target, *config);
    if (valid.ok()) valid = compiler::CheckMemory(**tmpl, *w, memory_cap_);
    if (!valid.ok()) return fail(db::ErrorKind::kInvalidConfig, valid.message());

    auto t0 = Clock::now();
    compiler::CompileOptions compile;
    compile.check_bounds = options_.check_bounds;
    auto kernel = compiler::BuildKernel(*w, *target, *config, compile);
    out["compile_seconds"] = SecondsSince(t0);
    if (!kernel.ok()) return fail(db::ErrorKind::kCompileError, kernel.status().message());
    // One workload at a time: its inputs and reference output are computed once and
    // reused by every candidate of it.
    if (w->Key() != cached_key_) {
      args_.reset();
      args_ = std::make_unique<compiler::KernelArgs>(**tmpl, *w, 42);
      want_ = compiler::ReferenceOutput(*w, *args_);
      cached_key_ = w->Key();
    }
    std::vector<float> expected = want_;
    if (*fault == Fault::kWrongAnswer) expected[0] += 1.0f;  // a wrong kernel's view
    compiler::KernelMeasurement m = compiler::CheckAndTime(*kernel, *args_, expected, timing_);
    if (!m.check.run.ok()) return fail(db::ErrorKind::kRuntimeError, m.check.run.message());
    if (!m.check.ok())
      return fail(db::ErrorKind::kWrongAnswer, "output " + std::to_string(m.check.first_bad) +
                                                   " differs from the reference (max relative error " +
                                                   std::to_string(m.check.max_rel_error) + ")");
    out["costs"] = m.timing.round_seconds;
    return out;
  }

 private:
  const WorkerOptions& options_;
  int64_t memory_cap_;
  compiler::TimingOptions timing_;
  std::string cached_key_;
  std::unique_ptr<compiler::KernelArgs> args_;
  std::vector<float> want_;
};

}  // namespace

int RunRunner(const WorkerOptions& options) {
  int64_t cap = options.memory_cap_mb > 0 ? options.memory_cap_mb << 20 : compiler::DefaultMemoryCapBytes();
  // Warm up: LLVM and the JIT for the worker's target are ready before we say so.
  auto serving = compiler::Target::Parse(options.target, 1);
  if (serving.ok()) {
    auto jit = compiler::Jit::ForTarget(*serving);
    if (!jit.ok()) serving = jit.status();
  }
  if (!serving.ok()) {
    std::fprintf(stderr, "priortune runner: %s\n", serving.status().ToString().c_str());
    return 2;
  }
  std::cout << ReadyLine() << "\n" << std::flush;
  CandidateRunner runner(options, cap);
  std::string line;
  while (std::getline(std::cin, line)) std::cout << runner.Run(line).dump() << "\n" << std::flush;
  return 0;
}

}  // namespace priortune::server
