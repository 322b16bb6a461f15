#include "compiler/support/timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>

namespace priortune::compiler {
namespace {

double Seconds(const std::function<void()>& fn, int number) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < number; ++i) fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void FlushCache() {
  constexpr size_t kBytes = 64 << 20;  // larger than this machine's L3
  static std::unique_ptr<char[]> buf(new char[kBytes]);
  static char value = 0;
  std::memset(buf.get(), ++value, kBytes);
}

}  // namespace

TimingResult TimeFunction(const std::function<void()>& fn, const TimingOptions& options) {
  TimingResult r;
  for (int i = 0; i < options.warmup; ++i) fn();
  // With a before_call hook each round is one call, the hook run (untimed) before it.
  int number = options.before_call ? 1 : std::max(1, options.number);
  if (!options.before_call && options.number <= 0) {
    double min_s = options.min_repeat_ms / 1e3;
    for (;;) {
      double t = Seconds(fn, number);
      if (t >= min_s || number >= (1 << 30)) break;
      double scale = t > 0 ? min_s / t * 1.2 : 10.0;
      number = static_cast<int>(std::min<double>(1 << 30, std::ceil(number * std::clamp(scale, 1.5, 100.0))));
    }
  }
  r.number = number;
  for (int i = 0; i < std::max(1, options.repeat); ++i) {
    if (options.flush_cache) FlushCache();
    if (options.before_call) options.before_call();
    r.round_seconds.push_back(Seconds(fn, number) / number);
  }
  r.median = Median(r.round_seconds);
  r.min = *std::min_element(r.round_seconds.begin(), r.round_seconds.end());
  r.max = *std::max_element(r.round_seconds.begin(), r.round_seconds.end());
  return r;
}

}  // namespace priortune::compiler
