// A real cluster for integration tests: MeasureQueue + WorkerServer on loopback and
// worker processes of the priortune executable, in a temporary directory.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "server/service/local_workers.h"
#include "server/service/measure_queue.h"
#include "server/service/worker_service.h"
#include "tuner/search_space.h"

namespace priortune::server {

// Runs `cmd` through the shell with a time limit; stdout and stderr together.
inline std::string Shell(const std::string& cmd, int* exit_code) {
  std::string out;
  FILE* p = popen(("timeout -k 10 600 " + cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  int status = p ? pclose(p) : -1;
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

class Cluster {
 public:
  explicit Cluster(WorkerServiceOptions options = {}) {
    char tmpl[] = "/tmp/priortune-it-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto s = WorkerServer::Start("127.0.0.1:0", queue_, options);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }
  ~Cluster() {
    server_->Shutdown();
    for (auto& w : workers_) w.Stop(10);
    std::filesystem::remove_all(dir_);
  }
  // Starts `n` more worker processes and waits until all are connected.
  void AddWorkers(int n, std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), {"--fault-plan", FaultPlanPath(), "--repeat", "2", "--min-repeat-ms", "5"});
    auto w = LocalWorkers::Start(PRIORTUNE_EXE, n, address(), extra);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    workers_.push_back(std::move(w).value());
    expected_ += n;
    ASSERT_TRUE(queue_.WaitForWorkers(expected_, std::chrono::seconds(60)));
  }
  void KillWorker(size_t group, size_t index, int signal = SIGKILL) {
    kill(workers_.at(group).pids().at(index), signal);
    --expected_;
  }
  // The worker process behind a queue worker id ("host-PID#n"); -1 if not ours.
  pid_t PidOf(const std::string& worker_id) const {
    for (const auto& g : workers_)
      for (pid_t p : g.pids())
        if (worker_id.find("-" + std::to_string(p) + "#") != std::string::npos) return p;
    return -1;
  }
  // Accounts for a worker the test stopped or killed itself.
  void Lost() { --expected_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  // The workers' fault plan (WorkerOptions::fault_plan): the file the runners read.
  std::string FaultPlanPath() const { return Path("faults.json"); }
  // Plans `fault` (hang, crash, kill-worker, wrong-answer) for the candidate of `config`.
  // Written to a new file and renamed, so a runner reads the old plan or the new one.
  void PlanFault(const compiler::Config& config, const std::string& fault) {
    PlanFaultIn(FaultPlanPath(), config, fault);
  }
  static void PlanFaultIn(const std::string& path, const compiler::Config& config, const std::string& fault) {
    nlohmann::json plan = nlohmann::json::object();
    if (std::ifstream in(path); in) plan = nlohmann::json::parse(in, nullptr, false);
    ASSERT_TRUE(plan.is_object());
    plan[tuner::ConfigHash(config)] = fault;
    std::ofstream(path + ".new") << plan.dump();
    std::filesystem::rename(path + ".new", path);
  }
  MeasureQueue& queue() { return queue_; }

 private:
  std::filesystem::path dir_;
  MeasureQueue queue_;
  std::unique_ptr<WorkerServer> server_;
  std::vector<LocalWorkers> workers_;
  int expected_ = 0;
};

// Measure() with a deadline: a run that has not finished after `seconds` is cancelled
// and the test fails with the queue's state, instead of hanging until ctest's limit.
inline std::vector<tuner::MeasureResult> MeasureWithin(MeasureQueue& queue,
                                                       const std::vector<tuner::Candidate>& candidates,
                                                       double seconds = 180) {
  std::atomic<bool> cancel{false};
  auto run = std::async(std::launch::async, [&] { return queue.Measure(candidates, cancel); });
  if (run.wait_for(std::chrono::duration<double>(seconds)) != std::future_status::ready) {
    cancel = true;
    queue.Wake();  // Measure waits on the queue: whoever cancels wakes it
    WorkerStats s = queue.stats();
    ADD_FAILURE() << "Measure of " << candidates.size() << " candidates did not finish within " << seconds
                  << " s: " << s.completed << " completed, " << s.requeued << " requeued, " << s.connected
                  << " workers connected";
  }
  return run.get();
}

// A one-shot latch with a deadline: a test thread waits for an event another thread
// (a queue observer) signals.
class Latch {
 public:
  void Signal() {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  bool WaitFor(double seconds) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return done_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

}  // namespace priortune::server
