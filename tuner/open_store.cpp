#include "tuner/open_store.h"

#include <optional>
#include <utility>

#include "compiler/target/target.h"

namespace priortune::tuner {

db::TargetRewriter CurrentTargetForm() {
  return [](const std::string& json) -> StatusOr<std::optional<db::TargetForm>> {
    StatusOr<compiler::Target> t = compiler::Target::FromJson(json);
    if (!t.ok()) return std::optional<db::TargetForm>();
    return std::optional<db::TargetForm>(db::TargetForm{t->Key(), t->ToJson(), t->isa_family()});
  };
}

StatusOr<std::unique_ptr<db::Store>> OpenStore(const std::string& url) {
  PT_ASSIGN_OR_RETURN(std::unique_ptr<db::Store> store, db::OpenStore(url));
  StatusOr<int64_t> rewritten = store->RewriteTargets(CurrentTargetForm());
  if (!rewritten.ok())
    return Status(rewritten.status().code(),
                  "the store opened, but bringing its targets to the current form: " + rewritten.status().message());
  return std::move(store);
}

}  // namespace priortune::tuner
