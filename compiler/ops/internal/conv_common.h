// What conv2d and depthwise_conv2d share (conv2d_template.cpp, depthwise_template.cpp):
// their dimensions and validation, padded and blocked reads, the fuzzer's workloads, the
// reference, and the candidate values of their knobs.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "compiler/ir/schedule.h"
#include "compiler/ops/internal/templates.h"

namespace priortune::compiler::internal {

struct ConvDims {
  int64_t n, c, h, w, o, kh, kw, sh, sw, ph, pw, oh, ow;
  int64_t g = 1;                        // groups: 1 (conv2d), G (group_conv2d), C (depthwise_conv2d)
  int64_t cg() const { return c / g; }  // input channels per group
  int64_t og() const { return o / g; }  // output channels per group
};

// The workload's sizes; groups from its "G" dim when it has one (group_conv2d).
ConvDims Dims(const Workload& w, bool depthwise);

Status ValidateConv(const Workload& w, bool depthwise);

// The padded input element, zero outside the image. `past_row`: the caller also reads
// columns beyond the padded row, so the bounds are checked even without padding.
Expr PaddedRead(const Tensor& data, const ConvDims& d, Expr n, Expr c, Expr h, Expr w, bool past_row = false);

// The same from data stored in `block` (TensorLayouts), channel cb * cbn + ci.
Expr PaddedRead(const Tensor& data, int64_t block, const ConvDims& d, Expr n, Expr cb, int64_t cbn, Expr ci, Expr h,
                Expr w);

// The data block divides the input channels and the residual block the output's.
Status CheckLayoutBlocks(const Workload& w, bool depthwise, const TensorLayouts& layouts);

// `in`: the template's inputs (data, weight, then the epilogue's).
// A random conv workload for the fuzzer (OpTemplate::SampleWorkload): any stride and
// padding the template takes, square and oblong kernels and images, odd channel counts.
Workload SampleConv(const std::string& op, bool depthwise, std::mt19937_64& rng, double max_macs);

void ReferenceConv(const Workload& w, bool depthwise, const std::vector<const float*>& args, float* out);

// Output columns per register tile: the divisors of the output width (no tail) and
// multiples of 4 (tails are fine), up to the accumulators the target has.
std::vector<int64_t> RegNCandidates(int64_t ow, const Target& t);

// Output-channel blocks: divisors of the channel count up to the widest register tile.
std::vector<int64_t> ChannelBlocks(int64_t channels, const Target& t);

// Depthwise NCHW width tiles: powers of two from a quarter vector to the widest register
// tile.
std::vector<int64_t> WidthTiles(const Target& t);

// Depthwise NCHW rows per register tile: 1-4 and the divisors of the output height, up
// to the accumulators the target has.
std::vector<int64_t> DwRowCandidates(int64_t oh, const Target& t);

// (ow_bn, reg_n) pairs: register tiles of reg_n columns in blocks of ow_bn columns.
std::vector<std::vector<int64_t>> OwTiles(int64_t ow, const Target& t);

// nchw-width: output columns per register tile, 1-4 vectors no wider than the row (one
// vector when the row is narrower). Width() computes the last tile of a row whole. Wider
// tiles measured slow (r18-ds, 2 vectors for a 28-wide row: 4.8 GFLOPS against 69-88 for
// one vector), so the search does not spend trials on them.
std::vector<int64_t> WidthVectors(int64_t ow, const Target& t);

// Output rows per register tile: 1-4 and the divisors of the output height, up to the
// accumulators the target has.
std::vector<int64_t> RegHCandidates(int64_t oh, const Target& t);

}  // namespace priortune::compiler::internal
