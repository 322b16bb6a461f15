// Small ONNX models built with the ONNX protobuf API (Debian's libonnx-dev), so each test
// case is exact and small: shared by the import, graph-pass and compiled-model tests.
#pragma once

#include <onnx/onnx_pb.h>

#include <random>
#include <string>
#include <vector>

#include "compiler/graph/graph.h"

namespace priortune::compiler::testing {

class ModelBuilder {
 public:
  ModelBuilder() {
    model_.set_ir_version(7);
    model_.add_opset_import()->set_version(13);
  }
  void Input(const std::string& name, std::vector<int64_t> shape, const std::string& dynamic = "",
             int elem_type = onnx::TensorProto::FLOAT) {
    auto* in = model_.mutable_graph()->add_input();
    in->set_name(name);
    auto* t = in->mutable_type()->mutable_tensor_type();
    t->set_elem_type(elem_type);
    for (int64_t d : shape) {
      auto* dim = t->mutable_shape()->add_dim();
      if (d > 0)
        dim->set_dim_value(d);
      else
        dim->set_dim_param(dynamic);
    }
  }
  // A float initializer of random values (kept for the test's own reference math).
  std::vector<float> Weight(const std::string& name, std::vector<int64_t> shape, float lo = -1, float hi = 1) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : shape) {
      t->add_dims(d);
      n *= d;
    }
    std::vector<float> v(static_cast<size_t>(n));
    std::uniform_real_distribution<float> u(lo, hi);
    for (auto& x : v) x = u(rng_);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
    return v;
  }
  void Scalar(const std::string& name, float v) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_float_data(v);
  }
  // An int64 initializer (shapes, axes, pads, indices).
  void Ints(const std::string& name, std::vector<int64_t> shape, const std::vector<int64_t>& values) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    for (int64_t d : shape) t->add_dims(d);
    for (int64_t v : values) t->add_int64_data(v);
  }
  void Opset(int64_t v) { model_.mutable_opset_import(0)->set_version(v); }
  onnx::NodeProto* Node(const std::string& op, const std::string& name, std::vector<std::string> in,
                        std::vector<std::string> out) {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (auto& i : in) n->add_input(i);
    for (auto& o : out) n->add_output(o);
    return n;
  }
  static void Ints(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void Float(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void Int(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  void Output(const std::string& name) { model_.mutable_graph()->add_output()->set_name(name); }
  // Moves initializer `name`'s bytes to `file` (ONNX external data at `offset`), which the
  // caller writes beside the model; returns them.
  std::string MakeExternal(const std::string& name, const std::string& file, int64_t offset) {
    for (auto& t : *model_.mutable_graph()->mutable_initializer()) {
      if (t.name() != name) continue;
      std::string bytes = t.raw_data();
      t.clear_raw_data();
      t.set_data_location(onnx::TensorProto::EXTERNAL);
      auto add = [&](const char* k, const std::string& v) {
        auto* e = t.add_external_data();
        e->set_key(k);
        e->set_value(v);
      };
      add("location", file);
      add("offset", std::to_string(offset));
      add("length", std::to_string(bytes.size()));
      return bytes;
    }
    return "";
  }
  std::string Bytes() const { return model_.SerializeAsString(); }

 private:
  onnx::ModelProto model_;
  std::mt19937 rng_{7};
};

inline ImportOptions Options(bool fold, bool fuse) {
  ImportOptions o;
  o.fold_batchnorm = fold;
  o.fuse_epilogues = fuse;
  return o;
}

// `groups`: a grouped convolution (ignored when depthwise).
inline void Conv(ModelBuilder& m, const std::string& name, const std::string& in, int64_t c, int64_t o, int64_t k,
                 bool batchnorm, bool depthwise = false, int64_t groups = 1) {
  if (depthwise) groups = c;
  m.Weight(name + "_w", {o, c / groups, k, k});
  auto* conv = m.Node("Conv", name, {in, name + "_w"}, {name + "_c"});
  ModelBuilder::Ints(conv, "kernel_shape", {k, k});
  ModelBuilder::Ints(conv, "pads", {k / 2, k / 2, k / 2, k / 2});
  if (groups != 1) ModelBuilder::Int(conv, "group", groups);
  if (!batchnorm) return;
  m.Weight(name + "_s", {o}, 0.5, 1.5);
  m.Weight(name + "_h", {o});
  m.Weight(name + "_m", {o});
  m.Weight(name + "_v", {o}, 0.5, 2);
  m.Node("BatchNormalization", name + "_bn", {name + "_c", name + "_s", name + "_h", name + "_m", name + "_v"},
         {name + "_out"});
}

// A MaxPool or AveragePool node: square kernel k, stride st, padding p on every side.
inline onnx::NodeProto* Pool(ModelBuilder& m, const std::string& op, const std::string& name, const std::string& in,
                             const std::string& out, int64_t k, int64_t st, int64_t p) {
  auto* n = m.Node(op, name, {in}, {out});
  ModelBuilder::Ints(n, "kernel_shape", {k, k});
  ModelBuilder::Ints(n, "strides", {st, st});
  ModelBuilder::Ints(n, "pads", {p, p, p, p});
  return n;
}

// A residual block, a block whose residual is computed after the convolution that adds
// it (as ResNet's downsample path), ReLU6 after a 1x1 and after a depthwise conv, and a
// dense layer with a ReLU:
//   a: conv3x3+BN -> Relu;  b: conv3x3+BN -> Add(x) -> Relu                   (y1)
//   e: conv3x3+BN on y1;   f: conv1x1+BN on y1;  Add(e, f) -> Relu             (y2)
//   c: conv1x1 (8 -> 16) -> Clip(0, 6);  d: depthwise 3x3+BN -> Clip(0, 6)
//   GlobalAveragePool -> Flatten -> Gemm -> Relu
inline ModelBuilder FusableModel() {
  ModelBuilder m;
  m.Input("x", {1, 8, 10, 10});
  Conv(m, "a", "x", 8, 8, 3, true);
  m.Node("Relu", "a_relu", {"a_out"}, {"a_r"});
  Conv(m, "b", "a_r", 8, 8, 3, true);
  m.Node("Add", "b_add", {"b_out", "x"}, {"b_sum"});
  m.Node("Relu", "b_relu", {"b_sum"}, {"y1"});
  Conv(m, "e", "y1", 8, 8, 3, true);
  Conv(m, "f", "y1", 8, 8, 1, true);
  m.Node("Add", "ef_add", {"e_out", "f_out"}, {"ef"});
  m.Node("Relu", "ef_relu", {"ef"}, {"y2"});
  Conv(m, "c", "y2", 8, 16, 1, false);
  m.Scalar("zero", 0);
  m.Scalar("six", 6);
  m.Node("Clip", "c_clip", {"c_c", "zero", "six"}, {"c_r"});
  Conv(m, "d", "c_r", 16, 16, 3, true, /*depthwise=*/true);
  m.Node("Clip", "d_clip", {"d_out", "zero", "six"}, {"d_r"});
  m.Node("GlobalAveragePool", "gap", {"d_r"}, {"g"});
  m.Node("Flatten", "flat", {"g"}, {"fl"});
  m.Weight("fc_w", {16, 10});
  m.Weight("fc_b", {10});
  m.Node("Gemm", "fc", {"fl", "fc_w", "fc_b"}, {"fc_out"});
  m.Node("Relu", "fc_relu", {"fc_out"}, {"y"});
  m.Output("y");
  return m;
}

}  // namespace priortune::compiler::testing
