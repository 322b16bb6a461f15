#include "tuner/meta_model.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace priortune::tuner {

StatusOr<std::string> ReadModelFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot read model file '" + path + "'");
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

namespace {

// A model that loaded, with where it came from.
struct Loaded {
  std::string blob, source;
  std::shared_ptr<const costmodel::CostModel> model;
};

StatusOr<Loaded> Load(std::string blob, std::string source, const costmodel::NeuralOptions& options) {
  PT_ASSIGN_OR_RETURN(std::unique_ptr<costmodel::CostModel> m, costmodel::LoadNeuralModel(blob, "", options));
  return Loaded{std::move(blob), std::move(source), std::move(m)};
}

MetaPrior Take(Loaded l, const compiler::Target& target, TaskNotes notes) {
  MetaPrior out;
  out.same_target = target.IsKey(l.model->metadata().target_key);
  std::string line = l.source + " (" + l.model->metadata().training_set + ")";
  if (!out.same_target)
    line += "; trained for another target (" + l.model->metadata().target_key + ", this one is " + target.Key() +
            "): a prior to adapt from";
  out.description = line;
  out.notes = std::move(notes);
  out.notes.push_back({"meta.model",
                       "meta model: " + line,
                       {{"source", l.source},
                        {"training_set", l.model->metadata().training_set},
                        {"model_target", l.model->metadata().target_key}},
                       {{"same_target", out.same_target ? 1.0 : 0.0}}});
  out.blob = std::move(l.blob);
  out.model = std::move(l.model);
  return out;
}

}  // namespace

StatusOr<MetaPrior> MetaPriorFor(db::Store& store, const compiler::Target& target, const std::string& model_path,
                                 const std::string& shipped_dir, const costmodel::NeuralOptions& options) {
  if (!model_path.empty()) {
    PT_ASSIGN_OR_RETURN(std::string blob, ReadModelFile(model_path));
    auto l = Load(std::move(blob), "file " + model_path, options);
    if (!l.ok()) return Status(l.status().code(), model_path + ": " + l.status().message());
    return Take(std::move(l).value(), target, {});
  }
  // In order: the store's models for this target (newest first), the shipped ones for it,
  // the store's for other targets, the shipped ones for other targets. Each is loaded at
  // most once and only until one is taken.
  TaskNotes notes;
  auto refused = [&](const std::string& source, const Status& s) {
    notes.push_back({"meta.refused",
                     "meta model: " + source + " refused (" + s.ToString() + ")",
                     {{"source", source}, {"error", s.ToString()}},
                     {}});
  };
  PT_ASSIGN_OR_RETURN(std::vector<db::ModelRow> rows,
                      store.Models({CostModelName(CostModelKind::kNeural), "", "", 0, 0, true}));
  auto from_store = [&](bool same) -> std::optional<Loaded> {
    for (auto& r : rows) {
      if (target.IsKey(r.target_key) != same) continue;
      std::string source = "model #" + std::to_string(r.id) + " of the store";
      auto l = Load(std::move(r.blob), source, options);
      if (l.ok()) return std::move(l).value();
      refused(source, l.status());
    }
    return std::nullopt;
  };
  if (auto l = from_store(true)) return Take(std::move(*l), target, notes);
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  if (!shipped_dir.empty())
    for (const auto& e : std::filesystem::directory_iterator(shipped_dir, ec))
      if (e.path().extension() == ".ptm") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  // Shipped models of other targets, for the last resort: one named for this target's ISA
  // level (<microarch>-avx2.ptm for an AVX2 target) first.
  std::vector<Loaded> shipped_elsewhere;
  size_t same_level_count = 0;
  const std::string isa = target.isa_family();
  const std::string own_level = "-" + isa.substr(isa.find('-') + 1) + ".ptm";
  for (const auto& f : files) {
    std::string source = "shipped model " + f.string();
    auto blob = ReadModelFile(f.string());
    auto l = blob.ok() ? Load(std::move(blob).value(), source, options) : StatusOr<Loaded>(blob.status());
    if (!l.ok()) {
      refused(source, l.status());
    } else if (target.IsKey(l->model->metadata().target_key)) {
      return Take(std::move(l).value(), target, notes);
    } else {
      const std::string file = f.filename().string();
      const bool same_level = file.size() > own_level.size() &&
                              file.compare(file.size() - own_level.size(), own_level.size(), own_level) == 0;
      auto at = same_level ? shipped_elsewhere.begin() + static_cast<std::ptrdiff_t>(same_level_count++)
                           : shipped_elsewhere.end();
      shipped_elsewhere.insert(at, std::move(l).value());
    }
  }
  if (auto l = from_store(false)) return Take(std::move(*l), target, notes);
  if (!shipped_elsewhere.empty()) return Take(std::move(shipped_elsewhere.front()), target, notes);
  const std::string where = shipped_dir.empty() ? std::string("a shipped-model folder: none given") : shipped_dir;
  notes.push_back({"meta.none",
                   "meta model: none found (no neural model in the store, none loads from " + where + ")",
                   {{"shipped_dir", shipped_dir}},
                   {}});
  MetaPrior out;
  out.notes = std::move(notes);
  return out;
}

StatusOr<DefaultStrategyChoice> DefaultStrategy(db::Store& store, const compiler::Target& target, Strategy otherwise,
                                                const std::string& shipped_dir) {
  PT_ASSIGN_OR_RETURN(MetaPrior prior, MetaPriorFor(store, target, "", shipped_dir));
  // Without a model, the last note says why none was found.
  std::string which = prior.model ? prior.description : prior.notes.empty() ? "" : prior.notes.back().text;
  if (!prior.model && which.rfind("meta model: ", 0) == 0) which = which.substr(12);
  if (prior.model && prior.same_target)
    return DefaultStrategyChoice{Strategy::kMetaGa, "a meta-trained model for " + target.name() + " (" +
                                                        target.isa_family() + ") exists: " + which};
  return DefaultStrategyChoice{otherwise, "no meta-trained model for " + target.name() + " (" + target.isa_family() +
                                              ")" +
                                              (prior.model ? " (the nearest, " + which + ")" : " (" + which + ")")};
}

}  // namespace priortune::tuner
