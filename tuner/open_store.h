// Opening a store for code that knows the compiler: db::OpenStore, then every stored
// target brought to the compiler's current form (a target written before targets named
// their microarchitecture gets one, and with it a new key; db::Store::RewriteTargets).
// Every command, the service and the tools open stores through here.
#pragma once

#include <memory>
#include <string>

#include "compiler/support/status.h"
#include "db/store.h"

namespace priortune::tuner {

// db::OpenStore(url) and RewriteTargets(CurrentTargetForm()). Errors: OpenStore's, and
// the store's if the rewrite fails (nothing is then rewritten).
StatusOr<std::unique_ptr<db::Store>> OpenStore(const std::string& url);

// A stored target's current form: Target::FromJson(json) written again (ToJson, Key,
// isa_family). A JSON the compiler cannot read is left as it is (lookups skip it as
// before), never an error.
db::TargetRewriter CurrentTargetForm();

}  // namespace priortune::tuner
