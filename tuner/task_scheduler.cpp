#include "tuner/task_scheduler.h"

#include <algorithm>
#include <cmath>

namespace priortune::tuner {

TaskScheduler::TaskScheduler(std::vector<SchedulerTask> tasks, TaskSchedulerOptions options)
    : tasks_(std::move(tasks)), options_(options) {
  options_.backward_window = std::max(1, options_.backward_window);
  options_.stall_units = std::max(1, options_.stall_units);
  options_.unit_trials = std::max(1, options_.unit_trials);
  for (auto& t : tasks_)
    if (t.best > 0 && t.history.empty()) t.history.push_back(t.best);
}

int TaskScheduler::Next() const {
  for (size_t i = 0; i < tasks_.size(); ++i)
    if (!tasks_[i].done && tasks_[i].trials == 0) return static_cast<int>(i);
  // A task still without a correct trial has an unknown latency: it could be anything, so
  // it comes before the gradients (as a not-yet-tried one), for up to stall_units units.
  for (size_t i = 0; i < tasks_.size(); ++i)
    if (!tasks_[i].done && tasks_[i].best <= 0 && tasks_[i].failed_units < options_.stall_units)
      return static_cast<int>(i);
  auto stalled = [&](const SchedulerTask& t) {
    const size_t n = t.history.size(), k = static_cast<size_t>(std::max(1, options_.stall_units));
    return n > k && !(t.history[n - 1] < t.history[n - 1 - k]);
  };
  bool any_improving = false;
  for (const auto& t : tasks_) any_improving |= !t.done && !stalled(t);
  int best = -1;
  double best_grad = -1;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    if (tasks_[i].done || tasks_[i].best <= 0 || (any_improving && stalled(tasks_[i]))) continue;
    double g = std::fabs(Gradient(static_cast<int>(i)));
    if (g > best_grad) {
      best_grad = g;
      best = static_cast<int>(i);
    }
  }
  return best;
}

void TaskScheduler::Update(int i, int trials, double best) {
  SchedulerTask& t = tasks_[static_cast<size_t>(i)];
  t.trials = trials;
  if (best <= 0 && t.best <= 0) ++t.failed_units;
  if (best > 0 && (t.best <= 0 || best < t.best)) t.best = best;
  if (t.best > 0) t.history.push_back(t.best);
}

double TaskScheduler::Gradient(int i) const {
  const SchedulerTask& t = tasks_[static_cast<size_t>(i)];
  if (t.trials == 0 || t.best <= 0) return 0;
  // Units so far: a store-held task's records count as units of unit_trials.
  const double units = std::max(1.0, std::ceil(static_cast<double>(t.trials) / std::max(1, options_.unit_trials)));
  // Backward: the change of the best over the last `window` units, per unit.
  double backward = 0;
  const size_t n = t.history.size();
  if (n >= 2) {
    size_t back = std::min<size_t>(n - 1, static_cast<size_t>(options_.backward_window));
    backward = (t.history[n - 1] - t.history[n - 1 - back]) / static_cast<double>(back);
  }
  // Forward: the lower of two guesses of the next unit's best: its average cut per unit
  // so far, or beta times what its FLOPs take at the best speed of its group.
  double fastest = 0;  // FLOP/s
  for (const auto& o : tasks_)
    if (o.group == t.group && o.best > 0 && o.flops > 0) fastest = std::max(fastest, o.flops / o.best);
  double next = t.best - t.best / units;
  if (fastest > 0 && t.flops > 0) next = std::min(next, options_.beta * t.flops / fastest);
  const double forward = next - t.best;
  return t.weight * (options_.alpha * backward + (1 - options_.alpha) * forward);
}

double TaskScheduler::EstimatedLatency(int* unknown) const {
  double sum = 0;
  int missing = 0;
  for (const auto& t : tasks_) {
    if (t.best > 0)
      sum += t.weight * t.best;
    else
      ++missing;
  }
  if (unknown) *unknown = missing;
  return sum;
}

}  // namespace priortune::tuner
