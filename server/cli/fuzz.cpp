// priortune fuzz: random workloads and configs of every template (and small models) against
// their references, each case in an isolated runner process; failures go to a repro file.
#include "tuner/fuzz.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "compiler/codegen/jit.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "server/common/line_child.h"

namespace priortune::server::cli {
namespace {

struct FuzzCommandOptions {
  tuner::FuzzOptions fuzz;
  int64_t cases = 1000;
  double timeout_seconds = 60;              // per case: build, run and reference
  std::string out = "fuzz-failures.jsonl";  // the repro file
  std::string replay;                       // re-run the cases of this file instead
  int jobs = 0;                             // runner processes; 0: the machine's cores
  bool resume = false;                      // go on from FILE.progress
  int64_t recycle_after = 400;              // cases a runner serves before it is replaced
  bool list = false;                        // print the run's cases as JSON lines, run nothing
  bool runner = false;                      // internal: be the case-running child
};

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using tuner::FuzzCase;
using tuner::FuzzOutcome;
using tuner::FuzzResult;

const char* kReady = R"({"fuzz-runner":"ready"})";
constexpr double kRunnerStartSeconds = 120;

struct Score {
  std::map<FuzzOutcome, int64_t> outcomes;
  std::map<std::string, int64_t> per_op;
  std::set<std::string> workloads;
  int64_t done = 0, failed = 0;
  double compile_seconds = 0;
};

std::string OpOf(const FuzzCase& c) { return c.kind == "model" ? "model" : c.workload.op; }

// The header line of FILE.progress: what a resumed run must agree with.
json RunIdentity(const FuzzCommandOptions& o) {
  return {{"seed", o.fuzz.seed},
          {"ops", o.fuzz.AllOps()},
          {"targets", o.fuzz.targets},
          {"threads", o.fuzz.threads},
          {"configs", o.fuzz.configs_per_group},
          {"check_bounds", o.fuzz.check_bounds},
          {"max_macs", o.fuzz.max_macs},
          {"cases", o.cases}};
}

// Every case of the run, in order: the ops take turns (group g is op g % ops), so that a
// short run meets each of them; within an op, its groups one after the other.
StatusOr<std::vector<FuzzCase>> DrawAll(const FuzzCommandOptions& o) {
  const int64_t ops = static_cast<int64_t>(o.fuzz.AllOps().size());
  std::vector<std::vector<FuzzCase>> pending(static_cast<size_t>(ops));
  std::vector<size_t> at(static_cast<size_t>(ops), 0);
  std::vector<int64_t> next_group(static_cast<size_t>(ops));
  for (int64_t k = 0; k < ops; ++k) next_group[static_cast<size_t>(k)] = k;
  std::vector<FuzzCase> all;
  for (int64_t turn = 0; static_cast<int64_t>(all.size()) < o.cases; ++turn) {
    const size_t k = static_cast<size_t>(turn % ops);
    if (at[k] == pending[k].size()) {
      PT_ASSIGN_OR_RETURN(pending[k], tuner::DrawGroup(o.fuzz, next_group[k], 0));
      next_group[k] += ops;
      at[k] = 0;
      if (pending[k].empty()) continue;
    }
    FuzzCase c = std::move(pending[k][at[k]++]);
    c.index = static_cast<int64_t>(all.size());
    all.push_back(std::move(c));
  }
  return all;
}

// The cases of a repro file (its lines' "case" objects) or of a file of bare cases.
StatusOr<std::vector<FuzzCase>> ReadCases(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("--replay: cannot read '" + path + "'");
  std::vector<FuzzCase> cases;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return InvalidArgument(path + ":" + std::to_string(number) + ": not a JSON object");
    auto c = FuzzCase::FromJson((j.contains("case") ? j["case"] : j).dump());
    if (!c.ok()) return InvalidArgument(path + ":" + std::to_string(number) + ": " + c.status().message());
    cases.push_back(*c);
  }
  if (cases.empty()) return InvalidArgument("--replay: '" + path + "' holds no case");
  return cases;
}

class Supervisor {
 public:
  Supervisor(const FuzzCommandOptions& o, std::vector<FuzzCase> cases, std::set<int64_t> done, Score score,
             std::ofstream* repro, std::ofstream* progress)
      : o_(o),
        cases_(std::move(cases)),
        done_(std::move(done)),
        score_(std::move(score)),
        repro_(repro),
        progress_(progress) {}

  Score Run() {
    const int jobs = o_.jobs > 0 ? o_.jobs : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    start_ = last_report_ = Clock::now();
    initial_done_ = score_.done;
    std::vector<std::thread> threads;
    for (int j = 0; j < jobs; ++j) threads.emplace_back([this] { Serve(); });
    for (auto& t : threads) t.join();
    return score_;
  }

  double Seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  int64_t ran() const { return score_.done - initial_done_; }

 private:
  // One runner's loop: the next undone case, until none is left.
  void Serve() {
    internal::LineChild child({"fuzz", "--runner"});
    int64_t served = 0;
    for (;;) {
      size_t i = next_.fetch_add(1);
      if (i >= cases_.size()) return;
      const FuzzCase& c = cases_[i];
      if (done_.count(c.index)) continue;
      if (served++ >= o_.recycle_after) {  // bounds what a long-lived JIT accumulates
        child.Kill();
        served = 1;
      }
      Record(c, RunOne(child, c));
    }
  }

  FuzzResult RunOne(internal::LineChild& child, const FuzzCase& c) {
    if (!child.running()) {
      if (Status s = child.Start(kReady, kRunnerStartSeconds); !s.ok()) return {FuzzOutcome::kError, s.message()};
    }
    if (!child.Send(c.ToJson())) {
      int status = child.Kill();
      return {FuzzOutcome::kCrash, "the runner died" + internal::LineChild::SignalText(status)};
    }
    std::string line;
    switch (child.ReadLine(o_.timeout_seconds, &line)) {
      case internal::LineChild::Read::kOk:
        break;
      case internal::LineChild::Read::kTimeout:
        child.Kill();
        return {FuzzOutcome::kTimeout, "no result within " + std::to_string(o_.timeout_seconds) + " s"};
      case internal::LineChild::Read::kClosed:
      case internal::LineChild::Read::kInterrupted: {
        int status = child.Kill();
        return {FuzzOutcome::kCrash, "the runner died" + internal::LineChild::SignalText(status)};
      }
    }
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("outcome") || !j["outcome"].is_string())
      return {FuzzOutcome::kError, "unreadable runner answer: " + line};
    auto outcome = tuner::FuzzOutcomeFromName(j["outcome"].get<std::string>());
    if (!outcome.ok()) return {FuzzOutcome::kError, outcome.status().message()};
    FuzzResult r;
    r.outcome = *outcome;
    if (j.contains("message") && j["message"].is_string()) r.message = j["message"].get<std::string>();
    if (j.contains("compile_seconds") && j["compile_seconds"].is_number()) r.compile_seconds = j["compile_seconds"];
    return r;
  }

  void Record(const FuzzCase& c, const FuzzResult& r) {
    std::lock_guard<std::mutex> lock(mu_);
    ++score_.done;
    ++score_.outcomes[r.outcome];
    ++score_.per_op[OpOf(c)];
    if (c.kind != "model") score_.workloads.insert(c.workload.Key());
    score_.compile_seconds += r.compile_seconds;
    if (r.outcome != FuzzOutcome::kPass) {
      ++score_.failed;
      std::fprintf(stderr, "fuzz: case %lld %s: %s\n  %s\n", static_cast<long long>(c.index),
                   tuner::FuzzOutcomeName(r.outcome), c.Describe().c_str(), r.message.c_str());
      if (repro_) {
        *repro_ << json{{"case", json::parse(c.ToJson())},
                        {"outcome", tuner::FuzzOutcomeName(r.outcome)},
                        {"message", r.message}}
                       .dump()
                << "\n"
                << std::flush;
      }
    }
    if (progress_) {
      *progress_ << json{{"index", c.index},
                         {"op", OpOf(c)},
                         {"outcome", tuner::FuzzOutcomeName(r.outcome)},
                         {"workload", c.kind == "model" ? "" : c.workload.Key()},
                         {"compile_seconds", r.compile_seconds}}
                        .dump()
                 << "\n"
                 << std::flush;
    }
    if (std::chrono::duration<double>(Clock::now() - last_report_).count() >= 10) {
      last_report_ = Clock::now();
      std::printf("fuzz: %lld/%zu cases, %.2f cases/s, %lld failed\n", static_cast<long long>(score_.done),
                  cases_.size(), ran() / std::max(1e-9, Seconds()), static_cast<long long>(score_.failed));
      std::fflush(stdout);
    }
  }

  const FuzzCommandOptions& o_;
  std::vector<FuzzCase> cases_;
  std::set<int64_t> done_;
  Score score_;
  std::ofstream* repro_;
  std::ofstream* progress_;
  std::atomic<size_t> next_{0};
  std::mutex mu_;
  Clock::time_point start_, last_report_;
  int64_t initial_done_ = 0;
};

// Reads FILE.progress of an earlier run with the same identity: the finished cases and
// their score.
Status ReadProgress(const std::string& path, const json& identity, std::set<int64_t>& done, Score& score) {
  std::ifstream in(path);
  if (!in) return NotFound("--resume: no progress file '" + path + "'");
  std::string line;
  if (!std::getline(in, line)) return InvalidArgument("--resume: '" + path + "' is empty");
  json head = json::parse(line, nullptr, false);
  if (head.is_discarded() || !head.contains("run") || head["run"] != identity)
    return InvalidArgument("--resume: '" + path + "' is the progress of another run (" + line +
                           "); give the same options, or start afresh without --resume");
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("index") || !j.contains("outcome")) continue;  // a torn last line
    auto outcome = tuner::FuzzOutcomeFromName(j["outcome"].get<std::string>());
    if (!outcome.ok() || !done.insert(j["index"].get<int64_t>()).second) continue;
    ++score.done;
    ++score.outcomes[*outcome];
    if (*outcome != FuzzOutcome::kPass) ++score.failed;
    ++score.per_op[j.value("op", std::string("?"))];
    std::string w = j.value("workload", std::string());
    if (!w.empty()) score.workloads.insert(w);
    score.compile_seconds += j.value("compile_seconds", 0.0);
  }
  return OkStatus();
}

void PrintSummary(const Score& s, int64_t ran, double seconds) {
  auto n = [&](FuzzOutcome o) {
    auto it = s.outcomes.find(o);
    return static_cast<long long>(it == s.outcomes.end() ? 0 : it->second);
  };
  std::printf("fuzz: %lld cases (%lld this run in %.1f s, %.2f cases/s), %zu distinct workloads\n",
              static_cast<long long>(s.done), static_cast<long long>(ran), seconds, ran / std::max(1e-9, seconds),
              s.workloads.size());
  std::printf(
      "  passed %lld, crashes %lld, timeouts %lld, bounds violations %lld, mismatches %lld, compile failures "
      "%lld, other errors %lld\n",
      n(FuzzOutcome::kPass), n(FuzzOutcome::kCrash), n(FuzzOutcome::kTimeout), n(FuzzOutcome::kBoundsViolation),
      n(FuzzOutcome::kMismatch), n(FuzzOutcome::kCompileFailure), n(FuzzOutcome::kError));
  std::printf("  per op:");
  for (const auto& [op, count] : s.per_op) std::printf(" %s %lld", op.c_str(), static_cast<long long>(count));
  std::printf("\n");
}

int RunFuzz(const FuzzCommandOptions& o) {
  if (o.cases < 1) return ReportError(InvalidArgument("fuzz: --cases must be at least 1"));
  if (!(o.timeout_seconds > 0)) return ReportError(InvalidArgument("fuzz: --timeout must be positive"));
  if (o.jobs < 0) return ReportError(InvalidArgument("fuzz: --jobs must not be negative"));
  if (Status v = o.fuzz.Validate(); !v.ok()) return ReportError(v);
  std::vector<FuzzCase> cases;
  std::set<int64_t> done;
  Score score;
  std::ofstream repro, progress;
  const auto start = Clock::now();
  if (!o.replay.empty()) {
    auto read = ReadCases(o.replay);
    if (!read.ok()) return ReportError(read.status());
    cases = std::move(*read);
    for (auto& c : cases)
      if (o.fuzz.check_bounds) c.check_bounds = true;  // replay a failure bounds-checked to locate it
    std::printf("fuzz: replaying %zu case(s) of %s\n", cases.size(), o.replay.c_str());
  } else {
    auto drawn = DrawAll(o);
    if (!drawn.ok()) return ReportError(drawn.status());
    cases = std::move(*drawn);
    if (o.list) {
      for (const auto& c : cases) std::printf("%s\n", c.ToJson().c_str());
      return 0;
    }
    const json identity = RunIdentity(o);
    const std::string progress_path = o.out + ".progress";
    if (o.resume) {
      if (Status s = ReadProgress(progress_path, identity, done, score); !s.ok()) return ReportError(s);
      repro.open(o.out, std::ios::app);
      progress.open(progress_path, std::ios::app);
      std::printf("fuzz: resuming: %lld of %zu cases done\n", static_cast<long long>(score.done), cases.size());
    } else {
      repro.open(o.out, std::ios::trunc);
      progress.open(progress_path, std::ios::trunc);
      progress << json{{"run", identity}}.dump() << "\n" << std::flush;
    }
    if (!repro || !progress) return ReportError(InvalidArgument("fuzz: cannot write '" + o.out + "' or its .progress"));
    std::set<std::string> ops;
    for (const auto& c : cases) ops.insert(OpOf(c));
    std::printf("fuzz: %zu cases drawn in %.1f s (seed %llu; %zu ops%s), failures to %s\n", cases.size(),
                std::chrono::duration<double>(Clock::now() - start).count(),
                static_cast<unsigned long long>(o.fuzz.seed), ops.size(), o.fuzz.check_bounds ? ", bounds-checked" : "",
                o.out.c_str());
  }
  std::fflush(stdout);
  Supervisor sup(o, std::move(cases), std::move(done), std::move(score), o.replay.empty() ? &repro : nullptr,
                 o.replay.empty() ? &progress : nullptr);
  Score final_score = sup.Run();
  PrintSummary(final_score, sup.ran(), sup.Seconds());
  return final_score.failed == 0 ? 0 : 1;
}

int RunFuzzRunner() {
  // LLVM's initialisation happens before we say we are ready.
  if (auto jit = compiler::Jit::Default(); !jit.ok()) {
    std::fprintf(stderr, "priortune fuzz runner: %s\n", jit.status().ToString().c_str());
    return 2;
  }
  std::cout << kReady << "\n" << std::flush;
  std::string line;
  while (std::getline(std::cin, line)) {
    json out;
    auto c = FuzzCase::FromJson(line);
    if (!c.ok()) {
      out = {{"outcome", tuner::FuzzOutcomeName(FuzzOutcome::kError)}, {"message", c.status().ToString()}};
    } else {
      FuzzResult r = tuner::RunFuzzCase(*c);
      out = {{"outcome", tuner::FuzzOutcomeName(r.outcome)},
             {"message", r.message},
             {"compile_seconds", r.compile_seconds}};
    }
    std::cout << out.dump() << "\n" << std::flush;
  }
  return 0;
}

}  // namespace

void AddFuzz(Commands& commands) {
  auto o = std::make_shared<FuzzCommandOptions>();
  auto targets = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = commands.app().add_subcommand(
      "fuzz",
      "build and run random workloads and configs of every template (and small models of the other "
      "kernels) against their references, each in an isolated process; failures to a repro file");
  cmd->add_option("--op", o->fuzz.ops,
                  "ops to fuzz, repeatable: a template (matmul, batch_matmul, conv2d, depthwise_conv2d) or model "
                  "(default: all)");
  cmd->add_option("--cases", o->cases, "cases in all (default 1000)");
  cmd->add_option("--seed", o->fuzz.seed, "the seed every case is drawn from (default 1)");
  cmd->add_flag("--check-bounds", o->fuzz.check_bounds, kCheckBoundsHelp);
  cmd->add_option("--target", *targets,
                  "targets to build for, repeatable: host (default), x86-64-v3, ... (each must run here)");
  cmd->add_option("--threads", o->fuzz.threads, "thread counts, comma-separated (default 1)")->delimiter(',');
  cmd->add_option("--timeout", o->timeout_seconds, "seconds per case before it counts as a hang (default 60)");
  cmd->add_option("--out", o->out, "the repro file: a JSON line per failure (default fuzz-failures.jsonl)");
  cmd->add_option("--replay", o->replay, "re-run the cases of a repro file instead of drawing new ones");
  cmd->add_flag("--resume", o->resume, "go on with the run whose progress is in OUT.progress");
  cmd->add_option("--jobs", o->jobs, "runner processes at once (default: the cores)");
  cmd->add_option("--configs", o->fuzz.configs_per_group,
                  "drawn configs per workload, beside the extremes and edges (default 8)");
  cmd->add_option("--max-macs", o->fuzz.max_macs, "largest workload in multiply-adds (default 3e7)");
  cmd->add_flag("--list", o->list, "print the run's cases as JSON lines and run none");
  cmd->add_flag("--runner", o->runner, "internal: the case-running child")->group("");
  commands.Add(cmd, [o, targets] {
    if (o->runner) return RunFuzzRunner();
    o->fuzz.targets = targets->empty() ? std::vector<std::string>{"host"} : *targets;
    return RunFuzz(*o);
  });
}

}  // namespace priortune::server::cli
