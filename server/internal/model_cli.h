// What the model subcommands (commands.cpp, model_commands.cpp) share: reading tuning logs
// and a target's records, and printing what feature extraction cost.
#pragma once

#include <string>
#include <vector>

#include "compiler/target.h"
#include "db/store.h"
#include "server/commands.h"
#include "tuner/transfer.h"

namespace priortune::server {

bool FileExists(const std::string& path);

// Adds a log's records (JSON lines, gzip-compressed or not) to the store, each checked
// against the compiler (keys, config hash): all or nothing; errors name the file (and the
// line, as the store says). NotFound if it cannot be opened.
StatusOr<db::ImportStats> ImportLogFile(db::Store& store, const std::string& path);
// The same for a log's text (not compressed); errors are prefixed with `name`.
StatusOr<db::ImportStats> ImportLogText(db::Store& store, const std::string& text, const std::string& name);

struct TargetRecords {
  compiler::Target target;
  std::vector<db::Record> records;
  std::string note;  // how the target was chosen, when it was not named
};
// The store's records of one target (op non-empty: of that op). `spec` a Target::Parse
// spec with `threads`; empty: the host's target if the store has its records, else the
// target with the most. NotFound (listing the store's targets) when there are none;
// Internal for a store failure.
StatusOr<TargetRecords> RecordsOfTarget(db::Store& store, const std::string& db_path, const std::string& spec,
                                        int threads, const std::string& op);

void PrintFeatureStats(const tuner::RecordFeatures& rf, const compiler::Target& target);

// eval-model with neural model files (EvalModelOptions::neural): few-shot metrics.
int RunEvalNeural(const EvalModelOptions& options, db::Store& store, const TargetRecords& records);

}  // namespace priortune::server
