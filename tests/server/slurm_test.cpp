// Measurement workers placed by Slurm: a one-node cluster of this machine
// (scripts/slurm/cluster.sh: munged, slurmctld, slurmd on private directories and ports)
// runs scripts/slurm/workers.sbatch as a job array against a real server.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "compiler/ops/op_template.h"
#include "tests/server/cluster.h"
#include "tests/server/internal/service_cluster.h"

namespace priortune::server {
namespace {

// Whether `port` on loopback can be bound now.
bool PortFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

class SlurmCluster {
 public:
  // "" or what went wrong.
  std::string Start() {
    char tmpl[] = "/tmp/priortune-slurm-XXXXXX";
    if (!mkdtemp(tmpl)) return "mkdtemp failed";
    dir_ = tmpl;
    // Two tries: a port found free can be taken by another test's server before slurmd
    // binds it, and then the node never comes up. The second try takes other ports.
    std::string failures;
    int from = 20000 + getpid() % 20000;
    for (int attempt = 0; attempt < 2; ++attempt) {
      int port = 0;
      for (int p = from; p < 65000 && port == 0; p += 2)
        if (PortFree(p) && PortFree(p + 1)) port = p;
      from = port + 2;
      int code = 0;
      const std::string cluster = (dir_ / "c").string();
      std::string out =
          Shell("bash " PRIORTUNE_SOURCE_DIR "/scripts/slurm/cluster.sh start " + cluster + " " + std::to_string(port),
                &code);
      if (code == 0) {
        conf_ = (dir_ / "c" / "slurm.conf").string();
        started_ = true;
        return "";
      }
      failures += "cluster.sh start (port " + std::to_string(port) + ") failed: " + out;
      Shell("bash " PRIORTUNE_SOURCE_DIR "/scripts/slurm/cluster.sh stop " + cluster, &code);
    }
    return failures;
  }
  ~SlurmCluster() {
    if (started_) {
      int code = 0;
      Shell("bash " PRIORTUNE_SOURCE_DIR "/scripts/slurm/cluster.sh stop " + (dir_ / "c").string(), &code);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  // A Slurm command against this cluster; stdout and stderr together.
  std::string Run(const std::string& command, int* code) const {
    return Shell("env SLURM_CONF=" + conf_ + " PRIORTUNE=" PRIORTUNE_EXE " " + command, code);
  }
  // Submits the worker array (tasks 0..n-1, one core each) against `server`; the job id.
  int64_t SubmitWorkers(int n, const std::string& server, const std::string& worker_args) {
    int code = 0;
    std::string out = Run("sbatch --parsable --array=0-" + std::to_string(n - 1) +
                              " --cpus-per-task=1 --output=" + (dir_ / "worker-%a.log").string() +
                              " " PRIORTUNE_SOURCE_DIR "/scripts/slurm/workers.sbatch " + server + " -- " + worker_args,
                          &code);
    EXPECT_EQ(code, 0) << out;
    return std::atoll(out.c_str());
  }
  // Array task ids of `job` that squeue lists in `state` (R, PD, ...).
  std::set<int> Tasks(int64_t job, const std::string& state) const {
    int code = 0;
    std::string out = Run("squeue -h -r -j " + std::to_string(job) + " -t " + state + " -o %K", &code);
    std::set<int> tasks;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && std::isdigit(static_cast<unsigned char>(line[0]))) tasks.insert(std::atoi(line.c_str()));
    return tasks;
  }
  // Tasks of `job` still alive: pending, configuring, running, suspended or completing
  // (squeue keeps listing ended ones, CA or CD, for MinJobAge).
  std::set<int> Live(int64_t job) const { return Tasks(job, "PD,CF,R,S,CG"); }
  // Waits (polling squeue, bounded) until `job` has no live task left.
  bool WaitGone(int64_t job, double seconds) const {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Live(job).empty()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling squeue
    }
    return false;
  }
  std::string WorkerLog(int task) const {
    std::ifstream f(dir_ / ("worker-" + std::to_string(task) + ".log"));
    return std::string((std::istreambuf_iterator<char>(f)), {});
  }

 private:
  std::filesystem::path dir_;
  std::string conf_;
  bool started_ = false;
};

const std::string kWorkerArgs = "--repeat 2 --min-repeat-ms 5 --retry-seconds 60";

TEST(Slurm, WorkersLaunchedBySbatchServeATuningJobAndLeaveWhenCancelled) {
  SlurmCluster slurm;
  ASSERT_EQ(slurm.Start(), "");
  ServiceCluster c;
  c.StartServer();
  const int64_t array = slurm.SubmitWorkers(2, c.address(), kWorkerArgs);
  ASSERT_GT(array, 0);
  v1::Workload w = Matmul(48, 40, 32);
  auto stub = c.Client();
  const int64_t job = Submit(*stub, Job({w}, 16));
  v1::JobStatus end = WatchToEnd(*stub, job);
  ASSERT_EQ(end.state(), "done") << end.DebugString() << c.ServerLog() << slurm.WorkerLog(0);
  // Both array tasks were placed (one core each on this machine's cores) and ran.
  EXPECT_EQ(slurm.Tasks(array, "R"), std::set<int>({0, 1}));
  // Every record came from a Slurm-placed worker.
  EXPECT_EQ(c.Count("SELECT COUNT(*) FROM records"), 16);
  EXPECT_EQ(c.Count("SELECT COUNT(*) FROM records WHERE worker LIKE 'slurm-" + std::to_string(array) + "_%'"), 16);
  // Cancelled, the workers leave cleanly (exit 0 on SIGTERM) and the queue empties.
  int code = 0;
  slurm.Run("scancel " + std::to_string(array), &code);
  EXPECT_EQ(code, 0);
  ASSERT_TRUE(slurm.WaitGone(array, 60)) << slurm.Run("squeue -r -t all", &code) << slurm.WorkerLog(0)
                                         << slurm.WorkerLog(1) << c.ServerLog();
  for (int t : {0, 1})
    EXPECT_NE(slurm.WorkerLog(t).find("leaving; 0 candidate(s) handed back"), std::string::npos) << slurm.WorkerLog(t);
}

TEST(Slurm, ScancelOfAWorkerMidCandidateHandsTheCandidateBackToTheQueue) {
  // One budget for every wait, inside ctest's 300 s: a slow run under load fails here
  // naming the step it waited for, instead of being killed without a word.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
  auto left = [&] {
    return std::max(std::chrono::milliseconds(1000),
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
  };
  SlurmCluster slurm;
  ASSERT_EQ(slurm.Start(), "");
  Cluster cluster;  // the queue and WorkerService in this process, no local workers
  const int64_t array = slurm.SubmitWorkers(2, cluster.address(),
                                            kWorkerArgs + " --fault-plan " + cluster.FaultPlanPath() + " --timeout 5");
  ASSERT_GT(array, 0);
  ASSERT_TRUE(cluster.queue().WaitForWorkers(2, left())) << "the two Slurm-placed workers never connected";
  // One candidate that hangs: whichever worker runs it is cancelled while it holds it;
  // the other gets it back from the queue (and times it out after 5 s).
  compiler::Workload w = compiler::MatmulWorkload(32, 32, 32);
  compiler::Target t = compiler::Target::HostWithCores(1);
  compiler::Config config = (*compiler::FindTemplate("matmul"))->DefaultConfig(w, t);
  cluster.PlanFault(config, "hang");
  auto first_holder = std::make_shared<std::string>();
  auto leased = std::make_shared<Latch>();
  auto events = std::make_shared<std::vector<QueueEventKind>>();
  cluster.queue().SetObserver([first_holder, leased, events](const QueueEvent& e) {
    events->push_back(e.kind);
    if (e.kind == QueueEventKind::kLeased && first_holder->empty()) {
      *first_holder = e.worker;
      leased->Signal();
    }
  });
  std::atomic<bool> cancel{false};
  auto measured = std::async(std::launch::async, [&] { return cluster.queue().Measure({{w, t, config}}, cancel); });
  ASSERT_TRUE(leased->WaitFor(left().count() / 1e3)) << "no worker leased the candidate";
  // The worker's id is slurm-<array>_<task>#<connection>.
  std::smatch m;
  std::string holder = *first_holder;
  ASSERT_TRUE(std::regex_search(holder, m, std::regex("_([0-9]+)#"))) << holder;
  const int victim = std::stoi(m[1]);
  int code = 0;
  slurm.Run("scancel " + std::to_string(array) + "_" + std::to_string(victim), &code);
  EXPECT_EQ(code, 0);
  if (measured.wait_for(left()) != std::future_status::ready) {
    cancel = true;  // Measure returns once cancelled and woken
    cluster.queue().Wake();
    ADD_FAILURE() << "the candidate never came back";
  }
  auto results = measured.get();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].error, db::ErrorKind::kTimeout) << results[0].error_message;
  EXPECT_EQ(results[0].worker.find("_" + std::to_string(victim) + "#"), std::string::npos) << results[0].worker;
  WorkerStats stats = cluster.queue().stats();
  EXPECT_EQ(stats.handed_back, 1);
  EXPECT_EQ(stats.requeued, 0);  // not counted as a lost worker
  ASSERT_TRUE(std::find(events->begin(), events->end(), QueueEventKind::kHandedBack) != events->end());
  // The cancelled task is gone, the other still runs; the worker said what it did.
  while (slurm.Live(array).count(victim) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling squeue
  EXPECT_EQ(slurm.Tasks(array, "R"), std::set<int>({1 - victim}));
  EXPECT_NE(slurm.WorkerLog(victim).find("leaving; 1 candidate(s) handed back"), std::string::npos)
      << slurm.WorkerLog(victim);
  cluster.queue().SetObserver(nullptr);
}

}  // namespace
}  // namespace priortune::server
