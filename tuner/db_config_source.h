// The db-backed ConfigSource: build_best's view of the store. Lives in tuner/ because the
// compiler must not link SQLite (shared/design.md).
#pragma once

#include <memory>

#include "compiler/build.h"
#include "db/store.h"

namespace priortune::tuner {

// Borrows `store`, which must outlive the source. Answers with the store's fallback chain
// (exact target, same ISA family, any target); a stored config that is not valid JSON is
// an Internal error naming the record.
std::unique_ptr<compiler::ConfigSource> MakeDbConfigSource(db::Store& store);

}  // namespace priortune::tuner
