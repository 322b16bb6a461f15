// The built-in operator templates; op_template.cpp registers them.
#pragma once

#include <cstdint>
#include <vector>

#include "compiler/op_template.h"

namespace priortune::compiler::internal {

const OpTemplate* MatmulTemplate();
const OpTemplate* BatchMatmulTemplate();
const OpTemplate* Conv2dTemplate();
const OpTemplate* DepthwiseConv2dTemplate();

// Shared by templates: "dim X = v must be positive" style checks.
Status RequireDims(const Workload& w, const std::vector<const char*>& positive,
                   const std::vector<const char*>& non_negative = {});
// Divisors of n no larger than limit, ascending.
std::vector<int64_t> Divisors(int64_t n, int64_t limit);
// The candidate closest to `want` (ties: the smaller).
int64_t Closest(const std::vector<int64_t>& candidates, int64_t want);

// Register tiles are at most this many vectors wide (BLIS and oneDNN micro-kernels: 1-4):
// a design choice of the templates, not a machine fact; the width in lanes comes from
// the target.
inline constexpr int64_t kMaxTileVectors = 4;
// Vector registers a register tile leaves for its operands (the loaded row of B or of the
// kernel, and a broadcast).
inline constexpr int kOperandRegisters = 4;

// Accumulator vectors a register tile may hold on `t`: its vector registers minus the
// operands' (28 on AVX-512, 12 with AVX2 or SSE).
int64_t AccumulatorBudget(const Target& t);
// ceil(cols / lanes): vectors per row of a tile `cols` lanes wide.
int64_t VectorsFor(const Target& t, int64_t cols);

// "rows x ceil(cols / lanes) accumulator vectors fit in AccumulatorBudget(t)": the
// register-tile constraint of matmul and conv2d.
ConfigConstraint RegisterTileConstraint(const Target& t, const std::string& rows_knob,
                                        const std::string& cols_knob);

}  // namespace priortune::compiler::internal
