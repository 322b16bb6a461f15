#include "tuner/fuzz.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "compiler/codegen/runtime.h"
#include "compiler/graph/graph.h"
#include "compiler/model/model.h"
#include "compiler/ops/build.h"
#include "tuner/search_space.h"

namespace priortune::tuner {
namespace {

using compiler::Config;
using nlohmann::json;

constexpr const char* kModel = "model";

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  return x ^ (x >> 29);
}

template <typename T>
const T& Pick(const std::vector<T>& v, std::mt19937_64& rng) {
  return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
}

int64_t Uniform(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, std::max(lo, hi))(rng);
}

// ---- the configs of a workload ----

// `knob` set to candidate `pos`, the other knobs drawn to keep the constraints.
bool WithKnobAt(const SearchSpace& space, size_t knob, size_t pos, std::mt19937_64& rng, Config& out) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto base = space.Sample(rng);
    if (!base.ok()) return false;
    Config c = *base;
    space.knobs()[knob].Assign(pos, c);
    std::vector<bool> redraw(space.knobs().size(), true);
    redraw[knob] = false;
    if (space.Redraw(c, redraw, rng) && space.Valid(c)) {
      out = c;
      return true;
    }
  }
  // Where few completions keep the constraints (a wide register tile with AVX2's 12
  // accumulators), the other knobs at their smallest candidates: the smallest tiles.
  Config c;
  for (size_t k = 0; k < space.knobs().size(); ++k) space.knobs()[k].Assign(k == knob ? pos : 0, c);
  if (!space.Valid(c)) return false;
  out = c;
  return true;
}

// From a drawn config, `knob` moved one candidate at a time in `dir` while the config
// stays valid: the last valid one is at the edge of a constraint (or of the knob).
bool AtEdge(const SearchSpace& space, size_t knob, int dir, std::mt19937_64& rng, Config& out) {
  auto base = space.Sample(rng);
  if (!base.ok()) return false;
  Config c = *base;
  const auto& k = space.knobs()[knob];
  int64_t pos = k.PositionIn(c);
  if (pos < 0) return false;
  for (int64_t p = pos + dir; p >= 0 && p < static_cast<int64_t>(k.size()); p += dir) {
    Config next = c;
    k.Assign(static_cast<size_t>(p), next);
    if (!space.Valid(next)) break;
    c = next;
  }
  out = c;
  return true;
}

struct Drawn {
  Config config;
  std::string origin;
};

std::vector<Drawn> GroupConfigs(const compiler::OpTemplate& tmpl, const compiler::Workload& w,
                                const compiler::Target& t, int extra, std::mt19937_64& rng) {
  std::vector<Drawn> out;
  std::set<std::string> seen;
  auto add = [&](const Config& c, const std::string& origin) {
    if (seen.insert(compiler::ConfigToJson(c)).second) out.push_back({c, origin});
  };
  add(tmpl.HandPickedConfig(w, t), "hand-picked");
  add(tmpl.DefaultConfig(w, t), "default");
  auto space = SearchSpace::ForWorkload(w, t);
  if (!space.ok()) return out;
  for (size_t k = 0; k < space->knobs().size(); ++k) {
    const auto& knob = space->knobs()[k];
    Config c;
    if (WithKnobAt(*space, k, 0, rng, c)) add(c, "min of " + knob.name);
    if (WithKnobAt(*space, k, knob.size() - 1, rng, c)) add(c, "max of " + knob.name);
  }
  // Each constraint's knobs pushed up and down to where it stops holding.
  for (const auto& rule : tmpl.Constraints(w, t)) {
    std::set<size_t> knobs;
    for (const auto& entry : rule.knobs)
      for (size_t k = 0; k < space->knobs().size(); ++k) {  // a knob's name, or a level of a tile knob
        const auto entries = space->knobs()[k].Entries();
        if (space->knobs()[k].name == entry || std::find(entries.begin(), entries.end(), entry) != entries.end())
          knobs.insert(k);
      }
    for (size_t k : knobs) {
      Config c;
      const std::string what = " of " + space->knobs()[k].name + " (" + rule.description + ")";
      if (AtEdge(*space, k, +1, rng, c)) add(c, "upper edge" + what);
      if (AtEdge(*space, k, -1, rng, c)) add(c, "lower edge" + what);
    }
  }
  for (int i = 0; i < extra; ++i) {
    auto c = space->Sample(rng);
    if (c.ok()) add(*c, "drawn");
  }
  return out;
}

// Layouts a blocked config may meet in a model: data and residual in no block, the
// config's own, or another dividing the channels; the output in NCHW or its own block.
compiler::TensorLayouts DrawLayouts(const compiler::Workload& w, int64_t native, std::mt19937_64& rng) {
  compiler::TensorLayouts l;
  if (native <= 0 || !compiler::SampleCoin(rng, 0.6)) return l;
  auto block_of = [&](int64_t channels) -> int64_t {
    std::vector<int64_t> options = {0};
    for (int64_t b : {native, int64_t{2}, int64_t{3}, int64_t{4}, int64_t{8}, int64_t{16}, int64_t{32}, channels})
      if (b > 0 && channels % b == 0) options.push_back(b);
    return Pick(options, rng);
  };
  l.data = block_of(w.dim("C"));
  if (w.residual) l.residual = block_of(w.dims.count("O") ? w.dim("O") : w.dim("C"));
  l.out = compiler::SampleCoin(rng, 0.5) ? native : 0;
  return l;
}

// ---- model cases ----

// A store stand-in for a model case: each workload's config is the hand-picked one or
// one drawn from its space, blocked ones (NCHWc) favoured so that blocks meet.
class DrawnConfigs : public compiler::ConfigSource {
 public:
  explicit DrawnConfigs(uint64_t seed) : rng_(seed) {}
  StatusOr<compiler::ConfigChoice> BestConfig(const compiler::Workload& w, const compiler::Target& t) override {
    PT_ASSIGN_OR_RETURN(const compiler::OpTemplate* tmpl, compiler::FindTemplate(w.op));
    compiler::ConfigChoice c;
    c.level = "exact target";
    c.config = tmpl->HandPickedConfig(w, t);
    PT_ASSIGN_OR_RETURN(SearchSpace space, SearchSpace::ForWorkload(w, t));
    const bool want_blocked = compiler::SampleCoin(rng_, 0.7);
    for (int tries = 0; tries < 200 && !compiler::SampleCoin(rng_, 0.2); ++tries) {
      auto drawn = space.Sample(rng_);
      if (!drawn.ok()) break;
      if (!want_blocked || tmpl->NativeBlock(w, t, *drawn) > 0) {
        c.config = *drawn;
        break;
      }
    }
    return c;
  }

 private:
  std::mt19937_64 rng_;
};

class GraphMaker {
 public:
  explicit GraphMaker(uint64_t seed) : rng_(seed) {}

  compiler::Graph Make() {
    const int64_t n = compiler::SampleCoin(rng_, 0.2) ? 2 : 1;
    std::string x = Tensor({n, Uniform(rng_, 1, 24), Uniform(rng_, 4, 30), Uniform(rng_, 4, 30)});
    g_.inputs = {x};
    x = Conv(x, false);
    std::vector<std::string> same;  // tensors of x's shape, for Add and residuals
    const int steps = static_cast<int>(Uniform(rng_, 2, 6));
    for (int i = 0; i < steps; ++i) {
      const auto& s = Shape(x);
      switch (Uniform(rng_, 0, 8)) {
        case 0:
          x = Pool(x, compiler::GraphOp::kMaxPool);
          break;
        case 1:
          x = Pool(x, compiler::GraphOp::kAveragePool);
          break;
        case 2:
          x = Unary(x, compiler::GraphOp::kRelu);
          break;
        case 3:
          x = Unary(x, compiler::GraphOp::kClip);
          break;
        case 4: {  // Add with an earlier tensor of the same shape, or with relu(x)
          std::string y = Unary(x, compiler::GraphOp::kRelu);
          for (const auto& t : g_.tensors)
            if (t.first != x && !t.second.constant && t.second.shape == s && t.first != g_.inputs[0] &&
                compiler::SampleCoin(rng_, 0.5))
              y = t.first;
          x = Add(x, y);
          break;
        }
        case 5:
          x = BatchNorm(x);
          break;
        case 6:
          x = Conv(x, true);
          break;
        default:
          x = Conv(x, false);
          break;
      }
    }
    if (compiler::SampleCoin(rng_, 0.6)) {
      const auto s = Shape(x);
      std::string p = Node(compiler::GraphOp::kGlobalAveragePool, "GlobalAveragePool", {x}, {s[0], s[1], 1, 1});
      std::string f = Node(compiler::GraphOp::kReshape, "Flatten", {p}, {s[0], s[1]});
      const int64_t m = Uniform(rng_, 1, 20);
      std::string w = Weight({s[1], m}), b = Weight({m});
      compiler::GraphNode& d = NodeRef(compiler::GraphOp::kDense, "Gemm", {f, w, b}, {s[0], m});
      d.workload = compiler::MatmulWorkload(s[0], m, s[1], /*bias=*/true);
      x = d.outputs[0];
      if (compiler::SampleCoin(rng_, 0.5)) x = Node(compiler::GraphOp::kSoftmax, "Softmax", {x}, {s[0], m});
    }
    g_.outputs = {x};
    return std::move(g_);
  }

 private:
  const std::vector<int64_t>& Shape(const std::string& t) { return g_.tensors.at(t).shape; }

  std::string Tensor(const std::vector<int64_t>& shape) {
    std::string name = "t" + std::to_string(count_++);
    g_.tensors[name].shape = shape;
    return name;
  }
  std::string Weight(const std::vector<int64_t>& shape) {
    std::string name = Tensor(shape);
    compiler::GraphTensor& t = g_.tensors[name];
    t.constant = true;
    std::uniform_real_distribution<float> u(-1, 1);
    t.data.resize(static_cast<size_t>(t.elements()));
    for (auto& v : t.data) v = u(rng_);
    return name;
  }
  compiler::GraphNode& NodeRef(compiler::GraphOp op, const std::string& type, const std::vector<std::string>& in,
                               const std::vector<int64_t>& out_shape) {
    compiler::GraphNode n;
    n.name = type + "_" + std::to_string(g_.nodes.size());
    n.op_type = type;
    n.op = op;
    n.inputs = in;
    n.outputs = {Tensor(out_shape)};
    g_.nodes.push_back(n);
    return g_.nodes.back();
  }
  std::string Node(compiler::GraphOp op, const std::string& type, const std::vector<std::string>& in,
                   const std::vector<int64_t>& out_shape) {
    return NodeRef(op, type, in, out_shape).outputs[0];
  }

  std::string Conv(const std::string& x, bool depthwise) {
    const auto s = Shape(x);
    const int64_t k = depthwise ? 3 : (compiler::SampleCoin(rng_, 0.5) ? 1 : 3);
    const int64_t stride = compiler::SampleCoin(rng_, 0.3) ? 2 : 1, pad = k / 2;
    const int64_t o = depthwise ? s[1] : Uniform(rng_, 1, 32);
    const int64_t oh = (s[2] + 2 * pad - k) / stride + 1, ow = (s[3] + 2 * pad - k) / stride + 1;
    std::string w = Weight({o, depthwise ? 1 : s[1], k, k}), b = Weight({o});
    compiler::Workload wl = depthwise ? compiler::DepthwiseConv2dWorkload(s[0], s[1], s[2], s[3], k, k, stride, pad)
                                      : compiler::Conv2dWorkload(s[0], s[1], s[2], s[3], o, k, k, stride, pad);
    wl.bias = true;
    std::vector<std::string> in = {x, w, b};
    // A residual: an earlier activation of the output's shape.
    for (const auto& t : g_.tensors)
      if (!t.second.constant && t.second.shape == std::vector<int64_t>{s[0], o, oh, ow} && t.first != g_.inputs[0] &&
          compiler::SampleCoin(rng_, 0.4)) {
        in.push_back(t.first);
        wl.residual = true;
        break;
      }
    const double act = std::uniform_real_distribution<double>(0, 1)(rng_);
    wl.relu = act < 0.4;
    wl.relu6 = act >= 0.4 && act < 0.6;
    compiler::GraphNode& n = NodeRef(depthwise ? compiler::GraphOp::kDepthwiseConv2d : compiler::GraphOp::kConv2d,
                                     "Conv", in, {s[0], o, oh, ow});
    n.kernel = k;
    n.stride = stride;
    n.pad = pad;
    n.workload = wl;
    return n.outputs[0];
  }

  std::string Pool(const std::string& x, compiler::GraphOp op) {
    const auto s = Shape(x);
    const int64_t k = std::min<int64_t>(Uniform(rng_, 2, 3), std::min(s[2], s[3]));
    const int64_t stride = Uniform(rng_, 1, 2), pad = compiler::SampleCoin(rng_, 0.5) ? (k - 1) / 2 : 0;
    const int64_t oh = (s[2] + 2 * pad - k) / stride + 1, ow = (s[3] + 2 * pad - k) / stride + 1;
    if (k < 1 || oh < 1 || ow < 1) return x;
    compiler::GraphNode& n =
        NodeRef(op, op == compiler::GraphOp::kMaxPool ? "MaxPool" : "AveragePool", {x}, {s[0], s[1], oh, ow});
    n.kernel = k;
    n.stride = stride;
    n.pad = pad;
    return n.outputs[0];
  }

  std::string Unary(const std::string& x, compiler::GraphOp op) {
    compiler::GraphNode& n = NodeRef(op, op == compiler::GraphOp::kRelu ? "Relu" : "Clip", {x}, Shape(x));
    n.clip_min = 0;
    n.clip_max = 6;
    return n.outputs[0];
  }

  std::string Add(const std::string& x, const std::string& y) {
    return Node(compiler::GraphOp::kAdd, "Add", {x, y}, Shape(x));
  }

  std::string BatchNorm(const std::string& x) {
    const auto s = Shape(x);
    std::string scale = Weight({s[1]}), shift = Weight({s[1]});
    return Node(compiler::GraphOp::kBatchNorm, "BatchNormalization", {x, scale, shift}, s);
  }

  std::mt19937_64 rng_;
  compiler::Graph g_;
  int count_ = 0;
};

FuzzResult RunModelCase(const FuzzCase& c) {
  FuzzResult r;
  compiler::Graph g = GraphMaker(c.model_seed).Make();
  DrawnConfigs source(Mix(c.model_seed, 1));
  compiler::PlanOptions po;
  po.propagate_layouts = c.propagate_layouts;
  auto plan = compiler::PlanModel(g, c.target, source, po);
  if (!plan.ok()) return {FuzzOutcome::kCompileFailure, "planning: " + plan.status().ToString()};
  compiler::CompileOptions co;
  co.check_bounds = c.check_bounds;
  auto model = compiler::CompiledModel::Create(std::move(*plan), co);
  if (!model.ok()) return {FuzzOutcome::kCompileFailure, model.status().ToString()};
  r.compile_seconds = (*model)->compile_seconds();
  std::vector<float> input(static_cast<size_t>((*model)->input_elements()));
  std::mt19937 gen(static_cast<uint32_t>(c.model_seed));
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& v : input) v = u(gen);
  std::vector<float> got(static_cast<size_t>((*model)->output_elements()), NAN);
  Status ran =
      (*model)->Run(input.data(), static_cast<int64_t>(input.size()), got.data(), static_cast<int64_t>(got.size()));
  if (!ran.ok())
    return {ran.code() == StatusCode::kOutOfRange ? FuzzOutcome::kBoundsViolation : FuzzOutcome::kError, ran.ToString(),
            r.compile_seconds};
  auto want = compiler::RunGraphReference(g, input);
  if (!want.ok()) return {FuzzOutcome::kError, "reference: " + want.status().ToString(), r.compile_seconds};
  double scale = 1;
  for (float v : *want) scale = std::max(scale, std::fabs(static_cast<double>(v)));
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - (*want)[i]);
    if (!(d <= 1e-3 * scale))
      return {FuzzOutcome::kMismatch,
              "output " + std::to_string(i) + " is " + std::to_string(got[i]) + ", the reference " +
                  std::to_string((*want)[i]) + " (" + std::to_string(g.nodes.size()) + " nodes)",
              r.compile_seconds};
  }
  r.message = std::to_string((*model)->plan().steps.size()) + " steps, " +
              std::to_string((*model)->plan().blocked_buffers) + " blocked tensors";
  return r;
}

FuzzResult RunKernelCase(const FuzzCase& c) {
  FuzzResult r;
  auto tmpl = compiler::FindTemplate(c.workload.op);
  if (!tmpl.ok()) return {FuzzOutcome::kError, tmpl.status().ToString()};
  if (Status v = (*tmpl)->Validate(c.workload); !v.ok()) return {FuzzOutcome::kError, "workload: " + v.ToString()};
  if (Status v = compiler::CheckConfig(**tmpl, c.workload, c.target, c.config); !v.ok())
    return {FuzzOutcome::kError, "config: " + v.ToString()};
  auto f = compiler::LowerWorkload(c.workload, c.target, c.config, c.layouts);
  if (!f.ok()) return {FuzzOutcome::kCompileFailure, "lowering: " + f.status().ToString()};
  auto jit = compiler::Jit::ForTarget(c.target);
  if (!jit.ok()) return {FuzzOutcome::kError, jit.status().ToString()};
  compiler::CompileOptions co;
  co.check_bounds = c.check_bounds;
  auto k = (*jit)->Compile(*f, co);
  if (!k.ok()) return {FuzzOutcome::kCompileFailure, "code generation: " + k.status().ToString()};
  r.compile_seconds = k->compile_ms() / 1e3;
  compiler::KernelArgs args(**tmpl, c.workload, static_cast<uint32_t>(Mix(c.index, 7)));
  std::vector<float> want = compiler::ReferenceOutput(c.workload, args);
  compiler::CheckResult check = compiler::CheckInLayouts(*k, c.workload, args, c.layouts, want);
  if (!check.run.ok())
    return {check.run.code() == StatusCode::kOutOfRange ? FuzzOutcome::kBoundsViolation : FuzzOutcome::kError,
            check.run.ToString(), r.compile_seconds};
  if (!check.ok()) return {FuzzOutcome::kMismatch, check.Describe(), r.compile_seconds};
  return r;
}

}  // namespace

std::vector<std::string> FuzzOptions::AllOps() const {
  if (!ops.empty()) return ops;
  std::vector<std::string> all = compiler::KnownOps();
  all.push_back(kModel);
  return all;
}

Status FuzzOptions::Validate() const {
  for (const auto& op : AllOps())
    if (op != kModel && !compiler::FindTemplate(op).ok())
      return InvalidArgument("--op '" + op + "' is not a registered template (" + [] {
        std::string s;
        for (const auto& o : compiler::KnownOps()) s += o + ", ";
        return s;
      }() + "or model)");
  if (targets.empty()) return InvalidArgument("--target: at least one target");
  for (const auto& t : targets) {
    auto parsed = compiler::Target::Parse(t, 1);
    if (!parsed.ok()) return InvalidArgument("--target '" + t + "': " + parsed.status().message());
    if (Status runs = parsed->CheckRunsOnHost(); !runs.ok())
      return InvalidArgument("--target '" + t + "': " + runs.message());
  }
  if (threads.empty()) return InvalidArgument("--threads: at least one thread count");
  for (int t : threads)
    if (t < 1 || t > 256) return InvalidArgument("--threads " + std::to_string(t) + ": must be between 1 and 256");
  if (configs_per_group < 1) return InvalidArgument("--configs: must be at least 1");
  if (!(max_macs >= 1)) return InvalidArgument("--max-macs: must be at least 1");
  return OkStatus();
}

StatusOr<std::vector<FuzzCase>> DrawGroup(const FuzzOptions& o, int64_t group, int64_t first_index) {
  std::mt19937_64 rng(Mix(o.seed, static_cast<uint64_t>(group)));
  const auto ops = o.AllOps();
  const std::string op = ops[static_cast<size_t>(group) % ops.size()];
  const std::string spec = Pick(o.targets, rng);
  const int threads = Pick(o.threads, rng);
  PT_ASSIGN_OR_RETURN(compiler::Target target, compiler::Target::Parse(spec, threads));
  FuzzCase base;
  base.target = target;
  base.threads = threads;
  base.check_bounds = o.check_bounds;
  std::vector<FuzzCase> out;
  if (op == kModel) {
    for (int i = 0; i < o.configs_per_group; ++i) {
      FuzzCase c = base;
      c.kind = kModel;
      c.model_seed = Mix(Mix(o.seed, static_cast<uint64_t>(group)), static_cast<uint64_t>(i) + 11);
      c.propagate_layouts = compiler::SampleCoin(rng, 0.7);
      c.origin = "model";
      out.push_back(c);
    }
  } else {
    PT_ASSIGN_OR_RETURN(const compiler::OpTemplate* tmpl, compiler::FindTemplate(op));
    base.workload = tmpl->SampleWorkload(rng, o.max_macs);
    for (const Drawn& d : GroupConfigs(*tmpl, base.workload, target, o.configs_per_group, rng)) {
      FuzzCase c = base;
      c.config = d.config;
      c.origin = d.origin;
      c.layouts = DrawLayouts(c.workload, tmpl->NativeBlock(c.workload, target, c.config), rng);
      out.push_back(c);
    }
  }
  for (size_t i = 0; i < out.size(); ++i) out[i].index = first_index + static_cast<int64_t>(i);
  return out;
}

std::string FuzzCase::ToJson() const {
  json j = {{"index", index},
            {"kind", kind},
            {"target", json::parse(target.ToJson())},
            {"threads", threads},
            {"check_bounds", check_bounds},
            {"origin", origin}};
  if (kind == kModel) {
    j["model_seed"] = model_seed;
    j["propagate_layouts"] = propagate_layouts;
  } else {
    j["workload"] = json::parse(workload.ToJson());
    j["config"] = json::parse(compiler::ConfigToJson(config));
    j["layouts"] = {{"data", layouts.data}, {"residual", layouts.residual}, {"out", layouts.out}};
  }
  return j.dump();
}

StatusOr<FuzzCase> FuzzCase::FromJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("fuzz case: not a JSON object");
  FuzzCase c;
  auto need = [&](const char* field, bool ok) -> Status {
    if (!j.contains(field) || !ok)
      return InvalidArgument(std::string("fuzz case: field '") + field + "' missing or of the wrong type");
    return OkStatus();
  };
  PT_RETURN_IF_ERROR(need("kind", j.contains("kind") && j["kind"].is_string()));
  c.kind = j["kind"].get<std::string>();
  if (c.kind != "kernel" && c.kind != kModel)
    return InvalidArgument("fuzz case: kind '" + c.kind + "' is not kernel or model");
  PT_RETURN_IF_ERROR(need("target", j.contains("target") && j["target"].is_object()));
  PT_ASSIGN_OR_RETURN(c.target, compiler::Target::FromJson(j["target"].dump()));
  if (j.contains("index") && j["index"].is_number_integer()) c.index = j["index"].get<int64_t>();
  if (j.contains("threads")) {
    if (!j["threads"].is_number_integer() || j["threads"].get<int64_t>() < 1 || j["threads"].get<int64_t>() > 256)
      return InvalidArgument("fuzz case: field 'threads' must be an integer from 1 to 256");
    c.threads = j["threads"].get<int>();
  }
  if (j.contains("check_bounds") && j["check_bounds"].is_boolean()) c.check_bounds = j["check_bounds"].get<bool>();
  if (j.contains("origin") && j["origin"].is_string()) c.origin = j["origin"].get<std::string>();
  if (c.kind == kModel) {
    PT_RETURN_IF_ERROR(need("model_seed", j.contains("model_seed") && j["model_seed"].is_number_unsigned()));
    c.model_seed = j["model_seed"].get<uint64_t>();
    if (j.contains("propagate_layouts") && j["propagate_layouts"].is_boolean())
      c.propagate_layouts = j["propagate_layouts"].get<bool>();
    return c;
  }
  PT_RETURN_IF_ERROR(need("workload", j.contains("workload") && j["workload"].is_object()));
  PT_RETURN_IF_ERROR(need("config", j.contains("config") && j["config"].is_object()));
  PT_ASSIGN_OR_RETURN(c.workload, compiler::Workload::FromJson(j["workload"].dump()));
  PT_ASSIGN_OR_RETURN(c.config, compiler::ConfigFromJson(j["config"].dump()));
  if (j.contains("layouts")) {
    const json& l = j["layouts"];
    if (!l.is_object()) return InvalidArgument("fuzz case: field 'layouts' must be an object");
    for (auto [name, field] :
         {std::pair{"data", &c.layouts.data}, {"residual", &c.layouts.residual}, {"out", &c.layouts.out}}) {
      if (!l.contains(name)) continue;
      if (!l[name].is_number_integer() || l[name].get<int64_t>() < 0)
        return InvalidArgument(std::string("fuzz case: layouts.") + name + " must be a non-negative integer");
      *field = l[name].get<int64_t>();
    }
  }
  return c;
}

std::string FuzzCase::Describe() const {
  std::string where = " on " + target.name() + " (" + target.isa_family() + "), " + std::to_string(threads) +
                      " thread" + (threads == 1 ? "" : "s") + (check_bounds ? ", bounds-checked" : "");
  if (kind == kModel)
    return "model seed " + std::to_string(model_seed) + (propagate_layouts ? " (NCHWc kept)" : " (all NCHW)") + where;
  std::string s = workload.ShortName() + " " + compiler::ConfigToJson(config);
  if (!layouts.plain())
    s += " layouts data " + std::to_string(layouts.data) + " residual " + std::to_string(layouts.residual) + " out " +
         std::to_string(layouts.out);
  return s + where;
}

const char* FuzzOutcomeName(FuzzOutcome o) {
  switch (o) {
    case FuzzOutcome::kPass:
      return "pass";
    case FuzzOutcome::kMismatch:
      return "mismatch";
    case FuzzOutcome::kBoundsViolation:
      return "bounds violation";
    case FuzzOutcome::kCompileFailure:
      return "compile failure";
    case FuzzOutcome::kCrash:
      return "crash";
    case FuzzOutcome::kTimeout:
      return "timeout";
    case FuzzOutcome::kError:
      return "error";
  }
  return "?";
}

StatusOr<FuzzOutcome> FuzzOutcomeFromName(const std::string& name) {
  for (FuzzOutcome o : {FuzzOutcome::kPass, FuzzOutcome::kMismatch, FuzzOutcome::kBoundsViolation,
                        FuzzOutcome::kCompileFailure, FuzzOutcome::kCrash, FuzzOutcome::kTimeout, FuzzOutcome::kError})
    if (name == FuzzOutcomeName(o)) return o;
  return InvalidArgument("unknown fuzz outcome '" + name + "'");
}

FuzzResult RunFuzzCase(const FuzzCase& c) {
  compiler::SetNumThreads(c.threads);
  return c.kind == kModel ? RunModelCase(c) : RunKernelCase(c);
}

}  // namespace priortune::tuner
