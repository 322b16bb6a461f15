// priortune import: add a JSON-lines tuning log (plain or gzip) to the store, all or nothing.
#include <cstdio>
#include <memory>

#include "db/store.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "tuner/log_import.h"
#include "tuner/open_store.h"

namespace priortune::server::cli {

namespace {

struct ImportOptions {
  std::string log;  // the log file
  std::string db = "priortune.db";
};

int RunImport(const ImportOptions& o) {
  const std::string& db = o.db;
  const std::string& in = o.log;
  if (!FileExists(in)) return Fail(NotFound("cannot read '" + in + "'"));
  auto store = tuner::OpenStore(db);
  if (!store.ok()) return Fail(store.status());
  auto stats = tuner::ImportLogFile(**store, in);
  if (!stats.ok()) return Fail(stats.status());
  std::printf("imported %lld records into %s (%lld already there)\n", static_cast<long long>(stats->imported),
              db.c_str(), static_cast<long long>(stats->duplicates));
  return 0;
}

}  // namespace

void AddImport(Commands& commands) {
  auto o = std::make_shared<ImportOptions>();
  CLI::App* cmd = commands.app().add_subcommand("import", "add a JSON-lines tuning log to the store (all or nothing)");
  cmd->add_option("log", o->log, "the log file")->required();
  cmd->add_option("--db", o->db, "the store: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  commands.Add(cmd, [o] { return RunImport(*o); });
}

}  // namespace priortune::server::cli
