#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <memory>
#include <thread>

#include "cluster.h"
#include "compiler/ops/op_template.h"
#include "db/store.h"

namespace priortune::server {
namespace {

std::vector<tuner::Candidate> Candidates(int n, const compiler::Workload& w) {
  compiler::Target t = compiler::Target::HostWithCores(1);
  const compiler::OpTemplate* tmpl = *compiler::FindTemplate(w.op);
  std::vector<tuner::Candidate> out;
  auto knobs = tmpl->Knobs(w, t);
  for (int i = 0; i < n; ++i) {
    compiler::Config c = tmpl->DefaultConfig(w, t);
    // Distinct configs: walk the tile_m candidates, then tile_n.
    knobs[0].Assign(i % knobs[0].size(), c);
    knobs[1].Assign((i / knobs[0].size()) % knobs[1].size(), c);
    out.push_back({w, t, c});
  }
  return out;
}

std::vector<tuner::MeasureResult> MeasureAll(MeasureQueue& q, const std::vector<tuner::Candidate>& c) {
  return MeasureWithin(q, c);
}

struct Victim {
  std::atomic<pid_t> pid{0};
  Latch signalled;
};

// Sends `signal` to the worker that takes the first lease after `after_completed`
// results: from inside the queue's observer, so the worker certainly holds that lease
// when the signal lands (it has not even received the candidate yet).
std::shared_ptr<Victim> SignalTheNextLeaseHolder(Cluster& cluster, int after_completed, int signal) {
  auto victim = std::make_shared<Victim>();
  auto completed = std::make_shared<int>(0);
  cluster.queue().SetObserver([&cluster, victim, completed, after_completed, signal](const QueueEvent& e) {
    if (e.kind == QueueEventKind::kCompleted) ++*completed;
    if (e.kind != QueueEventKind::kLeased || *completed < after_completed || victim->pid.load() > 0) return;
    pid_t pid = cluster.PidOf(e.worker);
    if (pid <= 0) return;
    victim->pid = pid;
    kill(pid, signal);
    victim->signalled.Signal();
  });
  return victim;
}

TEST(Faults, AWorkerKilledMidBatchLosesNoCandidate) {
  Cluster cluster;
  cluster.AddWorkers(2);
  auto candidates = Candidates(16, compiler::MatmulWorkload(128, 128, 128));
  auto victim = SignalTheNextLeaseHolder(cluster, 2, SIGKILL);
  auto results = MeasureAll(cluster.queue(), candidates);
  ASSERT_TRUE(victim->signalled.WaitFor(1)) << "no worker took a lease after 2 results";
  cluster.Lost();

  ASSERT_EQ(results.size(), candidates.size());
  auto store = db::OpenSqliteStore(cluster.Path("kill.db"));
  ASSERT_TRUE(store.ok());
  std::vector<db::Record> records;
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].error_message;
    records.push_back(tuner::ToRecord(candidates[i], results[i], 0));
  }
  ASSERT_TRUE((*store)->AddRecords(records).ok());
  EXPECT_EQ((*store)->History({}).value().size(), candidates.size());
  // The killed worker held a lease: it went back to the queue and the survivor did it.
  EXPECT_EQ(cluster.queue().stats().requeued, 1);
  EXPECT_EQ(cluster.queue().stats().connected, 1);
}

TEST(Faults, AWorkerThatStopsSendingHeartbeatsLosesItsLease) {
  WorkerServiceOptions options;
  options.heartbeat_seconds = 0.1;
  // Long enough that the live worker's heartbeats get through on a loaded machine.
  options.heartbeat_timeout_seconds = 4.0;
  Cluster cluster(options);
  cluster.AddWorkers(2);
  auto candidates = Candidates(8, compiler::MatmulWorkload(128, 128, 128));
  // Frozen: the connection stays open, heartbeats stop.
  auto victim = SignalTheNextLeaseHolder(cluster, 1, SIGSTOP);
  auto results = MeasureAll(cluster.queue(), candidates);
  ASSERT_TRUE(victim->signalled.WaitFor(1)) << "no worker took a lease after 1 result";
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.error_message;
  EXPECT_EQ(cluster.queue().stats().requeued, 1);
  EXPECT_EQ(cluster.queue().stats().connected, 1);
  kill(victim->pid.load(), SIGKILL);  // the frozen process cannot exit by itself
  cluster.Lost();
}

TEST(Faults, AHangingCandidateIsStoredAsTimeoutAndTuningGoesOn) {
  Cluster cluster;
  // The timeout covers the candidate only (the runner's start-up is not charged to it):
  // generous enough for a 32^3 build on a loaded machine.
  cluster.AddWorkers(1, {"--timeout", "5"});
  auto candidates = Candidates(3, compiler::MatmulWorkload(32, 32, 32));
  cluster.PlanFault(candidates[1].config, "hang");  // forever
  auto results = MeasureAll(cluster.queue(), candidates);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].error, db::ErrorKind::kTimeout) << results[1].error_message;
  EXPECT_NE(results[1].error_message.find("replaced"), std::string::npos);
  EXPECT_TRUE(results[2].ok()) << results[2].error_message;  // a new runner took over
  // The same worker process is still connected and measuring.
  EXPECT_EQ(cluster.queue().stats().connected, 1);
  auto more = MeasureAll(cluster.queue(), Candidates(2, compiler::MatmulWorkload(16, 32, 8)));
  EXPECT_TRUE(more[0].ok() && more[1].ok());
}

TEST(Faults, ACrashingKernelIsARuntimeErrorAndTheWorkerSurvives) {
  Cluster cluster;
  cluster.AddWorkers(1);
  auto candidates = Candidates(2, compiler::MatmulWorkload(32, 32, 32));
  cluster.PlanFault(candidates[0].config, "crash");  // abort() in the runner
  auto results = MeasureAll(cluster.queue(), candidates);
  EXPECT_EQ(results[0].error, db::ErrorKind::kRuntimeError);
  EXPECT_NE(results[0].error_message.find("signal 6"), std::string::npos) << results[0].error_message;
  EXPECT_TRUE(results[1].ok()) << results[1].error_message;
}

TEST(Faults, FaultsComeOnlyFromTheTestPlanNeverFromAConfig) {
  Cluster cluster;
  cluster.AddWorkers(1);
  auto candidates = Candidates(2, compiler::MatmulWorkload(32, 32, 32));
  // The knob earlier versions read: now an unknown knob like any other, refused.
  candidates[0].config["test_fault"] = 2;
  // A plan naming a config hash no candidate has changes nothing.
  compiler::Config other = candidates[1].config;
  other["tile_k"] = 12345;
  cluster.PlanFault(other, "crash");
  auto results = MeasureAll(cluster.queue(), candidates);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].error, db::ErrorKind::kInvalidConfig) << results[0].error_message;
  EXPECT_NE(results[0].error_message.find("unknown knob 'test_fault'"), std::string::npos) << results[0].error_message;
  EXPECT_TRUE(results[1].ok()) << results[1].error_message;
  // A malformed plan is a clear error of the candidate, not a crash of the worker.
  std::ofstream(cluster.FaultPlanPath()) << "[not an object";
  auto after = MeasureAll(cluster.queue(), Candidates(1, compiler::MatmulWorkload(16, 16, 16)));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].error, db::ErrorKind::kInvalidConfig);
  EXPECT_NE(after[0].error_message.find("fault plan"), std::string::npos) << after[0].error_message;
  EXPECT_EQ(cluster.queue().stats().connected, 1);
}

TEST(Faults, AWrongAnswerIsStoredAsSuchAndNeverBecomesBest) {
  Cluster cluster;
  cluster.AddWorkers(1);
  auto candidates = Candidates(2, compiler::MatmulWorkload(32, 32, 32));
  cluster.PlanFault(candidates[0].config, "wrong-answer");  // the correctness gate sees a wrong output
  auto results = MeasureAll(cluster.queue(), candidates);
  ASSERT_EQ(results[0].error, db::ErrorKind::kWrongAnswer) << results[0].error_message;
  auto store = db::OpenSqliteStore(cluster.Path("gate.db"));
  ASSERT_TRUE(store.ok());
  std::vector<db::Record> records = {tuner::ToRecord(candidates[0], results[0], 0),
                                     tuner::ToRecord(candidates[1], results[1], 0)};
  ASSERT_TRUE((*store)->AddRecords(records).ok());
  const auto& w = candidates[0].workload;
  const auto& t = candidates[0].target;
  auto best = (*store)->Best(w.Key(), t.Key(), t.isa_family()).value();
  ASSERT_TRUE(best.has_value());
  EXPECT_EQ(best->record.id, records[1].id);
}

TEST(Faults, ACandidateThatKillsTwoWorkersIsRecordedAsWorkerLostAndNotRetried) {
  Cluster cluster;
  cluster.AddWorkers(2);
  auto candidates = Candidates(1, compiler::MatmulWorkload(32, 32, 32));
  cluster.PlanFault(candidates[0].config, "kill-worker");  // whichever worker runs it
  auto results = MeasureAll(cluster.queue(), candidates);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].error, db::ErrorKind::kWorkerLost) << results[0].error_message;
  EXPECT_NE(results[0].error_message.find("2 workers"), std::string::npos) << results[0].error_message;
  // The server keeps serving: a new worker connects and measures.
  cluster.KillWorker(0, 0);  // already dead; keeps the expected count right
  cluster.KillWorker(0, 1);
  cluster.AddWorkers(1);
  auto more = MeasureAll(cluster.queue(), Candidates(1, compiler::MatmulWorkload(16, 16, 16)));
  EXPECT_TRUE(more[0].ok()) << more[0].error_message;
}

TEST(Faults, AnUnknownOpFromTheQueueIsAnInvalidConfigResultNotACrash) {
  Cluster cluster;
  cluster.AddWorkers(1);
  auto candidates = Candidates(1, compiler::MatmulWorkload(32, 32, 32));
  candidates[0].workload.op = "softmax";
  candidates[0].config["not_a_knob"] = 3;
  auto results = MeasureAll(cluster.queue(), candidates);
  EXPECT_EQ(results[0].error, db::ErrorKind::kInvalidConfig);
  EXPECT_NE(results[0].error_message.find("softmax"), std::string::npos) << results[0].error_message;
}

TEST(Faults, AWorkerOnlyMeasuresCandidatesForItsOwnTarget) {
  Cluster cluster;
  cluster.AddWorkers(1);
  auto mine = Candidates(1, compiler::MatmulWorkload(16, 16, 16));
  auto foreign = mine;
  foreign[0].target.cpu = "some-other-cpu";  // no worker of that target is connected
  std::atomic<bool> cancel{false};
  std::vector<tuner::MeasureResult> waiting;
  std::thread t([&] { waiting = cluster.queue().Measure(foreign, cancel); });  // ends on cancel
  // The local worker keeps serving its own target meanwhile.
  auto served = MeasureAll(cluster.queue(), mine);
  EXPECT_TRUE(served[0].ok()) << served[0].error_message;
  cancel = true;
  cluster.queue().Wake();  // Measure waits on the queue: whoever cancels wakes it
  t.join();
  EXPECT_FALSE(waiting[0].measured);
}

}  // namespace
}  // namespace priortune::server
