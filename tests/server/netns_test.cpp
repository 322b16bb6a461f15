// Workers on other hosts, for real: each in its own network namespace joined to the
// server's by a veth pair, so that leases, heartbeats and results cross a real network
// stack (not loopback). The test makes the namespaces and links and removes them after.
// Needs root (CI runs as root); as another user it says so and skips.
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/common/convert.h"
#include "tests/server/internal/service_cluster.h"

namespace priortune::server {
namespace {

// One "host": a network namespace with a veth link to the root namespace, 10.213.S.0/24.
class NetnsHost {
 public:
  NetnsHost(int subnet, int index) {
    std::string tag = std::to_string(getpid() % 100000) + "x" + std::to_string(index);
    ns_ = "ptns" + tag;
    outer_ = "ptv" + tag + "a";
    inner_ = "ptv" + tag + "b";
    server_ip_ = "10.213." + std::to_string(subnet) + ".1";
    ip_ = "10.213." + std::to_string(subnet) + "." + std::to_string(10 + index);
  }
  // The server side of the link gets server_ip (once, by the first host).
  void Create(bool server_side_address) {
    Run("ip netns add " + ns_);
    created_ = true;
    Run("ip link add " + outer_ + " type veth peer name " + inner_);
    Run("ip link set " + inner_ + " netns " + ns_);
    if (server_side_address) Run("ip addr add " + server_ip_ + "/24 dev " + outer_);
    Run("ip link set " + outer_ + " up");
    Run("ip netns exec " + ns_ + " ip addr add " + ip_ + "/32 dev " + inner_);
    Run("ip netns exec " + ns_ + " ip link set " + inner_ + " up");
    Run("ip netns exec " + ns_ + " ip link set lo up");
    Run("ip netns exec " + ns_ + " ip route add " + server_ip_ + "/32 dev " + inner_);
    if (!server_side_address)
      Run("ip route add " + ip_ + "/32 dev " + outer_);
    else
      Run("ip route replace " + ip_ + "/32 dev " + outer_);
  }
  ~NetnsHost() {
    if (worker_ > 0) {
      kill(worker_, SIGKILL);
      waitpid(worker_, nullptr, 0);
    }
    if (!created_) return;
    int code = 0;
    Shell("ip link del " + outer_, &code);  // removes both ends
    Shell("ip netns del " + ns_, &code);
  }
  // `priortune worker` inside the namespace, against the server's address on the link.
  void StartWorker(int port) {
    std::vector<std::string> args = {"ip",
                                     "netns",
                                     "exec",
                                     ns_,
                                     PRIORTUNE_EXE,
                                     "worker",
                                     "--server",
                                     server_ip_ + ":" + std::to_string(port),
                                     "--repeat",
                                     "2",
                                     "--min-repeat-ms",
                                     "5",
                                     "--retry-seconds",
                                     "60"};
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("ip", argv.data());
      _exit(127);
    }
    worker_ = pid;  // `ip netns exec` execs the worker: the same pid
  }
  pid_t worker() const { return worker_; }
  const std::string& server_ip() const { return server_ip_; }
  const std::string& ns() const { return ns_; }

 private:
  void Run(const std::string& cmd) {
    int code = 0;
    std::string out = Shell(cmd, &code);
    ASSERT_EQ(code, 0) << cmd << ": " << out;
  }
  std::string ns_, outer_, inner_, server_ip_, ip_;
  bool created_ = false;
  pid_t worker_ = -1;
};

TEST(TuningServiceAcrossHosts, WorkersInTheirOwnNetworkNamespacesServeAJobOverVeth) {
  if (geteuid() != 0) GTEST_SKIP() << "making network namespaces needs root (CI runs as root)";
  int subnet = 1 + getpid() % 250;
  NetnsHost a(subnet, 0), b(subnet, 1);
  a.Create(true);
  b.Create(false);
  ASSERT_FALSE(HasFatalFailure());
  ServiceCluster c;
  c.SetHost(a.server_ip());
  c.StartServer();
  // The server listens on the link's address only; the workers reach it through veth.
  a.StartWorker(c.port());
  b.StartWorker(c.port());
  auto stub = c.Client();
  v1::SubmitJobRequest r;
  *r.add_workloads() = Matmul(32, 40, 24);
  *r.add_workloads() = Matmul(24, 56, 32);
  r.mutable_target()->set_spec("host");
  r.set_trials(16);
  r.set_batch_size(8);
  v1::SubmitJobResponse resp;
  auto ctx = Ctx();
  ASSERT_TRUE(stub->SubmitJob(ctx.get(), r, &resp).ok());
  v1::JobStatus end = WatchToEnd(*stub, resp.job_id());
  ASSERT_EQ(end.state(), "done") << end.DebugString() << c.ServerLog();
  EXPECT_EQ(c.Count("SELECT COUNT(*) FROM records"), 32);
  // Both namespaced workers measured (their ids end in their pids).
  for (pid_t p : {a.worker(), b.worker()})
    EXPECT_GT(c.Count("SELECT COUNT(*) FROM records WHERE worker LIKE '%-" + std::to_string(p) + "#%'"), 0)
        << "worker " << p << " measured nothing";
  // And a namespaced worker cannot see the server's loopback: the link is its only way.
  int code = 0;
  std::string out = Shell("timeout 5 ip netns exec " + a.ns() + " " + PRIORTUNE_EXE +
                              " jobs --server 127.0.0.1:" + std::to_string(c.port()),
                          &code);
  EXPECT_NE(code, 0) << out;
}

}  // namespace
}  // namespace priortune::server
