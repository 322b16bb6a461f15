// Features of a candidate, read from its lowered loop nest (not from its knob values), so
// that what a model learns on one workload says something about another: one fixed-length
// vector per candidate. Every feature is documented where the layout is defined
// (costmodel/features.cpp); FeatureNames() lists them in order.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "compiler/ir/lower.h"
#include "compiler/ops/op_template.h"
#include "compiler/ops/workload.h"
#include "compiler/support/status.h"
#include "compiler/target/target.h"

namespace priortune::costmodel {

// Bumped whenever a feature is added, removed or changes meaning: a stored model names
// the version it was trained on and is refused for another.
inline constexpr int kFeatureVersion = 1;

// Stores are grouped by the buffer they write (a tail loop's store joins its main
// loop's), and the groups with the most float work fill this many slots, largest first.
inline constexpr int kStoreSlots = 4;
// Buffers described per slot: the most-accessed ones (by bytes) of the group.
inline constexpr int kBuffersPerSlot = 3;
// Levels of the working-set curve, counted from the innermost loop out.
inline constexpr int kWorkingSetLevels = 8;

struct FeatureOptions {
  // Appends the workload context (op, log FLOPs, log dims): helps within an op, may hurt
  // transfer across ops. Off by default (see costmodel/features.cpp).
  bool workload_context = false;
};

// Names in vector order, e.g. "s0.fma", "s1.b0.stride", "g.par_balance", "w.log_flops".
std::vector<std::string> FeatureNames(const FeatureOptions& options = {});

// The loop-nest features of `f` (its main function; prepacks run once per set of weights
// and are not timed, so they are left out) for target `t`. Deterministic, finite,
// FeatureNames().size() long without the workload context. Thread-safe.
std::vector<float> ExtractLoopNestFeatures(const compiler::LoweredFunc& f, const compiler::Target& t);

// The workload context: op one-hot, log2 FLOPs, log2 of up to 8 dims in name order.
std::vector<float> WorkloadContextFeatures(const compiler::Workload& w);

// The features of a lowered candidate of `w`: the loop-nest features, plus the context
// if asked for.
std::vector<float> LoweredFeatures(const compiler::LoweredFunc& f, const compiler::Workload& w,
                                   const compiler::Target& t, const FeatureOptions& options = {});

// The loop-nest features followed by the workload context if `options` asks for it.
std::vector<float> WithContext(std::vector<float> loop_nest, const compiler::Workload& w,
                               const FeatureOptions& options);

// The feature cache (the store's record_features table, per kFeatureVersion): a
// loop-nest feature vector (no context) as float32 bytes in host order, and back.
// FeaturesFromBlob refuses (nullopt) a blob of another length or with a non-finite value,
// so that a damaged cache entry is recomputed, never used.
int LoopNestFeatureCount();
// Features per slot: the vector starts with kStoreSlots runs of this many (s0.*, s1.*, ...);
// what follows (g.*, w.*) describes the whole function.
int SlotFeatureCount();
std::string FeatureBlob(const std::vector<float>& loop_nest);
std::optional<std::vector<float>> FeaturesFromBlob(const std::string& blob);

// Lowers (w, t, c) and extracts its features (LoweredFeatures).
// InvalidArgument for a config outside the template, as LowerWorkload says.
StatusOr<std::vector<float>> CandidateFeatures(const compiler::Workload& w, const compiler::Target& t,
                                               const compiler::Config& c, const FeatureOptions& options = {});

}  // namespace priortune::costmodel
