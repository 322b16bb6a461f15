#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "compiler/ops/internal/templates.h"

namespace priortune::compiler::internal {

Status RequireDims(const Workload& w, const std::vector<const char*>& positive,
                   const std::vector<const char*>& non_negative) {
  if (w.dtype != "float32") return InvalidArgument(w.op + ": dtype '" + w.dtype + "' is not supported (float32 only)");
  for (const char* d : positive) {
    auto it = w.dims.find(d);
    if (it == w.dims.end()) return InvalidArgument(w.op + ": missing dim " + d);
    if (it->second <= 0)
      return InvalidArgument(w.op + ": dim " + d + " = " + std::to_string(it->second) + " must be positive");
  }
  for (const char* d : non_negative) {
    auto it = w.dims.find(d);
    if (it == w.dims.end()) return InvalidArgument(w.op + ": missing dim " + d);
    if (it->second < 0)
      return InvalidArgument(w.op + ": dim " + d + " = " + std::to_string(it->second) + " must not be negative");
  }
  for (const auto& [name, v] : w.dims) {
    bool known = std::any_of(positive.begin(), positive.end(), [&](const char* d) { return name == d; }) ||
                 std::any_of(non_negative.begin(), non_negative.end(), [&](const char* d) { return name == d; });
    if (!known) return InvalidArgument(w.op + ": unknown dim " + name);
    if (v > (int64_t{1} << 24))
      return InvalidArgument(w.op + ": dim " + name + " = " + std::to_string(v) + " is too large");
  }
  return OkStatus();
}

Status ValidateEpilogue(const Workload& w, bool bias_ok, bool residual_ok) {
  if (w.Activations() > 1)
    return InvalidArgument(w.op + ": epilogue has more than one of relu, relu6, silu, hardswish, gelu and gelu_tanh");
  if (w.bias && !bias_ok) return InvalidArgument(w.op + " has no fused bias");
  if (w.residual && !residual_ok) return InvalidArgument(w.op + " has no fused residual add");
  return OkStatus();
}

void AppendEpilogueShapes(const Workload& w, const std::vector<int64_t>& bias_shape,
                          const std::vector<int64_t>& out_shape, std::vector<std::vector<int64_t>>& shapes) {
  if (w.bias) shapes.push_back(bias_shape);
  if (w.residual) shapes.push_back(out_shape);
}

Expr ApplyEpilogue(const Workload& w, Expr v, const Expr& bias, const Expr& residual) {
  if (w.bias) v = v + bias;
  if (w.residual) v = v + residual;
  if (w.relu) v = Max(v, FloatImm(0.0));
  if (w.relu6) v = Min(Max(v, FloatImm(0.0)), FloatImm(6.0));
  if (w.silu) v = v / (FloatImm(1.0) + Exp(FloatImm(0.0) - v));
  if (w.hardswish) v = v * Min(Max(v * FloatImm(1.0 / 6.0) + FloatImm(0.5), FloatImm(0.0)), FloatImm(1.0));
  if (w.gelu) v = Gelu(v);
  if (w.gelu_tanh) v = GeluTanh(v);
  return v;
}

float ApplyEpilogue(const Workload& w, float v, const float* bias, const float* residual) {
  if (w.bias) v += *bias;
  if (w.residual) v += *residual;
  if (w.relu) v = std::max(v, 0.0f);
  if (w.relu6) v = std::min(std::max(v, 0.0f), 6.0f);
  if (w.silu) v = v / (1.0f + std::exp(-v));
  if (w.hardswish) v = v * std::min(std::max(v / 6.0f + 0.5f, 0.0f), 1.0f);
  if (w.gelu) v = v * 0.5f * (1.0f + std::erf(v * static_cast<float>(M_SQRT1_2)));
  if (w.gelu_tanh) v = v * 0.5f * (1.0f + std::tanh(0.7978845608f * (v + 0.044715f * v * v * v)));
  return v;
}

EpilogueInputs::EpilogueInputs(const Workload& w, const std::vector<int64_t>& bias_shape,
                               const std::vector<int64_t>& out_shape) {
  if (w.bias) bias = Placeholder("bias", bias_shape);
  if (w.residual) residual = Placeholder("residual", out_shape);
}

void EpilogueInputs::AppendArgs(std::vector<Tensor>& args) const {
  if (bias) args.push_back(bias);
  if (residual) args.push_back(residual);
}

std::vector<int64_t> Divisors(int64_t n, int64_t limit) {
  std::vector<int64_t> d;
  for (int64_t i = 1; i <= std::min(n, limit); ++i)
    if (n % i == 0) d.push_back(i);
  return d;
}

int64_t Closest(const std::vector<int64_t>& candidates, int64_t want) {
  int64_t best = candidates.front();
  for (int64_t c : candidates)
    if (std::llabs(c - want) < std::llabs(best - want)) best = c;
  return best;
}

int64_t AccumulatorBudget(const Target& t) { return t.vector_registers - kOperandRegisters; }

int64_t VectorsFor(const Target& t, int64_t cols) {
  int64_t lanes = t.vector_lanes();
  return (cols + lanes - 1) / lanes;
}

ConfigConstraint RegisterTileConstraint(const Target& t, const std::string& rows, const std::string& cols,
                                        std::vector<std::string> knobs) {
  int64_t budget = AccumulatorBudget(t);
  return {rows + " x " + cols + " register tile fits in " + std::to_string(budget) + " accumulators",
          [=](const Config& c) { return c.at(rows) * VectorsFor(t, c.at(cols)) <= budget; }, std::move(knobs)};
}

std::vector<int64_t> BlockMultiples(int64_t tile, int64_t extent) {
  std::vector<int64_t> out;
  for (int64_t p = 1;; p *= 2) {
    for (int64_t j : {p, p + p / 2}) {  // 1, 2, 3, 4, 6, 8, 12, ...
      if (!out.empty() && tile * j == out.back()) continue;
      out.push_back(tile * j);
      if (tile * j >= extent) return out;
    }
  }
}

void SampleEpilogue(Workload& w, std::mt19937_64& rng) {
  w.bias = SampleCoin(rng, 0.4);
  w.residual = SampleCoin(rng, 0.3);
  const double act = std::uniform_real_distribution<double>(0, 1)(rng);
  w.relu = act < 0.25;
  w.relu6 = act >= 0.25 && act < 0.4;
  w.silu = act >= 0.4 && act < 0.5;
  w.hardswish = act >= 0.5 && act < 0.6;
  w.gelu = act >= 0.6 && act < 0.65;
  w.gelu_tanh = act >= 0.65 && act < 0.7;
}

}  // namespace priortune::compiler::internal
