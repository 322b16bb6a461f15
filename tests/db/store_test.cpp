#include "db/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/common/pg_cluster.h"

namespace priortune::db {
namespace {

namespace fs = std::filesystem;

// A store per name, on one backend: SQLite files in a temporary directory, or databases
// of a throwaway PostgreSQL cluster (scripts/pg_cluster.sh) that the test starts on a
// free loopback port and removes.
class StoreFixture : public ::testing::Test {
 protected:
  explicit StoreFixture(std::string backend) : backend_(std::move(backend)) {}
  void SetUp() override {
    char tmpl[] = "/tmp/priortune-db-XXXXXX";
    dir_ = mkdtemp(tmpl);
    if (backend_ == "postgresql") {
      pg_ = std::make_unique<testing::PgCluster>();
      std::string err = pg_->Start();
      ASSERT_EQ(err, "");
    }
  }
  void TearDown() override {
    pg_.reset();
    fs::remove_all(dir_);
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  // The store called `name`: a file path, or a PostgreSQL URL (the database created on
  // first use).
  std::string Url(const std::string& name) { return pg_ ? pg_->Url(name) : Path(name); }
  std::unique_ptr<Store> Open(const std::string& name) {
    auto s = OpenStore(Url(name));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }
  // Runs `sql` on the store called `name` behind the Store's back (as a newer priortune
  // or a hand edit would): "" or the error.
  std::string EditSql(const std::string& name, const std::string& sql) {
    if (pg_) {
      Url(name);
      return pg_->Sql(name, sql);
    }
    sqlite3* db = nullptr;
    if (sqlite3_open(Path(name).c_str(), &db) != SQLITE_OK) return "cannot open";
    char* err = nullptr;
    std::string out;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) out = err ? err : "error";
    sqlite3_free(err);
    sqlite3_close(db);
    return out;
  }
  const std::string backend_;
  fs::path dir_;
  std::unique_ptr<testing::PgCluster> pg_;
};

// Every test of the Store's contract, on each backend.
class StoreTest : public StoreFixture, public ::testing::WithParamInterface<std::string> {
 public:
  StoreTest() : StoreFixture(GetParam()) {}
};
// What only a file can do (an empty file, a file that is not a database).
class SqliteStoreTest : public StoreFixture {
 public:
  SqliteStoreTest() : StoreFixture("sqlite") {}
};

Record MakeRecord(const std::string& workload, const std::string& target, const std::string& family, int config,
                  std::vector<double> costs, ErrorKind error = ErrorKind::kNone) {
  Record r;
  r.workload_key = workload;
  r.workload_json = R"({"op":"matmul","name":")" + workload + R"("})";
  r.op = "matmul";
  r.target_key = target;
  r.target_json = R"({"cpu":")" + target + R"("})";
  r.isa_family = family;
  r.config_json = R"({"tile":)" + std::to_string(config) + "}";
  r.config_hash = "h" + std::to_string(config);
  r.costs = std::move(costs);
  r.error = error;
  if (error != ErrorKind::kNone) r.error_message = "failed";
  r.compile_seconds = 0.01;
  r.worker = "w1";
  return r;
}

int64_t UserVersion(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr);
  int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

TEST_F(SqliteStoreTest, MigratesAnEmptyFileToTheCurrentSchema) {
  { std::ofstream(Path("empty.db")); }  // a zero-byte file, as `touch` leaves it
  auto store = Open("empty.db");
  EXPECT_EQ(UserVersion(Path("empty.db")), store->schema_version());
  std::vector<Record> batch{MakeRecord("w", "t", "x86_64-avx512", 1, {2e-3})};
  ASSERT_TRUE(store->AddRecords(batch).ok());
  store.reset();
  // Reopening does not migrate again and keeps the data.
  auto again = Open("empty.db");
  EXPECT_EQ(again->History({}).value().size(), 1u);
}

TEST_P(StoreTest, RefusesAStoreWrittenByANewerSchema) {
  Open("new.db").reset();
  ASSERT_EQ(EditSql("new.db",
                    backend_ == "postgresql" ? "UPDATE priortune_schema SET version = 99" : "PRAGMA user_version = 99"),
            "");
  auto s = OpenStore(Url("new.db"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("99"), std::string::npos) << s.status().message();
  if (backend_ == "sqlite") EXPECT_EQ(UserVersion(Path("new.db")), 99);
}

TEST_F(SqliteStoreTest, RefusesAFileThatIsNotADatabaseAndLeavesItAlone) {
  { std::ofstream(Path("notes.txt")) << "these are my notes, not a database\n"; }
  auto s = OpenSqliteStore(Path("notes.txt"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("notes.txt"), std::string::npos) << s.status().message();
  std::ifstream in(Path("notes.txt"));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "these are my notes, not a database\n");
}

TEST_P(StoreTest, BestIsTheFastestCorrectRecordAndAWrongAnswerNeverIs) {
  auto store = Open("best.db");
  std::vector<Record> batch{
      MakeRecord("w", "t", "f", 1, {3e-3, 3.2e-3, 2.9e-3}),
      MakeRecord("w", "t", "f", 2, {1e-3}, ErrorKind::kWrongAnswer),  // fast but wrong
      MakeRecord("w", "t", "f", 3, {}, ErrorKind::kTimeout),
      MakeRecord("w", "t", "f", 4, {2e-3, 2.5e-3}),
  };
  ASSERT_TRUE(store->AddRecords(batch).ok());
  auto best = store->Best("w", "t", "f");
  ASSERT_TRUE(best.ok() && best->has_value());
  EXPECT_EQ((*best)->record.config_hash, "h4");
  EXPECT_DOUBLE_EQ((*best)->record.cost(), 2.25e-3);
  EXPECT_EQ((*best)->level, MatchLevel::kExact);
  // A slower later record does not replace it; a faster one does.
  std::vector<Record> more{MakeRecord("w", "t", "f", 5, {4e-3}), MakeRecord("w", "t", "f", 6, {1.5e-3})};
  ASSERT_TRUE(store->AddRecords(more).ok());
  EXPECT_EQ((*store->Best("w", "t", "f"))->record.config_hash, "h6");
  EXPECT_EQ(store->History({}).value().size(), 6u);
}

TEST_P(StoreTest, BestFallsBackFromExactTargetToIsaFamilyToAnyTarget) {
  auto store = Open("fallback.db");
  std::vector<Record> batch{
      MakeRecord("w", "zen4", "x86_64-avx512", 1, {5e-3}),
      MakeRecord("w", "skx", "x86_64-avx512", 2, {4e-3}),
      MakeRecord("w", "zen2", "x86_64-avx2", 3, {1e-3}),
  };
  ASSERT_TRUE(store->AddRecords(batch).ok());
  auto exact = store->Best("w", "zen4", "x86_64-avx512").value();
  EXPECT_EQ(exact->level, MatchLevel::kExact);
  EXPECT_EQ(exact->record.config_hash, "h1");
  auto family = store->Best("w", "icelake", "x86_64-avx512").value();
  EXPECT_EQ(family->level, MatchLevel::kIsaFamily);
  EXPECT_EQ(family->record.config_hash, "h2");
  auto any = store->Best("w", "arm", "aarch64-neon").value();
  EXPECT_EQ(any->level, MatchLevel::kAny);
  EXPECT_EQ(any->record.config_hash, "h3");
  EXPECT_FALSE(store->Best("other", "zen4", "x86_64-avx512").value().has_value());
}

TEST_P(StoreTest, BestReadsALevelAPageAtATimeUntilTheFilterAcceptsOne) {
  auto store = Open("pages.db");
  // 150 correct records on the exact target (more than two pages of the ladder), 3 on
  // another target of the family; the filter refuses all but one deep in the exact level.
  std::vector<Record> batch;
  for (int i = 0; i < 150; ++i) batch.push_back(MakeRecord("w", "zen4", "x86_64-avx512", i, {1e-3 * (1 + i)}));
  for (int i = 0; i < 3; ++i) batch.push_back(MakeRecord("w", "skx", "x86_64-avx512", 1000 + i, {1e-6}));
  ASSERT_TRUE(store->AddRecords(batch).ok());
  std::vector<std::string> tried;
  auto deep = store->Best("w", "zen4", "x86_64-avx512", [&](const Record& r, MatchLevel) {
    tried.push_back(r.config_hash);
    return r.config_hash == "h140" ? "" : "refused";
  });
  ASSERT_TRUE(deep.ok()) << deep.status().ToString();
  ASSERT_TRUE(deep->has_value());
  EXPECT_EQ((*deep)->level, MatchLevel::kExact);
  EXPECT_EQ((*deep)->record.config_hash, "h140");
  ASSERT_EQ(tried.size(), 141u);  // each tried once, fastest first
  EXPECT_EQ(tried[0], "h0");
  EXPECT_EQ(tried[140], "h140");
  // Refusing the whole exact level falls to the family, whose records come in once each.
  tried.clear();
  auto family = store->Best("w", "zen4", "x86_64-avx512", [&](const Record& r, MatchLevel level) {
    tried.push_back(r.config_hash);
    return level == MatchLevel::kIsaFamily && r.config_hash == "h1002" ? "" : "refused";
  });
  ASSERT_TRUE(family.ok() && family->has_value());
  EXPECT_EQ((*family)->level, MatchLevel::kIsaFamily);
  EXPECT_EQ((*family)->record.config_hash, "h1002");
  EXPECT_EQ(tried.size(), 150u + 3u);
  std::set<std::string> once(tried.begin(), tried.end());
  EXPECT_EQ(once.size(), tried.size());
}

TEST_P(StoreTest, TwoWriterProcessesAtOnceLoseNothing) {
  Open("shared.db").reset();
  constexpr int kBatches = 40, kPerBatch = 10;
  std::vector<pid_t> children;
  for (int p = 0; p < 2; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = OpenStore(Url("shared.db"));
      if (!store.ok()) _exit(3);
      for (int b = 0; b < kBatches; ++b) {
        std::vector<Record> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          int config = p * 100000 + b * kPerBatch + i;
          batch.push_back(MakeRecord("w", "t", "f", config, {1.0 + config}));
        }
        if (!(*store)->AddRecords(batch).ok()) _exit(4);
      }
      _exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer exit " << status;
  }
  auto store = Open("shared.db");
  auto all = store->History({}).value();
  EXPECT_EQ(all.size(), 2u * kBatches * kPerBatch);
  std::set<std::string> hashes;
  for (const auto& r : all) hashes.insert(r.config_hash);
  EXPECT_EQ(hashes.size(), all.size());
  EXPECT_EQ((*store->Best("w", "t", "f"))->record.config_hash, "h0");
}

TEST_P(StoreTest, ExportThenImportRoundTripsEveryRecord) {
  auto a = Open("a.db");
  std::vector<Record> batch{MakeRecord("w1", "t", "f", 1, {1e-3, 1.1e-3}),
                            MakeRecord("w1", "t", "f", 2, {}, ErrorKind::kCompileError),
                            MakeRecord("w2", "t2", "g", 3, {0.25})};
  batch[0].error_message = "";
  ASSERT_TRUE(a->AddRecords(batch).ok());
  std::stringstream log_a;
  ASSERT_TRUE(a->Export(log_a, {}).ok());

  auto b = Open("b.db");
  std::istringstream in(log_a.str());
  auto stats = b->Import(in, nullptr);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->imported, 3);
  std::stringstream log_b;
  ASSERT_TRUE(b->Export(log_b, {}).ok());
  EXPECT_EQ(log_a.str(), log_b.str());
  EXPECT_EQ((*b->Best("w1", "t", "f"))->record.config_hash, "h1");
  EXPECT_EQ(b->History({}).value()[1].error, ErrorKind::kCompileError);

  // Importing the same log again adds nothing.
  std::istringstream again(log_a.str());
  auto twice = b->Import(again, nullptr);
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->imported, 0);
  EXPECT_EQ(twice->duplicates, 3);
  EXPECT_EQ(b->History({}).value().size(), 3u);
}

TEST_P(StoreTest, AMalformedLogIsRejectedWithLineAndFieldAndNothingIsImported) {
  auto a = Open("a.db");
  std::vector<Record> batch{MakeRecord("w", "t", "f", 1, {1e-3}), MakeRecord("w", "t", "f", 2, {2e-3}),
                            MakeRecord("w", "t", "f", 3, {3e-3})};
  ASSERT_TRUE(a->AddRecords(batch).ok());
  std::stringstream log;
  ASSERT_TRUE(a->Export(log, {}).ok());
  std::string text = log.str();
  // Line 3 is the second record: break its costs.
  size_t line3 = text.find('\n', text.find('\n') + 1) + 1;
  size_t costs = text.find("\"costs\":[", line3);
  text.replace(costs, 9, "\"costs\":[\"fast\",");

  auto b = Open("b.db");
  std::istringstream in(text);
  auto stats = b->Import(in, nullptr);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(stats.status().message().find("line 3"), std::string::npos) << stats.status().message();
  EXPECT_NE(stats.status().message().find("costs"), std::string::npos) << stats.status().message();
  EXPECT_TRUE(b->History({}).value().empty());

  // The caller's check rejects a record by its own rules, with the line number too.
  std::istringstream good(log.str());
  auto checked = b->Import(good, [](const Record& r) {
    return r.config_hash == "h3" ? InvalidArgument("field 'config_hash': does not match the config") : OkStatus();
  });
  ASSERT_FALSE(checked.ok());
  EXPECT_NE(checked.status().message().find("line 4: field 'config_hash'"), std::string::npos)
      << checked.status().message();
  EXPECT_TRUE(b->History({}).value().empty());

  std::istringstream headless("{\"workload\":{}}\n");
  auto no_header = b->Import(headless, nullptr);
  ASSERT_FALSE(no_header.ok());
  EXPECT_NE(no_header.status().message().find("line 1: field 'format'"), std::string::npos);
}

TEST_P(StoreTest, HistorySelectsByWorkloadTargetOrOp) {
  auto store = Open("history.db");
  std::vector<Record> batch{MakeRecord("w1", "t", "f", 1, {1.0}), MakeRecord("w2", "t", "f", 2, {1.0}),
                            MakeRecord("w1", "u", "f", 3, {1.0})};
  batch[1].op = "conv2d";
  ASSERT_TRUE(store->AddRecords(batch).ok());
  EXPECT_EQ(store->History({"w1", "", "", 0}).value().size(), 2u);
  EXPECT_EQ(store->History({"w1", "u", "", 0}).value().size(), 1u);
  EXPECT_EQ(store->History({"", "", "matmul", 0}).value().size(), 2u);
  EXPECT_EQ(store->History({"", "", "", 1}).value().size(), 1u);
}

TEST_P(StoreTest, HistoryAndWorkloadsPageByRowId) {
  auto store = Open("s.db");
  std::vector<Record> rs;
  for (int i = 0; i < 5; ++i) rs.push_back(MakeRecord("w" + std::to_string(i % 3), "t1", "avx2", i, {1.0 + i}));
  rs.push_back(MakeRecord("w0", "t2", "avx2", 9, {2.0}));
  ASSERT_TRUE(store->AddRecords(rs).ok());
  HistoryQuery q;
  q.limit = 4;
  auto first = store->History(q);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 4u);
  q.after_id = first->back().id;
  auto rest = store->History(q);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_GT(rest->front().id, first->back().id);

  auto page = store->Workloads(0, 2);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].key, "w0");
  EXPECT_EQ((*page)[0].records, 3);  // two on t1, one on t2
  EXPECT_EQ((*page)[0].targets, 2);
  auto next = store->Workloads(page->back().id, 2);
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ((*next)[0].key, "w2");
  EXPECT_EQ((*next)[0].records, 1);
}

TEST_P(StoreTest, JobsListInCreationOrderAndFilterByState) {
  auto store = Open("s.db");
  auto a = store->CreateJob(R"({"a":1})");
  auto b = store->CreateJob(R"({"b":2})");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(store->FinishJob(*a, JobState::kDone).ok());
  auto all = store->Jobs(std::nullopt);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, *a);
  auto running = store->Jobs(JobState::kRunning);
  ASSERT_TRUE(running.ok());
  ASSERT_EQ(running->size(), 1u);
  EXPECT_EQ((*running)[0].id, *b);
  EXPECT_EQ((*running)[0].request_json, R"({"b":2})");
}

TEST_P(StoreTest, AnUnknownErrorKindIsRefusedNotGuessed) {
  {
    auto store = Open("kinds.db");
    std::vector<Record> batch{MakeRecord("w", "t", "f", 1, {}, ErrorKind::kTimeout)};
    ASSERT_TRUE(store->AddRecords(batch).ok());
  }
  // A newer priortune (or a hand edit) wrote a kind this one does not know.
  ASSERT_EQ(EditSql("kinds.db", "UPDATE records SET error_kind = 'melted'"), "");
  auto store = Open("kinds.db");
  auto history = store->History({});
  ASSERT_FALSE(history.ok());
  EXPECT_EQ(history.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(history.status().message().find("melted"), std::string::npos) << history.status().message();
}

TEST_P(StoreTest, AnUnknownJobOrTaskStateIsRefusedNotGuessed) {
  int64_t job = 0;
  {
    auto store = Open("states.db");
    job = store->CreateJob("{}").value();
    ASSERT_TRUE(store->CreateTask(job, MakeRecord("w", "t", "f", 0, {}), 10).ok());
  }
  ASSERT_EQ(EditSql("states.db", "UPDATE jobs SET state = 'paused'"), "");
  ASSERT_EQ(EditSql("states.db", "UPDATE tasks SET state = 'melted'"), "");
  auto store = Open("states.db");
  auto jobs = store->Jobs(std::nullopt);
  ASSERT_FALSE(jobs.ok());
  EXPECT_EQ(jobs.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(jobs.status().message().find("job " + std::to_string(job) + ": field 'state': unknown state 'paused'"),
            std::string::npos)
      << jobs.status().message();
  EXPECT_EQ(store->GetJob(job).status().code(), StatusCode::kDataLoss);
  auto tasks = store->TasksOfJob(job);
  ASSERT_FALSE(tasks.ok());
  EXPECT_NE(tasks.status().message().find("'melted'"), std::string::npos) << tasks.status().message();
}

TEST_P(StoreTest, JobsAndTasksAreRecorded) {
  auto store = Open("jobs.db");
  auto job = store->CreateJob(R"({"op":"matmul"})");
  ASSERT_TRUE(job.ok());
  auto running = store->GetJob(*job);
  ASSERT_TRUE(running.ok()) << running.status().ToString();
  EXPECT_EQ(running->request_json, R"({"op":"matmul"})");
  EXPECT_EQ(running->state, JobState::kRunning);
  EXPECT_GT(running->created, 0);
  EXPECT_EQ(running->finished, 0);
  auto task = store->CreateTask(*job, MakeRecord("w", "t", "f", 0, {}), 200);
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  auto second = store->CreateTask(*job, MakeRecord("w2", "t", "f", 0, {}), 50);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_TRUE(store->FinishTask(*task, TaskState::kDone, 180).ok());
  ASSERT_TRUE(store->FinishJob(*job, JobState::kInterrupted).ok());
  EXPECT_EQ(store->FinishJob(*job + 1, JobState::kDone).code(), StatusCode::kNotFound);
  EXPECT_EQ(store->FinishTask(*second + 1, TaskState::kDone, 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(store->GetJob(*job + 1).status().code(), StatusCode::kNotFound);

  auto ended = store->GetJob(*job);
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(ended->state, JobState::kInterrupted);
  EXPECT_GE(ended->finished, ended->created);
  auto tasks = store->TasksOfJob(*job);
  ASSERT_TRUE(tasks.ok()) << tasks.status().ToString();
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ((*tasks)[0].id, *task);
  EXPECT_EQ((*tasks)[0].workload_key, "w");
  EXPECT_EQ((*tasks)[0].target_key, "t");
  EXPECT_EQ((*tasks)[0].trials, 200);
  EXPECT_EQ((*tasks)[0].measured, 180);
  EXPECT_EQ((*tasks)[0].state, TaskState::kDone);
  EXPECT_EQ((*tasks)[1].workload_key, "w2");
  EXPECT_EQ((*tasks)[1].trials, 50);
  EXPECT_EQ((*tasks)[1].state, TaskState::kRunning);
  // A record of a job that does not exist breaks the foreign key: nothing is written.
  std::vector<Record> batch{MakeRecord("w", "t", "f", 1, {1.0}), MakeRecord("w", "t", "f", 2, {1.0})};
  batch[1].job_id = 999;
  EXPECT_FALSE(store->AddRecords(batch).ok());
  EXPECT_TRUE(store->History({}).value().empty());
}

TEST_P(StoreTest, ATaskKeepsItsNotes) {
  auto store = Open("notes.db");
  auto job = store->CreateJob("{}");
  ASSERT_TRUE(job.ok());
  auto task = store->CreateTask(*job, MakeRecord("w", "t", "f", 0, {}), 10);
  ASSERT_TRUE(task.ok());
  ASSERT_TRUE(store->AnnotateTask(*task, "cost model: transferred").ok());
  EXPECT_EQ(store->AnnotateTask(*task + 1, "x").code(), StatusCode::kNotFound);
  auto tasks = store->TasksOfJob(*job);
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->size(), 1u);
  EXPECT_EQ((*tasks)[0].notes, "cost model: transferred");
}

TEST_P(StoreTest, FeatureBlobsAreKeptPerRecordVersionAndTargetAndAnUnknownRecordWritesNothing) {
  {
    auto store = Open("features.db");
    std::vector<Record> rs = {MakeRecord("w1", "t1", "avx2", 1, {1.0}), MakeRecord("w1", "t2", "avx2", 2, {2.0})};
    ASSERT_TRUE(store->AddRecords(rs).ok());
    std::string blob("\0\1\2\3", 4);
    ASSERT_TRUE(store->AddFeatureBlobs(1, {{rs[0].id, blob}, {rs[1].id, "t2's"}}).ok());
    ASSERT_TRUE(store->AddFeatureBlobs(2, {{rs[0].id, "version 2"}}).ok());
    ASSERT_TRUE(store->AddFeatureBlobs(1, {{rs[0].id, blob + "x"}}).ok());  // replaces
    // One unknown record id: the whole call fails and writes nothing.
    auto bad = store->AddFeatureBlobs(1, {{rs[1].id, "replaced?"}, {rs[1].id + 100, "nobody's"}});
    EXPECT_FALSE(bad.ok());
  }
  auto store = Open("features.db");  // reopened: the cache is in the file
  auto v1 = store->FeatureBlobs(1, "t1");
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  ASSERT_EQ(v1->size(), 1u);
  EXPECT_EQ(v1->begin()->second, std::string("\0\1\2\3x", 5));
  auto any = store->FeatureBlobs(1, "");
  ASSERT_TRUE(any.ok());
  ASSERT_EQ(any->size(), 2u);
  int64_t t2_id = store->History({"", "t2", "", 0}).value().at(0).id;
  EXPECT_EQ(any->at(t2_id), "t2's");  // the failed call replaced nothing
  auto v2 = store->FeatureBlobs(2, "t1");
  ASSERT_TRUE(v2.ok());
  ASSERT_EQ(v2->size(), 1u);
  EXPECT_EQ(v2->begin()->second, "version 2");
  EXPECT_TRUE(store->FeatureBlobs(3, "").value().empty());
}

TEST_P(StoreTest, ModelsRoundTripTheirBlobByteForByteAndListNewestFirst) {
  std::string blob("head\n", 5);
  for (int i = 0; i < 3000; ++i) blob.push_back(static_cast<char>(i * 37));  // NULs included
  {
    auto store = Open("models.db");
    ModelRow m{0, "xgboost", 1, "t1", "matmul on t1: 3 workloads", R"({"pairwise_accuracy":0.9})", 600, 0, blob};
    auto first = store->AddModel(m);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    m.target_key = "t2";
    ASSERT_TRUE(store->AddModel(m).ok());
    m.target_key = "t1";
    m.training_set = "all ops on t1";
    m.blob = "other";
    auto third = store->AddModel(m);
    ASSERT_TRUE(third.ok());
    EXPECT_GT(*third, *first);
  }
  auto store = Open("models.db");  // reopened: the models are in the file
  auto t1 = store->Models({"xgboost", "t1", "", 0, 0, true});
  ASSERT_TRUE(t1.ok()) << t1.status().ToString();
  ASSERT_EQ(t1->size(), 2u);
  EXPECT_EQ((*t1)[0].blob, "other");  // newest first
  EXPECT_EQ((*t1)[1].blob, blob);
  EXPECT_EQ((*t1)[1].training_set, "matmul on t1: 3 workloads");
  EXPECT_EQ((*t1)[1].feature_version, 1);
  EXPECT_EQ((*t1)[1].samples, 600);
  EXPECT_GT((*t1)[1].created, 0);
  auto by_set = store->Models({"", "", "all ops on t1", 0, 0, false});
  ASSERT_TRUE(by_set.ok());
  ASSERT_EQ(by_set->size(), 1u);
  EXPECT_TRUE((*by_set)[0].blob.empty());  // listed without its blob
  auto by_id = store->Models({"", "", "", (*t1)[1].id, 0, true});
  ASSERT_TRUE(by_id.ok());
  ASSERT_EQ(by_id->size(), 1u);
  EXPECT_EQ((*by_id)[0].blob, blob);
  EXPECT_TRUE(store->Models({"torch", "", "", 0, 0, true}).value().empty());
}

TEST_P(StoreTest, TwoConnectionsToOneStoreShareTheSchemaAndTheRecords) {
  // Two connections (as two servers): the second finds the schema migrated, and what
  // one writes the other reads.
  auto a = OpenStore(Url("both.db"));
  auto b = OpenStore(Url("both.db"));
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<Record> batch{MakeRecord("w", "t", "f", 1, {3e-3}), MakeRecord("w", "t", "f", 2, {2e-3})};
  ASSERT_TRUE((*a)->AddRecords(batch).ok());
  auto best = (*b)->Best("w", "t", "f");
  ASSERT_TRUE(best.ok() && best->has_value());
  EXPECT_EQ((*best)->record.config_hash, "h2");
  EXPECT_EQ((*b)->History({}).value().size(), 2u);
}

TEST_P(StoreTest, ALeaseHasOneHolderUntilItExpiresOrIsReleased) {
  auto store = Open("leases.db");
  EXPECT_TRUE(store->AcquireLease("job:1", "a", 60).value());
  EXPECT_FALSE(store->AcquireLease("job:1", "b", 60).value());  // a holds it
  EXPECT_TRUE(store->AcquireLease("job:1", "a", 60).value());   // a renews it
  ASSERT_TRUE(store->ReleaseLease("job:1", "b").ok());          // not b's: kept
  EXPECT_FALSE(store->AcquireLease("job:1", "b", 60).value());
  auto rows = store->Leases("job:").value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].holder, "a");
  EXPECT_FALSE(rows[0].expired);
  ASSERT_TRUE(store->ReleaseLease("job:1", "a").ok());
  EXPECT_TRUE(store->AcquireLease("job:1", "b", 60).value());  // free again
  // An expired lease (a TTL in the past: no waiting) goes to whoever asks next; its old
  // holder's renewal no longer names it.
  EXPECT_TRUE(store->AcquireLease("task:x", "a", -1).value());
  EXPECT_TRUE(store->AcquireLease("task:y", "a", 60).value());
  EXPECT_TRUE(store->Leases("task:x").value().at(0).expired);
  EXPECT_TRUE(store->AcquireLease("task:x", "b", 60).value());
  EXPECT_EQ(store->RenewLeases("a", 60).value(), std::vector<std::string>({"task:y"}));
  EXPECT_EQ(store->RenewLeases("b", 60).value(), std::vector<std::string>({"job:1", "task:x"}));
  EXPECT_EQ(store->Leases("task:").value().size(), 2u);
  ASSERT_TRUE(store->DropLeases("b").ok());
  EXPECT_EQ(store->Leases("").value().size(), 1u);
  ASSERT_TRUE(store->DropLeases("").ok());
  EXPECT_TRUE(store->Leases("").value().empty());
}

TEST_P(StoreTest, ABatchUnderALeaseIsStoredOnlyWhileItsHolderHoldsIt) {
  auto store = Open("fenced.db");
  ASSERT_TRUE(store->AcquireLease("task:w", "a", 60).value());
  std::vector<Record> first{MakeRecord("w", "t", "f", 1, {2e-3}), MakeRecord("w", "t", "f", 2, {1e-3})};
  ASSERT_TRUE(store->AddRecordsUnderLease(first, "task:w", "a").ok());
  EXPECT_GT(first[1].id, first[0].id);
  // b never held it; a's lease expires and b takes it: a's next batch is refused whole.
  std::vector<Record> second{MakeRecord("w", "t", "f", 3, {5e-4}), MakeRecord("w", "t", "f", 4, {4e-4})};
  Status s = store->AddRecordsUnderLease(second, "task:w", "b");
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  ASSERT_TRUE(store->AcquireLease("task:w", "a", -1).value());
  ASSERT_TRUE(store->AcquireLease("task:w", "b", 60).value());
  s = store->AddRecordsUnderLease(second, "task:w", "a");
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  EXPECT_NE(s.message().find("lease task:w lost"), std::string::npos) << s.message();
  EXPECT_EQ(store->History({}).value().size(), 2u);
  EXPECT_EQ((*store->Best("w", "t", "f"))->record.config_hash, "h2");  // the refused 4e-4 is not best
  ASSERT_TRUE(store->AddRecordsUnderLease(second, "task:w", "b").ok());
  EXPECT_EQ(store->History({}).value().size(), 4u);
}

TEST_P(StoreTest, OfServersAskingForOneLeaseAtOnceExactlyOneGetsIt) {
  constexpr int kServers = 4, kRounds = 25;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kServers; ++i) stores.push_back(Open("race.db"));
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> threads;
    std::atomic<int> won{0}, failed{0};
    for (int i = 0; i < kServers; ++i)
      threads.emplace_back([&, i] {
        auto got = stores[i]->AcquireLease("task:" + std::to_string(round), "s" + std::to_string(i), 60);
        if (!got.ok())
          ++failed;
        else if (*got)
          ++won;
      });
    for (auto& t : threads) t.join();
    EXPECT_EQ(failed.load(), 0) << "round " << round;
    EXPECT_EQ(won.load(), 1) << "round " << round;
  }
  EXPECT_EQ(stores[0]->Leases("task:").value().size(), static_cast<size_t>(kRounds));
}

// A rewriter that renames the targets of `renames` (old key -> new key), as the compiler's
// does when targets gain their microarchitecture (MakeRecord's JSON is {"cpu":"<key>"}).
TargetRewriter Renaming(std::map<std::string, std::string> renames) {
  return [renames](const std::string& json) -> StatusOr<std::optional<TargetForm>> {
    for (const auto& [from, to] : renames)
      if (json == R"({"cpu":")" + from + R"("})")
        return std::optional<TargetForm>(TargetForm{to, R"({"cpu":")" + to + R"("})", "x86_64-avx512"});
    return std::optional<TargetForm>();
  };
}

TEST_P(StoreTest, RewritingATargetKeepsItsRecordsBestsTasksAndModelsUnderTheNewKey) {
  auto store = Open("rewrite.db");
  std::vector<Record> batch{
      MakeRecord("w1", "old", "x86_64-avx512", 1, {3e-3}), MakeRecord("w1", "old", "x86_64-avx512", 2, {1e-3}),
      MakeRecord("w2", "old", "x86_64-avx512", 3, {2e-3}), MakeRecord("w1", "other", "x86_64-avx512", 4, {5e-3})};
  ASSERT_TRUE(store->AddRecords(batch).ok());
  auto job = store->CreateJob("{}");
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(store->CreateTask(*job, batch[0], 10).ok());
  ASSERT_TRUE(store->AddModel(ModelRow{0, "neural", 1, "old", "corpus", "{}", 3, 0, "blob"}).ok());
  std::stringstream before;
  ASSERT_TRUE(store->Export(before, {}).ok());

  auto rewritten = store->RewriteTargets(Renaming({{"old", "new"}}));
  ASSERT_TRUE(rewritten.ok()) << rewritten.status().ToString();
  EXPECT_EQ(*rewritten, 1);
  auto now = store->History({"", "new", "", 0});
  ASSERT_TRUE(now.ok());
  ASSERT_EQ(now->size(), 3u);
  for (const Record& r : *now) EXPECT_EQ(r.target_json, R"({"cpu":"new"})");
  // The old key still finds them (target_aliases), and the other target is untouched.
  EXPECT_EQ(store->History({"", "old", "", 0}).value().size(), 3u);
  EXPECT_EQ(store->History({"", "other", "", 0}).value().size(), 1u);
  auto best = store->Best("w1", "new", "x86_64-avx512");
  ASSERT_TRUE(best.ok() && best->has_value());
  EXPECT_EQ((*best)->level, MatchLevel::kExact);
  EXPECT_EQ((*best)->record.config_hash, "h2");
  EXPECT_EQ(store->TasksOfJob(*job).value().at(0).target_key, "new");
  EXPECT_EQ(store->Models({"neural", "new", "", 0, 0, false}).value().size(), 1u);
  EXPECT_TRUE(store->Models({"neural", "old", "", 0, 0, false}).value().empty());

  // Nothing is left to rewrite; a log written before the rewrite imports as duplicates.
  EXPECT_EQ(store->RewriteTargets(Renaming({{"old", "new"}})).value(), 0);
  auto stats = store->Import(before, nullptr);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->imported, 0);
  EXPECT_EQ(stats->duplicates, 4);
}

TEST_P(StoreTest, RewritingATargetOntoAnExistingKeyMergesTheRowsAndKeepsTheFasterBest) {
  auto store = Open("merge.db");
  std::vector<Record> batch{
      MakeRecord("w1", "old", "x86_64-avx512", 1, {1e-3}), MakeRecord("w2", "old", "x86_64-avx512", 2, {5e-3}),
      MakeRecord("w1", "new", "x86_64-avx512", 3, {2e-3}), MakeRecord("w2", "new", "x86_64-avx512", 4, {4e-3}),
      MakeRecord("w3", "old", "x86_64-avx512", 5, {6e-3})};
  ASSERT_TRUE(store->AddRecords(batch).ok());
  ASSERT_EQ(store->RewriteTargets(Renaming({{"old", "new"}})).value(), 1);
  EXPECT_EQ(store->History({"", "new", "", 0}).value().size(), 5u);
  for (const auto& [workload, hash] :
       std::vector<std::pair<std::string, std::string>>{{"w1", "h1"}, {"w2", "h4"}, {"w3", "h5"}}) {
    auto best = store->Best(workload, "new", "x86_64-avx512");
    ASSERT_TRUE(best.ok() && best->has_value()) << workload;
    EXPECT_EQ((*best)->level, MatchLevel::kExact) << workload;
    EXPECT_EQ((*best)->record.config_hash, hash) << workload;
  }
}

TEST_P(StoreTest, ARewriterErrorWritesNothing) {
  auto store = Open("rewrite-error.db");
  std::vector<Record> batch{MakeRecord("w1", "old", "x86_64-avx512", 1, {1e-3})};
  ASSERT_TRUE(store->AddRecords(batch).ok());
  auto failing = [](const std::string&) -> StatusOr<std::optional<TargetForm>> {
    return InvalidArgument("cannot read it");
  };
  auto rewritten = store->RewriteTargets(failing);
  EXPECT_EQ(rewritten.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(rewritten.status().message().find("target old: cannot read it"), std::string::npos)
      << rewritten.status().ToString();
  EXPECT_EQ(store->History({"", "old", "", 0}).value().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// What only a server can do: drop a connection under the store.
class PostgresStoreTest : public StoreFixture {
 public:
  PostgresStoreTest() : StoreFixture("postgresql") {}
  // A connection of the test's own (it holds locks across statements).
  PGconn* Connect(const std::string& name) {
    PGconn* c = PQconnectdb(Url(name).c_str());
    EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
    return c;
  }
  static std::string Value(PGconn* c, const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    std::string v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    EXPECT_TRUE(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
        << sql << ": " << PQresultErrorMessage(r);
    PQclear(r);
    return v;
  }
  // `sql` over pg_stat_activity as it is now (inside a transaction PostgreSQL keeps the
  // view it first read, so the snapshot is cleared first).
  static std::string Activity(PGconn* c, const std::string& sql) {
    Value(c, "SELECT pg_stat_clear_snapshot()");
    return Value(c, sql);
  }
};

TEST_F(PostgresStoreTest, AConnectionDroppedMidBatchRollsBackAndTheBatchIsStoredOnceOnANewOne) {
  auto opened = OpenStore(Url("drop.db") + "?application_name=victim");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Store> store = std::move(opened).value();
  std::vector<Record> first{MakeRecord("w", "t", "f", 0, {9e-3})};
  ASSERT_TRUE(store->AddRecords(first).ok());
  PGconn* admin = Connect("drop.db");
  const std::string victim = "SELECT pid FROM pg_stat_activity WHERE application_name = 'victim'";
  // Dropped between calls: the next statement reconnects.
  ASSERT_NE(Value(admin, victim), "");
  Value(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim'");
  auto history = store->History({});
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  EXPECT_EQ(history->size(), 1u);

  // Mid-batch: the test holds the best table, so the batch stops at its first best
  // update with its first record inserted; then the connection is killed.
  Value(admin, "BEGIN");
  Value(admin, "LOCK TABLE best IN EXCLUSIVE MODE");
  constexpr int kBatch = 10;
  std::vector<Record> batch;
  for (int i = 1; i <= kBatch; ++i) batch.push_back(MakeRecord("w", "t", "f", i, {1e-3 * i}));
  Status added;
  std::thread writer([&] { added = store->AddRecords(batch); });
  const std::string waiting = victim + " AND wait_event_type = 'Lock'";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::string pid;
  while ((pid = Activity(admin, waiting)).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling pg_stat_activity
  EXPECT_NE(pid, "") << "the batch never waited on the lock";
  // The batch has inserted its first record (uncommitted) and waits on best: kill it.
  EXPECT_EQ(Value(admin, "SELECT pg_terminate_backend(" + (pid.empty() ? "0" : pid) + ")"), pid.empty() ? "f" : "t");
  Value(admin, "COMMIT");
  writer.join();
  ASSERT_TRUE(added.ok()) << added.ToString();
  auto all = store->History({}).value();
  ASSERT_EQ(all.size(), 1u + kBatch);  // nothing half-written, nothing twice
  std::set<std::string> hashes;
  for (const auto& r : all) hashes.insert(r.config_hash);
  EXPECT_EQ(hashes.size(), all.size());
  for (const auto& r : batch) EXPECT_GT(r.id, first[0].id);
  EXPECT_EQ((*store->Best("w", "t", "f"))->record.config_hash, "h1");
  // It was a new connection that stored it.
  EXPECT_NE(Value(admin, victim), pid);
  PQfinish(admin);
}

TEST_F(PostgresStoreTest, ALookupIsAnsweredOnAnotherConnectionWhileABatchWaitsOnALock) {
  auto opened = OpenStore(Url("pool.db") + "?application_name=pool");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Store> store = std::move(opened).value();
  std::vector<Record> first{MakeRecord("w", "t", "f", 0, {9e-3})};
  ASSERT_TRUE(store->AddRecords(first).ok());
  PGconn* admin = Connect("pool.db");
  const std::string ours = "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'pool'";
  EXPECT_EQ(Value(admin, ours), "1");
  // The test holds the best table: a batch stops at its first best update, holding the
  // store's connection, until the test commits.
  Value(admin, "BEGIN");
  Value(admin, "LOCK TABLE best IN EXCLUSIVE MODE");
  std::vector<Record> batch{MakeRecord("w", "t", "f", 1, {1e-3})};
  Status added;
  std::thread writer([&] { added = store->AddRecords(batch); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::string waiting;
  while ((waiting = Activity(admin, ours + " AND wait_event_type = 'Lock'")) != "1" &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling pg_stat_activity
  EXPECT_EQ(waiting, "1") << "the batch never waited on the lock";
  // Meanwhile a lookup and a history read are answered (on a reader connection), with
  // what is committed: the waiting batch is not visible.
  auto read = std::async(std::launch::async, [&] {
    auto best = store->Best("w", "t", "f");
    auto history = store->History({});
    std::string got = best.ok() && *best ? (*best)->record.config_hash : best.status().ToString();
    return got + " " + (history.ok() ? std::to_string(history->size()) : history.status().ToString());
  });
  const bool answered = read.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  EXPECT_TRUE(answered) << "the lookup waited for the batch";
  EXPECT_EQ(Activity(admin, ours), "2");  // the store opened one reader
  Value(admin, "COMMIT");
  writer.join();
  if (answered) EXPECT_EQ(read.get(), "h0 1");
  ASSERT_TRUE(added.ok()) << added.ToString();
  // Both connections see the batch now.
  EXPECT_EQ((*store->Best("w", "t", "f"))->record.config_hash, "h1");
  EXPECT_EQ(store->History({})->size(), 2u);
  PQfinish(admin);
}

TEST(StoreUrl, SchemesPickTheBackendAndAnUnknownOneOrAnUnreachableServerIsAClearError) {
  char tmpl[] = "/tmp/priortune-url-XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  auto plain = OpenStore((dir / "a.db").string());
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  auto url = OpenStore("sqlite://" + (dir / "b.db").string());
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_TRUE(fs::exists(dir / "b.db"));
  auto empty = OpenStore("sqlite://");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  auto unknown = OpenStore("mysql://root@localhost/x");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("mysql"), std::string::npos) << unknown.status().message();
  // Nothing listens on port 1; the password is not repeated in the message.
  auto down = OpenStore("postgresql://me:secret@127.0.0.1:1/nothing?connect_timeout=5");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(down.status().message().find("secret"), std::string::npos) << down.status().message();
  EXPECT_NE(down.status().message().find("127.0.0.1"), std::string::npos) << down.status().message();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace priortune::db
