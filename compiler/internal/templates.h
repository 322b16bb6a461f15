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

// "rows x ceil(cols / lanes) accumulator vectors fit in the register file, keeping 4
// registers for operands": the register-tile constraint of matmul and conv2d.
ConfigConstraint RegisterTileConstraint(const Target& t, const std::string& rows_knob,
                                        const std::string& cols_knob);

}  // namespace priortune::compiler::internal
