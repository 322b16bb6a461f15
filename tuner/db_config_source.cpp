#include "tuner/db_config_source.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace priortune::tuner {
namespace {

class DbConfigSource : public compiler::ConfigSource {
 public:
  DbConfigSource(db::Store& store, bool nearest_shape, ConfigVet vet)
      : store_(store), nearest_shape_(nearest_shape), vet_(std::move(vet)) {}

  StatusOr<compiler::ConfigChoice> BestConfig(const compiler::Workload& w, const compiler::Target& t) override {
    PT_ASSIGN_OR_RETURN(const compiler::OpTemplate* tmpl, compiler::FindTemplate(w.op));
    // A config from another target is rebuilt for `t`: it must lie in t's search space
    // (its knob values among t's candidates, its register tile within t's registers).
    std::vector<std::string> skipped;  // what the store passed over, and why
    std::string check;                 // the vet's note on the record answered
    auto runs_here = [&](const db::Record& r, db::MatchLevel level) -> std::string {
      auto config = compiler::ConfigFromJson(r.config_json);
      std::string why;
      if (!config.ok()) {
        why = "record " + std::to_string(r.id) + " holds a bad config: " + config.status().message();
      } else if (Status in_space = compiler::CheckConfigInSpace(*tmpl, w, t, *config); !in_space.ok()) {
        why = "not valid on " + t.name() + ": " + in_space.message();
        if (r.template_version != tmpl->version())
          why = "tuned with " + tmpl->op() + " template v" + std::to_string(r.template_version) + " (now v" +
                std::to_string(tmpl->version()) + "), " + why;
      } else if (vet_ && (level != db::MatchLevel::kExact || r.job_id == 0)) {
        compiler::UseCheck vetted = vet_(w, t, *config);
        if (!vetted.passed) why = "failed its check before use: " + vetted.note;
        check = vetted.note;
      }
      if (!why.empty())
        skipped.push_back(std::string(db::MatchLevelName(level)) + " " + r.target_key + " (" + r.isa_family +
                          "): " + why);
      return why;
    };
    PT_ASSIGN_OR_RETURN(std::optional<db::BestMatch> match, store_.Best(w.Key(), t.Key(), t.isa_family(), runs_here));
    compiler::ConfigChoice choice;
    choice.level = "default";
    if (match) {
      choice.config = compiler::ConfigFromJson(match->record.config_json).value();
      choice.level = db::MatchLevelName(match->level);
      choice.cost_seconds = match->record.cost();
      if (vet_ && (match->level != db::MatchLevel::kExact || match->record.job_id == 0)) choice.check = check;
    } else if (nearest_shape_) {
      PT_RETURN_IF_ERROR(Nearest(w, t, *tmpl, choice));
    }
    choice.skipped.insert(choice.skipped.begin(), skipped.begin(), skipped.end());
    return choice;
  }

 private:
  // The nearest tuned shape whose best config (on t, its ISA family, or any target) lies
  // in w's space on t.
  Status Nearest(const compiler::Workload& w, const compiler::Target& t, const compiler::OpTemplate& tmpl,
                 compiler::ConfigChoice& choice) {
    PT_ASSIGN_OR_RETURN(std::vector<db::WorkloadRow> rows, store_.Workloads(0, 0));
    std::vector<std::pair<double, compiler::Workload>> near;
    for (const auto& row : rows) {
      if (row.op != w.op || row.key == w.Key()) continue;
      auto other = compiler::Workload::FromJson(row.json);
      if (!other.ok() || !other->SameEpilogue(w) || other->dims.size() != w.dims.size()) continue;
      double d = 0;
      bool same_dims = true;
      for (const auto& [name, size] : w.dims) {
        auto it = other->dims.find(name);
        if (it == other->dims.end() || it->second <= 0 || size <= 0) {
          same_dims = false;
          break;
        }
        d += std::fabs(std::log(static_cast<double>(it->second) / static_cast<double>(size)));
      }
      if (same_dims) near.push_back({d, *other});
    }
    std::sort(near.begin(), near.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : a.second.Key() < b.second.Key();
    });
    std::string check;
    auto fits = [&](const db::Record& r, db::MatchLevel) -> std::string {
      auto config = compiler::ConfigFromJson(r.config_json);
      if (!config.ok()) return "bad config";
      Status in_space = compiler::CheckConfigInSpace(tmpl, w, t, *config);
      if (!in_space.ok()) return in_space.message();
      if (!vet_) return "";
      compiler::UseCheck vetted = vet_(w, t, *config);  // another shape's config: always vetted
      check = vetted.note;
      return vetted.passed ? "" : "failed its check before use: " + vetted.note;
    };
    for (const auto& [distance, other] : near) {
      PT_ASSIGN_OR_RETURN(std::optional<db::BestMatch> m, store_.Best(other.Key(), t.Key(), t.isa_family(), fits));
      if (!m) {
        choice.skipped.push_back("nearest tuned shape " + other.ShortName() + ": no config valid for this shape");
        continue;
      }
      choice.config = compiler::ConfigFromJson(m->record.config_json).value();
      choice.level = "nearest tuned shape";
      choice.from = other.ShortName();
      choice.check = check;
      choice.cost_seconds = 0;  // measured on another shape
      return OkStatus();
    }
    return OkStatus();
  }

  db::Store& store_;
  bool nearest_shape_ = false;
  ConfigVet vet_;
};

}  // namespace

std::unique_ptr<compiler::ConfigSource> MakeDbConfigSource(db::Store& store, bool nearest_shape, ConfigVet vet) {
  return std::make_unique<DbConfigSource>(store, nearest_shape, std::move(vet));
}

}  // namespace priortune::tuner
