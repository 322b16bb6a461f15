// A real cluster for integration tests: MeasureQueue + WorkerServer on loopback and
// worker processes of the priortune executable, in a temporary directory.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "server/local_workers.h"
#include "server/measure_queue.h"
#include "server/worker_service.h"

namespace priortune::server {

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
    extra.insert(extra.end(), {"--test-faults", "--repeat", "2", "--min-repeat-ms", "5"});
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
  std::string address() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  MeasureQueue& queue() { return queue_; }

 private:
  std::filesystem::path dir_;
  MeasureQueue queue_;
  std::unique_ptr<WorkerServer> server_;
  std::vector<LocalWorkers> workers_;
  int expected_ = 0;
};

}  // namespace priortune::server
