// A Record is one stored measurement: which config of which workload ran on which target,
// its costs or the error that stopped it. The db does not interpret workload, target or
// config JSON; the caller supplies their keys, so db/ never depends on the compiler.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/support/status.h"

namespace priortune::db {

// Why a candidate produced no cost. Stored by name ("wrong answer"), so that logs stay
// readable and stable if the enum grows.
enum class ErrorKind : uint8_t {
  kNone,
  kInvalidConfig,
  kCompileError,
  kWrongAnswer,
  kRuntimeError,
  kTimeout,
  kWorkerLost,
};
const char* ErrorKindName(ErrorKind kind);
// InvalidArgument listing the known names.
StatusOr<ErrorKind> ErrorKindFromName(const std::string& name);

struct Record {
  int64_t id = 0;  // assigned by the store
  std::string workload_key, workload_json, op;
  std::string target_key, target_json, isa_family;
  std::string config_json, config_hash;
  int template_version = 1;   // the op template's version() the config was made for
  std::vector<double> costs;  // seconds per call, one per timing round; empty on error
  ErrorKind error = ErrorKind::kNone;
  std::string error_message;
  double compile_seconds = 0;
  std::string worker;
  int64_t job_id = 0;    // 0: not part of a job
  double timestamp = 0;  // seconds since the epoch; 0 when added means "now"

  bool ok() const { return error == ErrorKind::kNone && !costs.empty(); }
  // Median of costs; +infinity for a failed record.
  double cost() const;
};

}  // namespace priortune::db
