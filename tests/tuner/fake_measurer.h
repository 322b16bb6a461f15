// A fake measurer behind the Measurer interface, for the tuning-loop tests: cost from the
// knobs, no compiler involved.
#pragma once

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "tuner/measure.h"
#include "tuner/search_space.h"

namespace priortune::tuner {

// Cost 1 / (mr x nr); mr = 7 fails to compile; cancels after cancel_after candidates if set.
class FakeMeasurer : public Measurer {
 public:
  std::vector<MeasureResult> Measure(const std::vector<Candidate>& candidates,
                                     const std::atomic<bool>& /*cancel*/) override {
    std::vector<MeasureResult> out;
    for (const auto& c : candidates) {
      MeasureResult r;
      if (cancel_after >= 0 && calls >= cancel_after) {
        r.measured = false;
        *cancel_flag = true;  // as Ctrl-C would, mid-batch
      } else if (c.config.at("mr") == 7) {
        r.error = db::ErrorKind::kCompileError;
        r.error_message = "fake";
      } else {
        r.costs = {1.0 / (c.config.at("mr") * c.config.at("nr"))};
      }
      r.worker = "fake";
      ++calls;
      hashes.insert(ConfigHash(c.config));
      out.push_back(r);
    }
    return out;
  }
  int calls = 0;
  int cancel_after = -1;
  std::atomic<bool>* cancel_flag = nullptr;
  std::multiset<std::string> hashes;
};

}  // namespace priortune::tuner
