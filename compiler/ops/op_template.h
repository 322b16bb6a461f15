// An operator template: the compute definition of an op plus a schedule parameterised by
// named knobs (split factors, loop orders, annotations, packing on/off). A Config picks
// one value per knob; the generic SearchSpace of the tuner is built from Knobs().
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "compiler/ir/lower.h"
#include "compiler/ops/workload.h"
#include "compiler/support/status.h"
#include "compiler/target/target.h"

namespace priortune::compiler {

enum class KnobKind : uint8_t {
  kSplit,       // a split factor; values are the candidate factors
  kOrder,       // a loop order; values index `labels`
  kAnnotation,  // on/off: unroll, vectorize, parallel
  kEnum,        // a choice among labelled options (packing on/off, ...)
  kTile,        // a loop split into several levels at once: a whole factor tuple
};

struct KnobDef {
  std::string name;
  KnobKind kind;
  std::vector<int64_t> values;      // candidates, in a fixed order (kTile: 0..tuples-1)
  std::vector<std::string> labels;  // for kOrder/kEnum: a label per value
  std::string help;
  // The value under which the knob changes nothing: a knob added to a template later
  // declares the value that reproduces the schedule from before it existed. Config
  // hashes leave a knob at its neutral value out, so stored records keep their hash.
  std::optional<int64_t> neutral;
  // kTile only. Candidate i is tuples[i], the inner extents of the split from the outer
  // level in, one per name in `levels`; a Config holds the tuple as one entry per level
  // (e.g. {"mc": 96, "mr": 6}), so stored configs stay readable. Build with TileKnob().
  std::vector<std::string> levels;
  std::vector<std::vector<int64_t>> tuples;
  std::shared_ptr<const std::map<std::vector<int64_t>, int64_t>> tuple_index;

  // The position of `value` among the candidates of a scalar knob, -1 if it is not one.
  int64_t IndexOf(int64_t value) const;
  // The position of c's value for this knob (the tuple of its levels for kTile), -1 if
  // an entry is missing or the value is not a candidate.
  int64_t PositionIn(const std::map<std::string, int64_t>& c) const;
  // Writes candidate `pos` into c (one entry, or one per level).
  void Assign(size_t pos, std::map<std::string, int64_t>& c) const;
  // The config entries the knob owns: its name, or its levels.
  std::vector<std::string> Entries() const;
  size_t size() const { return values.size(); }
};

// A kTile knob over `tuples` (each as long as `levels`; duplicates are dropped, order kept).
KnobDef TileKnob(std::string name, std::vector<std::string> levels, std::vector<std::vector<int64_t>> tuples,
                 std::string help);

using Config = std::map<std::string, int64_t>;

// The knob-membership check: InvalidArgument if `c` misses one of `knobs`, names a knob
// that is not among them, or holds a value outside a knob's candidates (the message
// names the knob, the value and the candidates). `op` names the template in messages.
Status CheckKnobValues(const std::vector<KnobDef>& knobs, const Config& c, const std::string& op);

// A rule over whole configs that the knobs alone cannot say, e.g. "the register tile
// fits in the vector registers". The tuner's search space leaves out configs that break
// one; they would still build (CheckConfig does not apply constraints).
struct ConfigConstraint {
  std::string description;
  std::function<bool(const Config&)> holds;
  // The knobs `holds` reads. The search space checks the rule as soon as these knobs
  // are drawn, so sampling and mutation only pick values that keep it (no rejection);
  // empty means "any knob", checked once the whole config is drawn.
  std::vector<std::string> knobs;
};
std::string ConfigToJson(const Config& c);
StatusOr<Config> ConfigFromJson(const std::string& json);

// How a kernel of a compiled model meets its neighbours (model.h): each activation
// tensor is plain NCHW (0) or channel-blocked NCHW{b}c, [N, C/b, H, W, b] (b > 0, a
// divisor of C), TVM's NCHWc. The data input, the residual and the output each have one.
struct TensorLayouts {
  int64_t data = 0, residual = 0, out = 0;
  bool plain() const { return data == 0 && residual == 0 && out == 0; }
};

class OpTemplate {
 public:
  virtual ~OpTemplate() = default;
  virtual std::string op() const = 0;
  // Bumped whenever the knobs change meaning or are added or removed: a record stores
  // the version its config was tuned with, and lookup tells an old one apart.
  virtual int version() const { return 1; }
  // InvalidArgument naming the dim and value for zero/negative sizes, missing dims,
  // outputs that would be empty, unsupported dtypes.
  virtual Status Validate(const Workload& w) const = 0;
  // Shapes of the kernel's arguments: inputs in order, the output last.
  virtual std::vector<std::vector<int64_t>> ArgShapes(const Workload& w) const = 0;
  virtual double Flops(const Workload& w) const = 0;
  virtual std::vector<KnobDef> Knobs(const Workload& w, const Target& t) const = 0;
  virtual std::vector<ConfigConstraint> Constraints(const Workload& w, const Target& t) const { return {}; }
  virtual Config DefaultConfig(const Workload& w, const Target& t) const = 0;
  // A hand-picked good config: what an expert would write for `t`, from its machine model
  // alone (not a tuned result). It lies in the search space of (w, t) and satisfies its
  // constraints.
  virtual Config HandPickedConfig(const Workload& w, const Target& t) const = 0;
  // Builds the schedule for `c` and lowers it. The config must be valid (CheckConfig).
  virtual StatusOr<LoweredFunc> Instantiate(const Workload& w, const Target& t, const Config& c) const = 0;
  // The channel block a config computes its output in when it can also write it blocked
  // and read its data and residual in any block (InstantiateLayouts); 0 for a config
  // that works in NCHW only (the default).
  virtual int64_t NativeBlock(const Workload& w, const Target& t, const Config& c) const { return 0; }
  // Instantiate with the tensors in `layouts`: `out` is 0 or NativeBlock(w, t, c), `data`
  // and `residual` any block of C (0 too). Argument shapes are the blocked ones. The
  // default takes plain layouts only.
  virtual StatusOr<LoweredFunc> InstantiateLayouts(const Workload& w, const Target& t, const Config& c,
                                                   const TensorLayouts& layouts) const;
  // The plain C++ reference: inputs as ArgShapes, row-major.
  virtual void Reference(const Workload& w, const std::vector<const float*>& inputs, float* output) const = 0;
  // A random valid workload of this op for the fuzzer (priortune fuzz): extents of 1,
  // tiny, prime and large ones, every stride and padding the op takes, fused epilogues,
  // with its arithmetic kept under `max_macs` multiply-adds so that a case stays quick.
  // Deterministic for a given generator state. Every template must say how to draw its
  // workloads: that is how an op joins the fuzzer.
  virtual Workload SampleWorkload(std::mt19937_64& rng, double max_macs) const = 0;
};

// Fuzzing helpers for SampleWorkload: an extent in [1, max] that is 1, tiny (2-8), a
// prime, medium or large, each with a fair share; a coin.
int64_t SampleExtent(std::mt19937_64& rng, int64_t max);
bool SampleCoin(std::mt19937_64& rng, double p);

// The template of `op`, or NotFound listing the known ops. Templates are stateless.
StatusOr<const OpTemplate*> FindTemplate(const std::string& op);
std::vector<std::string> KnownOps();

// InvalidArgument if `c` misses a knob, names an unknown one, or holds a value that is
// not among the knob's candidates.
Status CheckConfig(const OpTemplate& tmpl, const Workload& w, const Target& t, const Config& c);

// CheckConfig, then the template's constraints for `t` (InvalidArgument naming the
// constraint): the config lies in the search space of (w, t).
Status CheckConfigInSpace(const OpTemplate& tmpl, const Workload& w, const Target& t, const Config& c);

// Validate + CheckConfig + Instantiate.
StatusOr<LoweredFunc> LowerWorkload(const Workload& w, const Target& t, const Config& c);
// The same in `layouts`: InvalidArgument if the config cannot take them (an output block
// other than NativeBlock, a block that does not divide the channels).
StatusOr<LoweredFunc> LowerWorkload(const Workload& w, const Target& t, const Config& c, const TensorLayouts& layouts);
// The layouts a model gives `c` when its neighbours compute in the same blocks: data in
// ic_bn blocks, residual and output in the config's native block. Plain (all 0) for a
// config that works in NCHW only.
TensorLayouts NativeLayouts(const Workload& w, const Target& t, const Config& c);

}  // namespace priortune::compiler
