// The state of a job or of a task, and the one place its names are parsed and printed
// (the stores' state column, the service's JobInfo/TaskInfo, the CLI's tables).
#pragma once

#include <cstdint>
#include <string_view>

#include "compiler/support/status.h"

namespace priortune::db {

// Jobs and tasks share one lifecycle: queued (in memory only: waiting for a run slot or
// a lease), running, and one of the terminal states.
enum class RunState : uint8_t {
  kQueued,
  kRunning,
  kDone,
  kFailed,
  kCancelled,    // by its client (or its run was given up)
  kInterrupted,  // `priortune tune` stopped by SIGINT or SIGTERM: its records are kept
};
using JobState = RunState;
using TaskState = RunState;

// queued, running, done, failed, cancelled, interrupted.
const char* StateName(RunState s);
// InvalidArgument "unknown state 'x' (known: ...)" for any other name.
StatusOr<RunState> ParseState(std::string_view name);
// done, failed, cancelled, interrupted: a state that no longer changes.
bool Terminal(RunState s);

}  // namespace priortune::db
