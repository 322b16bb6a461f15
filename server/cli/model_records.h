// What eval-model and train-model share: the records of a target, chosen or named, and the
// reports of features and few-shot metrics.
#pragma once

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "compiler/target/target.h"
#include "costmodel/metrics.h"
#include "db/store.h"
#include "tuner/transfer.h"

namespace priortune::server::cli {

struct TargetRecords {
  compiler::Target target;
  std::vector<db::Record> records;
  std::string note;  // how the target was chosen, when it was not named
};
// The records of `spec`'s target at `threads` (only `op`'s, unless empty). An empty spec:
// the host's target if the store has records of it, else the target with the most.
StatusOr<TargetRecords> RecordsOfTarget(db::Store& store, const std::string& db_path, const std::string& spec,
                                        int threads, const std::string& op);

void PrintFeatureStats(const tuner::RecordFeatures& rf, const compiler::Target& target);

double Since(std::chrono::steady_clock::time_point t);
// InvalidArgument unless every k >= 0 and repeats >= 1.
Status CheckKs(const std::vector<int>& ks, int repeats);
void PrintFewShotHeader();
void PrintFewShot(const std::string& name, const costmodel::FewShotResult& r, std::ofstream* csv);

}  // namespace priortune::server::cli
