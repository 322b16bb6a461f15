#include "compiler/ops/op_template.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "compiler/ops/internal/templates.h"

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
      internal::DepthwiseConv2dTemplate(), internal::GroupConv2dTemplate()};
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

int64_t KnobDef::PositionIn(const Config& c) const {
  if (kind != KnobKind::kTile) {
    auto it = c.find(name);
    return it == c.end() ? -1 : IndexOf(it->second);
  }
  std::vector<int64_t> t;
  for (const auto& l : levels) {
    auto it = c.find(l);
    if (it == c.end()) return -1;
    t.push_back(it->second);
  }
  if (!tuple_index) return -1;
  auto it = tuple_index->find(t);
  return it == tuple_index->end() ? -1 : it->second;
}

void KnobDef::Assign(size_t pos, Config& c) const {
  if (kind != KnobKind::kTile) {
    c[name] = values.at(pos);
    return;
  }
  const auto& t = tuples.at(pos);
  for (size_t l = 0; l < levels.size(); ++l) c[levels[l]] = t[l];
}

std::vector<std::string> KnobDef::Entries() const {
  return kind == KnobKind::kTile ? levels : std::vector<std::string>{name};
}

KnobDef TileKnob(std::string name, std::vector<std::string> levels, std::vector<std::vector<int64_t>> tuples,
                 std::string help) {
  KnobDef k{std::move(name), KnobKind::kTile, {}, {}, std::move(help)};
  k.levels = std::move(levels);
  auto index = std::make_shared<std::map<std::vector<int64_t>, int64_t>>();
  for (auto& t : tuples) {
    PT_CHECK(t.size() == k.levels.size(), "tile knob tuple of the wrong length");
    if (!index->emplace(t, static_cast<int64_t>(k.tuples.size())).second) continue;
    std::string label;
    for (int64_t f : t) label += (label.empty() ? "" : "x") + std::to_string(f);
    k.values.push_back(static_cast<int64_t>(k.tuples.size()));
    k.labels.push_back(label);
    k.tuples.push_back(std::move(t));
  }
  k.tuple_index = std::move(index);
  return k;
}

Status CheckKnobValues(const std::vector<KnobDef>& knobs, const Config& c, const std::string& op) {
  for (const auto& k : knobs) {
    for (const auto& e : k.Entries())
      if (!c.count(e)) return InvalidArgument("config misses knob '" + e + "'");
    if (k.PositionIn(c) >= 0) continue;
    if (k.kind == KnobKind::kTile) {
      std::string got;
      for (const auto& l : k.levels) got += (got.empty() ? "" : ", ") + l + "=" + std::to_string(c.at(l));
      std::string names;
      for (const auto& l : k.levels) names += (names.empty() ? "" : " x ") + l;
      return InvalidArgument("config split '" + k.name + "' (" + got + ") is not one of its " +
                             std::to_string(k.tuples.size()) + " candidate " + names + " tuples");
    }
    std::string vals;
    for (int64_t v : k.values) vals += (vals.empty() ? "" : ",") + std::to_string(v);
    return InvalidArgument("config knob '" + k.name + "' = " + std::to_string(c.at(k.name)) +
                           " is not among its candidates [" + vals + "]");
  }
  for (const auto& [name, value] : c) {
    bool known = std::any_of(knobs.begin(), knobs.end(), [&](const KnobDef& k) {
      auto e = k.Entries();
      return std::find(e.begin(), e.end(), name) != e.end();
    });
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

StatusOr<LoweredFunc> OpTemplate::InstantiateLayouts(const Workload& w, const Target& t, const Config& c,
                                                     const TensorLayouts& layouts) const {
  if (!layouts.plain()) return InvalidArgument(op() + " takes NCHW tensors only");
  return Instantiate(w, t, c);
}

TensorLayouts NativeLayouts(const Workload& w, const Target& t, const Config& c) {
  TensorLayouts l;
  auto tmpl = FindTemplate(w.op);
  if (!tmpl.ok()) return l;
  const int64_t native = (*tmpl)->NativeBlock(w, t, c);
  if (native == 0) return l;
  l.out = native;
  if (w.residual) l.residual = native;
  auto ic = c.find("ic_bn");
  l.data = ic != c.end() ? ic->second : native;  // depthwise: channels in, channels out
  return l;
}

StatusOr<LoweredFunc> LowerWorkload(const Workload& w, const Target& t, const Config& c, const TensorLayouts& layouts) {
  PT_ASSIGN_OR_RETURN(const OpTemplate* tmpl, FindTemplate(w.op));
  PT_RETURN_IF_ERROR(tmpl->Validate(w));
  PT_RETURN_IF_ERROR(CheckConfig(*tmpl, w, t, c));
  if (layouts.plain()) return tmpl->Instantiate(w, t, c);
  const int64_t native = tmpl->NativeBlock(w, t, c);
  if (native == 0) return InvalidArgument(w.ShortName() + ": this config works in NCHW only");
  if (layouts.out != 0 && layouts.out != native)
    return InvalidArgument(w.ShortName() + ": output block " + std::to_string(layouts.out) +
                           ", the config computes blocks of " + std::to_string(native));
  if (layouts.residual != 0 && !w.residual)
    return InvalidArgument(w.ShortName() + ": a residual layout without a residual");
  return tmpl->InstantiateLayouts(w, t, c, layouts);
}

int64_t SampleExtent(std::mt19937_64& rng, int64_t max) {
  static const int64_t kPrimes[] = {2,  3,  5,  7,  11, 13, 17, 19,  23,  29,  31,  37,  41,  43,  47,  53,   59,  61,
                                    67, 71, 73, 79, 83, 89, 97, 101, 127, 131, 197, 251, 257, 509, 521, 1021, 2053};
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, std::max(lo, hi))(rng);
  };
  int64_t v = 1;
  switch (uniform(0, 9)) {
    case 0:
      v = 1;
      break;
    case 1:
    case 2:
      v = uniform(2, 8);
      break;
    case 3:
    case 4:
    case 5: {
      std::vector<int64_t> fit;
      for (int64_t p : kPrimes)
        if (p <= max) fit.push_back(p);
      v = fit.empty() ? 1 : fit[static_cast<size_t>(uniform(0, static_cast<int64_t>(fit.size()) - 1))];
      break;
    }
    case 6:
    case 7:
      v = uniform(9, 64);
      break;
    default:
      v = uniform(65, max);
      break;
  }
  return std::max<int64_t>(1, std::min(v, max));
}

bool SampleCoin(std::mt19937_64& rng, double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }

}  // namespace priortune::compiler
