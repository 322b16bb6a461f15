#include "tuner/task_scheduler.h"

#include <algorithm>
#include <cmath>

namespace priortune::tuner {

TaskScheduler::TaskScheduler(std::vector<SchedulerTask> tasks, TaskSchedulerOptions options)
    : tasks_(std::move(tasks)), options_(options) {
  for (auto& t : tasks_)
    if (t.best > 0 && t.history.empty()) t.history.push_back(t.best);
}

int TaskScheduler::Next() const {
  for (size_t i = 0; i < tasks_.size(); ++i)
    if (!tasks_[i].done && tasks_[i].trials == 0) return static_cast<int>(i);
  // A task still without a correct trial has an unknown latency: it could be anything, so
  // it comes before the gradients (as a not-yet-tried one).
  for (size_t i = 0; i < tasks_.size(); ++i)
    if (!tasks_[i].done && tasks_[i].best <= 0) return static_cast<int>(i);
  int best = -1;
  double best_grad = -1;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    if (tasks_[i].done) continue;
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
  if (best > 0 && (t.best <= 0 || best < t.best)) t.best = best;
  if (t.best > 0) t.history.push_back(t.best);
}

double TaskScheduler::Gradient(int i) const {
  const SchedulerTask& t = tasks_[static_cast<size_t>(i)];
  if (t.trials == 0 || t.best <= 0) return 0;
  // Backward: the change of the best over the last `window` units, per trial.
  double backward = 0;
  const size_t n = t.history.size();
  if (n >= 2) {
    size_t back = std::min<size_t>(n - 1, static_cast<size_t>(options_.backward_window));
    double trials_per_unit = static_cast<double>(t.trials) / static_cast<double>(n);
    backward = (t.history[n - 1] - t.history[n - 1 - back]) / (trials_per_unit * static_cast<double>(back));
  }
  // Forward: the larger of two hopes (both negative, min): the latency falling to zero
  // at its average rate so far, or to beta times what its FLOPs take at the best speed
  // any task of the same op reached.
  double fastest = 0;  // FLOP/s
  for (const auto& o : tasks_)
    if (o.op == t.op && o.best > 0 && o.flops > 0) fastest = std::max(fastest, o.flops / o.best);
  double forward = -t.best / static_cast<double>(t.trials);
  if (fastest > 0 && t.flops > 0) forward = std::min(forward, options_.beta * t.flops / fastest - t.best);
  return t.weight * (options_.alpha * backward + (1 - options_.alpha) * forward);
}

double TaskScheduler::EstimatedLatency(int* unknown) const {
  double sum = 0;
  int missing = 0;
  for (const auto& t : tasks_) {
    if (t.best > 0) sum += t.weight * t.best;
    else ++missing;
  }
  if (unknown) *unknown = missing;
  return sum;
}

}  // namespace priortune::tuner
