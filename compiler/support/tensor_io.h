// Typed tensors at a model's edge: the element types a model's inputs and outputs may
// have (float32, int64, int32, bool: token ids, positions and masks), and the checks and
// conversions between a caller's typed buffers and a compiled model's float32 buffers.
// A compiled model holds integers and booleans as float32 values, exact up to 2^24 in
// magnitude; an input beyond that, or a Gather index outside its table, is refused before
// anything runs. Shared by CompiledModel (run-model) and the deploy runtime of a model
// library (the C API), so that both say the same thing: only the standard library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace priortune {

// ONNX's TensorProto codes (the C API's PT_FLOAT32, PT_INT32, PT_INT64, PT_BOOL).
enum class ElemType : int32_t { kFloat32 = 1, kInt32 = 6, kInt64 = 7, kBool = 9 };

const char* ElemTypeName(ElemType t);  // "float32", "int64", "int32", "bool"
int64_t ElemBytes(ElemType t);         // 4, 8, 4, 1
// The type of ONNX code `code`, false for one a model cannot take.
bool ElemTypeFromCode(int64_t code, ElemType& out);

// The integers a float32 holds exactly: |v| <= 2^24.
inline constexpr int64_t kExactIntegerLimit = int64_t{1} << 24;

// A model's input or output.
struct IoSpec {
  std::string name;  // the graph's
  ElemType dtype = ElemType::kFloat32;
  std::vector<int64_t> shape;
  // > 0: the input's values index a table of this many rows (a Gather's indices: the
  // vocabulary); each must lie in [-index_bound, index_bound), negatives from the end.
  int64_t index_bound = 0;
  int64_t elements() const;
};

// A caller's buffer of `elements` values of `dtype`, for the input or output `name`.
struct TypedIn {
  std::string name;
  ElemType dtype = ElemType::kFloat32;
  const void* data = nullptr;
  int64_t elements = 0;
};
struct TypedOut {
  std::string name;
  ElemType dtype = ElemType::kFloat32;
  void* data = nullptr;
  int64_t elements = 0;
};

// "'a', 'b'": the names of `specs`, for messages.
std::string NamesOf(const std::vector<IoSpec>& specs);

// Checks that `given` names every input of `specs` exactly once, each with the spec's
// dtype and element count, integer values exact in float32 and inside any index bound;
// then converts input i into dst[i] (its float32 buffer). "" on success, else the message,
// naming the input (and the element for a bad value); nothing is written then.
std::string ConvertInputs(const std::vector<IoSpec>& specs, const std::vector<TypedIn>& given, float* const* dst);
// Checks that each of `want` names an output of `specs` (any of them, once each) with its
// dtype and element count, then copies output j's float32 buffer src[j] into it
// (integers rounded, booleans nonzero). "" on success, else the message.
std::string ConvertOutputs(const std::vector<IoSpec>& specs, const std::vector<TypedOut>& want,
                           const float* const* src);

}  // namespace priortune
