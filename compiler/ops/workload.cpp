#include "compiler/ops/workload.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "compiler/target/target.h"

namespace priortune::compiler {

int64_t Workload::dim(const std::string& name) const {
  auto it = dims.find(name);
  PT_CHECK(it != dims.end(), "workload " + op + " has no dim " + name);
  return it->second;
}

std::string Workload::ToJson() const {
  nlohmann::json epilogue = {{"bias", bias}, {"relu", relu}};
  // Written only when set, so that the keys of workloads from before they existed stay.
  if (residual) epilogue["residual"] = true;
  if (relu6) epilogue["relu6"] = true;
  if (silu) epilogue["silu"] = true;
  if (hardswish) epilogue["hardswish"] = true;
  if (gelu) epilogue["gelu"] = true;
  if (gelu_tanh) epilogue["gelu_tanh"] = true;
  nlohmann::json j = {{"op", op}, {"dims", dims}, {"dtype", dtype}, {"epilogue", epilogue}};
  return j.dump();
}

std::string Workload::Key() const { return HashKey(ToJson()); }

StatusOr<Workload> Workload::FromJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("workload is not a JSON object");
  Workload w;
  if (!j.contains("op") || !j["op"].is_string()) return InvalidArgument("workload: missing string field 'op'");
  w.op = j["op"].get<std::string>();
  if (!j.contains("dims") || !j["dims"].is_object()) return InvalidArgument("workload: missing object field 'dims'");
  for (const auto& [k, v] : j["dims"].items()) {
    if (!v.is_number_integer()) return InvalidArgument("workload: dim '" + k + "' is not an integer");
    w.dims[k] = v.get<int64_t>();
  }
  if (j.contains("dtype")) {
    if (!j["dtype"].is_string()) return InvalidArgument("workload: 'dtype' is not a string");
    w.dtype = j["dtype"].get<std::string>();
  }
  if (j.contains("epilogue")) {
    const auto& e = j["epilogue"];
    if (!e.is_object()) return InvalidArgument("workload: 'epilogue' is not an object");
    for (auto [name, field] : {std::pair<const char*, bool*>{"bias", &w.bias},
                               {"relu", &w.relu},
                               {"relu6", &w.relu6},
                               {"silu", &w.silu},
                               {"hardswish", &w.hardswish},
                               {"gelu", &w.gelu},
                               {"gelu_tanh", &w.gelu_tanh},
                               {"residual", &w.residual}}) {
      if (!e.contains(name)) continue;
      if (!e[name].is_boolean()) return InvalidArgument(std::string("workload: epilogue.") + name + " is not a bool");
      *field = e[name].get<bool>();
    }
  }
  return w;
}

std::string Workload::ShortName() const {
  std::ostringstream os;
  os << op;
  const char* sep = " ";
  for (const auto& [k, v] : dims) {
    os << sep << k << "=" << v;
    sep = ",";
  }
  if (bias) os << "+bias";
  if (residual) os << "+residual";
  if (relu) os << "+relu";
  if (relu6) os << "+relu6";
  if (silu) os << "+silu";
  if (hardswish) os << "+hardswish";
  if (gelu) os << "+gelu";
  if (gelu_tanh) os << "+gelu_tanh";
  return os.str();
}

Workload MatmulWorkload(int64_t m, int64_t n, int64_t k, bool bias, bool relu) {
  Workload w;
  w.op = "matmul";
  w.dims = {{"M", m}, {"N", n}, {"K", k}};
  w.bias = bias;
  w.relu = relu;
  return w;
}

Workload BatchMatmulWorkload(int64_t b, int64_t m, int64_t n, int64_t k) {
  Workload w;
  w.op = "batch_matmul";
  w.dims = {{"B", b}, {"M", m}, {"N", n}, {"K", k}};
  return w;
}

Workload Conv2dWorkload(int64_t n, int64_t c, int64_t h, int64_t wd, int64_t o, int64_t kh, int64_t kw, int64_t stride,
                        int64_t pad, bool bias, bool relu) {
  Workload w;
  w.op = "conv2d";
  w.dims = {{"N", n},   {"C", c},       {"H", h},       {"W", wd},   {"O", o},   {"KH", kh},
            {"KW", kw}, {"SH", stride}, {"SW", stride}, {"PH", pad}, {"PW", pad}};
  w.bias = bias;
  w.relu = relu;
  return w;
}

Workload GroupConv2dWorkload(int64_t n, int64_t c, int64_t h, int64_t wd, int64_t o, int64_t kh, int64_t kw,
                             int64_t stride, int64_t pad, int64_t groups) {
  Workload w = Conv2dWorkload(n, c, h, wd, o, kh, kw, stride, pad);
  w.op = "group_conv2d";
  w.dims["G"] = groups;
  return w;
}

Workload DepthwiseConv2dWorkload(int64_t n, int64_t c, int64_t h, int64_t wd, int64_t kh, int64_t kw, int64_t stride,
                                 int64_t pad) {
  Workload w;
  w.op = "depthwise_conv2d";
  w.dims = {{"N", n},   {"C", c},       {"H", h},       {"W", wd},   {"KH", kh},
            {"KW", kw}, {"SH", stride}, {"SW", stride}, {"PH", pad}, {"PW", pad}};
  return w;
}

StatusOr<Workload> ParseWorkload(const std::string& op, const std::string& shape) {
  std::vector<int64_t> v;
  std::stringstream ss(shape);
  std::string part;
  while (std::getline(ss, part, 'x')) {
    if (part.empty() || part.find_first_not_of("-0123456789") != std::string::npos)
      return InvalidArgument("--shape '" + shape + "': '" + part + "' is not an integer");
    try {
      v.push_back(std::stoll(part));
    } catch (const std::exception&) {
      return InvalidArgument("--shape '" + shape + "': '" + part + "' is out of range");
    }
  }
  auto want = [&](size_t n, const char* form) -> Status {
    if (v.size() != n) return InvalidArgument("--shape '" + shape + "' for " + op + " must be " + form);
    return OkStatus();
  };
  if (op == "matmul") {
    PT_RETURN_IF_ERROR(want(3, "MxNxK"));
    return MatmulWorkload(v[0], v[1], v[2]);
  }
  if (op == "batch_matmul") {
    PT_RETURN_IF_ERROR(want(4, "BxMxNxK"));
    return BatchMatmulWorkload(v[0], v[1], v[2], v[3]);
  }
  if (op == "conv2d") {
    PT_RETURN_IF_ERROR(want(6, "CinxCoutxHxKxSxP"));
    return Conv2dWorkload(1, v[0], v[2], v[2], v[1], v[3], v[3], v[4], v[5]);
  }
  if (op == "depthwise_conv2d") {
    PT_RETURN_IF_ERROR(want(5, "CxHxKxSxP"));
    return DepthwiseConv2dWorkload(1, v[0], v[1], v[1], v[2], v[2], v[3], v[4]);
  }
  if (op == "group_conv2d") {
    PT_RETURN_IF_ERROR(want(7, "CinxCoutxHxKxSxPxG"));
    return GroupConv2dWorkload(1, v[0], v[2], v[2], v[1], v[3], v[3], v[4], v[5], v[6]);
  }
  return NotFound("unknown op '" + op + "'; known: matmul, batch_matmul, conv2d, depthwise_conv2d, group_conv2d");
}

}  // namespace priortune::compiler
