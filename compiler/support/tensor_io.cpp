// Typed tensors at a model's edge (tensor_io.h): checks, then conversions to and from the
// model's float32 buffers.
#include "compiler/support/tensor_io.h"

#include <cmath>
#include <cstring>

namespace priortune {

const char* ElemTypeName(ElemType t) {
  switch (t) {
    case ElemType::kFloat32:
      return "float32";
    case ElemType::kInt32:
      return "int32";
    case ElemType::kInt64:
      return "int64";
    case ElemType::kBool:
      return "bool";
  }
  return "unknown";
}

int64_t ElemBytes(ElemType t) {
  switch (t) {
    case ElemType::kInt64:
      return 8;
    case ElemType::kBool:
      return 1;
    default:
      return 4;
  }
}

bool ElemTypeFromCode(int64_t code, ElemType& out) {
  for (ElemType t : {ElemType::kFloat32, ElemType::kInt32, ElemType::kInt64, ElemType::kBool})
    if (static_cast<int64_t>(t) == code) {
      out = t;
      return true;
    }
  return false;
}

int64_t IoSpec::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {

// Value k of an integer buffer of type `t`.
int64_t IntAt(ElemType t, const void* data, int64_t k) {
  switch (t) {
    case ElemType::kInt64:
      return static_cast<const int64_t*>(data)[k];
    case ElemType::kInt32:
      return static_cast<const int32_t*>(data)[k];
    default:
      return static_cast<const uint8_t*>(data)[k] != 0;
  }
}

// Whether `in`'s values suit `spec` (exact in float32, inside the index bound): "" or why.
std::string CheckValues(const IoSpec& spec, const TypedIn& in) {
  if (spec.dtype == ElemType::kFloat32 || spec.dtype == ElemType::kBool) return "";
  const int64_t lo = spec.index_bound > 0 ? -spec.index_bound : -kExactIntegerLimit;
  const int64_t hi = spec.index_bound > 0 ? spec.index_bound - 1 : kExactIntegerLimit;
  for (int64_t k = 0; k < in.elements; ++k) {
    const int64_t v = IntAt(spec.dtype, in.data, k);
    if (v >= lo && v <= hi) continue;
    std::string at = "input '" + spec.name + "': value " + std::to_string(v) + " at element " + std::to_string(k);
    if (spec.index_bound > 0)
      return at + " is outside the table it indexes (" + std::to_string(spec.index_bound) + " rows: ids 0.." +
             std::to_string(spec.index_bound - 1) + ", or negative from the end)";
    return at + " is beyond +-2^24, which the compiled model's float32 buffers hold exactly";
  }
  return "";
}

// v rounded to an integer within [-limit, limit] (NaN: 0).
double Clamped(float v, double limit) {
  if (std::isnan(v)) return 0;
  return std::fmax(-limit, std::fmin(limit, std::nearbyint(static_cast<double>(v))));
}

// The index of the spec named `name`, or specs.size().
size_t Find(const std::vector<IoSpec>& specs, const std::string& name) {
  size_t i = 0;
  while (i < specs.size() && specs[i].name != name) ++i;
  return i;
}

// "no input named 'x' (the model's inputs: 'a', 'b')".
std::string Unknown(const std::vector<IoSpec>& specs, const std::string& name, const std::string& what) {
  return "no " + what + " named '" + name + "' (the model's " + what + "s: " + NamesOf(specs) + ")";
}

}  // namespace

std::string NamesOf(const std::vector<IoSpec>& specs) {
  std::string names;
  for (const IoSpec& s : specs) names += (names.empty() ? "'" : ", '") + s.name + "'";
  return names;
}

std::string ConvertInputs(const std::vector<IoSpec>& specs, const std::vector<TypedIn>& given, float* const* dst) {
  std::vector<const TypedIn*> of(specs.size(), nullptr);
  for (const TypedIn& in : given) {
    const size_t i = Find(specs, in.name);
    if (i == specs.size()) return Unknown(specs, in.name, "input");
    if (of[i]) return "input '" + in.name + "' is given twice";
    const IoSpec& s = specs[i];
    if (in.dtype != s.dtype)
      return "input '" + s.name + "': " + ElemTypeName(in.dtype) + " given, the model takes " + ElemTypeName(s.dtype);
    if (in.elements != s.elements())
      return "input '" + s.name + "': " + std::to_string(in.elements) + " values given, the model takes " +
             std::to_string(s.elements());
    if (in.elements > 0 && !in.data) return "input '" + s.name + "': no data (a null pointer)";
    std::string bad = CheckValues(s, in);
    if (!bad.empty()) return bad;
    of[i] = &in;
  }
  for (size_t i = 0; i < specs.size(); ++i)
    if (!of[i]) return "input '" + specs[i].name + "' is missing (" + std::to_string(specs.size()) + " inputs)";
  for (size_t i = 0; i < specs.size(); ++i) {
    const TypedIn& in = *of[i];
    if (in.dtype == ElemType::kFloat32) {
      std::memcpy(dst[i], in.data, static_cast<size_t>(in.elements) * 4);
      continue;
    }
    for (int64_t k = 0; k < in.elements; ++k) dst[i][k] = static_cast<float>(IntAt(in.dtype, in.data, k));
  }
  return "";
}

std::string ConvertOutputs(const std::vector<IoSpec>& specs, const std::vector<TypedOut>& want,
                           const float* const* src) {
  std::vector<bool> seen(specs.size(), false);
  std::vector<size_t> index;
  for (const TypedOut& out : want) {
    const size_t j = Find(specs, out.name);
    if (j == specs.size()) return Unknown(specs, out.name, "output");
    if (seen[j]) return "output '" + out.name + "' is asked for twice";
    seen[j] = true;
    const IoSpec& s = specs[j];
    if (out.dtype != s.dtype)
      return "output '" + s.name + "': " + ElemTypeName(out.dtype) + " asked for, the model gives " +
             ElemTypeName(s.dtype);
    if (out.elements != s.elements())
      return "output '" + s.name + "': room for " + std::to_string(out.elements) + " values, the model gives " +
             std::to_string(s.elements());
    if (out.elements > 0 && !out.data) return "output '" + s.name + "': no buffer (a null pointer)";
    index.push_back(j);
  }
  for (size_t k = 0; k < want.size(); ++k) {
    const TypedOut& out = want[k];
    const float* from = src[index[k]];
    if (out.dtype == ElemType::kFloat32) {
      std::memcpy(out.data, from, static_cast<size_t>(out.elements) * 4);
      continue;
    }
    for (int64_t e = 0; e < out.elements; ++e) {
      switch (out.dtype) {
        case ElemType::kFloat32:
          break;
        case ElemType::kInt64:  // clamped: a cast of a float past the type's range is undefined
          static_cast<int64_t*>(out.data)[e] = static_cast<int64_t>(Clamped(from[e], 9.2e18));
          break;
        case ElemType::kInt32:
          static_cast<int32_t*>(out.data)[e] = static_cast<int32_t>(Clamped(from[e], 2147483520.0));
          break;
        case ElemType::kBool:
          static_cast<uint8_t*>(out.data)[e] = from[e] != 0;
          break;
      }
    }
  }
  return "";
}

}  // namespace priortune
