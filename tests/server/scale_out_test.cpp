// Several `priortune serve` processes on one PostgreSQL store (a throwaway cluster per
// test), each with its own worker processes: jobs and tasks are leased through the store.
#include <gtest/gtest.h>

#include <future>

#include "tests/common/pg_cluster.h"
#include "tests/server/internal/service_cluster.h"

namespace priortune::server {
namespace {

// Two servers on one store; short leases, so that a take-over comes within seconds.
class TwoServers : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(pg_.Start(), "");
    const std::string url = pg_.Url("store");
    a_.SetDb(url);
    b_.SetDb(url);
    a_.StartServer({"--server-id", "server-a", "--lease-seconds", "3"});
    b_.StartServer({"--server-id", "server-b", "--lease-seconds", "3"});
    a_.AddWorkers(1);
    b_.AddWorkers(1);
  }
  std::string Logs() const { return "\n--- server-a:\n" + a_.ServerLog() + "\n--- server-b:\n" + b_.ServerLog(); }
  testing::PgCluster pg_;  // destroyed last
  ServiceCluster a_, b_;
};

TEST_F(TwoServers, OverlappingJobsOnTwoServersTuneEachWorkloadOnceAndEitherServerAnswers) {
  v1::Workload only_a = Matmul(32, 48, 16), shared = Matmul(48, 32, 24), only_b = Matmul(16, 40, 32);
  const int trials = 24;
  auto stub_a = a_.Client(), stub_b = b_.Client();
  auto fa = std::async(std::launch::async, [&] { return Submit(*stub_a, Job({only_a, shared}, trials)); });
  auto fb = std::async(std::launch::async, [&] { return Submit(*stub_b, Job({shared, only_b}, trials)); });
  const int64_t ja = fa.get(), jb = fb.get();
  ASSERT_GT(ja, 0);
  ASSERT_GT(jb, 0);
  EXPECT_NE(ja, jb);  // one id sequence for both servers
  v1::JobStatus sa = WatchToEnd(*stub_a, ja), sb = WatchToEnd(*stub_b, jb);
  ASSERT_EQ(sa.state(), "done") << sa.DebugString() << Logs();
  ASSERT_EQ(sb.state(), "done") << sb.DebugString() << Logs();
  // Every workload tuned once, to its budget, no config twice; the counts add up.
  for (const v1::Workload& w : {only_a, shared, only_b}) {
    auto [records, distinct] = RecordsOf(a_, w);
    EXPECT_EQ(records, trials) << Key(w) << Logs();
    EXPECT_EQ(distinct, records) << Key(w);
  }
  EXPECT_EQ(a_.Count("SELECT COUNT(*) FROM records"), 3 * trials);
  const v1::TaskStatus *ta = TaskOf(sa, shared), *tb = TaskOf(sb, shared);
  ASSERT_TRUE(ta && tb);
  EXPECT_EQ(ta->measured() + tb->measured(), trials) << sa.DebugString() << sb.DebugString();
  EXPECT_EQ(ta->best_seconds(), tb->best_seconds());
  // Both jobs and all their tasks ended in the store; no lease is left behind.
  EXPECT_EQ(a_.Count("SELECT COUNT(*) FROM jobs WHERE state = 'done'"), 2);
  EXPECT_EQ(a_.Count("SELECT COUNT(*) FROM tasks WHERE state = 'done'"), 4);
  EXPECT_EQ(a_.Count("SELECT COUNT(*) FROM leases"), 0);
  // Either server answers for either job once it ended, and Lookup gives the same best.
  v1::JobRef ref;
  ref.set_job_id(jb);
  v1::JobStatus got;
  auto ctx = Ctx();
  ASSERT_TRUE(stub_a->GetJob(ctx.get(), ref, &got).ok());
  EXPECT_EQ(got.state(), "done");
  EXPECT_EQ(got.tasks_size(), 2);
  for (auto* stub : {stub_a.get(), stub_b.get()}) {
    v1::LookupRequest lr;
    *lr.mutable_workload() = shared;
    lr.mutable_target()->set_spec("host");
    v1::LookupResponse found;
    auto lctx = Ctx();
    ASSERT_TRUE(stub->Lookup(lctx.get(), lr, &found).ok());
    EXPECT_EQ(found.level(), "exact target");
    EXPECT_EQ(found.cost_seconds(), ta->best_seconds());
  }
}

TEST_F(TwoServers, AServerKilledWithItsLeasesHeldIsTakenOverAfterTheExpiryWithNothingLostOrMeasuredTwice) {
  v1::Workload w = Matmul(64, 48, 40);
  const int trials = 48;
  auto stub_a = a_.Client(), stub_b = b_.Client();
  const int64_t job = Submit(*stub_a, Job({w}, trials));
  ASSERT_GT(job, 0);
  // While server-a runs it, server-b refuses to watch it, naming the holder.
  {
    v1::JobRef ref;
    ref.set_job_id(job);
    v1::JobStatus status;
    auto ctx = Ctx();
    grpc::Status s = stub_b->GetJob(ctx.get(), ref, &status);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
    EXPECT_NE(s.error_message().find("server-a"), std::string::npos) << s.error_message();
  }
  WatchUntilStored(*stub_a, job, 16);
  a_.StopServer(SIGKILL);
  // Killed holding the job's and the task's leases.
  EXPECT_EQ(
      a_.Count("SELECT COUNT(*) FROM leases WHERE holder = 'server-a' AND name = 'job:" + std::to_string(job) + "'"),
      1);
  EXPECT_EQ(a_.Count("SELECT COUNT(*) FROM leases WHERE holder = 'server-a' AND name LIKE 'task:%'"), 1);
  auto [before, before_distinct] = RecordsOf(a_, w);
  ASSERT_GE(before, 16);
  ASSERT_LT(before, trials) << "the job ended before the kill; nothing to take over";
  const int64_t max_id_before = a_.Count("SELECT MAX(id) FROM records");

  // server-b takes it over once the leases expire; the watch retries until then.
  v1::JobStatus end = WatchToEnd(*stub_b, job);
  ASSERT_EQ(end.state(), "done") << end.DebugString() << Logs();
  auto [after, distinct] = RecordsOf(a_, w);
  EXPECT_EQ(after, trials) << Logs();  // resumed to the budget
  EXPECT_EQ(distinct, after);          // no config measured twice
  EXPECT_EQ(a_.Count("SELECT COUNT(*) FROM records WHERE id <= " + std::to_string(max_id_before)), before);
  EXPECT_EQ(a_.Count("SELECT COUNT(*) FROM records WHERE id > " + std::to_string(max_id_before)), trials - before);
  EXPECT_EQ(a_.Count("SELECT COUNT(*) FROM jobs WHERE state = 'done'"), 1);
  EXPECT_NE(b_.ServerLog().find("took over job " + std::to_string(job) + " from server server-a (its lease expired)"),
            std::string::npos)
      << Logs();
  EXPECT_EQ(a_.Count("SELECT COUNT(*) FROM leases"), 0);
}

}  // namespace
}  // namespace priortune::server
