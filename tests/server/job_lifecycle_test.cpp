// The job lifecycle shared by tune, tune-model and the service: the typed request as a
// job row stores it, how a run's end is classified, and what is stored for a job and its
// tasks (a real SQLite file; measurements from a fake behind tuner::Measurer).
#include "server/service/job_lifecycle.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "compiler/ops/op_template.h"
#include "tests/tuner/fake_measurer.h"
#include "tuner/open_store.h"

namespace priortune::server {
namespace {

compiler::Target Avx2() { return compiler::Target::Parse("x86-64-v3", 1).value(); }

std::unique_ptr<db::Store> FileStore(const std::string& name) {
  auto path = std::filesystem::path(testing::TempDir()) / (name + "-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  return std::move(tuner::OpenStore(path.string())).value();
}

TEST(JobRequest, RoundTripsThroughTheStoredJson) {
  JobRequest r;
  r.origin = JobOrigin::kTune;
  r.workloads = {compiler::MatmulWorkload(64, 32, 16), compiler::MatmulWorkload(8, 8, 8)};
  r.target_spec = "x86-64-v3";
  r.threads = 2;
  r.tune.strategy = tuner::Strategy::kOneShot;
  r.tune.trials = 77;
  r.tune.batch_size = 5;
  r.tune.seed = 9;
  r.strategy_note = "why";
  r.priority = 3;
  r.name = "n";
  r.client = "c";
  r.worker_deadline_seconds = 12.5;
  auto back = ParseJobRequest(JobRequestJson(r, Avx2()));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const JobRequest& b = back->first;
  EXPECT_EQ(b.origin, JobOrigin::kTune);
  ASSERT_EQ(b.workloads.size(), 2u);
  EXPECT_EQ(b.workloads[1].Key(), r.workloads[1].Key());
  EXPECT_EQ(b.target_spec, "x86-64-v3");
  EXPECT_EQ(b.threads, 2);
  EXPECT_EQ(b.tune.strategy, tuner::Strategy::kOneShot);
  EXPECT_EQ(b.tune.trials, 77);
  EXPECT_EQ(b.tune.batch_size, 5);
  EXPECT_EQ(b.tune.seed, 9u);
  EXPECT_EQ(b.strategy_note, "why");
  EXPECT_EQ(b.priority, 3);
  EXPECT_EQ(b.name, "n");
  EXPECT_EQ(b.client, "c");
  EXPECT_DOUBLE_EQ(b.worker_deadline_seconds, 12.5);
  EXPECT_EQ(back->second.Key(), Avx2().Key());
}

TEST(JobRequest, AServiceJobKeepsTheMarkOlderServersLookFor) {
  JobRequest service;
  nlohmann::json j = nlohmann::json::parse(JobRequestJson(service, Avx2()));
  EXPECT_EQ(j.value("service", 0), 1);
  EXPECT_EQ(j.value("origin", ""), "service");
  JobRequest tune;
  tune.origin = JobOrigin::kTune;
  EXPECT_FALSE(nlohmann::json::parse(JobRequestJson(tune, Avx2())).contains("service"));
}

TEST(JobRequest, OlderRowsParseWithTheDefaults) {
  nlohmann::json target = nlohmann::json::parse(Avx2().ToJson());
  nlohmann::json workload = nlohmann::json::parse(compiler::MatmulWorkload(8, 8, 8).ToJson());
  // A service job of the previous format: marked "service": 1, no batch or seed.
  nlohmann::json service = {{"service", 1}, {"target", target}, {"workloads", {workload}}, {"strategy", "xgb-ga"}};
  auto s = ParseJobRequest(service.dump());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->first.origin, JobOrigin::kService);
  EXPECT_EQ(s->first.tune.strategy, tuner::Strategy::kXgbGa);
  EXPECT_EQ(s->first.tune.trials, JobRequest{}.tune.trials);
  EXPECT_EQ(s->first.tune.batch_size, JobRequest{}.tune.batch_size);
  // A tune job of the previous format: one "workload"; a tune-model job: a "model".
  auto tune = ParseJobRequest(nlohmann::json{{"target", target}, {"workload", workload}, {"trials", 5}}.dump());
  ASSERT_TRUE(tune.ok()) << tune.status().ToString();
  EXPECT_EQ(tune->first.origin, JobOrigin::kTune);
  EXPECT_EQ(tune->first.workloads.size(), 1u);
  auto model = ParseJobRequest(nlohmann::json{{"target", target}, {"model", "m.onnx"}}.dump());
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(model->first.origin, JobOrigin::kTuneModel);
  EXPECT_EQ(model->first.model, "m.onnx");
}

TEST(JobRequest, AMalformedRowIsDataLossNamingTheField) {
  nlohmann::json target = nlohmann::json::parse(Avx2().ToJson());
  struct Case {
    std::string json, field;
  } cases[] = {
      {"[1, 2]", "(all)"},
      {"{}", "target"},
      {nlohmann::json{{"target", target}, {"strategy", "annealing"}}.dump(), "strategy"},
      {nlohmann::json{{"target", target}, {"origin", "cron"}}.dump(), "origin"},
      {nlohmann::json{{"target", target}, {"workloads", {{{"op", "nope"}}}}}.dump(), "workloads[0]"},
      {nlohmann::json{{"target", target}, {"trials", "many"}}.dump(), "(a field)"},
  };
  for (const Case& c : cases) {
    auto r = ParseJobRequest(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << c.json;
    EXPECT_NE(r.status().message().find("field '" + c.field + "'"), std::string::npos) << r.status().message();
  }
}

TEST(JobLifecycle, OutcomesAreClassifiedInOnePlace) {
  TaskOutcome failed = OutcomeOf(Status(StatusCode::kNotFound, "no model"), db::TaskState::kCancelled);
  EXPECT_EQ(failed.state, db::TaskState::kFailed);
  EXPECT_NE(failed.message.find("no model"), std::string::npos);
  tuner::TuneSummary s;
  s.measured = 4;
  s.cancelled = true;
  EXPECT_EQ(OutcomeOf(s, db::TaskState::kInterrupted).state, db::TaskState::kInterrupted);
  EXPECT_EQ(OutcomeOf(s, db::TaskState::kCancelled).message, "cancelled; 4 trials were stored");
  s.cancelled = false;
  TaskOutcome none = OutcomeOf(s, db::TaskState::kCancelled);
  EXPECT_EQ(none.state, db::TaskState::kFailed);
  EXPECT_EQ(none.message, "no correct config: all trials failed");
  s.best_config = compiler::Config{{"mr", 4}};
  s.budget = 10;
  TaskOutcome done = OutcomeOf(s, db::TaskState::kCancelled);
  EXPECT_EQ(done.state, db::TaskState::kDone);
  EXPECT_FALSE(done.from_store);
  s.budget = 0;
  s.known_before = 12;
  EXPECT_TRUE(OutcomeOf(s, db::TaskState::kCancelled).from_store);
  TaskOutcome lost = NoWorkerOutcome(Avx2(), 30);
  EXPECT_EQ(lost.state, db::TaskState::kFailed);
  EXPECT_NE(lost.message.find("for 30 s"), std::string::npos) << lost.message;
}

TEST(JobLifecycle, AJobItsTaskAndTheirEndsAreStored) {
  auto store = FileStore("lifecycle");
  JobLifecycle life(*store, "");
  JobRequest r;
  r.origin = JobOrigin::kTune;
  r.workloads = {compiler::MatmulWorkload(64, 64, 64)};
  r.tune.trials = 24;
  auto job = life.OpenJob(r, Avx2());
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  auto task = life.AddTask(*job, r.workloads[0], Avx2(), r.tune.trials);
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  tuner::FakeMeasurer m;
  std::atomic<bool> cancel{false};
  TaskOutcome outcome =
      OutcomeOf(life.Tune(*job, r.workloads[0], Avx2(), r.tune, m, nullptr, cancel), db::TaskState::kInterrupted);
  ASSERT_TRUE(outcome.summary.ok()) << outcome.summary.status().ToString();
  EXPECT_EQ(outcome.state, db::TaskState::kDone);
  ASSERT_TRUE(life.EndTask(*task, outcome).ok());
  ASSERT_TRUE(life.EndJob(*job, outcome.state).ok());

  auto row = store->GetJob(*job);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->state, db::JobState::kDone);
  auto parsed = ParseJobRequest(row->request_json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->first.origin, JobOrigin::kTune);
  auto tasks = store->TasksOfJob(*job);
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->size(), 1u);
  EXPECT_EQ((*tasks)[0].state, db::TaskState::kDone);
  EXPECT_EQ((*tasks)[0].measured, 24);
  auto records = store->History({});
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records->size(), 24u);
  for (const auto& rec : *records) EXPECT_EQ(rec.job_id, *job);
  // A store error is returned, not dropped: an unknown task or job.
  EXPECT_EQ(life.EndTask(*task + 100, outcome).code(), StatusCode::kNotFound);
  EXPECT_EQ(life.EndJob(*job + 100, db::JobState::kFailed).code(), StatusCode::kNotFound);
}

TEST(JobLifecycle, PickStrategyFallsBackWithoutAMetaTrainedModelAndSaysWhy) {
  auto store = FileStore("pick");
  auto empty = std::filesystem::path(testing::TempDir()) / ("no-models-" + std::to_string(::getpid()));
  std::filesystem::create_directories(empty);
  JobLifecycle life(*store, empty.string());
  JobRequest named;
  named.tune.strategy = tuner::Strategy::kRandom;
  ASSERT_TRUE(life.PickStrategy(named, Avx2(), tuner::Strategy::kXgbGa).ok());
  EXPECT_EQ(named.tune.strategy, tuner::Strategy::kRandom);  // named: left alone
  JobRequest pick;
  pick.pick_strategy = true;
  ASSERT_TRUE(life.PickStrategy(pick, Avx2(), tuner::Strategy::kXgbGa).ok());
  EXPECT_EQ(pick.tune.strategy, tuner::Strategy::kXgbGa);
  EXPECT_NE(pick.strategy_note.find("no meta-trained model"), std::string::npos) << pick.strategy_note;
}

TEST(RunState, EveryStatePrintsAndParsesBack) {
  for (db::RunState s : {db::RunState::kQueued, db::RunState::kRunning, db::RunState::kDone, db::RunState::kFailed,
                         db::RunState::kCancelled, db::RunState::kInterrupted}) {
    auto back = db::ParseState(db::StateName(s));
    ASSERT_TRUE(back.ok()) << db::StateName(s);
    EXPECT_EQ(*back, s);
    EXPECT_EQ(db::Terminal(s), s != db::RunState::kQueued && s != db::RunState::kRunning);
  }
  EXPECT_EQ(db::ParseState("paused").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace priortune::server
