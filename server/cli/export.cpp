// priortune export: the store as a JSON-lines tuning log.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "db/store.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "tuner/open_store.h"

namespace priortune::server::cli {

namespace {

struct ExportOptions {
  std::string db = "priortune.db";
  std::string out;  // empty or "-": standard output
};

int RunExport(const ExportOptions& o) {
  const std::string& db = o.db;
  const std::string& out = o.out;
  if (!db::StoreExists(db)) return Fail(NotFound("no store at '" + db + "'"));
  auto store = tuner::OpenStore(db);
  if (!store.ok()) return Fail(store.status());
  if (out.empty() || out == "-") {
    Status s = (*store)->Export(std::cout, {});
    return s.ok() ? 0 : Fail(s, 1);
  }
  std::string tmp = out + ".tmp";
  {
    std::ofstream f(tmp);
    if (!f) return Fail(InvalidArgument("cannot write '" + out + "'"));
    Status s = (*store)->Export(f, {});
    if (!s.ok()) return Fail(s, 1);
  }
  if (std::rename(tmp.c_str(), out.c_str()) != 0) return Fail(Internal("cannot rename to " + out), 1);
  std::fprintf(stderr, "exported %s to %s\n", db.c_str(), out.c_str());
  return 0;
}

}  // namespace

void AddExport(Commands& commands) {
  auto o = std::make_shared<ExportOptions>();
  CLI::App* cmd = commands.app().add_subcommand("export", "write the store as a JSON-lines tuning log");
  cmd->add_option("--db", o->db, "the store: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  cmd->add_option("--out", o->out, "output file (default: standard output)");
  commands.Add(cmd, [o] { return RunExport(*o); });
}

}  // namespace priortune::server::cli
