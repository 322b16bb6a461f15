#include <gtest/gtest.h>

#include <thread>

#include "cluster.h"
#include "compiler/op_template.h"
#include "db/store.h"

namespace priortune::server {
namespace {

std::vector<tuner::Candidate> Candidates(int n, const compiler::Workload& w) {
  compiler::Target t = compiler::Target::Host();
  t.cores = 1;
  const compiler::OpTemplate* tmpl = *compiler::FindTemplate(w.op);
  std::vector<tuner::Candidate> out;
  auto knobs = tmpl->Knobs(w, t);
  for (int i = 0; i < n; ++i) {
    compiler::Config c = tmpl->DefaultConfig(w, t);
    // Distinct configs: walk the tile_m candidates, then tile_n.
    c["tile_m"] = knobs[0].values[i % knobs[0].values.size()];
    c["tile_n"] = knobs[1].values[(i / knobs[0].values.size()) % knobs[1].values.size()];
    out.push_back({w, t, c});
  }
  return out;
}

std::vector<tuner::MeasureResult> MeasureAll(MeasureQueue& q, const std::vector<tuner::Candidate>& c) {
  std::atomic<bool> cancel{false};
  return q.Measure(c, cancel);
}

TEST(Faults, AWorkerKilledMidBatchLosesNoCandidate) {
  Cluster cluster;
  cluster.AddWorkers(2);
  // Big enough that a candidate takes a while, so the kill lands mid-batch.
  auto candidates = Candidates(16, compiler::MatmulWorkload(256, 256, 256));
  std::vector<tuner::MeasureResult> results;
  std::thread tuning([&] { results = MeasureAll(cluster.queue(), candidates); });
  while (cluster.queue().stats().completed < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  cluster.KillWorker(0, 0);
  tuning.join();

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
  EXPECT_GE(cluster.queue().stats().requeued, 1);
  EXPECT_EQ(cluster.queue().stats().connected, 1);
}

TEST(Faults, AWorkerThatStopsSendingHeartbeatsLosesItsLease) {
  WorkerServiceOptions options;
  options.heartbeat_seconds = 0.1;
  options.heartbeat_timeout_seconds = 1.0;
  Cluster cluster(options);
  cluster.AddWorkers(2);
  auto candidates = Candidates(12, compiler::MatmulWorkload(256, 256, 256));
  std::vector<tuner::MeasureResult> results;
  std::thread tuning([&] { results = MeasureAll(cluster.queue(), candidates); });
  while (cluster.queue().stats().completed < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  cluster.KillWorker(0, 0, SIGSTOP);  // frozen: the connection stays open, heartbeats stop
  tuning.join();
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.error_message;
  EXPECT_GE(cluster.queue().stats().requeued, 1);
  EXPECT_EQ(cluster.queue().stats().connected, 1);
  cluster.KillWorker(0, 0);  // the frozen process cannot exit by itself
}

TEST(Faults, AHangingCandidateIsStoredAsTimeoutAndTuningGoesOn) {
  Cluster cluster;
  cluster.AddWorkers(1, {"--timeout", "1.5"});
  auto candidates = Candidates(3, compiler::MatmulWorkload(32, 32, 32));
  candidates[1].config["test_fault"] = 1;  // hangs forever
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
  candidates[0].config["test_fault"] = 2;  // abort() in the runner
  auto results = MeasureAll(cluster.queue(), candidates);
  EXPECT_EQ(results[0].error, db::ErrorKind::kRuntimeError);
  EXPECT_NE(results[0].error_message.find("signal 6"), std::string::npos) << results[0].error_message;
  EXPECT_TRUE(results[1].ok()) << results[1].error_message;
}

TEST(Faults, AWrongAnswerIsStoredAsSuchAndNeverBecomesBest) {
  Cluster cluster;
  cluster.AddWorkers(1);
  auto candidates = Candidates(2, compiler::MatmulWorkload(32, 32, 32));
  candidates[0].config["test_fault"] = 4;  // the correctness gate sees a wrong output
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
  candidates[0].config["test_fault"] = 3;  // kills whichever worker runs it
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
  std::thread t([&] { waiting = cluster.queue().Measure(foreign, cancel); });
  // The local worker keeps serving its own target meanwhile.
  auto served = MeasureAll(cluster.queue(), mine);
  EXPECT_TRUE(served[0].ok()) << served[0].error_message;
  cancel = true;
  t.join();
  EXPECT_FALSE(waiting[0].measured);
}

}  // namespace
}  // namespace priortune::server
