#include "tuner/task_notes.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace priortune::tuner {

std::string TaskNote::String(const std::string& field) const {
  auto it = strings.find(field);
  return it == strings.end() ? "" : it->second;
}

double TaskNote::Number(const std::string& field) const {
  auto it = numbers.find(field);
  return it == numbers.end() ? NAN : it->second;
}

std::string NotesJson(const TaskNotes& notes) {
  nlohmann::json out = nlohmann::json::array();
  for (const TaskNote& n : notes) {
    nlohmann::json o = {{"kind", n.kind}, {"text", n.text}};
    for (const auto& [k, v] : n.strings) o[k] = v;
    for (const auto& [k, v] : n.numbers) o[k] = v;
    out.push_back(std::move(o));
  }
  return out.dump();
}

StatusOr<TaskNotes> ParseNotes(const std::string& text) {
  TaskNotes notes;
  if (text.empty()) return notes;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return InvalidArgument("task notes: not a JSON array");
  for (const auto& o : j) {
    if (!o.is_object() || !o.contains("kind") || !o["kind"].is_string())
      return InvalidArgument("task notes: an element without a kind");
    TaskNote n;
    for (const auto& [k, v] : o.items()) {
      if (k == "kind")
        n.kind = v.get<std::string>();
      else if (k == "text" && v.is_string())
        n.text = v.get<std::string>();
      else if (v.is_number())
        n.numbers[k] = v.get<double>();
      else if (v.is_string())
        n.strings[k] = v.get<std::string>();
    }
    notes.push_back(std::move(n));
  }
  return notes;
}

std::string NotesText(const TaskNotes& notes) {
  std::string text;
  for (const TaskNote& n : notes) text += (text.empty() ? "" : "\n") + n.text;
  return text;
}

const TaskNote* FindNote(const TaskNotes& notes, const std::string& kind) {
  for (const TaskNote& n : notes)
    if (n.kind == kind) return &n;
  return nullptr;
}

}  // namespace priortune::tuner
