// priortune cancel: cancel a job (runs another job still needs go on).
#include <memory>

#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "server/cli/internal/client.h"

namespace priortune::server::cli {

namespace {

struct CancelOptions {
  ConnectionOptions connection;
  int64_t job = 0;
};

int RunCancel(const CancelOptions& o) {
  auto c = Connect(o.connection);
  if (!c.ok()) return ReportError(c.status());
  v1::JobRef ref;
  ref.set_job_id(o.job);
  v1::JobStatus resp;
  auto ctx = Context(*c);
  grpc::Status s = c->stub->CancelJob(ctx.get(), ref, &resp);
  if (!s.ok()) return Refused(s);
  PrintJob(resp);
  return 0;
}

}  // namespace

void AddCancel(Commands& commands) {
  auto o = std::make_shared<CancelOptions>();
  CLI::App* cmd = commands.app().add_subcommand("cancel", "cancel a job (runs another job still needs go on)");
  AddConnectionOptions(commands, cmd, o->connection, true);
  cmd->add_option("job", o->job, "the job id")->required();
  commands.Add(cmd, [o] { return RunCancel(*o); });
}

}  // namespace priortune::server::cli
