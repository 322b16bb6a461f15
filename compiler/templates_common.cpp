#include <algorithm>
#include <cstdlib>

#include "compiler/internal/templates.h"

namespace priortune::compiler::internal {

Status RequireDims(const Workload& w, const std::vector<const char*>& positive,
                   const std::vector<const char*>& non_negative) {
  if (w.dtype != "float32")
    return InvalidArgument(w.op + ": dtype '" + w.dtype + "' is not supported (float32 only)");
  for (const char* d : positive) {
    auto it = w.dims.find(d);
    if (it == w.dims.end()) return InvalidArgument(w.op + ": missing dim " + d);
    if (it->second <= 0)
      return InvalidArgument(w.op + ": dim " + d + " = " + std::to_string(it->second) +
                             " must be positive");
  }
  for (const char* d : non_negative) {
    auto it = w.dims.find(d);
    if (it == w.dims.end()) return InvalidArgument(w.op + ": missing dim " + d);
    if (it->second < 0)
      return InvalidArgument(w.op + ": dim " + d + " = " + std::to_string(it->second) +
                             " must not be negative");
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

void VectorizeInNativeChunks(Stage& stage, IterVar axis, int64_t extent, const Target& t) {
  int64_t v = t.vector_lanes(), vecs = extent / v;
  if (extent > v && extent % v == 0 && (vecs & (vecs - 1)) != 0) {
    auto [outer, inner] = stage.split(axis, v);
    stage.unroll(outer);
    stage.vectorize(inner);
  } else {
    stage.vectorize(axis);
  }
}

ConfigConstraint RegisterTileConstraint(const Target& t, const std::string& rows,
                                        const std::string& cols, std::vector<std::string> knobs) {
  int64_t budget = AccumulatorBudget(t);
  return {rows + " x " + cols + " register tile fits in " + std::to_string(budget) + " accumulators",
          [=](const Config& c) { return c.at(rows) * VectorsFor(t, c.at(cols)) <= budget; },
          std::move(knobs)};
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

}  // namespace priortune::compiler::internal
