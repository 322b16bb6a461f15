#include "tuner/meta_model.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "costmodel/xgboost_model.h"

#ifndef PRIORTUNE_SHIPPED_MODEL_DIR
#define PRIORTUNE_SHIPPED_MODEL_DIR "data/models"
#endif

namespace priortune::tuner {

std::string ShippedModelDir() {
  const char* env = std::getenv("PRIORTUNE_MODEL_DIR");
  return env && *env ? env : PRIORTUNE_SHIPPED_MODEL_DIR;
}

namespace {

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot read model file '" + path + "'");
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Loads `blob` as a neural model of any target; fills `out` if it loads.
Status Take(const std::string& blob, const std::string& source, const compiler::Target& target,
            const costmodel::NeuralOptions& options, MetaPrior& out) {
  auto m = costmodel::LoadNeuralModel(blob, "", options);
  if (!m.ok()) return m.status();
  out.blob = blob;
  out.same_target = (*m)->metadata().target_key == target.Key();
  out.model = std::shared_ptr<const costmodel::CostModel>(std::move(m).value());
  out.source = source;
  std::string line = "meta model: " + source + " (" + out.model->metadata().training_set + ")";
  if (!out.same_target)
    line += "; trained for another target (" + out.model->metadata().target_key + ", this one is " + target.Key() +
            "): a prior to adapt from";
  out.notes.push_back(line);
  return OkStatus();
}

}  // namespace

StatusOr<MetaPrior> MetaPriorFor(db::Store& store, const compiler::Target& target, const std::string& model_path,
                                 const costmodel::NeuralOptions& options) {
  MetaPrior out;
  if (!model_path.empty()) {
    PT_ASSIGN_OR_RETURN(std::string blob, ReadFile(model_path));
    Status s = Take(blob, "file " + model_path, target, options, out);
    if (!s.ok()) return Status(s.code(), model_path + ": " + s.message());
    return out;
  }
  // Candidates in order of preference: (blob, source, same target).
  PT_ASSIGN_OR_RETURN(std::vector<db::ModelRow> rows, store.Models({"neural", "", "", 0, 0, true}));
  std::stable_sort(rows.begin(), rows.end(), [&](const db::ModelRow& a, const db::ModelRow& b) {
    return (a.target_key == target.Key()) > (b.target_key == target.Key());
  });
  std::vector<std::pair<std::string, std::string>> shipped;
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(ShippedModelDir(), ec))
    if (e.path().extension() == ".ptm") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto blob = ReadFile(f.string());
    if (!blob.ok()) {
      out.notes.push_back("meta model: shipped " + f.string() + " not read");
      continue;
    }
    shipped.emplace_back(std::move(*blob), "shipped model " + f.string());
  }
  auto try_rows = [&](bool same) {
    for (const auto& r : rows) {
      if ((r.target_key == target.Key()) != same) continue;
      std::string source = "model #" + std::to_string(r.id) + " of the store";
      Status s = Take(r.blob, source, target, options, out);
      if (s.ok()) return true;
      out.notes.push_back("meta model: " + source + " refused (" + s.ToString() + ")");
    }
    return false;
  };
  auto try_shipped = [&](bool same) {
    for (const auto& [blob, source] : shipped) {
      auto header = costmodel::LoadNeuralModel(blob, same ? target.Key() : "", options);
      if (!header.ok()) {
        // Another target's model is tried in the second pass; anything else is broken.
        if (same && header.status().code() == StatusCode::kFailedPrecondition &&
            header.status().message().find("made for target") != std::string::npos)
          continue;
        if (same) out.notes.push_back("meta model: " + source + " refused (" + header.status().ToString() + ")");
        continue;
      }
      if (Take(blob, source, target, options, out).ok()) return true;
    }
    return false;
  };
  if (try_rows(true) || try_shipped(true) || try_rows(false) || try_shipped(false)) return out;
  out.notes.push_back("meta model: none found (no neural model in the store, none loads from " + ShippedModelDir() +
                      ")");
  return out;
}

}  // namespace priortune::tuner
