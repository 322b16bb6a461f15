#include <gtest/gtest.h>
#include <poll.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cluster.h"
#include "compiler/ops/build.h"
#include "db/store.h"
#include "tests/common/isa_targets.h"
#include "tests/common/pg_cluster.h"
#include "tuner/db_config_source.h"
#include "tuner/task_notes.h"
#include "tuner/tuning_loop.h"

namespace priortune::server {
namespace {

compiler::Target OneCore() { return compiler::Target::HostWithCores(1); }

TEST(EndToEnd, TwoWorkerProcessesTuneAMatmulAndBuildBestReproducesTheStoredBest) {
  Cluster cluster;
  cluster.AddWorkers(2);
  auto store = db::OpenSqliteStore(cluster.Path("tune.db"));
  ASSERT_TRUE(store.ok());
  compiler::Workload w = compiler::MatmulWorkload(48, 40, 32);
  compiler::Target t = OneCore();
  tuner::TuneOptions o;
  o.trials = 24;
  o.batch_size = 8;
  std::atomic<bool> cancel{false};
  auto summary = tuner::TuneTask(w, t, o, cluster.queue(), **store, 0, nullptr, cancel);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->measured, 24);
  ASSERT_TRUE(summary->best_config.has_value());

  // Every trial is stored, measured by one of the two workers.
  auto history = (*store)->History({w.Key(), t.Key(), "", 0}).value();
  ASSERT_EQ(history.size(), 24u);
  std::set<std::string> workers;
  for (const auto& r : history) {
    workers.insert(r.worker);
    if (r.ok()) EXPECT_EQ(r.costs.size(), 2u);  // --repeat 2
  }
  EXPECT_EQ(workers.size(), 2u);

  // Lookup returns the stored best: the fastest correct record of the run.
  auto best = (*store)->Best(w.Key(), t.Key(), t.isa_family()).value();
  ASSERT_TRUE(best.has_value());
  EXPECT_EQ(best->level, db::MatchLevel::kExact);
  EXPECT_EQ(best->record.config_json, compiler::ConfigToJson(*summary->best_config));
  double fastest = INFINITY;
  for (const auto& r : history) fastest = std::min(fastest, r.cost());
  EXPECT_DOUBLE_EQ(best->record.cost(), fastest);

  // build_best builds that config, and the kernel computes the right answer.
  auto source = tuner::MakeDbConfigSource(**store);
  auto built = compiler::BuildBest(w, t, *source);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ(built->choice.config, *summary->best_config);
  EXPECT_EQ(built->choice.level, "exact target");
  const compiler::OpTemplate* tmpl = *compiler::FindTemplate("matmul");
  compiler::KernelArgs args(*tmpl, w, 3);
  EXPECT_TRUE(compiler::CheckAgainstReference(built->kernel, w, args).ok());

  // An untuned workload falls back to the template's default config.
  compiler::Workload other = compiler::MatmulWorkload(16, 16, 16);
  auto fallback = compiler::BuildBest(other, t, *source);
  ASSERT_TRUE(fallback.ok());
  EXPECT_EQ(fallback->choice.level, "default");
  EXPECT_EQ(fallback->choice.config, tmpl->DefaultConfig(other, t));
}

// tune, lookup, tune again, export, import into `copy`, bad input: on the store `db`
// (a SQLite path or a PostgreSQL URL).
void ExpectTuneLookupExportImport(Cluster& scratch, const std::string& db, const std::string& copy) {
  std::string exe = PRIORTUNE_EXE;
  int code = -1;
  std::string out = Shell(exe +
                              " tune --op matmul --shape 32x48x16 --trials 12 --batch 6 "
                              "--workers 2 --no-compare --db " +
                              db,
                          &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("12 trials"), std::string::npos) << out;
  std::string found = Shell(exe + " lookup --op matmul --shape 32x48x16 --db " + db, &code);
  EXPECT_EQ(code, 0) << found;
  EXPECT_NE(found.find("level: exact target"), std::string::npos) << found;
  // The printed config is the store's best.
  auto store = db::OpenStore(db);
  ASSERT_TRUE(store.ok());
  compiler::Workload w = compiler::MatmulWorkload(32, 48, 16);
  compiler::Target t = OneCore();
  auto best = (*store)->Best(w.Key(), t.Key(), t.isa_family()).value();
  ASSERT_TRUE(best.has_value());
  EXPECT_NE(found.find(best->record.config_json), std::string::npos) << found;

  // Tune once, deploy many: the same request again is answered from the store.
  std::string again_out = Shell(exe +
                                    " tune --op matmul --shape 32x48x16 --trials 12 "
                                    "--no-compare --db " +
                                    db,
                                &code);
  EXPECT_EQ(code, 0) << again_out;
  EXPECT_NE(again_out.find("already tuned"), std::string::npos) << again_out;
  EXPECT_EQ((*store)->History({}).value().size(), 12u);

  // Export, import into a fresh store: the same best.
  std::string log = scratch.Path("cli.log");
  ASSERT_EQ((Shell(exe + " export --db " + db + " --out " + log, &code), code), 0);
  std::string imported = Shell(exe + " import " + log + " --db " + copy, &code);
  ASSERT_EQ(code, 0) << imported;
  EXPECT_NE(imported.find("imported 12 records"), std::string::npos) << imported;
  std::string again = Shell(exe + " lookup --op matmul --shape 32x48x16 --db " + copy, &code);
  EXPECT_NE(again.find(best->record.config_json), std::string::npos) << again;

  // Bad input: exit code 2 and a message naming the problem; the store is untouched.
  std::string bad = Shell(exe + " tune --op matmul --shape 32x0x16 --db " + db, &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(bad.find("N = 0"), std::string::npos) << bad;
  EXPECT_EQ((*store)->History({}).value().size(), 12u);
}

TEST(EndToEnd, TheTuneCommandStoresABestThatLookupAndExportFind) {
  Cluster scratch;  // only for its temporary directory
  ExpectTuneLookupExportImport(scratch, scratch.Path("cli.db"), scratch.Path("copy.db"));
}

// The same on PostgreSQL stores (--db postgresql://...) of a throwaway cluster.
TEST(EndToEnd, TheTuneCommandOnAPostgresStoreStoresABestThatLookupAndExportFind) {
  Cluster scratch;
  testing::PgCluster pg;
  ASSERT_EQ(pg.Start(), "");
  ExpectTuneLookupExportImport(scratch, pg.Url("cli"), pg.Url("copy"));
  // A database that does not exist: exit 2, the reason from the server.
  int code = -1;
  std::string out = Shell(std::string(PRIORTUNE_EXE) + " lookup --op matmul --shape 32x48x16 --db " +
                              pg.Url("cli").substr(0, pg.Url("cli").rfind('/') + 1) + "missing",
                          &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("does not exist"), std::string::npos) << out;
}

TEST(EndToEnd, XgbGaTunesWithTransferFromHistoryAndEvalModelScoresHeldOutWorkloads) {
  Cluster scratch;
  std::string db = scratch.Path("xgb.db");
  std::string exe = PRIORTUNE_EXE;
  int code = -1;
  // History: two small matmuls tuned by the GA (real workers, JIT and timing).
  for (const char* shape : {"32x48x16", "48x32x24"}) {
    std::string out = Shell(
        exe + " tune --op matmul --shape " + shape + " --trials 40 --batch 20 --workers 2 --no-compare --db " + db,
        &code);
    ASSERT_EQ(code, 0) << out;
  }
  // A third shape with the model-guided GA: it transfers from the two, says so, and keeps
  // the decision with the task.
  std::string out = Shell(exe +
                              " tune --op matmul --shape 40x40x32 --strategy xgb-ga --trials 48 --batch 12 "
                              "--workers 2 --no-compare --db " +
                              db,
                          &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("transfer: trained model #1 on 80 records of 2 workloads (matmul)"), std::string::npos) << out;
  EXPECT_NE(out.find("cost model: kept the"), std::string::npos) << out;
  EXPECT_NE(out.find("48 trials"), std::string::npos) << out;
  EXPECT_NE(out.find("cost model: "), std::string::npos) << out;
  // A model-guided run says how much of its wall time the cost model took.
  EXPECT_NE(out.find(" s wall time ("), std::string::npos) << out;
  EXPECT_NE(out.find("%: model loading or transfer training"), std::string::npos) << out;
  auto store = db::OpenSqliteStore(db);
  ASSERT_TRUE(store.ok());
  auto tasks = (*store)->TasksOfJob(3);
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->size(), 1u);
  // The task's notes are stored as structure: the transfer and the guard's decision.
  auto notes = tuner::ParseNotes((*tasks)[0].notes);
  ASSERT_TRUE(notes.ok()) << notes.status().ToString() << ": " << (*tasks)[0].notes;
  const tuner::TaskNote* trained = tuner::FindNote(*notes, "transfer.trained");
  ASSERT_NE(trained, nullptr) << (*tasks)[0].notes;
  EXPECT_EQ(trained->Number("records"), 80);
  EXPECT_EQ(trained->Number("workloads"), 2);
  const tuner::TaskNote* kept = tuner::FindNote(*notes, "guard.kept");
  ASSERT_NE(kept, nullptr) << (*tasks)[0].notes;
  EXPECT_TRUE(kept->String("chosen") == kept->String("primary") ||
              kept->String("chosen") == kept->String("alternative"))
      << (*tasks)[0].notes;
  EXPECT_GE(kept->Number("primary_accuracy"), 0);
  EXPECT_LE(kept->Number("primary_accuracy"), 1);
  auto models = (*store)->Models({"xgboost", "", "", 0, 0, false});
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->size(), 1u);
  EXPECT_NE((*models)[0].metrics_json.find("in_sample"), std::string::npos);
  EXPECT_EQ((*store)->History({}).value().size(), 128u);

  // Offline evaluation: each of the three workloads held out in turn, and a saved model.
  std::string eval = Shell(exe + " eval-model --save --db " + db, &code);
  ASSERT_EQ(code, 0) << eval;
  EXPECT_NE(eval.find("128 records of 3 workloads"), std::string::npos) << eval;
  EXPECT_NE(eval.find("mean over held-out workloads"), std::string::npos) << eval;
  EXPECT_NE(eval.find("saved model #2"), std::string::npos) << eval;
  // Bad input: exit 2 and the reason; nothing written.
  std::string bad = Shell(exe + " eval-model --model-objective rank:magic --db " + db, &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(bad.find("rank:magic"), std::string::npos) << bad;
  bad = Shell(exe + " eval-model --target znver3 --db " + db, &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(bad.find("no records for target"), std::string::npos) << bad;
  bad = Shell(exe + " tune --op matmul --shape 40x40x32 --strategy xgb-ga --transfer maybe --db " + db, &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(bad.find("maybe"), std::string::npos) << bad;
  EXPECT_EQ((*store)->History({}).value().size(), 128u);
  EXPECT_EQ((*store)->Models({}).value().size(), 2u);
}

// The first JSON object printed on the first line of `lookup`'s output.
compiler::Config PrintedConfig(const std::string& out) {
  size_t a = out.find('{'), b = out.find('}', a);
  auto c = compiler::ConfigFromJson(a == std::string::npos ? "" : out.substr(a, b - a + 1));
  EXPECT_TRUE(c.ok()) << out;
  return c.ok() ? *c : compiler::Config();
}

TEST(EndToEnd, AStoreWithRecordsOfTwoIsaFamiliesAnswersEachTargetWithAConfigThatRunsThere) {
  Cluster scratch;  // only for its temporary directory
  std::string db = scratch.Path("mixed.db"), exe = PRIORTUNE_EXE;
  const std::string shape = "64x64x64";
  compiler::Workload w = compiler::MatmulWorkload(64, 64, 64);
  const compiler::OpTemplate* tmpl = *compiler::FindTemplate("matmul");
  int code = -1;
  // Measured here: the host, and AVX2 code built for x86-64-v3 (every x86-64 host of
  // ours runs it).
  std::string out =
      Shell(exe + " tune --op matmul --shape " + shape + " --trials 8 --batch 8 --no-compare --db " + db, &code);
  ASSERT_EQ(code, 0) << out;
  out = Shell(
      exe + " tune --op matmul --shape " + shape + " --target x86-64-v3 --trials 8 --batch 8 --no-compare --db " + db,
      &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("x86_64-avx2"), std::string::npos) << out;
  // AVX-512 records, which an AVX2 host cannot measure, arrive by import of a log.
  {
    std::string other = scratch.Path("avx512.db"), log = scratch.Path("avx512.log");
    auto store = db::OpenSqliteStore(other);
    ASSERT_TRUE(store.ok());
    compiler::Target v4 = compiler::Target::Parse("x86-64-v4", 1).value();
    compiler::Config c = tmpl->HandPickedConfig(w, v4);
    c["nr"] = c["nc"] = 4 * v4.vector_lanes();  // 64 columns: no candidate of any narrower ISA
    c["mr"] = c["mc"] = 2;
    ASSERT_TRUE(compiler::CheckConfigInSpace(*tmpl, w, v4, c).ok());
    tuner::MeasureResult r;
    r.costs = {1e-6};  // faster than anything measured here
    r.worker = "imported";
    std::vector<db::Record> records{tuner::ToRecord({w, v4, c}, r, 0)};
    ASSERT_TRUE((*store)->AddRecords(records).ok());
    ASSERT_EQ((Shell(exe + " export --db " + other + " --out " + log, &code), code), 0);
    out = Shell(exe + " import " + log + " --db " + db, &code);
    ASSERT_EQ(code, 0) << out;
  }
  auto lookup = [&](const std::string& target, const std::string& level) {
    std::string found = Shell(exe + " lookup --op matmul --shape " + shape + " --db " + db +
                                  (target.empty() ? "" : " --target '" + target + "'"),
                              &code);
    EXPECT_EQ(code, 0) << found;
    EXPECT_NE(found.find("level: " + level), std::string::npos) << "asked as " << target << ":\n" << found;
    compiler::Target t =
        target.empty() ? compiler::Target::HostWithCores(1) : compiler::Target::Parse(target, 1).value();
    if (level != "default")
      EXPECT_TRUE(compiler::CheckConfigInSpace(*tmpl, w, t, PrintedConfig(found)).ok())
          << "handed " << t.cpu << " a config outside its space:\n"
          << found;
    return found;
  };
  lookup("", "exact target");
  lookup("x86-64-v3", "exact target");
  lookup("x86-64-v4", "exact target");
  // Other machines of each family: the family's best.
  lookup(R"({"cpu":"x86-64-v3","l2_bytes":123456})", "same ISA family");
  std::string v4like = lookup(R"({"cpu":"x86-64-v4","l2_bytes":123456})", "same ISA family");
  if (!compiler::Target::HostWithCores(1).has("avx512f"))  // only the import is AVX-512
    EXPECT_EQ(PrintedConfig(v4like).at("nr"), 64) << v4like;
  // SSE4.2: nothing of its family; the imported AVX-512 best is the fastest record, but
  // its 64-column tile is no SSE candidate: skipped, and said so.
  std::string sse = Shell(exe + " lookup --op matmul --shape " + shape + " --target x86-64-v2 --db " + db, &code);
  EXPECT_EQ(code, 0) << sse;
  EXPECT_TRUE(sse.find("level: any target") != std::string::npos || sse.find("level: default") != std::string::npos)
      << sse;
  EXPECT_NE(sse.find("skipped any target"), std::string::npos) << sse;
  EXPECT_NE(sse.find("split 'tile_n' (nc=64, nr=64) is not one of its"), std::string::npos) << sse;
  if (sse.find("level: any target") != std::string::npos)
    EXPECT_TRUE(
        compiler::CheckConfigInSpace(*tmpl, w, compiler::Target::Parse("x86-64-v2", 1).value(), PrintedConfig(sse))
            .ok())
        << sse;
}

TEST(EndToEnd, TuningWithAllCoresAsThreadsStoresATargetOfThatThreadCountWhichLookupMatches) {
  Cluster scratch;  // only for its temporary directory
  std::string db = scratch.Path("threads.db"), exe = PRIORTUNE_EXE;
  int cores = compiler::Target::Host().cores;
  std::string n = std::to_string(cores);
  int code = -1;
  std::string out =
      Shell(exe + " tune --op matmul --shape 48x64x32 --trials 6 --batch 6 --no-compare --threads " + n + " --db " + db,
            &code);
  ASSERT_EQ(code, 0) << out;
  // One worker per `threads` cores: all cores to one measurement.
  EXPECT_NE(out.find("1 workers x " + n + " thread(s)"), std::string::npos) << out;
  auto store = db::OpenSqliteStore(db);
  ASSERT_TRUE(store.ok());
  auto history = (*store)->History({});
  ASSERT_TRUE(history.ok());
  ASSERT_FALSE(history->empty());
  for (const auto& r : *history) {
    auto t = compiler::Target::FromJson(r.target_json);
    ASSERT_TRUE(t.ok()) << r.target_json;
    EXPECT_EQ(t->cores, cores) << r.target_json;
  }
  // Lookup with the same thread count matches exactly; with one thread it is another
  // target of the same ISA family.
  std::string same = Shell(exe + " lookup --op matmul --shape 48x64x32 --threads " + n + " --db " + db, &code);
  EXPECT_EQ(code, 0) << same;
  EXPECT_NE(same.find("level: exact target"), std::string::npos) << same;
  if (cores > 1) {
    std::string one = Shell(exe + " lookup --op matmul --shape 48x64x32 --db " + db, &code);
    EXPECT_EQ(code, 0) << one;
    EXPECT_NE(one.find("level: same ISA family"), std::string::npos) << one;
  }
  // More threads than cores cannot be measured: exit 2, named.
  std::string too_many = Shell(
      exe + " tune --op matmul --shape 48x64x32 --trials 2 --threads " + std::to_string(cores + 1) + " --db " + db,
      &code);
  EXPECT_EQ(code, 2) << too_many;
  EXPECT_NE(too_many.find("this host has " + n + " cores"), std::string::npos) << too_many;
}

TEST(EndToEnd, AWorkerRefusesATargetItsCpuCannotRunAndEmitBuildsForAnyTarget) {
  Cluster scratch;
  std::string exe = PRIORTUNE_EXE;
  int code = -1;
  // Each x86 CPU of ours lacks some AMX extension: a worker asked to measure for a CPU
  // with it refuses.
  const std::string amx = priortune::testing::CpuWithAmxTheHostLacks();
  std::string out = Shell(exe + " worker --server 127.0.0.1:1 --target " + amx, &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("cannot run on this host"), std::string::npos) << out;
  EXPECT_NE(out.find("amx"), std::string::npos) << out;
  // A candidate for it reaching a runner is refused as a result, never run.
  compiler::Target spr = compiler::Target::Parse(amx, 1).value();
  nlohmann::json request = {
      {"workload", nlohmann::json::parse(compiler::MatmulWorkload(16, 16, 16).ToJson())},
      {"target", nlohmann::json::parse(spr.ToJson())},
      {"config", nlohmann::json::parse(compiler::ConfigToJson(
                     (*compiler::FindTemplate("matmul"))->DefaultConfig(compiler::MatmulWorkload(16, 16, 16), spr)))}};
  std::string req_path = scratch.Path("request.jsonl");
  std::ofstream(req_path) << request.dump() << "\n";
  out = Shell(exe + " worker --runner < " + req_path, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find(R"("error":"invalid config")"), std::string::npos) << out;
  EXPECT_NE(out.find("refuses the candidate"), std::string::npos) << out;
  // Object code for AVX-512 can be written on any host.
  std::string asm_path = scratch.Path("k.s");
  out = Shell(exe + " emit --op matmul --shape 64x64x64 --target x86-64-v4 --out " + asm_path, &code);
  ASSERT_EQ(code, 0) << out;
  std::ifstream f(asm_path);
  std::string text((std::istreambuf_iterator<char>(f)), {});
  EXPECT_NE(text.find("zmm"), std::string::npos);
  // And bench says why it cannot time a target the host cannot run.
  out = Shell(exe + " bench --op matmul --shape 64x64x64 --target " + amx, &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("cannot run on this host"), std::string::npos) << out;
}

TEST(EndToEnd, AWorkloadOverTheMemoryCapIsRefusedBeforeAnythingIsBuilt) {
  Cluster scratch;
  std::string exe = PRIORTUNE_EXE, db = scratch.Path("cap.db");
  int code = -1;
  std::string out = Shell(exe + " tune --op matmul --shape 100000x100000x100000 --db " + db, &code);
  EXPECT_EQ(code, 2) << out;
  // A, B and C of 10^10 floats each, and the reference's copy of C: 1.6e11 bytes.
  EXPECT_NE(out.find("needs 152588 MiB"), std::string::npos) << out;
  EXPECT_NE(out.find("memory cap"), std::string::npos) << out;
  out = Shell(exe + " bench --op matmul --shape 512x512x512 --memory-cap-mb 1", &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("needs 4 MiB"), std::string::npos) << out;
}

TEST(EndToEnd, ATuneInWhichNoCandidateWasCorrectExitsNonZero) {
  Cluster scratch;
  std::string exe = PRIORTUNE_EXE, db = scratch.Path("wrong.db");
  int code = -1;
  // A millisecond per candidate: no build finishes, every candidate times out.
  std::string out = Shell(exe +
                              " tune --op matmul --shape 16x16x16 --trials 4 --batch 4 --no-compare "
                              "--timeout 0.001 --db " +
                              db,
                          &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("no correct config"), std::string::npos) << out;
  auto store = db::OpenSqliteStore(db);
  ASSERT_TRUE(store.ok());
  auto records = (*store)->History({}).value();
  EXPECT_EQ(records.size(), 4u);
  for (const auto& r : records) EXPECT_EQ(r.error, db::ErrorKind::kTimeout) << r.error_message;
}

// Waits up to `seconds` for `pid` to exit (a pidfd, no polling); kills it on timeout.
// Returns the wait status, or -1 after a kill.
int WaitForExit(pid_t pid, double seconds) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  pollfd p{fd, POLLIN, 0};
  bool exited = fd >= 0 && poll(&p, 1, static_cast<int>(seconds * 1000)) == 1;
  if (fd >= 0) close(fd);
  if (!exited) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  return exited ? status : -1;
}

TEST(EndToEnd, CtrlCStopsTheTuneCommandWithEverythingMeasuredSaved) {
  Cluster scratch;  // only for its temporary directory
  std::string db = scratch.Path("interrupt.db"), out = scratch.Path("interrupt.out");
  int progress[2];
  ASSERT_EQ(pipe(progress), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!freopen(out.c_str(), "w", stdout)) _exit(126);
    dup2(progress[1], 2);  // the progress lines (stderr is not a tty: one line per batch)
    close(progress[0]);
    execl(PRIORTUNE_EXE, "priortune", "tune", "--op", "matmul", "--shape", "128x128x128", "--trials", "400", "--batch",
          "8", "--db", db.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(progress[1]);
  // Interrupt once the progress line says 8 trials are stored: the SIGINT handler is
  // installed before the first batch is measured. Every read has a deadline.
  std::string text;
  int measured = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (measured < 8) {
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    pollfd p{progress[0], POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) != 1) break;
    char buf[4096];
    ssize_t n = read(progress[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    size_t at;
    while ((at = text.find(" trials  best")) != std::string::npos) {  // "... 16/400 trials  best ..."
      size_t start = text.rfind(']', at);
      if (start != std::string::npos) measured = std::atoi(text.c_str() + start + 1);
      text.erase(0, at + 1);
    }
  }
  if (measured < 8) {
    close(progress[0]);
    kill(pid, SIGKILL);
    WaitForExit(pid, 10);
    FAIL() << "the tune command printed no progress within 300 s: " << text;
  }
  kill(pid, SIGINT);
  // Keep reading until the command closes stderr (it exits): a closed pipe would kill it
  // with SIGPIPE on its next progress line.
  for (;;) {
    pollfd p{progress[0], POLLIN, 0};
    char buf[4096];
    if (poll(&p, 1, 120000) != 1 || read(progress[0], buf, sizeof buf) <= 0) break;
  }
  close(progress[0]);
  int status = WaitForExit(pid, 120);
  ASSERT_NE(status, -1) << "the tune command did not exit within 120 s of SIGINT";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  std::ifstream f(out);
  std::string printed((std::istreambuf_iterator<char>(f)), {});
  size_t at = printed.find("interrupted: ");
  ASSERT_NE(at, std::string::npos) << printed;
  int reported = std::stoi(printed.substr(at + 13));
  auto store = db::OpenSqliteStore(db);
  ASSERT_TRUE(store.ok());
  compiler::Workload w = compiler::MatmulWorkload(128, 128, 128);
  auto records = (*store)->History({w.Key(), "", "", 0}).value();
  EXPECT_GE(reported, measured);
  EXPECT_LT(reported, 400);
  EXPECT_EQ(records.size(), static_cast<size_t>(reported));
}

// The committed corpus (data/corpus/*.jsonl.gz): the first one.
std::string CorpusFile() {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(std::string(PRIORTUNE_SOURCE_DIR) + "/data/corpus", ec))
    if (e.path().string().size() > 9 && e.path().string().rfind(".jsonl.gz") == e.path().string().size() - 9)
      files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files.empty() ? "" : files.front();
}

TEST(EndToEnd, TrainModelMetaTrainsOnTheCorpusAndMetaGaAndOneShotTuneWithIt) {
  Cluster scratch;
  std::string corpus = CorpusFile();
  ASSERT_FALSE(corpus.empty()) << "no corpus in data/corpus";
  std::string db = scratch.Path("corpus.db"), model = scratch.Path("meta.ptm"), exe = PRIORTUNE_EXE;
  int code = -1;
  // A small meta-training on the corpus's depthwise workloads (a real LibTorch model).
  std::string out = Shell(exe + " train-model --db " + db + " --log " + corpus +
                              " --op depthwise_conv2d --steps 30 --meta-iterations 6 --adapt-steps 5 "
                              "--hold-out 0.25 --ks 0,8 --repeats 1 --out " +
                              model,
                          &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("imported "), std::string::npos) << out;
  EXPECT_NE(out.find("few-shot on the 2 held-out workloads"), std::string::npos) << out;
  EXPECT_NE(out.find("inference: "), std::string::npos) << out;
  EXPECT_NE(out.find("peak memory"), std::string::npos) << out;
  EXPECT_NE(out.find("saved model #1"), std::string::npos) << out;
  auto store = db::OpenSqliteStore(db);
  ASSERT_TRUE(store.ok());
  auto models = (*store)->Models({"neural", "", "", 0, 0, false});
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->size(), 1u);
  EXPECT_NE((*models)[0].metrics_json.find("held_out_k8"), std::string::npos) << (*models)[0].metrics_json;
  EXPECT_NE((*models)[0].training_set.find("depthwise_conv2d"), std::string::npos);
  const size_t corpus_records = (*store)->History({}).value().size();

  // Few-shot metrics of the file beside the scratch baselines.
  std::string eval = Shell(
      exe + " eval-model --db " + db + " --target '' --op depthwise_conv2d --neural " + model + " --ks 0,8 --repeats 1",
      &code);
  ASSERT_EQ(code, 0) << eval;
  EXPECT_NE(eval.find("xgboost (scratch)"), std::string::npos) << eval;
  EXPECT_NE(eval.find("neural (scratch)"), std::string::npos) << eval;
  EXPECT_NE(eval.find("meta.ptm"), std::string::npos) << eval;

  // meta-ga and one-shot with the model, on a shape the corpus does not hold.
  std::string tune_db = scratch.Path("tune.db");
  out = Shell(exe + " tune --op depthwise_conv2d --shape 48x28x3x1x1 --strategy meta-ga --model " + model +
                  " --trials 32 --batch 16 --workers 2 --no-compare --db " + tune_db,
              &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("meta model: file " + model), std::string::npos) << out;
  EXPECT_NE(out.find("32 trials"), std::string::npos) << out;
  out = Shell(exe +
                  " tune --op depthwise_conv2d --shape 40x28x3x1x1 --strategy one-shot --one-shot-trials 12 "
                  "--model " +
                  model + " --trials 100 --batch 8 --workers 2 --no-compare --db " + tune_db,
              &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("12 trials"), std::string::npos) << out;

  // Bad input: exit 2 and the reason; nothing stored changes.
  std::string bad = Shell(exe + " train-model --db " + db + " --log " + scratch.Path("none.jsonl"), &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(bad.find("none.jsonl"), std::string::npos) << bad;
  bad = Shell(exe + " train-model --db " + db + " --hold-out 1.5", &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(bad.find("--hold-out"), std::string::npos) << bad;
  {
    std::ofstream f(scratch.Path("bad.ptm"), std::ios::binary);
    f << "priortune-costmodel 1\n{\"kind\":\"neural\"}\nnot weights";
  }
  bad = Shell(exe + " eval-model --db " + db + " --target '' --neural " + scratch.Path("bad.ptm"), &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(bad.find("DATA_LOSS"), std::string::npos) << bad;
  bad = Shell(exe + " tune --op depthwise_conv2d --shape 48x28x3x1x1 --strategy meta-ga --model " +
                  scratch.Path("bad.ptm") + " --trials 8 --no-compare --db " + tune_db,
              &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(bad.find("DATA_LOSS"), std::string::npos) << bad;
  bad = Shell(exe + " tune --op depthwise_conv2d --shape 48x28x3x1x1 --strategy meta-ga --model " +
                  scratch.Path("missing.ptm") + " --trials 8 --no-compare --db " + tune_db,
              &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(bad.find("missing.ptm"), std::string::npos) << bad;
  EXPECT_EQ((*store)->History({}).value().size(), corpus_records);
  EXPECT_EQ((*store)->Models({}).value().size(), 1u);
  auto tuned = db::OpenSqliteStore(tune_db);
  ASSERT_TRUE(tuned.ok());
  EXPECT_EQ((*tuned)->History({}).value().size(), 44u);
}

}  // namespace
}  // namespace priortune::server
