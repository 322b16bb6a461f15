#include "tuner/search_space.h"

#include "tests/common/isa_targets.h"

#include <gtest/gtest.h>

#include <set>

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
  auto after = SearchSpace::Create({{"a", KnobKind::kSplit, {1, 2}, {}, ""}, added,
                                    {"b", KnobKind::kSplit, {3, 4}, {}, ""}});
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
  Config c = {{"a", 1}, {"b", 3}};  // index 0 in s1, 3 in s2
  EXPECT_NE(*s1->IndexOf(c), *s2->IndexOf(c));  // positions differ ...
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

class SpaceOnIsa : public ::testing::TestWithParam<std::string> {};

TEST_P(SpaceOnIsa, DefaultAndHandPickedConfigsLieInTheSpaceAndConstraintsHold) {
  compiler::Target t = priortune::testing::IsaTarget(GetParam());
  for (const auto& w : {compiler::MatmulWorkload(512, 512, 512), compiler::MatmulWorkload(1, 1000, 512),
                        compiler::BatchMatmulWorkload(4, 33, 65, 17),
                        compiler::Conv2dWorkload(1, 64, 56, 56, 64, 3, 3, 1, 1),
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
