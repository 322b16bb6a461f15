// priortune worker: a measurement worker that leases candidates from a priortune server.
#include "server/worker/worker.h"

#include <memory>
#include <string>

#include "server/cli/cli.h"
#include "server/cli/commands.h"

namespace priortune::server::cli {

namespace {

struct WorkerCommandOptions {
  WorkerOptions worker;
  bool runner = false;  // internal: be the build-and-time child
};

int RunWorkerCommand(const WorkerCommandOptions& o) {
  const WorkerOptions& w = o.worker;
  if (Status s = CheckMemoryCapMb(w.memory_cap_mb, "worker: "); !s.ok()) return Fail(s);
  if (o.runner) return RunRunner(w);
  if (w.connection.server.empty()) return Fail(InvalidArgument("worker: --server HOST:PORT is required"));
  if (w.retry_seconds < 0) return Fail(InvalidArgument("worker: --retry-seconds must be >= 0"));
  if (w.repeat < 1 || w.min_repeat_ms < 0 || !(w.timeout_seconds > 0))
    return Fail(InvalidArgument("worker: --repeat, --min-repeat-ms and --timeout must be positive"));
  return RunWorker(w);
}

}  // namespace

void AddWorker(Commands& commands) {
  auto o = std::make_shared<WorkerCommandOptions>();
  WorkerOptions& w = o->worker;
  CLI::App* cmd = commands.app().add_subcommand("worker", "a measurement worker for a priortune server");
  AddConnectionOptions(commands, cmd, w.connection, false);
  cmd->add_option("--retry-seconds", w.retry_seconds,
                  "reconnect with backoff for this long after losing the server (default 300; 0: exit)");
  cmd->add_option("--id", w.id, "worker name (default hostname-pid)");
  cmd->add_option("--cpu", w.cpu, "pin to this core (and the next --threads - 1)");
  cmd->add_option("--threads", w.threads, "threads per measurement (default 1)");
  cmd->add_option("--target", w.target, "the target this worker measures for (default host; must run on this CPU)");
  cmd->add_option("--memory-cap-mb", w.memory_cap_mb,
                  "refuse candidates whose buffers need more (default: a quarter of RAM)");
  cmd->add_option("--timeout", w.timeout_seconds, "seconds per candidate (default 20)");
  cmd->add_option("--repeat", w.repeat, "timing rounds per candidate (default 3)");
  cmd->add_option("--min-repeat-ms", w.min_repeat_ms, "minimum round length (default 20)");
  cmd->add_flag("--check-bounds", w.check_bounds,
                "build every candidate with bounds checks: a violation is a runtime error, not a crash (slower "
                "kernels: for hunting a bad config, not for timing)");
  cmd->add_option("--fault-plan", w.fault_plan, "tests only: the faults to meet, by config hash")->group("");
  cmd->add_flag("--runner", o->runner, "internal: the build-and-time child")->group("");
  commands.Add(cmd, [o] { return RunWorkerCommand(*o); });
}

}  // namespace priortune::server::cli
