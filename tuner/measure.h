// The measurement interface of the tuning loop: candidates in, one MeasureResult per
// candidate out. The server's lease queue implements it with remote workers; unit tests
// use a fake with a synthetic objective.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "compiler/ops/op_template.h"
#include "compiler/ops/workload.h"
#include "compiler/target/target.h"
#include "db/record.h"

namespace priortune::tuner {

using compiler::Config;

struct Candidate {
  compiler::Workload workload;
  compiler::Target target;
  Config config;
};

// A failed build, wrong answer or timeout is a result with an error kind, not an error of
// the tuner (the candidate is stored and never retried).
struct MeasureResult {
  bool measured = true;       // false: cancelled before a worker finished it (not stored)
  std::vector<double> costs;  // seconds per call, one per timing round
  db::ErrorKind error = db::ErrorKind::kNone;
  std::string error_message;
  double compile_seconds = 0;
  std::string worker;

  bool ok() const { return measured && error == db::ErrorKind::kNone && !costs.empty(); }
  double cost() const;  // median of costs; +infinity unless ok()
};

class Measurer {
 public:
  virtual ~Measurer() = default;
  // One result per candidate, in order. Blocks until all are measured, or until `cancel`
  // becomes true: then the candidates no worker finished come back with measured = false.
  // Called by one thread at a time.
  virtual std::vector<MeasureResult> Measure(const std::vector<Candidate>& candidates,
                                             const std::atomic<bool>& cancel) = 0;
};

// The stored form of a measured candidate.
db::Record ToRecord(const Candidate& c, const MeasureResult& r, int64_t job_id);

}  // namespace priortune::tuner
