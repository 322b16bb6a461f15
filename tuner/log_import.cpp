#include "tuner/log_import.h"

#include <zlib.h>

#include <sstream>

#include "compiler/ops/op_template.h"
#include "compiler/target/target.h"
#include "tuner/open_store.h"
#include "tuner/search_space.h"

namespace priortune::tuner {
namespace {

// A tuning log's text: JSON lines, gzip-compressed or not. NotFound if it cannot be opened.
StatusOr<std::string> ReadLogFile(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads uncompressed files as they are
  if (!f) return NotFound("cannot read '" + path + "'");
  std::string text;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  int err = 0;
  std::string message = n < 0 ? gzerror(f, &err) : "";
  gzclose(f);
  if (n < 0) return InvalidArgument(path + ": not a readable log (" + message + ")");
  return text;
}

}  // namespace

StatusOr<db::ImportStats> ImportLogFile(db::Store& store, const std::string& path) {
  PT_ASSIGN_OR_RETURN(std::string text, ReadLogFile(path));
  return ImportLogText(store, text, path);
}

StatusOr<db::ImportStats> ImportLogText(db::Store& store, const std::string& text, const std::string& path) {
  std::istringstream f(text);
  // The store takes keys on trust; the importer, who knows the compiler, checks them.
  auto check = [](const db::Record& r) -> Status {
    auto w = compiler::Workload::FromJson(r.workload_json);
    if (!w.ok()) return InvalidArgument("field 'workload': " + w.status().message());
    if (w->Key() != r.workload_key) return InvalidArgument("field 'workload_key': does not match the workload");
    if (w->op != r.op) return InvalidArgument("field 'op': does not match the workload");
    if (compiler::HashKey(r.target_json) != r.target_key)
      return InvalidArgument("field 'target_key': does not match the target");
    auto c = compiler::ConfigFromJson(r.config_json);
    if (!c.ok()) return InvalidArgument("field 'config': " + c.status().message());
    auto t = compiler::Target::FromJson(r.target_json);
    if (!t.ok()) return InvalidArgument("field 'target': " + t.status().message());
    auto hash = WorkloadConfigHash(*w, *t, *c);
    if (!hash.ok()) return InvalidArgument("field 'op': " + hash.status().message());
    if (*hash != r.config_hash) return InvalidArgument("field 'config_hash': does not match the config");
    return OkStatus();
  };
  auto stats = store.Import(f, check);
  if (!stats.ok()) return Status(stats.status().code(), path + ": " + stats.status().message());
  // A log written before targets named their microarchitecture lands under its old keys:
  // bring them to the current form, as opening an old store does.
  if (auto rewritten = store.RewriteTargets(CurrentTargetForm()); !rewritten.ok())
    return Status(rewritten.status().code(),
                  path + ": imported, but bringing its targets to the current form: " + rewritten.status().message());
  return stats;
}

}  // namespace priortune::tuner
