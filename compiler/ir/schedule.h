// Schedules: how the stages of a tensor computation become loops. A Schedule holds one
// Stage per compute operation; primitives (split, reorder, fuse, vectorize, unroll,
// parallel, compute_at, compute_inline, cache_write) rewrite a stage's loop structure
// without touching what it computes.
//
// Errors are sticky: a primitive given bad input (a split factor of 0, a reorder that
// drops an axis, vectorising a reduction axis, ...) records InvalidArgument naming the
// stage, the axis and the value, and every later primitive is a no-op. Lower() returns
// the first error. This keeps templates linear while never building a bad loop nest.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/ir/tensor.h"
#include "compiler/support/status.h"

namespace priortune::compiler {

class Schedule;

enum class AttachKind : uint8_t { kRoot, kInline, kAt };

// A loop-structure rewrite: split(parent) -> outer, inner; fuse(outer, inner) -> fused.
struct IterRelation {
  enum Kind : uint8_t { kSplit, kFuse } kind;
  IterVar parent, outer, inner, fused;
  int64_t factor = 0;
};

class Stage {
 public:
  Stage(Schedule* schedule, Operation origin);

  // --- primitives (see the header comment for how they fail) ---
  // Splits `iv` into outer and inner loops, inner of extent `factor`. Factors that do not
  // divide the extent are correct: the tail is guarded.
  std::pair<IterVar, IterVar> split(const IterVar& iv, int64_t factor);
  // Fuses two adjacent loops (outer directly before inner) into one.
  IterVar fuse(const IterVar& outer, const IterVar& inner);
  // Sets the complete loop order: `order` must list every current loop exactly once.
  void reorder(const std::vector<IterVar>& order);
  void vectorize(const IterVar& iv);
  void unroll(const IterVar& iv);
  void parallel(const IterVar& iv);
  // Computes this stage inside loop `iv` of its only consumer `parent`, just the region
  // the remaining inner loops of parent need.
  void compute_at(Stage& parent, const IterVar& iv);
  // Substitutes this stage's expression into its consumers (not for reductions).
  void compute_inline();

  // --- read access for lowering and tests ---
  const std::string& name() const { return op_->name; }
  const Operation& origin() const { return origin_; }
  const Operation& op() const { return op_; }
  IterVar axis(size_t i) const;         // root spatial axis i
  IterVar reduce_axis(size_t i) const;  // root reduction axis i
  const std::vector<IterVar>& leaf_axes() const { return leaves_; }
  const std::vector<IterRelation>& relations() const { return relations_; }
  ForKind annotation(const IterVar& iv) const;
  AttachKind attach_kind() const { return attach_; }
  const Stage* attach_stage() const { return attach_stage_; }
  const IterVar& attach_ivar() const { return attach_iv_; }

 private:
  friend class Schedule;
  bool Usable() const;
  bool CheckLeaf(const IterVar& iv, const char* primitive);
  void Annotate(const IterVar& iv, ForKind kind, const char* primitive);
  void ResetTo(Operation op);

  Schedule* schedule_;
  Operation origin_;  // the op other ops read (identity for lookups)
  Operation op_;      // the current definition (differs from origin after cache_write)
  std::vector<IterVar> leaves_;
  std::vector<IterRelation> relations_;
  std::unordered_map<const IterVarNode*, ForKind> annotations_;
  AttachKind attach_ = AttachKind::kRoot;
  const Stage* attach_stage_ = nullptr;
  IterVar attach_iv_;
};

class Schedule {
 public:
  // Stages for every compute op reachable from `outputs`, producers first.
  explicit Schedule(std::vector<Tensor> outputs);
  Schedule(const Schedule&) = delete;
  Schedule& operator=(const Schedule&) = delete;

  // The stage computing `t`. A tensor that is not a compute stage of this schedule (a
  // placeholder, say) records an error and returns an inert stage.
  Stage& operator[](const Tensor& t);
  // Computes `t` into a local buffer first (accumulating a reduction in registers) and
  // then copies it out; returns the local tensor. Call before scheduling t: t keeps its
  // spatial axes, the local stage gets fresh ones plus t's reduction axes.
  Tensor cache_write(const Tensor& t);

  const Status& status() const { return status_; }
  void Fail(Status s);
  const std::vector<std::unique_ptr<Stage>>& stages() const { return stages_; }
  const std::vector<Tensor>& outputs() const { return outputs_; }
  // The stage whose origin is `op`, or null (placeholders).
  const Stage* Find(const OperationNode* op) const;

 private:
  std::vector<Tensor> outputs_;
  std::vector<std::unique_ptr<Stage>> stages_;
  std::unique_ptr<Stage> inert_;
  Status status_;
};

}  // namespace priortune::compiler
