// The db-backed ConfigSource: build_best's view of the store. Lives in tuner/ because the
// compiler must not link SQLite (shared/design.md).
#pragma once

#include <functional>
#include <memory>

#include "compiler/ops/build.h"
#include "db/store.h"

namespace priortune::tuner {

// Borrows `store`, which must outlive the source. Answers with the store's fallback chain
// (exact target, same ISA family, any target); a stored config that is not valid JSON is
// an Internal error naming the record.
// With `nearest_shape` (model builds), a workload the store holds no record of on any
// target then takes the config of the nearest tuned shape of the same op and epilogue
// whose config lies in the asking workload's space on `t`: level "nearest tuned shape",
// ConfigChoice::from naming that workload. Nearest: the smallest sum over the dims of
// |log(size / asked size)|; ties by key.
//
// With `vet` (model builds: compiler::CheckBeforeUse), a config never measured for the
// asking workload and target (a record of another target, of the nearest tuned shape, or
// imported from a log: no job of this store measured it) is vetted before it is
// answered; one that fails is passed over (its reason in ConfigChoice::skipped) and the
// ladder goes on to the next record and level. ConfigChoice::check says what the vet of
// the answered config found.
using ConfigVet =
    std::function<compiler::UseCheck(const compiler::Workload&, const compiler::Target&, const compiler::Config&)>;
std::unique_ptr<compiler::ConfigSource> MakeDbConfigSource(db::Store& store, bool nearest_shape = false,
                                                           ConfigVet vet = nullptr);

}  // namespace priortune::tuner
