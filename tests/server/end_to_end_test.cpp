#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include "cluster.h"
#include "compiler/build.h"
#include "db/store.h"
#include "tuner/db_config_source.h"
#include "tuner/tuning_loop.h"

namespace priortune::server {
namespace {

compiler::Target OneCore() {
  compiler::Target t = compiler::Target::Host();
  t.cores = 1;
  return t;
}

std::string RunCommand(const std::string& cmd, int* exit_code) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  int status = p ? pclose(p) : -1;
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

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

TEST(EndToEnd, TheTuneCommandStoresABestThatLookupAndExportFind) {
  Cluster scratch;  // only for its temporary directory
  std::string db = scratch.Path("cli.db");
  std::string exe = PRIORTUNE_EXE;
  int code = -1;
  std::string out = RunCommand(exe + " tune --op matmul --shape 32x48x16 --trials 12 --batch 6 "
                                     "--workers 2 --no-compare --db " + db, &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("12 trials"), std::string::npos) << out;
  std::string found = RunCommand(exe + " lookup --op matmul --shape 32x48x16 --db " + db, &code);
  EXPECT_EQ(code, 0) << found;
  EXPECT_NE(found.find("level: exact target"), std::string::npos) << found;
  // The printed config is the store's best.
  auto store = db::OpenSqliteStore(db);
  ASSERT_TRUE(store.ok());
  compiler::Workload w = compiler::MatmulWorkload(32, 48, 16);
  compiler::Target t = OneCore();
  auto best = (*store)->Best(w.Key(), t.Key(), t.isa_family()).value();
  ASSERT_TRUE(best.has_value());
  EXPECT_NE(found.find(best->record.config_json), std::string::npos) << found;

  // Tune once, deploy many: the same request again is answered from the store.
  std::string again_out = RunCommand(exe + " tune --op matmul --shape 32x48x16 --trials 12 "
                                           "--no-compare --db " + db, &code);
  EXPECT_EQ(code, 0) << again_out;
  EXPECT_NE(again_out.find("already tuned"), std::string::npos) << again_out;
  EXPECT_EQ((*store)->History({}).value().size(), 12u);

  // Export, import into a fresh store: the same best.
  std::string log = scratch.Path("cli.log"), copy = scratch.Path("copy.db");
  ASSERT_EQ((RunCommand(exe + " export --db " + db + " --out " + log, &code), code), 0);
  std::string imported = RunCommand(exe + " import " + log + " --db " + copy, &code);
  ASSERT_EQ(code, 0) << imported;
  EXPECT_NE(imported.find("imported 12 records"), std::string::npos) << imported;
  std::string again = RunCommand(exe + " lookup --op matmul --shape 32x48x16 --db " + copy, &code);
  EXPECT_NE(again.find(best->record.config_json), std::string::npos) << again;

  // Bad input: exit code 2 and a message naming the problem; the store is untouched.
  std::string bad = RunCommand(exe + " tune --op matmul --shape 32x0x16 --db " + db, &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(bad.find("N = 0"), std::string::npos) << bad;
  EXPECT_EQ((*store)->History({}).value().size(), 12u);
}

TEST(EndToEnd, CtrlCStopsTheTuneCommandWithEverythingMeasuredSaved) {
  Cluster scratch;  // only for its temporary directory
  std::string db = scratch.Path("interrupt.db"), out = scratch.Path("interrupt.out");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    freopen(out.c_str(), "w", stdout);
    freopen("/dev/null", "w", stderr);
    execl(PRIORTUNE_EXE, "priortune", "tune", "--op", "matmul", "--shape", "256x256x256", "--trials",
          "400", "--batch", "8", "--db", db.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Interrupt once the first batches are stored.
  compiler::Workload w = compiler::MatmulWorkload(256, 256, 256);
  for (int i = 0; i < 600; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto store = db::OpenSqliteStore(db);
    if (store.ok() && (*store)->History({w.Key(), "", "", 0}).value().size() >= 8) break;
  }
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  std::ifstream f(out);
  std::string text((std::istreambuf_iterator<char>(f)), {});
  size_t at = text.find("interrupted: ");
  ASSERT_NE(at, std::string::npos) << text;
  int reported = std::stoi(text.substr(at + 13));
  auto store = db::OpenSqliteStore(db);
  ASSERT_TRUE(store.ok());
  auto records = (*store)->History({w.Key(), "", "", 0}).value();
  EXPECT_GE(reported, 8);
  EXPECT_LT(reported, 400);
  EXPECT_EQ(records.size(), static_cast<size_t>(reported));
}

}  // namespace
}  // namespace priortune::server
