#include "db/record.h"

#include <algorithm>
#include <limits>

#include "compiler/support/median.h"

namespace priortune::db {
namespace {
constexpr ErrorKind kAllKinds[] = {ErrorKind::kNone,        ErrorKind::kInvalidConfig, ErrorKind::kCompileError,
                                   ErrorKind::kWrongAnswer, ErrorKind::kRuntimeError,  ErrorKind::kTimeout,
                                   ErrorKind::kWorkerLost};
}  // namespace

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNone:
      return "none";
    case ErrorKind::kInvalidConfig:
      return "invalid config";
    case ErrorKind::kCompileError:
      return "compile error";
    case ErrorKind::kWrongAnswer:
      return "wrong answer";
    case ErrorKind::kRuntimeError:
      return "runtime error";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kWorkerLost:
      return "worker lost";
  }
  return "?";
}

StatusOr<ErrorKind> ErrorKindFromName(const std::string& name) {
  std::string known;
  for (ErrorKind k : kAllKinds) {
    if (name == ErrorKindName(k)) return k;
    known += std::string(known.empty() ? "" : ", ") + "'" + ErrorKindName(k) + "'";
  }
  return InvalidArgument("unknown error kind '" + name + "' (known: " + known + ")");
}

double Record::cost() const { return ok() ? Median(costs) : std::numeric_limits<double>::infinity(); }

}  // namespace priortune::db
