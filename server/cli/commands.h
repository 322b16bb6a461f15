// The subcommands of `priortune`, one file each (server/cli/<name>.cpp): each registers its
// options, bound to its options struct, and its Run function with `commands`.
#pragma once

#include "server/cli/cli.h"

namespace priortune::server::cli {

void AddTarget(Commands& commands);      // target
void AddBench(Commands& commands);       // bench
void AddKnobs(Commands& commands);       // knobs
void AddEmit(Commands& commands);        // emit
void AddTune(Commands& commands);        // tune
void AddLookup(Commands& commands);      // lookup
void AddExport(Commands& commands);      // export
void AddImport(Commands& commands);      // import
void AddEvalModel(Commands& commands);   // eval-model
void AddTrainModel(Commands& commands);  // train-model
void AddWorker(Commands& commands);      // worker
void AddFuzz(Commands& commands);        // fuzz
void AddTasks(Commands& commands);       // tasks
void AddTuneModel(Commands& commands);   // tune-model
void AddBuildModel(Commands& commands);  // build-model
void AddRunModel(Commands& commands);    // run-model
void AddServe(Commands& commands);       // serve
void AddSubmit(Commands& commands);      // submit
void AddWatch(Commands& commands);       // watch
void AddJobs(Commands& commands);        // jobs
void AddCancel(Commands& commands);      // cancel

}  // namespace priortune::server::cli
