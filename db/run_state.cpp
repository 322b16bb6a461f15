#include "db/run_state.h"

#include <string>

namespace priortune::db {

namespace {

struct StateEntry {
  RunState state;
  const char* name;
};
constexpr StateEntry kStates[] = {
    {RunState::kQueued, "queued"}, {RunState::kRunning, "running"},     {RunState::kDone, "done"},
    {RunState::kFailed, "failed"}, {RunState::kCancelled, "cancelled"}, {RunState::kInterrupted, "interrupted"},
};

}  // namespace

const char* StateName(RunState s) {
  for (const auto& e : kStates)
    if (e.state == s) return e.name;
  return "?";
}

StatusOr<RunState> ParseState(std::string_view name) {
  std::string known;
  for (const auto& e : kStates) {
    if (name == e.name) return e.state;
    known += std::string(known.empty() ? "" : ", ") + e.name;
  }
  return InvalidArgument("unknown state '" + std::string(name) + "' (known: " + known + ")");
}

bool Terminal(RunState s) { return s != RunState::kQueued && s != RunState::kRunning; }

}  // namespace priortune::db
