#include "compiler/op_template.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "compiler/internal/templates.h"

namespace priortune::compiler {

std::string ConfigToJson(const Config& c) { return nlohmann::json(c).dump(); }

StatusOr<Config> ConfigFromJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("config is not a JSON object");
  Config c;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_number_integer()) return InvalidArgument("config: knob '" + k + "' is not an integer");
    c[k] = v.get<int64_t>();
  }
  return c;
}

namespace {
const std::vector<const OpTemplate*>& Registry() {
  static const std::vector<const OpTemplate*> kTemplates = {
      internal::MatmulTemplate(), internal::BatchMatmulTemplate(), internal::Conv2dTemplate(),
      internal::DepthwiseConv2dTemplate()};
  return kTemplates;
}
}  // namespace

std::vector<std::string> KnownOps() {
  std::vector<std::string> ops;
  for (const auto* t : Registry()) ops.push_back(t->op());
  return ops;
}

StatusOr<const OpTemplate*> FindTemplate(const std::string& op) {
  for (const auto* t : Registry())
    if (t->op() == op) return t;
  std::string known;
  for (const auto& o : KnownOps()) known += (known.empty() ? "" : ", ") + o;
  return NotFound("unknown op '" + op + "'; known: " + known);
}

int64_t KnobDef::IndexOf(int64_t value) const {
  auto pos = std::find(values.begin(), values.end(), value);
  return pos == values.end() ? -1 : pos - values.begin();
}

Status CheckKnobValues(const std::vector<KnobDef>& knobs, const Config& c, const std::string& op) {
  for (const auto& k : knobs) {
    auto it = c.find(k.name);
    if (it == c.end()) return InvalidArgument("config misses knob '" + k.name + "'");
    if (k.IndexOf(it->second) < 0) {
      std::string vals;
      for (int64_t v : k.values) vals += (vals.empty() ? "" : ",") + std::to_string(v);
      return InvalidArgument("config knob '" + k.name + "' = " + std::to_string(it->second) +
                             " is not among its candidates [" + vals + "]");
    }
  }
  for (const auto& [name, value] : c) {
    bool known = std::any_of(knobs.begin(), knobs.end(), [&](const KnobDef& k) { return k.name == name; });
    if (!known) return InvalidArgument("config names unknown knob '" + name + "' for op " + op);
  }
  return OkStatus();
}

Status CheckConfig(const OpTemplate& tmpl, const Workload& w, const Target& t, const Config& c) {
  return CheckKnobValues(tmpl.Knobs(w, t), c, tmpl.op());
}

Status CheckConfigInSpace(const OpTemplate& tmpl, const Workload& w, const Target& t, const Config& c) {
  PT_RETURN_IF_ERROR(CheckConfig(tmpl, w, t, c));
  for (const auto& k : tmpl.Constraints(w, t))
    if (!k.holds(c)) return InvalidArgument("config breaks the constraint: " + k.description);
  return OkStatus();
}

StatusOr<LoweredFunc> LowerWorkload(const Workload& w, const Target& t, const Config& c) {
  PT_ASSIGN_OR_RETURN(const OpTemplate* tmpl, FindTemplate(w.op));
  PT_RETURN_IF_ERROR(tmpl->Validate(w));
  PT_RETURN_IF_ERROR(CheckConfig(*tmpl, w, t, c));
  return tmpl->Instantiate(w, t, c);
}

}  // namespace priortune::compiler
