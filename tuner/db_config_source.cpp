#include "tuner/db_config_source.h"

#include <string>
#include <vector>

namespace priortune::tuner {
namespace {

class DbConfigSource : public compiler::ConfigSource {
 public:
  explicit DbConfigSource(db::Store& store) : store_(store) {}

  StatusOr<compiler::ConfigChoice> BestConfig(const compiler::Workload& w,
                                              const compiler::Target& t) override {
    PT_ASSIGN_OR_RETURN(const compiler::OpTemplate* tmpl, compiler::FindTemplate(w.op));
    // A config from another target is rebuilt for `t`: it must lie in t's search space
    // (its knob values among t's candidates, its register tile within t's registers).
    std::vector<std::string> skipped;  // what the store passed over, and why
    auto runs_here = [&](const db::Record& r, db::MatchLevel level) -> std::string {
      auto config = compiler::ConfigFromJson(r.config_json);
      std::string why;
      if (!config.ok()) {
        why = "record " + std::to_string(r.id) + " holds a bad config: " + config.status().message();
      } else if (Status in_space = compiler::CheckConfigInSpace(*tmpl, w, t, *config); !in_space.ok()) {
        why = "not valid on " + t.cpu + ": " + in_space.message();
        if (r.template_version != tmpl->version())
          why = "tuned with " + tmpl->op() + " template v" + std::to_string(r.template_version) +
                " (now v" + std::to_string(tmpl->version()) + "), " + why;
      }
      if (!why.empty())
        skipped.push_back(std::string(db::MatchLevelName(level)) + " " + r.target_key + " (" + r.isa_family +
                          "): " + why);
      return why;
    };
    PT_ASSIGN_OR_RETURN(std::optional<db::BestMatch> match,
                        store_.Best(w.Key(), t.Key(), t.isa_family(), runs_here));
    compiler::ConfigChoice choice;
    choice.level = "default";
    if (match) {
      choice.config = compiler::ConfigFromJson(match->record.config_json).value();
      choice.level = db::MatchLevelName(match->level);
      choice.cost_seconds = match->record.cost();
    }
    choice.skipped = std::move(skipped);
    return choice;
  }

 private:
  db::Store& store_;
};

}  // namespace

std::unique_ptr<compiler::ConfigSource> MakeDbConfigSource(db::Store& store) {
  return std::make_unique<DbConfigSource>(store);
}

}  // namespace priortune::tuner
