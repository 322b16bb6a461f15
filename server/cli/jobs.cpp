// priortune jobs: list a server's jobs.
#include <cstdio>
#include <memory>

#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "server/cli/internal/client.h"

namespace priortune::server::cli {

namespace {

struct JobsOptions {
  ConnectionOptions connection;
  std::string state;  // only jobs in this state; empty: all
};

int RunJobs(const JobsOptions& o) {
  const std::string& state = o.state;
  auto c = Connect(o.connection);
  if (!c.ok()) return ReportError(c.status());
  v1::ListJobsRequest req;
  req.set_state(state);
  v1::ListJobsResponse resp;
  auto ctx = Context(*c);
  grpc::Status s = c->stub->ListJobs(ctx.get(), req, &resp);
  if (!s.ok()) return Refused(s);
  for (const auto& j : resp.jobs()) PrintJob(j);
  if (resp.jobs_size() == 0) std::printf("no jobs%s\n", state.empty() ? "" : (" in state " + state).c_str());
  return 0;
}

}  // namespace

void AddJobs(Commands& commands) {
  auto o = std::make_shared<JobsOptions>();
  CLI::App* cmd = commands.app().add_subcommand("jobs", "list a server's jobs");
  AddConnectionOptions(commands, cmd, o->connection, true);
  cmd->add_option("--state", o->state,
                  "only jobs in this state (queued, running, done, failed, cancelled; another is refused)");
  commands.Add(cmd, [o] { return RunJobs(*o); });
}

}  // namespace priortune::server::cli
