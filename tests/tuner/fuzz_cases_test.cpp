// The fuzzer's cases: deterministic in the seed, every knob's extremes and each
// constraint's edges in a workload's group, blocked layouts where a config has a block,
// workloads the template accepts, cases that survive their JSON line, and one case of
// each kind run in this process.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "tuner/fuzz.h"
#include "tuner/search_space.h"

namespace priortune::tuner {
namespace {

FuzzOptions Options(const std::vector<std::string>& ops) {
  FuzzOptions o;
  o.ops = ops;
  o.targets = {"host"};
  o.threads = {1, 2};
  o.seed = 5;
  o.configs_per_group = 3;
  o.max_macs = 1e6;
  return o;
}

TEST(FuzzCases, AGroupHoldsEveryKnobsExtremesAndIsTheSameForTheSameSeed) {
  for (const std::string op : compiler::KnownOps()) {
    FuzzOptions o = Options({op});
    ASSERT_TRUE(o.Validate().ok());
    auto group = DrawGroup(o, 0, 100);
    ASSERT_TRUE(group.ok()) << group.status().ToString();
    ASSERT_FALSE(group->empty());
    auto again = DrawGroup(o, 0, 100);
    ASSERT_TRUE(again.ok());
    ASSERT_EQ(group->size(), again->size());
    for (size_t i = 0; i < group->size(); ++i) EXPECT_EQ((*group)[i].ToJson(), (*again)[i].ToJson()) << op << " " << i;

    const FuzzCase& first = group->front();
    EXPECT_EQ(first.index, 100);
    EXPECT_EQ(first.origin, "hand-picked");
    const compiler::OpTemplate* tmpl = *compiler::FindTemplate(op);
    EXPECT_TRUE(tmpl->Validate(first.workload).ok()) << first.workload.ToJson();
    EXPECT_LE(tmpl->Flops(first.workload) / 2, o.max_macs);
    auto space = SearchSpace::ForWorkload(first.workload, first.target);
    ASSERT_TRUE(space.ok());
    std::set<std::string> origins;
    for (const auto& c : *group) origins.insert(c.origin);
    for (const auto& knob : space->knobs()) {
      if (knob.size() < 2) continue;
      // The smallest and the largest candidate of each knob appear in some config.
      for (size_t pos : {size_t{0}, knob.size() - 1}) {
        bool seen = false;
        for (const auto& c : *group) seen |= knob.PositionIn(c.config) == static_cast<int64_t>(pos);
        EXPECT_TRUE(seen) << op << ": knob " << knob.name << " never at candidate " << pos;
      }
    }
    // For each constraint some config sits at its edge: one of the knobs it reads cannot
    // take its next candidate without breaking the space's constraints (or has none).
    for (const auto& rule : tmpl->Constraints(first.workload, first.target)) {
      if (rule.knobs.empty()) continue;
      bool edge = false;
      for (const auto& c : *group)
        for (const auto& knob : space->knobs()) {
          const auto entries = knob.Entries();
          bool read = false;
          for (const auto& e : rule.knobs)
            read |= knob.name == e || std::find(entries.begin(), entries.end(), e) != entries.end();
          const int64_t pos = knob.PositionIn(c.config);
          if (!read || pos < 0 || !space->Valid(c.config)) continue;
          if (pos + 1 == static_cast<int64_t>(knob.size())) {
            edge = true;
            continue;
          }
          compiler::Config next = c.config;
          knob.Assign(static_cast<size_t>(pos + 1), next);
          edge |= !space->Valid(next);
        }
      EXPECT_TRUE(edge) << op << ": no config at the edge of '" << rule.description << "'";
    }
    for (const auto& c : *group) {
      if (c.origin == "default") continue;  // the default config need not satisfy them
      EXPECT_TRUE(space->Valid(c.config)) << op << " " << c.origin << ": " << compiler::ConfigToJson(c.config);
    }
    // Another seed draws another workload.
    FuzzOptions other = o;
    other.seed = 6;
    auto g2 = DrawGroup(other, 0, 0);
    ASSERT_TRUE(g2.ok());
    EXPECT_NE(g2->front().workload.ToJson() + g2->back().ToJson(), first.workload.ToJson() + group->back().ToJson());
  }
}

TEST(FuzzCases, BlockedConfigsMeetBlockedLayoutsAndEveryCaseSurvivesItsJsonLine) {
  FuzzOptions o = Options({"conv2d", "depthwise_conv2d", "model"});
  int blocked = 0, cases = 0;
  for (int64_t g = 0; g < 12; ++g) {
    auto group = DrawGroup(o, g, 0);
    ASSERT_TRUE(group.ok()) << group.status().ToString();
    for (const FuzzCase& c : *group) {
      ++cases;
      blocked += !c.layouts.plain();
      auto back = FuzzCase::FromJson(c.ToJson());
      ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << c.ToJson();
      EXPECT_EQ(back->ToJson(), c.ToJson());
    }
  }
  EXPECT_GT(blocked, 0) << "of " << cases;
  EXPECT_FALSE(FuzzCase::FromJson(R"({"kind":"kernel"})").ok());
  EXPECT_FALSE(FuzzCase::FromJson(R"({"kind":"other","target":{"cpu":"x86-64"}})").ok());
  EXPECT_FALSE(FuzzCase::FromJson("not json").ok());
}

TEST(FuzzCases, OneCaseOfEachKindRunsAndPassesInProcess) {
  FuzzOptions o = Options({"matmul", "model"});
  o.check_bounds = true;
  for (int64_t g : {0, 1}) {
    auto group = DrawGroup(o, g, 0);
    ASSERT_TRUE(group.ok());
    FuzzResult r = RunFuzzCase(group->front());
    EXPECT_EQ(r.outcome, FuzzOutcome::kPass) << group->front().Describe() << ": " << r.message;
  }
}

// Every case the fuzzer ever failed on, from its repro files, passes now (each line: the
// case and what it did then). The first three: depthwise and conv2d configs whose padding
// masks off whole vectors computed garbage on AVX2 (LLVM 16's vmaskmovps lowering of
// llvm.masked.load/store; now emitted as the ISA's intrinsics).
TEST(FuzzRegressions, EveryCaseTheFuzzerFoundPasses) {
  std::ifstream in(std::string(PRIORTUNE_SOURCE_DIR) + "/tests/tuner/data/fuzz_regressions.jsonl");
  ASSERT_TRUE(in) << "tests/tuner/data/fuzz_regressions.jsonl";
  int cases = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    auto c = FuzzCase::FromJson(j["case"].dump());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    if (!c->target.CheckRunsOnHost().ok()) continue;  // a case for a CPU this one is not
    ++cases;
    for (bool check : {false, true}) {
      c->check_bounds = check;
      FuzzResult r = RunFuzzCase(*c);
      EXPECT_EQ(r.outcome, FuzzOutcome::kPass)
          << c->Describe() << ": " << r.message << " (was: " << j["outcome"] << ", " << j["message"] << ")";
    }
  }
  EXPECT_GE(cases, 3);
}

TEST(FuzzCases, BadOptionsAreRefusedNamingTheOption) {
  FuzzOptions o = Options({"nosuchop"});
  EXPECT_NE(o.Validate().message().find("'nosuchop'"), std::string::npos);
  o = Options({"matmul"});
  o.targets = {"nosuchcpu"};
  EXPECT_NE(o.Validate().message().find("--target 'nosuchcpu'"), std::string::npos);
  o = Options({"matmul"});
  o.threads = {0};
  EXPECT_NE(o.Validate().message().find("--threads 0"), std::string::npos);
}

}  // namespace
}  // namespace priortune::tuner
