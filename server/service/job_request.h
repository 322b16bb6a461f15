// The one typed request of a tuning job, whoever makes it: `priortune tune` (one
// workload), `priortune tune-model` (the tasks of an ONNX model) or a client of the
// service (workloads). A job row stores it as JSON (JobRequestJson), and a restarted
// server reads its service jobs back (ParseJobRequest).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "compiler/ops/workload.h"
#include "compiler/support/status.h"
#include "compiler/target/target.h"
#include "tuner/tuning_loop.h"

namespace priortune::server {

// Who made a job. A service job is resumed by a restarted server; the CLI's jobs are run
// by their own process, and one it left running (killed) stays as it is.
enum class JobOrigin : uint8_t { kService, kTune, kTuneModel };
const char* OriginName(JobOrigin o);  // service, tune, tune-model

struct JobRequest {
  JobOrigin origin = JobOrigin::kService;
  std::vector<compiler::Workload> workloads;  // duplicates are one task; tune-model: none
  std::string model;                          // tune-model: the ONNX file
  std::string target_spec = "host";           // as the client gave it
  int threads = 1;
  // The search: strategy (and so the cost model, tuner::CostModelOf), trials per task
  // (tune-model: for the whole model), batch, seed.
  tuner::TuneOptions tune;
  // The client named no strategy: the server picks one (tuner::DefaultStrategy) and says
  // why in strategy_note.
  bool pick_strategy = false;
  std::string strategy_note;
  int priority = 0;
  std::string name;
  std::string client = "anonymous";    // the token's name
  double worker_deadline_seconds = 0;  // 0 or above the server's: the server's
};

// The request as the job row stores it, with the target it resolved to.
std::string JobRequestJson(const JobRequest& r, const compiler::Target& target);

// A stored request and its target. Fields a row lacks take JobRequest's defaults; rows
// of older versions parse too (a service job marked "service": 1, a tune job's single
// "workload"). DataLoss naming the field for one that does not parse.
StatusOr<std::pair<JobRequest, compiler::Target>> ParseJobRequest(const std::string& json);

}  // namespace priortune::server
