// The gradient task scheduler on synthetic tasks whose best latency falls along a known
// curve as trials are spent: the budget goes where the model's latency falls most.
#include "tuner/task_scheduler.h"

#include <gtest/gtest.h>

#include <cmath>

namespace priortune::tuner {
namespace {

// Best latency after t trials: from `start` down towards `floor`, halving the gap every
// `half` trials.
double Curve(double start, double floor, double half, int t) {
  return floor + (start - floor) * std::pow(0.5, t / half);
}

struct Synthetic {
  double start, floor, half;
};

// Runs `units` units of `unit` trials; returns the trials each task got.
std::vector<int> Schedule(std::vector<SchedulerTask> tasks, const std::vector<Synthetic>& curves, int units, int unit) {
  TaskScheduler s(std::move(tasks));
  for (int u = 0; u < units; ++u) {
    int i = s.Next();
    EXPECT_GE(i, 0);
    int t = s.tasks()[i].trials + unit;
    const Synthetic& c = curves[i];
    s.Update(i, t, Curve(c.start, c.floor, c.half, t));
  }
  std::vector<int> out;
  for (const auto& t : s.tasks()) out.push_back(t.trials);
  return out;
}

SchedulerTask Task(const std::string& name, double weight, double flops) {
  SchedulerTask t;
  t.name = name;
  t.group = "conv2d";
  t.weight = weight;
  t.flops = flops;
  return t;
}

TEST(TaskScheduler, TheTaskWithTheLargerLatencyShareGetsMoreTrials) {
  // Two tasks alike in every way but how often the model runs them: 4 times vs once.
  std::vector<Synthetic> curves = {{2e-3, 1e-3, 64}, {2e-3, 1e-3, 64}};
  auto trials = Schedule({Task("big", 4, 1e8), Task("small", 1, 1e8)}, curves, 40, 16);
  EXPECT_EQ(trials[0] + trials[1], 640);
  EXPECT_GT(trials[0], trials[1]) << "big " << trials[0] << ", small " << trials[1];
  EXPECT_GT(trials[1], 0);  // the warm-up gives every task a unit

  // The share is weight x latency: once, but ten times slower, is the larger share.
  std::vector<Synthetic> slow = {{2e-3, 1e-3, 64}, {2e-2, 1e-2, 64}};
  auto by_latency = Schedule({Task("often", 2, 1e8), Task("slow", 1, 1e9)}, slow, 40, 16);
  EXPECT_GT(by_latency[1], by_latency[0]) << "often " << by_latency[0] << ", slow " << by_latency[1];
}

TEST(TaskScheduler, ASlowTaskWithASmallShareDoesNotSwallowTheBudget) {
  // Three tasks of one group: two large shares that improve, and one with a twentieth of
  // the latency that is 4x slower per FLOP than the others and never improves (as a
  // memory-bound strided depthwise conv beside compute-bound ones).
  std::vector<Synthetic> curves = {{4e-3, 2e-3, 96}, {4e-3, 2e-3, 96}, {4e-4, 4e-4, 1}};
  auto trials = Schedule({Task("a", 1, 4e8), Task("b", 1, 4e8), Task("slow", 1, 1e7)}, curves, 30, 32);
  EXPECT_LT(trials[2], trials[0]) << "a " << trials[0] << ", slow " << trials[2];
  EXPECT_LT(trials[2], trials[1]) << "b " << trials[1] << ", slow " << trials[2];
}

TEST(TaskScheduler, WarmsUpInOrderThenTriesTasksWithoutACorrectTrialFirst) {
  TaskScheduler s({Task("a", 1, 1e8), Task("b", 1, 1e8), Task("c", 1, 1e8)});
  EXPECT_EQ(s.Next(), 0);
  s.Update(0, 16, 1e-3);
  EXPECT_EQ(s.Next(), 1);
  s.Update(1, 16, 0);  // every trial failed: latency still unknown
  EXPECT_EQ(s.Next(), 2);
  s.Update(2, 16, 4e-3);
  EXPECT_EQ(s.Next(), 1);  // b has no latency yet
  int unknown = 0;
  EXPECT_DOUBLE_EQ(s.EstimatedLatency(&unknown), 5e-3);
  EXPECT_EQ(unknown, 1);
  s.Update(1, 32, 2e-3);
  EXPECT_DOUBLE_EQ(s.EstimatedLatency(&unknown), 7e-3);
  EXPECT_EQ(unknown, 0);
  // c holds the most latency and nothing has improved yet: the largest gradient.
  EXPECT_EQ(s.Next(), 2);
  EXPECT_LT(s.Gradient(2), s.Gradient(0));  // both negative: c's falls faster
}

TEST(TaskScheduler, ATaskWhoseTrialsAllFailGetsAtMostStallUnitsUnits) {
  TaskScheduler s({Task("broken", 1, 1e8), Task("fine", 1, 1e8)});
  int broken = 0;
  for (int u = 0; u < 20; ++u) {
    int i = s.Next();
    ASSERT_GE(i, 0);
    if (i == 0) {
      ++broken;
      s.Update(0, s.tasks()[0].trials + 32, 0);  // every trial failed
    } else {
      int t = s.tasks()[1].trials + 32;
      s.Update(1, t, Curve(2e-3, 1e-3, 64, t));
    }
  }
  EXPECT_EQ(broken, TaskSchedulerOptions{}.stall_units);
  EXPECT_EQ(s.tasks()[1].trials, (20 - broken) * 32);
}

TEST(TaskScheduler, ATaskTheStoreAlreadyHoldsSkipsTheWarmUp) {
  SchedulerTask held = Task("held", 1, 1e8);
  held.trials = 200;
  held.best = 1e-4;
  TaskScheduler s({held, Task("new", 1, 1e8)});
  EXPECT_EQ(s.Next(), 1);
  EXPECT_EQ(TaskScheduler({}).Next(), -1);
}

}  // namespace
}  // namespace priortune::tuner
