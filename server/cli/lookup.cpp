// priortune lookup: the best stored config of a workload and its fallback level, from a
// store or from a server.
#include <cstdio>
#include <memory>

#include "compiler/ops/op_template.h"
#include "db/store.h"
#include "server/cli/cli.h"
#include "server/cli/commands.h"
#include "server/cli/internal/client.h"
#include "server/common/convert.h"
#include "server/common/targets.h"
#include "tuner/db_config_source.h"
#include "tuner/open_store.h"

namespace priortune::server::cli {

namespace {

struct LookupOptions {
  WorkloadArgs workload;
  std::string target = "host";  // any target may ask: lookup runs no code
  std::string db = "priortune.db";
  int threads = 1;
  ConnectionOptions connection;  // with a server: ask it instead of a store
};

int RunLocalLookup(const LookupOptions& o) {
  const WorkloadArgs& a = o.workload;
  const std::string& target_spec = o.target;
  const std::string& db = o.db;
  const int threads = o.threads;
  auto w = ParseWorkloadArgs(a);
  if (!w.ok()) return Fail(w.status());
  // Lookup does not run code: any target may ask, whether or not this host can run it.
  auto parsed_target = DeployTarget(target_spec, threads);
  if (!parsed_target.ok()) return Fail(parsed_target.status());
  const compiler::Target target = *parsed_target;
  if (!db::StoreExists(db)) return Fail(NotFound("no store at '" + db + "'"));
  auto store = tuner::OpenStore(db);
  if (!store.ok()) return Fail(store.status());
  auto source = tuner::MakeDbConfigSource(**store);
  auto found = source->BestConfig(*w, target);
  if (!found.ok()) return Fail(found.status(), 1);
  const compiler::OpTemplate* tmpl = *compiler::FindTemplate(w->op);
  if (found->level == "default") {
    std::printf(
        "%s for %s: no tuned config that lies in this target's space; build_best uses the "
        "default config %s\n  level: default\n",
        w->ShortName().c_str(), target.name().c_str(), compiler::ConfigToJson(tmpl->DefaultConfig(*w, target)).c_str());
  } else {
    std::printf(
        "%s for %s: %s\n  level: %s\n  cost: %.3f ms (%.1f GFLOPS) as measured on the "
        "record's target\n",
        w->ShortName().c_str(), target.name().c_str(), compiler::ConfigToJson(found->config).c_str(),
        found->level.c_str(), found->cost_seconds * 1e3, tmpl->Flops(*w) / found->cost_seconds / 1e9);
  }
  // The fastest few are what matters; a store of thousands of records would flood.
  constexpr size_t kShownSkips = 5;
  for (size_t i = 0; i < found->skipped.size() && i < kShownSkips; ++i)
    std::printf("  skipped %s\n", found->skipped[i].c_str());
  if (found->skipped.size() > kShownSkips)
    std::printf("  ... and %zu more records skipped\n", found->skipped.size() - kShownSkips);
  return 0;
}

// Asks a server: its store, under its fallback ladder.
int RunRemoteLookup(const LookupOptions& o) {
  const WorkloadArgs& a = o.workload;
  const std::string& target = o.target;
  const ConnectionOptions& connection = o.connection;
  const int threads = o.threads;
  auto w = ParseWorkloadArgs(a);
  if (!w.ok()) return ReportError(w.status());
  auto c = Connect(connection);
  if (!c.ok()) return ReportError(c.status());
  v1::LookupRequest req;
  ToProto(*w, req.mutable_workload());
  req.mutable_target()->set_spec(target);
  req.mutable_target()->set_threads(threads);
  v1::LookupResponse resp;
  auto ctx = Context(*c);
  grpc::Status s = c->stub->Lookup(ctx.get(), req, &resp);
  if (!s.ok()) return Refused(s);
  const compiler::OpTemplate* tmpl = *compiler::FindTemplate(w->op);
  std::printf("%s for %s: %s\n  level: %s\n", w->ShortName().c_str(), target.c_str(),
              compiler::ConfigToJson(FromProto(resp.config())).c_str(), resp.level().c_str());
  if (resp.cost_seconds() > 0)
    std::printf("  cost: %.3f ms (%.1f GFLOPS) as measured on the record's target\n", resp.cost_seconds() * 1e3,
                tmpl->Flops(*w) / resp.cost_seconds() / 1e9);
  for (const auto& skipped : resp.skipped()) std::printf("  skipped %s\n", skipped.c_str());
  return 0;
}

int RunLookup(const LookupOptions& o) { return o.connection.server.empty() ? RunLocalLookup(o) : RunRemoteLookup(o); }

}  // namespace

void AddLookup(Commands& commands) {
  auto o = std::make_shared<LookupOptions>();
  CLI::App* cmd = commands.app().add_subcommand("lookup", "print the best stored config and its fallback level");
  AddWorkloadOptions(cmd, o->workload);
  AddTargetOption(cmd, o->target);
  cmd->add_option("--db", o->db, "the store: a SQLite file (default ./priortune.db) or a postgresql:// URL");
  AddConnectionOptions(commands, cmd, o->connection, false);
  cmd->add_option("--threads", o->threads, "the thread count the kernel runs with (default 1)");
  commands.Add(cmd, [o] { return RunLookup(*o); });
}

}  // namespace priortune::server::cli
