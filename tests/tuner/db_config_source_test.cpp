// Lookup across targets: a store holding bests from an AVX-512 and an AVX2 target answers
// each asking target with a config that lies in its own search space, at the right level,
// and says what it passed over. Real SQLite file, constructed targets (any host).
#include "tuner/db_config_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "tuner/search_space.h"
#include "tuner/tuning_loop.h"

namespace priortune::tuner {
namespace {

compiler::Target Named(const std::string& cpu) {
  auto t = compiler::Target::Parse(cpu, 1);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

class CrossTargetLookup : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/priortune-lookup-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = std::move(db::OpenSqliteStore((dir_ / "mixed.db").string())).value();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Stores one measured config of `w` on `t` (as a worker of that target would).
  void Add(const compiler::Target& t, compiler::Config c, double seconds) {
    compiler::Config base = tmpl_->DefaultConfig(w_, t);
    for (const auto& [k, v] : c) base[k] = v;
    ASSERT_TRUE(compiler::CheckConfigInSpace(*tmpl_, w_, t, base).ok())
        << "the record must be valid on its own target " << t.cpu;
    MeasureResult r;
    r.costs = {seconds};
    r.worker = t.cpu;
    std::vector<db::Record> batch{ToRecord({w_, t, base}, r, 0)};
    ASSERT_TRUE(store_->AddRecords(batch).ok());
  }

  compiler::ConfigChoice Lookup(const compiler::Target& t) {
    auto source = MakeDbConfigSource(*store_);
    auto choice = source->BestConfig(w_, t);
    EXPECT_TRUE(choice.ok()) << choice.status().ToString();
    if (choice->level != "default")
      EXPECT_TRUE(compiler::CheckConfigInSpace(*tmpl_, w_, t, choice->config).ok())
          << "handed out a config that does not run on " << t.cpu;
    return *choice;
  }

  std::filesystem::path dir_;
  std::unique_ptr<db::Store> store_;
  compiler::Workload w_ = compiler::MatmulWorkload(512, 512, 512);
  const compiler::OpTemplate* tmpl_ = *compiler::FindTemplate("matmul");
};

TEST_F(CrossTargetLookup, EachTargetGetsAConfigThatRunsOnItAndTheRightLevel) {
  compiler::Target avx512 = Named("x86-64-v4"), avx2 = Named("x86-64-v3");
  // The AVX-512 best is the fastest record overall; its 64-wide tile is not a candidate
  // on AVX2 (8 lanes: tiles of 8..32 columns).
  Add(avx512, {{"mr", 6}, {"mc", 6}, {"nr", 64}, {"nc", 64}}, 1e-3);
  Add(avx512, {{"mr", 4}, {"mc", 4}, {"nr", 32}, {"nc", 32}}, 1.5e-3);
  Add(avx2, {{"mr", 6}, {"mc", 6}, {"nr", 16}, {"nc", 16}}, 2e-3);
  Add(avx2, {{"mr", 4}, {"mc", 4}, {"nr", 16}, {"nc", 16}}, 4e-3);

  // Each target that measured finds its own best.
  auto on512 = Lookup(avx512);
  EXPECT_EQ(on512.level, "exact target");
  EXPECT_EQ(on512.config.at("nr"), 64);
  auto on2 = Lookup(avx2);
  EXPECT_EQ(on2.level, "exact target");
  EXPECT_EQ(on2.config.at("nr"), 16);
  EXPECT_TRUE(on2.skipped.empty());

  // Another AVX2 CPU: the AVX2 best, from the same ISA family.
  auto zen3 = Lookup(Named("znver3"));
  EXPECT_EQ(zen3.level, "same ISA family");
  EXPECT_EQ(zen3.config.at("mr"), 6);
  EXPECT_EQ(zen3.config.at("nr"), 16);
  auto zen4 = Lookup(Named("znver4"));
  EXPECT_EQ(zen4.level, "same ISA family");
  EXPECT_EQ(zen4.config.at("nr"), 64);

  // SSE4.2 (4 lanes, 12 accumulators, tiles up to 16 columns): the AVX-512 tiles 6 x 64
  // and 4 x 32 are no candidates; the AVX2 tiles 6 x 16 and 4 x 16 need 24 and 16
  // accumulators there. All
  // are skipped, fastest first, with reasons, and the answer is the default config: a
  // stored record that runs there does not exist.
  auto sse = Lookup(Named("x86-64-v2"));
  EXPECT_EQ(sse.level, "default");
  ASSERT_EQ(sse.skipped.size(), 4u);
  EXPECT_NE(sse.skipped[0].find("split 'tile_n' (nc=64, nr=64) is not one of its"), std::string::npos)
      << sse.skipped[0];
  EXPECT_NE(sse.skipped[1].find("split 'tile_n' (nc=32, nr=32) is not one of its"), std::string::npos)
      << sse.skipped[1];
  for (size_t i = 2; i < 4; ++i) EXPECT_NE(sse.skipped[i].find("accumulators"), std::string::npos) << sse.skipped[i];
  // build_best agrees, and says so.
  compiler::Target sse_target = Named("x86-64-v2");
  auto source = MakeDbConfigSource(*store_);
  auto built = compiler::BuildBest(w_, sse_target, *source);
  if (sse_target.CheckRunsOnHost().ok()) {
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    EXPECT_EQ(built->choice.level, "default");
    EXPECT_EQ(built->choice.config, tmpl_->DefaultConfig(w_, sse_target));
    EXPECT_EQ(built->choice.skipped.size(), 4u);
  }
}

TEST_F(CrossTargetLookup, AnyTargetLevelHandsOutAnotherFamilysConfigOnlyIfItFits) {
  compiler::Target avx512 = Named("x86-64-v4"), avx2 = Named("x86-64-v3");
  // Only an AVX-512 record: its tile 3 x 16 is one vector wide there, two on AVX2 (6
  // accumulators of 12), so it lies in AVX2's space and may answer at the last level.
  Add(avx512, {{"mr", 3}, {"mc", 3}, {"nr", 16}, {"nc", 16}}, 1e-3);
  auto on2 = Lookup(avx2);
  EXPECT_EQ(on2.level, "any target");
  EXPECT_EQ(on2.config.at("mr"), 3);
  EXPECT_EQ(on2.config.at("nr"), 16);
  EXPECT_TRUE(on2.skipped.empty());
}

TEST_F(CrossTargetLookup, ARecordOfAnOlderTemplateVersionIsKeptButNotHandedOutAndLookupSaysWhy) {
  compiler::Target avx512 = Named("x86-64-v4");
  Add(avx512, {{"mr", 4}, {"mc", 4}, {"nr", 32}, {"nc", 32}}, 2e-3);
  // The fastest record was tuned with matmul template v1, whose knobs were tile_m/tile_n/
  // tile_k scalars: it is not a config of the current space.
  MeasureResult r;
  r.costs = {1e-4};
  r.worker = "old";
  compiler::Config v1 = {{"tile_m", 6}, {"tile_n", 64}, {"tile_k", 4}, {"pack_b", 1}, {"order", 1}, {"parallel", 1}};
  db::Record old = ToRecord({w_, avx512, v1}, r, 0);
  old.template_version = tmpl_->version() - 1;
  std::vector<db::Record> batch{old};
  ASSERT_TRUE(store_->AddRecords(batch).ok());

  auto choice = Lookup(avx512);
  EXPECT_EQ(choice.level, "exact target");
  EXPECT_EQ(choice.config.at("mr"), 4);
  ASSERT_EQ(choice.skipped.size(), 1u);
  EXPECT_NE(choice.skipped[0].find("tuned with matmul template v" + std::to_string(tmpl_->version() - 1) + " (now v" +
                                   std::to_string(tmpl_->version()) + ")"),
            std::string::npos)
      << choice.skipped[0];
  EXPECT_NE(choice.skipped[0].find("misses knob"), std::string::npos) << choice.skipped[0];
  // Kept: both records are still in the store, the old one unchanged.
  auto all = store_->History({w_.Key(), avx512.Key(), "", 0});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  int old_kept = 0;
  for (const auto& rec : *all)
    old_kept += rec.template_version == old.template_version && rec.config_json == old.config_json;
  EXPECT_EQ(old_kept, 1);
}

TEST_F(CrossTargetLookup, AModelBuildTakesTheNearestTunedShapeOfTheSameOpWhoseConfigFits) {
  compiler::Target t = Named("znver4");
  compiler::Workload asked = compiler::MatmulWorkload(384, 512, 512);
  // Tuned: 64^3, and this fixture's 512^3 first with a config that does not lie in the
  // asked shape's space (its hand-picked one), later with one that does.
  compiler::Workload small = compiler::MatmulWorkload(64, 64, 64);
  {
    MeasureResult r;
    r.costs = {1e-5};
    std::vector<db::Record> batch{ToRecord({small, t, tmpl_->HandPickedConfig(small, t)}, r, 0)};
    ASSERT_TRUE(store_->AddRecords(batch).ok());
  }
  compiler::Config only_512 = tmpl_->HandPickedConfig(w_, t);
  ASSERT_FALSE(compiler::CheckConfigInSpace(*tmpl_, asked, t, only_512).ok());
  Add(t, only_512, 1e-3);

  auto plain = MakeDbConfigSource(*store_)->BestConfig(asked, t);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->level, "default");  // lookup itself does not borrow

  auto source = MakeDbConfigSource(*store_, /*nearest_shape=*/true);
  auto near = source->BestConfig(asked, t);
  ASSERT_TRUE(near.ok()) << near.status().ToString();
  EXPECT_EQ(near->level, "nearest tuned shape");
  EXPECT_EQ(near->from, small.ShortName());  // 512^3 is nearer, but its config does not fit
  ASSERT_FALSE(near->skipped.empty());
  EXPECT_NE(near->skipped[0].find(w_.ShortName()), std::string::npos) << near->skipped[0];
  EXPECT_TRUE(compiler::CheckConfigInSpace(*tmpl_, asked, t, near->config).ok());

  // A faster 512^3 config that fits both: now the nearest shape gives it.
  compiler::Config both = tmpl_->HandPickedConfig(asked, t);
  ASSERT_TRUE(compiler::CheckConfigInSpace(*tmpl_, w_, t, both).ok());
  Add(t, both, 5e-4);
  near = source->BestConfig(asked, t);
  ASSERT_TRUE(near.ok());
  EXPECT_EQ(near->level, "nearest tuned shape");
  EXPECT_EQ(near->from, w_.ShortName());
  EXPECT_EQ(near->config, both);

  compiler::Workload relu = compiler::MatmulWorkload(384, 512, 512, false, true);
  auto other_epilogue = source->BestConfig(relu, t);
  ASSERT_TRUE(other_epilogue.ok());
  EXPECT_EQ(other_epilogue->level, "default");  // another epilogue is never borrowed from
}

// The check before use (model builds): a record no job of this store measured (imported,
// job 0) or of another target is vetted; one that fails is passed over with the reason
// and the ladder goes on; a record this store's own job measured on the exact target is
// used as it is.
TEST_F(CrossTargetLookup, AConfigNeverMeasuredHereIsVettedAndOneThatFailsIsPassedOver) {
  compiler::Target t = Named("x86-64-v4"), sibling = Named("znver4");
  ASSERT_EQ(t.isa_family(), sibling.isa_family());
  Add(t, {{"mr", 6}, {"mc", 6}, {"nr", 64}, {"nc", 64}}, 1e-3);        // imported (job 0), fastest
  Add(sibling, {{"mr", 4}, {"mc", 4}, {"nr", 32}, {"nc", 32}}, 2e-3);  // another target of the family
  int vetted = 0;
  ConfigVet vet = [&](const compiler::Workload&, const compiler::Target&, const compiler::Config& c) {
    ++vetted;
    if (c.at("nr") == 64) return compiler::UseCheck{false, "fake check: output 3 differs"};
    return compiler::UseCheck{true, "fake check: passed"};
  };
  auto choice = MakeDbConfigSource(*store_, false, vet)->BestConfig(w_, t);
  ASSERT_TRUE(choice.ok()) << choice.status().ToString();
  EXPECT_EQ(choice->level, "same ISA family");
  EXPECT_EQ(choice->config.at("nr"), 32);
  EXPECT_EQ(choice->check, "fake check: passed");
  EXPECT_EQ(vetted, 2);
  bool said = false;
  for (const auto& why : choice->skipped)
    said |= why.find("failed its check before use: fake check: output 3 differs") != std::string::npos;
  EXPECT_TRUE(said) << ::testing::PrintToString(choice->skipped);

  // Measured by a job of this store on the exact target: no vet.
  compiler::Config mine = tmpl_->DefaultConfig(w_, t);
  for (const auto& [k, v] : compiler::Config{{"mr", 4}, {"mc", 4}, {"nr", 16}, {"nc", 16}}) mine[k] = v;
  MeasureResult r;
  r.costs = {5e-4};
  auto job = store_->CreateJob("{}");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  std::vector<db::Record> batch{ToRecord({w_, t, mine}, r, *job)};
  ASSERT_TRUE(store_->AddRecords(batch).ok());
  vetted = 0;
  choice = MakeDbConfigSource(*store_, false, vet)->BestConfig(w_, t);
  ASSERT_TRUE(choice.ok());
  EXPECT_EQ(choice->level, "exact target");
  EXPECT_EQ(choice->config.at("nr"), 16);
  EXPECT_EQ(choice->check, "");
  EXPECT_EQ(vetted, 0);
}

// The real check: a config that builds and matches passes; on a target this host cannot
// run, the check is skipped and says so.
TEST(CheckBeforeUse, PassesAGoodConfigAndSaysWhenItCannotRunHere) {
  compiler::Workload w = compiler::Conv2dWorkload(1, 6, 11, 9, 5, 3, 3, 2, 1, true, true);
  const compiler::OpTemplate* conv = *compiler::FindTemplate("conv2d");
  compiler::Target host = compiler::Target::Host();
  compiler::UseCheck ok = compiler::CheckBeforeUse(w, host, conv->HandPickedConfig(w, host));
  EXPECT_TRUE(ok.passed) << ok.note;
  EXPECT_NE(ok.note.find("passed: built bounds-checked"), std::string::npos) << ok.note;
  for (const char* cpu : {"sapphirerapids", "znver4"}) {
    compiler::Target other = Named(cpu);
    if (other.CheckRunsOnHost().ok()) continue;
    compiler::UseCheck skipped = compiler::CheckBeforeUse(w, other, conv->HandPickedConfig(w, other));
    EXPECT_TRUE(skipped.passed);
    EXPECT_NE(skipped.note.find("skipped: this host cannot run code for " + std::string(cpu)), std::string::npos)
        << skipped.note;
  }
}

}  // namespace
}  // namespace priortune::tuner
