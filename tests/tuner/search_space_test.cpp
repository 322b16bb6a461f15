#include "tuner/search_space.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/common/isa_targets.h"

namespace priortune::tuner {
namespace {

using compiler::KnobKind;

SearchSpace Small(std::vector<Constraint> constraints = {}) {
  auto s = SearchSpace::Create({{"a", KnobKind::kSplit, {1, 2, 4}, {}, ""},
                                {"b", KnobKind::kEnum, {0, 1}, {"x", "y"}, ""},
                                {"c", KnobKind::kSplit, {8, 16, 32, 64}, {}, ""}},
                               std::move(constraints));
  EXPECT_TRUE(s.ok());
  return *s;
}

TEST(SearchSpace, IndexAndConfigRoundTripOverTheWholeSpace) {
  SearchSpace s = Small();
  ASSERT_EQ(s.size(), 24u);
  std::set<Config> seen;
  for (uint64_t i = 0; i < s.size(); ++i) {
    auto c = s.ConfigAt(i);
    ASSERT_TRUE(c.ok());
    auto back = s.IndexOf(*c);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, i);
    seen.insert(*c);
  }
  EXPECT_EQ(seen.size(), 24u);
  EXPECT_EQ(s.ConfigAt(24).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(s.IndexOf({{"a", 3}, {"b", 0}, {"c", 8}}).status().code(), StatusCode::kInvalidArgument);
}

TEST(SearchSpace, HashIsUnchangedWhenAKnobIsAddedAtItsNeutralValue) {
  auto before = SearchSpace::Create({{"a", KnobKind::kSplit, {1, 2}, {}, ""}, {"b", KnobKind::kSplit, {3, 4}, {}, ""}});
  KnobDef added{"prefetch", KnobKind::kAnnotation, {0, 1}, {}, "", 0};
  auto after =
      SearchSpace::Create({{"a", KnobKind::kSplit, {1, 2}, {}, ""}, added, {"b", KnobKind::kSplit, {3, 4}, {}, ""}});
  ASSERT_TRUE(before.ok() && after.ok());
  Config old{{"a", 2}, {"b", 3}};
  Config same = old, other = old;
  same["prefetch"] = 0;
  other["prefetch"] = 1;
  EXPECT_EQ(before->Hash(old), after->Hash(same));
  EXPECT_NE(before->Hash(old), after->Hash(other));
  EXPECT_NE(after->Hash(same), after->Hash(other));
}

TEST(SearchSpace, HashDependsOnKnobValuesNotOnDeclarationOrder) {
  auto s1 = SearchSpace::Create({{"a", KnobKind::kSplit, {1, 2}, {}, ""}, {"b", KnobKind::kSplit, {3, 4}, {}, ""}});
  auto s2 = SearchSpace::Create({{"b", KnobKind::kSplit, {4, 3}, {}, ""}, {"a", KnobKind::kSplit, {2, 1}, {}, ""}});
  ASSERT_TRUE(s1.ok() && s2.ok());
  Config c = {{"a", 1}, {"b", 3}};                                   // index 0 in s1, 3 in s2
  EXPECT_NE(*s1->IndexOf(c), *s2->IndexOf(c));                       // positions differ ...
  EXPECT_EQ(ConfigHash(c), ConfigHash(Config{{"b", 3}, {"a", 1}}));  // ... the hash does not
  EXPECT_NE(ConfigHash(c), ConfigHash(Config{{"a", 1}, {"b", 4}}));
}

TEST(SearchSpace, SamplingMutationAndNeighboursRespectConstraints) {
  SearchSpace s = Small({{"a*c <= 64", [](const Config& c) { return c.at("a") * c.at("c") <= 64; }}});
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    auto c = s.Sample(rng);
    ASSERT_TRUE(c.ok());
    EXPECT_LE(c->at("a") * c->at("c"), 64);
    Config m = s.Mutate(*c, rng, 0.3);
    EXPECT_TRUE(s.Valid(m));
    for (const auto& n : s.Neighbours(*c)) {
      EXPECT_TRUE(s.Valid(n));
      int diffs = 0;
      for (const auto& [k, v] : n) diffs += v != c->at(k);
      EXPECT_EQ(diffs, 1);
    }
  }
  EXPECT_FALSE(s.Valid({{"a", 4}, {"b", 0}, {"c", 64}}));
}

TEST(SearchSpace, SameSeedGivesTheSameSamples) {
  SearchSpace s = Small();
  std::mt19937_64 r1(42), r2(42);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(*s.Sample(r1), *s.Sample(r2));
}

TEST(SearchSpace, RejectsMalformedKnobs) {
  EXPECT_FALSE(SearchSpace::Create({}).ok());
  EXPECT_FALSE(SearchSpace::Create({{"a", KnobKind::kSplit, {}, {}, ""}}).ok());
  EXPECT_FALSE(SearchSpace::Create({{"a", KnobKind::kSplit, {1, 1}, {}, ""}}).ok());
  EXPECT_FALSE(SearchSpace::Create({{"a", KnobKind::kSplit, {1}, {}, ""}, {"a", KnobKind::kSplit, {2}, {}, ""}}).ok());
}

// A tile knob "mn" splitting one loop into (outer block, inner tile) and a scalar knob.
SearchSpace Tiled(std::vector<Constraint> constraints = {}) {
  auto s = SearchSpace::Create(
      {compiler::TileKnob("mn", {"block", "tile"}, {{4, 1}, {4, 2}, {4, 4}, {8, 2}, {8, 4}, {8, 8}, {16, 8}}, ""),
       {"u", KnobKind::kSplit, {1, 2, 4}, {}, ""}},
      std::move(constraints));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

TEST(SearchSpace, ATileKnobIsOneDimensionWhoseCandidatesAreWholeTuples) {
  SearchSpace s = Tiled();
  ASSERT_EQ(s.size(), 21u);
  std::set<Config> seen;
  for (uint64_t i = 0; i < s.size(); ++i) {
    Config c = *s.ConfigAt(i);
    ASSERT_EQ(c.size(), 3u);  // block, tile, u: the tuple is stored level by level
    EXPECT_EQ(c.at("block") % c.at("tile"), 0);
    EXPECT_EQ(*s.IndexOf(c), i);
    seen.insert(c);
  }
  EXPECT_EQ(seen.size(), 21u);
  // Each level's value is a candidate of its own, but the pair is not a tuple.
  auto bad = s.IndexOf({{"block", 4}, {"tile", 8}, {"u", 1}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("split 'mn' (block=4, tile=8) is not one of its 7"), std::string::npos)
      << bad.status().ToString();
  EXPECT_FALSE(s.IndexOf({{"block", 4}, {"u", 1}}).ok());  // a level missing
  EXPECT_FALSE(SearchSpace::Create({compiler::TileKnob("a", {"x"}, {{1}}, ""), {"x", KnobKind::kSplit, {1}, {}, ""}})
                   .ok());  // entry twice
}

TEST(SearchSpace, TileNeighboursMoveOneLevelToItsNextValue) {
  SearchSpace s = Tiled();
  Config c = {{"block", 8}, {"tile", 4}, {"u", 2}};
  std::set<std::pair<int64_t, int64_t>> tiles;
  for (const auto& n : s.Neighbours(c)) {
    if (n.at("u") != 2) continue;
    tiles.insert({n.at("block"), n.at("tile")});
  }
  // block 8: tiles 2 and 8 beside 4; tile 4: blocks 4 beside 8 (no 16 x 4 tuple).
  std::set<std::pair<int64_t, int64_t>> want = {{8, 2}, {8, 8}, {4, 4}};
  EXPECT_EQ(tiles, want);
}

TEST(SearchSpace, CountValidMatchesEnumerationOfTheWholeSpace) {
  std::vector<Constraint> rules = {
      {"tile * u <= 8", [](const Config& c) { return c.at("tile") * c.at("u") <= 8; }, {"mn", "u"}},
      {"block != 16", [](const Config& c) { return c.at("block") != 16; }, {"mn"}},
      {"not (u = 4 and tile = 1)", [](const Config& c) { return !(c.at("u") == 4 && c.at("tile") == 1); }}};
  SearchSpace s = Tiled(rules);
  uint64_t brute = 0;
  for (uint64_t i = 0; i < s.size(); ++i) brute += s.Valid(*s.ConfigAt(i));
  EXPECT_EQ(s.CountValid(), brute);
  EXPECT_GT(brute, 0u);
  EXPECT_LT(brute, s.size());
}

TEST(SearchSpace, ConstraintsApplyWhileDrawingSoRareValidConfigsAreFoundAtOnce) {
  // Six knobs of 64 candidates where a valid config needs a == b == c == d == e == f:
  // 64 of 6.9e10 points. Rejection sampling would need ~1e9 draws per config.
  std::vector<KnobDef> knobs;
  std::vector<int64_t> vals;
  for (int64_t v = 0; v < 64; ++v) vals.push_back(v);
  std::vector<std::string> names = {"a", "b", "c", "d", "e", "f"};
  for (const auto& n : names) knobs.push_back({n, KnobKind::kSplit, vals, {}, ""});
  std::vector<Constraint> rules;
  for (size_t i = 1; i < names.size(); ++i) {
    std::string x = names[i - 1], y = names[i];
    rules.push_back({x + " == " + y, [x, y](const Config& c) { return c.at(x) == c.at(y); }, {x, y}});
  }
  auto s = SearchSpace::Create(knobs, rules);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->CountValid(), 64u);
  std::mt19937_64 rng(3);
  std::set<int64_t> drawn;
  for (int i = 0; i < 200; ++i) {
    auto c = s->Sample(rng);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_TRUE(s->Valid(*c));
    drawn.insert(c->at("a"));
    Config m = s->Mutate(*c, rng, 0.2);
    EXPECT_TRUE(s->Valid(m));
  }
  EXPECT_GT(drawn.size(), 40u);  // spread over the valid configs, not stuck on one
  // A constraint naming a knob the space lacks is a malformed space.
  EXPECT_FALSE(SearchSpace::Create(knobs, {{"bad", [](const Config&) { return true; }, {"zz"}}}).ok());
}

class SpaceOnIsa : public ::testing::TestWithParam<std::string> {};

TEST_P(SpaceOnIsa, DefaultAndHandPickedConfigsLieInTheSpaceAndConstraintsHold) {
  compiler::Target t = priortune::testing::IsaTarget(GetParam());
  for (const auto& w :
       {compiler::MatmulWorkload(512, 512, 512), compiler::MatmulWorkload(1, 1000, 512),
        compiler::BatchMatmulWorkload(4, 33, 65, 17), compiler::Conv2dWorkload(1, 64, 56, 56, 64, 3, 3, 1, 1),
        compiler::Conv2dWorkload(1, 512, 7, 7, 512, 3, 3, 1, 1),
        compiler::Conv2dWorkload(1, 3, 224, 224, 64, 7, 7, 2, 3),
        compiler::DepthwiseConv2dWorkload(1, 32, 112, 112, 3, 3, 1, 1)}) {
    SCOPED_TRACE(w.ShortName() + " on " + t.cpu);
    auto s = SearchSpace::ForWorkload(w, t);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    auto tmpl = *compiler::FindTemplate(w.op);
    EXPECT_TRUE(s->Valid(tmpl->DefaultConfig(w, t))) << compiler::ConfigToJson(tmpl->DefaultConfig(w, t));
    EXPECT_TRUE(s->Valid(tmpl->HandPickedConfig(w, t))) << compiler::ConfigToJson(tmpl->HandPickedConfig(w, t));
    EXPECT_TRUE(compiler::CheckConfigInSpace(*tmpl, w, t, tmpl->HandPickedConfig(w, t)).ok());
    // The register-tile constraints hold for sampled, mutated and neighbouring configs.
    std::mt19937_64 rng(5);
    for (int i = 0; i < 100; ++i) {
      compiler::Config c = *s->Sample(rng);
      compiler::Config m = s->Mutate(c, rng, 0.3);
      for (const auto& k : tmpl->Constraints(w, t)) {
        EXPECT_TRUE(k.holds(c)) << k.description;
        EXPECT_TRUE(k.holds(m)) << k.description;
        for (const auto& n : s->Neighbours(c)) EXPECT_TRUE(k.holds(n)) << k.description;
      }
    }
    EXPECT_GT(s->size(), 30u);
  }
}

TEST_P(SpaceOnIsa, Square512BertFfnAndR18C4HaveAtLeastAHundredThousandValidConfigs) {
  compiler::Target t = priortune::testing::IsaTarget(GetParam());
  for (const auto& w : {compiler::MatmulWorkload(512, 512, 512), compiler::MatmulWorkload(128, 3072, 768),
                        compiler::MatmulWorkload(128, 768, 3072)}) {
    auto s = SearchSpace::ForWorkload(w, t);
    ASSERT_TRUE(s.ok());
    EXPECT_GE(s->CountValid(), 100000u) << w.ShortName() << " on " << t.cpu;
  }
  auto r18c4 = SearchSpace::ForWorkload(compiler::Conv2dWorkload(1, 128, 28, 28, 128, 3, 3, 1, 1), t);
  ASSERT_TRUE(r18c4.ok());
  EXPECT_GE(r18c4->CountValid(), 100000u) << "r18-c4 on " << t.cpu;
}

TEST_P(SpaceOnIsa, AMatmulTileThatWouldSpillTheRegistersIsOutsideTheSpace) {
  compiler::Target t = priortune::testing::IsaTarget(GetParam());
  compiler::Workload w = compiler::MatmulWorkload(512, 512, 512);
  auto s = SearchSpace::ForWorkload(w, t);
  ASSERT_TRUE(s.ok());
  auto tmpl = *compiler::FindTemplate("matmul");
  // The widest tile with as many rows as there are vector registers: a candidate of each
  // knob, but rows x 4 vectors accumulators cannot fit.
  compiler::Config spills = tmpl->DefaultConfig(w, t);
  spills["mr"] = spills["mc"] = t.vector_registers - 4;
  spills["nr"] = spills["nc"] = 4 * t.vector_lanes();
  EXPECT_TRUE(s->IndexOf(spills).ok());
  EXPECT_FALSE(s->Valid(spills));
  // And the same tile one vector wide fits.
  spills["nr"] = spills["nc"] = t.vector_lanes();
  EXPECT_TRUE(s->Valid(spills));
}

INSTANTIATE_TEST_SUITE_P(Isa, SpaceOnIsa, ::testing::ValuesIn(priortune::testing::IsaNames()),
                         priortune::testing::IsaParamName);

}  // namespace
}  // namespace priortune::tuner
