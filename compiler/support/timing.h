// The timing protocol of shared/bench-suite.md, as TVM's time_evaluator does it: warm up,
// then `repeat` rounds of `number` calls, `number` raised until a round lasts at least
// min_repeat_ms; report the median round (and min, max), per call.
#pragma once

#include <functional>
#include <vector>

#include "compiler/support/median.h"

namespace priortune::compiler {

struct TimingOptions {
  int warmup = 1;  // untimed calls first
  int number = 0;  // calls per round; 0 = calibrate from min_repeat_ms
  int repeat = 5;  // rounds
  double min_repeat_ms = 100;
  bool flush_cache = false;  // overwrite a last-level-cache-sized buffer before each round
  // Runs before every timed call, untimed; when set, each round is one call (number 1).
  // CheckAndTime sets it for `cold`.
  std::function<void()> before_call;
  // CheckAndTime: every argument but the first (the data input, which the previous layer
  // just wrote) flushed from the caches before each call, as a model's layer meets its
  // weights and output (TVM's cache_flush_cpu_non_first_arg). Rounds of one call.
  bool cold = false;
};

struct TimingResult {
  std::vector<double> round_seconds;  // seconds per call, one entry per round
  double median = 0, min = 0, max = 0;
  int number = 0;
};

// Times fn with the protocol. Not thread-safe with respect to fn.
TimingResult TimeFunction(const std::function<void()>& fn, const TimingOptions& options);

}  // namespace priortune::compiler
