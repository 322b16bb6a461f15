// Splitting one tuning budget across a model's tasks: Ansor's gradient-based task
// scheduler (Zheng et al., OSDI 2020, section 6). The objective is the model's latency,
// f = sum_i w_i g_i, where g_i is task i's best latency so far and w_i the number of
// times the model runs it. After a round-robin warm-up (one unit each), every unit of
// trials goes to the task whose latency the next unit is expected to cut most:
//
//   dF/dt_i ~ w_i * ( a * (g_i(t_i) - g_i(t_i - dt)) / dt
//                    + (1 - a) * (min(g_i(t_i) - g_i(t_i) / t_i, b * C_i / V) - g_i(t_i)) )
//
// with t_i in units (rounds) and a = 0.2: the first term is the recent improvement, the
// second an optimistic forward estimate (the next unit cutting the latency by its
// average share so far, or to b = 2 times what its FLOPs C_i take at the best speed V of
// the tasks of its group, whichever is lower), as TVM's auto_scheduler.TaskScheduler
// computes it. The group is the `group` tag (op, kernel and stride here: a strided
// depthwise conv is not held to the speed of an unstrided one). A
// task with the larger share w_i g_i of the model's latency gets the larger gradient,
// and so the larger share of the budget. No tuner or store header: the caller measures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace priortune::tuner {

struct SchedulerTask {
  std::string name;
  std::string group;            // tasks of one group share the speed bound of the forward estimate
  double weight = 1;            // how many times the model runs it
  double flops = 0;             // of one run
  int trials = 0;               // measured so far (records in the store count)
  double best = 0;              // best latency in seconds; 0 while unknown (no correct trial yet)
  std::vector<double> history;  // best after each unit given, oldest first
  bool done = false;            // no more units (its search space is exhausted)
  int failed_units = 0;         // units that ended without any correct trial yet
};

struct TaskSchedulerOptions {
  double alpha = 0.2;       // weight of the backward (observed) gradient
  double beta = 2.0;        // slack on the best speed seen, for the forward estimate
  int backward_window = 3;  // units the backward gradient spans
  int unit_trials = 32;     // trials per unit: counts a store-held task's records in units
  // A task whose best has not improved in its last `stall_units` units gets no more while
  // any other task still improves (TVM's per-task early stopping): the forward estimate
  // of a task far below its group's speed stays large however many units it is given.
  int stall_units = 4;
};

class TaskScheduler {
 public:
  TaskScheduler(std::vector<SchedulerTask> tasks, TaskSchedulerOptions options = {});
  // The task to give the next unit of trials: a task not yet tried first (warm-up, in
  // order), a task without a correct trial (for up to stall_units units; then it gets no
  // more), then the largest |gradient| among the tasks that have not stalled (all of them
  // when every one has); -1 when no task is left.
  int Next() const;
  // After a unit: task i now has `trials` trials and best latency `best` (0: still none).
  void Update(int i, int trials, double best);
  // Task i gets no more units.
  void Finish(int i) { tasks_[static_cast<size_t>(i)].done = true; }
  // The model's estimated latency: sum of weight x best over the tasks with a best; the
  // count of tasks without one in `unknown`.
  double EstimatedLatency(int* unknown = nullptr) const;
  // The gradient of task i as above (0 for a task not yet tried).
  double Gradient(int i) const;
  const std::vector<SchedulerTask>& tasks() const { return tasks_; }

 private:
  std::vector<SchedulerTask> tasks_;
  TaskSchedulerOptions options_;
};

}  // namespace priortune::tuner
