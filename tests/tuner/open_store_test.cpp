// Stores written before targets named their microarchitecture (issue 27), opened through
// tuner::OpenStore: every record is found again at the lookup level it had, the old keys
// still find them, and export then import round-trips. One store is built here from this
// host's target as the previous release wrote it; the other is a file that release made
// (tests/tuner/data/store-before-microarch.db). Real SQLite files.
#include "tuner/open_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "compiler/ops/op_template.h"
#include "compiler/ops/workload.h"
#include "compiler/target/target.h"
#include "tuner/db_config_source.h"
#include "tuner/measure.h"

namespace priortune::tuner {
namespace {

namespace fs = std::filesystem;
using compiler::Target;

class StoreBeforeMicroarch : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/priortune-migrate-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // A record of `w` on `t` with `t` written as the previous release wrote it: no
  // microarch in its JSON, the key of that JSON.
  static db::Record OldRecord(const compiler::Workload& w, const Target& t, double seconds) {
    const compiler::OpTemplate* tmpl = *compiler::FindTemplate(w.op);
    MeasureResult r;
    r.costs = {seconds};
    r.worker = "old-worker";
    db::Record rec = ToRecord({w, t, tmpl->DefaultConfig(w, t)}, r, 0);
    Target old = t;
    old.microarch.clear();
    rec.target_json = old.ToJson();
    rec.target_key = compiler::HashKey(rec.target_json);
    return rec;
  }

  fs::path dir_;
};

TEST_F(StoreBeforeMicroarch, ThisHostsOldRecordsAreFoundAtTheExactTargetAgain) {
  const Target host = Target::HostWithCores(1);
  const Target zen3 = *Target::Parse("znver3", 1), level = *Target::Parse("x86-64-v3", 1);
  const compiler::Workload a = compiler::MatmulWorkload(64, 64, 64), b = compiler::MatmulWorkload(96, 64, 32);
  {
    // Written as the previous release did (no rewrite: the db alone).
    auto raw = db::OpenSqliteStore(Path("old.db"));
    ASSERT_TRUE(raw.ok()) << raw.status().ToString();
    std::vector<db::Record> batch{OldRecord(a, host, 2e-6), OldRecord(a, host, 1e-6), OldRecord(b, host, 3e-6),
                                  OldRecord(a, zen3, 4e-6), OldRecord(a, level, 5e-6)};
    ASSERT_TRUE((*raw)->AddRecords(batch).ok());
  }
  auto store = OpenStore(Path("old.db"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto all = (*store)->History({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 5u);
  // This host's records now carry its microarchitecture and its key, and answer at the
  // exact target as they did before.
  EXPECT_EQ((*store)->History({"", host.Key(), "", 0}).value().size(), 3u);
  EXPECT_EQ((*store)->History({"", host.LegacyKey(), "", 0}).value().size(), 3u);  // the old key too
  for (const compiler::Workload& w : {a, b}) {
    auto choice = MakeDbConfigSource(**store)->BestConfig(w, host);
    ASSERT_TRUE(choice.ok()) << choice.status().ToString();
    EXPECT_EQ(choice->level, "exact target") << w.ShortName();
  }
  // A named CPU's records take its name; an ISA level's keep their key.
  Target zen3_now = zen3;
  EXPECT_EQ((*store)->History({"", zen3_now.Key(), "", 0}).value().size(), 1u);
  EXPECT_EQ((*store)->History({"", level.Key(), "", 0}).value().size(), 1u);
  for (const db::Record& r : *all) {
    auto t = Target::FromJson(r.target_json);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->Key(), r.target_key) << r.target_json;  // stored in the current form
  }
  // Opening again rewrites nothing.
  EXPECT_EQ((*store)->RewriteTargets(CurrentTargetForm()).value(), 0);
}

// The previous release's own file: `priortune tune` runs of release 1b4af9d (schema 5).
TEST_F(StoreBeforeMicroarch, AStoreMadeByThePreviousReleaseKeepsEveryRecordAndRoundTrips) {
  const fs::path fixture = fs::path(PRIORTUNE_SOURCE_DIR) / "tests/tuner/data/store-before-microarch.db";
  ASSERT_TRUE(fs::exists(fixture)) << fixture;
  fs::copy_file(fixture, Path("release.db"));
  // What it holds, as the db alone reads it (keys as that release wrote them).
  std::map<std::string, size_t> old_counts;
  size_t total = 0;
  {
    auto raw = db::OpenSqliteStore(Path("release.db"));
    ASSERT_TRUE(raw.ok()) << raw.status().ToString();
    auto records = (*raw)->History({});
    ASSERT_TRUE(records.ok()) << records.status().ToString();
    for (const db::Record& r : *records) {
      ++old_counts[r.target_key];
      ++total;
      EXPECT_EQ(r.target_json.find("microarch"), std::string::npos) << "not a file of the previous release";
    }
  }
  ASSERT_GE(total, 16u);
  ASSERT_GE(old_counts.size(), 2u);

  auto store = OpenStore(Path("release.db"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto all = (*store)->History({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), total);
  std::set<std::pair<std::string, std::string>> workload_targets;
  for (const db::Record& r : *all) {
    auto t = Target::FromJson(r.target_json);
    ASSERT_TRUE(t.ok()) << r.target_json;
    EXPECT_EQ(t->Key(), r.target_key);
    workload_targets.insert({r.workload_key, r.target_key});
  }
  // Each old key still finds its records; each (workload, target) still has its best at
  // the exact target.
  for (const auto& [key, n] : old_counts) EXPECT_EQ((*store)->History({"", key, "", 0}).value().size(), n) << key;
  for (const auto& [workload, target] : workload_targets) {
    auto best = (*store)->Best(workload, target, "none");
    ASSERT_TRUE(best.ok() && best->has_value()) << workload << " " << target;
    EXPECT_EQ((*best)->level, db::MatchLevel::kExact);
  }

  // Export, then import into a new store: the same records under the same keys; a second
  // import adds nothing.
  std::stringstream log;
  ASSERT_TRUE((*store)->Export(log, {}).ok());
  auto fresh = OpenStore(Path("fresh.db"));
  ASSERT_TRUE(fresh.ok());
  const std::string text = log.str();
  std::istringstream in(text);
  auto stats = (*fresh)->Import(in, nullptr);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->imported, static_cast<int64_t>(total));
  std::multiset<std::string> before, after;
  for (const db::Record& r : *all) before.insert(r.target_key + " " + r.config_hash + " " + r.workload_key);
  auto imported = (*fresh)->History({});
  ASSERT_TRUE(imported.ok());
  for (const db::Record& r : *imported) after.insert(r.target_key + " " + r.config_hash + " " + r.workload_key);
  EXPECT_EQ(before, after);
  std::istringstream again(text);
  EXPECT_EQ((*fresh)->Import(again, nullptr).value().duplicates, static_cast<int64_t>(total));
}

}  // namespace
}  // namespace priortune::tuner
