// priortune watch: follow a job's progress until it ends.
#include <memory>

#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "server/cli/internal/client.h"

namespace priortune::server::cli {

namespace {

struct WatchOptions {
  ConnectionOptions connection;
  int64_t job = 0;
};

int RunWatch(const WatchOptions& o) {
  auto c = Connect(o.connection);
  if (!c.ok()) return ReportError(c.status());
  return Watch(*c, o.job);
}

}  // namespace

void AddWatch(Commands& commands) {
  auto o = std::make_shared<WatchOptions>();
  CLI::App* cmd = commands.app().add_subcommand("watch", "follow a job's progress until it ends");
  AddConnectionOptions(commands, cmd, o->connection, true);
  cmd->add_option("job", o->job, "the job id")->required();
  commands.Add(cmd, [o] { return RunWatch(*o); });
}

}  // namespace priortune::server::cli
