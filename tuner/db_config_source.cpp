#include "tuner/db_config_source.h"

namespace priortune::tuner {
namespace {

class DbConfigSource : public compiler::ConfigSource {
 public:
  explicit DbConfigSource(db::Store& store) : store_(store) {}

  StatusOr<std::optional<compiler::ConfigChoice>> BestConfig(const compiler::Workload& w,
                                                             const compiler::Target& t) override {
    PT_ASSIGN_OR_RETURN(std::optional<db::BestMatch> match,
                        store_.Best(w.Key(), t.Key(), t.isa_family()));
    if (!match) return std::optional<compiler::ConfigChoice>();
    auto config = compiler::ConfigFromJson(match->record.config_json);
    if (!config.ok())
      return Internal("record " + std::to_string(match->record.id) +
                      " holds a bad config: " + config.status().message());
    return std::optional<compiler::ConfigChoice>(compiler::ConfigChoice{
        *config, db::MatchLevelName(match->level), match->record.cost()});
  }

 private:
  db::Store& store_;
};

}  // namespace

std::unique_ptr<compiler::ConfigSource> MakeDbConfigSource(db::Store& store) {
  return std::make_unique<DbConfigSource>(store);
}

}  // namespace priortune::tuner
