// Runs a model library written by `priortune build-model`: no tuner, store or LLVM, only
// the library and its C API header.
//
//   priortune build-model resnet18.onnx --db priortune.db --out build/resnet18
//   c++ -O2 -std=c++17 examples/run_model.cpp -I build/resnet18 -L build/resnet18 \
//       -lpriortune_model -Wl,-rpath,build/resnet18 -o run_model
//   ./run_model [--threads N] [--repeat N] [--warmup N] [--input [NAME=]x.bin]... [--output [NAME=]y.bin]...
//
// Inputs and outputs are raw little-endian files in each tensor's type (float32, int64,
// int32, bool), given by name (a model of one input may omit it; --output without a name
// is the first output). An input not given is uniform [-1, 1) from a fixed seed for
// float32, 1 for integers and bools (token id 1, a mask that keeps every token). Every
// inference goes through pt_model_run_named with all inputs and the outputs asked for.
// Without --threads the library runs with the thread count it was built for. Prints the
// model's inputs and outputs, then the median latency of --repeat inferences after
// --warmup (default 10) untimed ones. Exit 2 for bad usage or a file of the wrong size, 1
// when the library refuses.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "priortune_model.h"

namespace {

int64_t Bytes(int32_t dtype) { return dtype == PT_INT64 ? 8 : dtype == PT_BOOL ? 1 : 4; }

const char* TypeName(int32_t dtype) {
  switch (dtype) {
    case PT_FLOAT32:
      return "float32";
    case PT_INT64:
      return "int64";
    case PT_INT32:
      return "int32";
    case PT_BOOL:
      return "bool";
  }
  return "?";
}

// "NAME=FILE" -> (NAME, FILE); "FILE" -> (`first`, FILE).
std::pair<std::string, std::string> Named(const std::string& arg, const char* first) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos) return {first ? first : "", arg};
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

struct Options {
  int threads = 0, repeat = 20, warmup = 10;
  std::vector<std::string> inputs, outputs;
};

bool ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "run_model: %s needs a value\n", a.c_str());
      return false;
    }
    if (a == "--threads") {
      o.threads = std::atoi(argv[++i]);
    } else if (a == "--repeat") {
      o.repeat = std::atoi(argv[++i]);
    } else if (a == "--warmup") {
      o.warmup = std::atoi(argv[++i]);
    } else if (a == "--input") {
      o.inputs.push_back(argv[++i]);
    } else if (a == "--output") {
      o.outputs.push_back(argv[++i]);
    } else {
      std::fprintf(stderr, "run_model: unknown option %s\n", a.c_str());
      return false;
    }
  }
  if (o.threads < 0 || o.repeat < 1 || o.warmup < 0) {
    std::fprintf(stderr, "run_model: --threads and --repeat must be at least 1, --warmup at least 0\n");
    return false;
  }
  return true;
}

// Input i's bytes: its --input file, else the defaults above. False for a bad file.
bool InputBytes(const pt_model* m, int i, const Options& o, std::vector<char>& bytes) {
  const char* name = pt_model_input_name(m, i);
  const int32_t dtype = pt_model_input_dtype(m, i);
  const int64_t n = pt_model_input_elements(m, i);
  bytes.assign(static_cast<size_t>(n * Bytes(dtype)), 0);
  for (const auto& arg : o.inputs) {
    auto [who, path] = Named(arg, pt_model_input_count(m) == 1 ? name : nullptr);
    if (who != name) continue;
    std::ifstream f(path, std::ios::binary);
    std::vector<char> file((std::istreambuf_iterator<char>(f)), {});
    if (!f.is_open() || file.size() != bytes.size()) {
      std::fprintf(stderr, "run_model: input '%s': %s holds %zu bytes, the model takes %zu (%lld %s values)\n", name,
                   path.c_str(), file.size(), bytes.size(), static_cast<long long>(n), TypeName(dtype));
      return false;
    }
    bytes = std::move(file);
    return true;
  }
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t k = 0; k < n; ++k) {
    if (dtype == PT_FLOAT32) reinterpret_cast<float*>(bytes.data())[k] = u(rng);
    if (dtype == PT_INT64) reinterpret_cast<int64_t*>(bytes.data())[k] = 1;
    if (dtype == PT_INT32) reinterpret_cast<int32_t*>(bytes.data())[k] = 1;
    if (dtype == PT_BOOL) bytes[static_cast<size_t>(k)] = 1;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, o)) return 2;
  if (o.threads > 0) pt_model_set_threads(o.threads);
  pt_model* m = pt_model_create();
  if (!m) {
    std::fprintf(stderr, "run_model: %s\n", pt_model_last_error());
    return 1;
  }
  const int n_in = pt_model_input_count(m), n_out = pt_model_output_count(m);
  for (const auto& arg : o.inputs) {
    const std::string who = Named(arg, n_in == 1 ? pt_model_input_name(m, 0) : nullptr).first;
    int i = 0;
    while (i < n_in && who != pt_model_input_name(m, i)) ++i;
    if (i == n_in) {
      std::fprintf(stderr, "run_model: --input %s: no input named '%s' (%d inputs)\n", arg.c_str(), who.c_str(), n_in);
      return 2;
    }
  }
  std::vector<std::vector<char>> in_bytes(static_cast<size_t>(n_in)), out_bytes(static_cast<size_t>(n_out));
  std::vector<pt_input> in;
  std::vector<pt_output> out;
  for (int i = 0; i < n_in; ++i) {
    if (!InputBytes(m, i, o, in_bytes[i])) return 2;
    in.push_back(
        {pt_model_input_name(m, i), pt_model_input_dtype(m, i), in_bytes[i].data(), pt_model_input_elements(m, i)});
    std::printf("input %s: %s x %lld\n", in.back().name, TypeName(in.back().dtype),
                static_cast<long long>(in.back().elements));
  }
  for (int j = 0; j < n_out; ++j) {
    out_bytes[j].resize(static_cast<size_t>(pt_model_output_elements(m, j) * Bytes(pt_model_output_dtype(m, j))));
    out.push_back(
        {pt_model_output_name(m, j), pt_model_output_dtype(m, j), out_bytes[j].data(), pt_model_output_elements(m, j)});
    std::printf("output %s: %s x %lld\n", out.back().name, TypeName(out.back().dtype),
                static_cast<long long>(out.back().elements));
  }
  if (pt_model_run_named(m, in.data(), n_in, out.data(), n_out) != 0) {
    std::fprintf(stderr, "run_model: %s\n", pt_model_last_error());
    return 1;
  }
  for (int r = 1; r < o.warmup; ++r) pt_model_run_named(m, in.data(), n_in, out.data(), n_out);
  std::vector<double> ms;
  for (int r = 0; r < o.repeat; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    pt_model_run_named(m, in.data(), n_in, out.data(), n_out);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("%s\n%d thread(s): %.3f ms per inference (median of %d)\n", pt_model_info(), pt_model_threads(),
              ms[ms.size() / 2], o.repeat);
  for (const auto& arg : o.outputs) {
    auto [who, path] = Named(arg, pt_model_output_name(m, 0));
    int j = 0;
    while (j < n_out && who != out[j].name) ++j;
    if (j == n_out) {
      std::fprintf(stderr, "run_model: --output %s: no output named '%s'\n", arg.c_str(), who.c_str());
      return 2;
    }
    std::ofstream f(path, std::ios::binary);
    f.write(out_bytes[j].data(), static_cast<std::streamsize>(out_bytes[j].size()));
  }
  pt_model_destroy(m);
  return 0;
}
